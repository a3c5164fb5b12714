"""A look at the data before any training: what would quietly make a run worse.

Counted per split: rows per class and the imbalance ratio, token lengths (before any
cut) and the share `max_length` cuts, with what head+tail or sliding windows would keep,
empty and duplicate texts; between the two splits: texts in both (exactly, and after
lower-casing and collapsing spaces) and label values found in one split only. Each
finding that calls for a change becomes a recommendation in the nodes' own terms
(data_check_advice.py). Texts are read as the user has them; token counts come from the
tokenize-once cache of token_lengths.py, so a second check of the same data is quick.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..errors import UserInputError
from .data_check_advice import recommendations
from .encoding import TokenEncoder
from .labels import FLOAT_TYPES, is_number
from .sources import load_split
from .token_lengths import content_token_lengths
from .tokenized import check_columns
from .truncation import HEAD_TAIL, Truncation

PERCENTILES = (50, 90, 95, 99)
COVERAGE = 0.95  # max_length advice: the length that keeps this share of texts whole
MISSING = "(missing)"


@dataclass
class RawSplit:
    """One split as the user has it: texts, each row's label values, each text's full token count."""

    role: str  # "train" or "validation"
    description: str
    texts: list[str]
    labels: list[tuple[str, ...]]  # one value per row (several for multi-label); scores: ()
    lengths: np.ndarray  # tokens with the special tokens, nothing cut
    scores: bool = False  # the labels are fractional scores (regression): no classes to count


def normalised(text: str) -> str:
    """Case and runs of white space ignored: 'Great  Film' and 'great film' are the same text."""
    return " ".join(text.lower().split())


def _label_reader(feature: Any):
    """Raw cell -> tuple of label values as text (ClassLabel ids become their names)."""
    names = getattr(getattr(feature, "feature", feature), "names", None)

    def one(value: Any) -> str:
        if value is None:
            return MISSING
        if names is not None and isinstance(value, int) and 0 <= value < len(names):
            return names[value]
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    def read(cell: Any) -> tuple[str, ...]:
        if isinstance(cell, (list, tuple)):
            return tuple(one(v) for v in cell)
        return (one(cell),)

    return read


def _is_scores(data: Any, label_field: str, cells: list) -> bool:
    kind = getattr(data.features[label_field], "dtype", "")
    return kind in FLOAT_TYPES and any(
        isinstance(v, float) and not v.is_integer() for v in cells if v is not None)


def read_split(role: str, name: str, split: str, subset: str, fields: tuple[str, str], encoder: TokenEncoder,
               strip: bool = True) -> RawSplit:
    """Load one split (columns checked) and count its texts' tokens; `fields` = (text column, label column)."""
    text_field, label_field = fields
    data = load_split(name, split, subset)
    check_columns(data, name, text_field, label_field, where=f" ({role} split '{split}')")
    columns = data.select_columns([text_field, label_field]).with_format("arrow")[:]
    texts = ["" if t is None else str(t) for t in columns[text_field].to_pylist()]
    cells = columns[label_field].to_pylist()
    scores = _is_scores(data, label_field, cells)
    read = _label_reader(data.features[label_field])
    labels = [()] * len(cells) if scores else [read(cell) for cell in cells]
    special = special_count(encoder)
    lengths = content_token_lengths(data, encoder.tokenizer, text_field, strip) + special
    description = f"{name}{':' + subset if subset else ''}[{split}]"
    return RawSplit(role, description, texts, labels, lengths, scores)


def special_count(encoder: TokenEncoder) -> int:
    """Special tokens around one text ([CLS] ... [SEP]: 2), from the tokenizer where the encoder cannot rebuild them."""
    try:
        return encoder.special_tokens.count
    except UserInputError:  # a tokenizer whose special tokens the pack cannot rebuild: ask it how many it adds
        return int(encoder.tokenizer.num_special_tokens_to_add(pair=False))


def class_counts(split: RawSplit) -> dict[str, int]:
    """Rows per label value (multi-label: rows holding the label), in a natural order."""
    counts = Counter(value for row in split.labels for value in row)

    def order(value: str) -> tuple:
        return (0, float(value), "") if is_number(value) else (1, 0.0, value)

    return {value: counts[value] for value in sorted(counts, key=order)}


def _duplicates(split: RawSplit) -> dict:
    """Rows repeating an earlier row's text (exactly / after normalising) and texts given differing labels."""
    kept = [(i, t) for i, t in enumerate(split.texts) if t.strip()]
    exact = len(kept) - len({t for _, t in kept})
    groups: dict[str, set] = {}
    for index, text in kept:
        groups.setdefault(normalised(text), set()).add(split.labels[index])
    conflicting = sum(1 for labels in groups.values() if len(labels) > 1)
    return {"empty_texts": len(split.texts) - len(kept), "duplicate_texts": exact,
            "duplicate_texts_normalised": len(kept) - len(groups), "texts_with_conflicting_labels": conflicting}


def _windows_per_text(content: np.ndarray, room: int, step: int, cap: int) -> np.ndarray:
    """As windows.Windows.split counts them: one window for a text that fits, else ceil((n - room) / step) + 1."""
    over = np.maximum(content - room, 0)
    count = np.where(over > 0, -(-over // max(step, 1)) + 1, 1)
    return np.minimum(count, cap) if cap else count


def length_stats(split: RawSplit, encoder: TokenEncoder) -> dict:
    """Percentiles of the full token counts, the share `max_length` cuts, and what each way of reading keeps."""
    lengths, max_length = split.lengths, int(encoder.max_length)
    special = special_count(encoder)
    content = lengths - special
    cut = lengths > max_length
    room = max(max_length - special, 1)
    stats = {"max_length": max_length, "mean": float(lengths.mean()), "max": int(lengths.max()),
             "percentiles": {str(p): int(np.percentile(lengths, p, method="higher")) for p in PERCENTILES},
             "cut_rows": int(cut.sum()), "cut_share": float(cut.mean())}
    kept = np.minimum(content[cut], room).sum()
    stats["kept_token_share_of_cut_texts"] = float(kept / content[cut].sum()) if cut.any() else 1.0
    rule = encoder.truncation_rule if encoder.truncation_rule.mode == HEAD_TAIL else Truncation(HEAD_TAIL)
    head = rule.head_tokens(room)
    stats["head_tail_keeps"] = {"head_tokens": head, "tail_tokens": room - head}
    size = encoder.windows.size or max_length
    window_room = max(size - special, 1)
    step = encoder.windows.step(window_room)
    per_text = _windows_per_text(content, window_room, step, encoder.windows.max_windows)
    read = np.minimum(content, window_room + (per_text - 1) * step).sum()
    stats["windows"] = {"window": size, "stride": step, "windows": int(per_text.sum()),
                        "windows_per_text": float(per_text.mean()),
                        "token_share_read": float(read / max(content.sum(), 1))}
    stats["covers_95"] = int(np.quantile(lengths, COVERAGE, method="higher"))
    limit = model_limit(encoder)
    stats["model_max_length"] = limit
    stats["cut_share_at_model_max"] = float((lengths > limit).mean()) if limit else None
    return stats


def split_report(split: RawSplit, encoder: TokenEncoder) -> dict:
    counts = {} if split.scores else class_counts(split)
    present = [c for c in counts.values() if c]
    report = {"description": split.description, "rows": len(split.texts), "scores": split.scores,
              "class_counts": counts,
              "imbalance_ratio": float(max(present) / min(present)) if len(present) > 1 else 1.0,
              "multi_label": any(len(row) != 1 for row in split.labels) and not split.scores,
              "tokens": length_stats(split, encoder)}
    report.update(_duplicates(split))
    return report


def overlap_report(train: RawSplit, validation: RawSplit) -> dict:
    """Validation rows whose text is also in training, and label values only one split has."""
    exact = {t for t in train.texts if t.strip()}
    loose = {normalised(t) for t in exact}
    rows = [t for t in validation.texts if t.strip()]
    train_labels, val_labels = set(class_counts(train)), set(class_counts(validation))
    return {"shared_texts": sum(t in exact for t in rows),
            "shared_texts_normalised": sum(normalised(t) in loose for t in rows),
            "labels_only_in_train": sorted(train_labels - val_labels),
            "labels_only_in_validation": sorted(val_labels - train_labels)}


def check_data(encoder: TokenEncoder, train: RawSplit, validation: Optional[RawSplit] = None) -> dict:
    """Every count of the data check, as JSON-ready values (the advice is added by data_check_advice)."""
    if not train.texts:
        raise UserInputError(f"dataset {train.description} has no rows; choose a split or slice that has rows")
    report = {"encoder": {"model": encoder.model_name, "max_length": int(encoder.max_length),
                          "truncation_mode": encoder.truncation_rule.mode, "window": encoder.windows.size,
                          "special_tokens": special_count(encoder)},
              "train": split_report(train, encoder)}
    if validation is not None and validation.texts:
        report["validation"] = split_report(validation, encoder)
        report["overlap"] = overlap_report(train, validation)
    return report


def model_limit(encoder: TokenEncoder) -> Optional[int]:
    """The longest input the tokenizer says its model reads (None: it names no limit)."""
    limit = getattr(encoder.tokenizer, "model_max_length", None)
    return int(limit) if limit and limit < 1_000_000 else None


def run_data_check(encoder: TokenEncoder, train: tuple[str, str], validation: Optional[tuple[str, str]],
                   subset: str, fields: tuple[str, str], strip: bool = True) -> dict:
    """The data check of (dataset name, split) `train` and optional `validation`: counts and recommendations."""
    first = read_split("train", train[0], train[1], subset, fields, encoder, strip)
    second = read_split("validation", validation[0], validation[1], subset, fields, encoder, strip) \
        if validation else None
    report = check_data(encoder, first, second)
    report["recommendations"] = recommendations(report)
    return report
