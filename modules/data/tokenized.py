"""Tokenize a text/label split once, check it fits a classification task, and cache it.

Tokenization runs as one batched `datasets.map`; the result is reused across
epochs, across queue runs (an in-process cache keyed by content fingerprints) and
across restarts for file-backed datasets (the `datasets` cache, given the same
fingerprint). Labels are checked here so a bad file fails before any training;
text labels and lists of labels (multi-label) become ids (see labels.py).
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from typing import Any, Callable, Sequence

from ..errors import UserInputError
from ..node_names import TOKENIZER_NODE
from .dataset import MODEL_INPUTS, EncodedTextDataset
from .encoding import TokenEncoder
from .file_checks import layout_for
from .labels import LabelScheme, inspect_labels
from .sources import load_split
from .text_cleaning import STRIP_HTML_VERSION, strip_html
from .windows import TEXT_ID

log = logging.getLogger(__name__)

_CACHE: "OrderedDict[str, EncodedTextDataset]" = OrderedDict()
_CACHE_SIZE = 4


def check_columns(data: Any, name: str, text_field: str, label_field: str, pair_field: str = "",
                  where: str = "") -> None:
    """The named columns exist, before any work on them; `where` adds which split was read (the data check)."""
    columns = list(data.column_names)
    roles = (("text_field", text_field), ("label_field", label_field)) + ((("text_pair_field", pair_field),)
                                                                          if pair_field else ())
    for role, column in roles:
        if column not in columns:
            raise UserInputError(
                f"{role} '{column}' is not a column of dataset '{name}'{where}; its columns are {columns}"
            )


def _where_rows(rows: list[int], name: str, split: str) -> str:
    """'lines 4, 9 of the file' when the rows are a whole local file's, else 'rows 3, 8' (1-based)."""
    layout = layout_for(name) if "[" not in split and "+" not in split else None
    shown = rows[:10]
    more = f" and {len(rows) - len(shown)} more" if len(rows) > len(shown) else ""
    lines = [layout.line_of(r) for r in shown] if layout is not None and layout.row_lines else []
    if lines and all(line is not None for line in lines):
        return f"on line{'s' if len(rows) > 1 else ''} {', '.join(map(str, lines))}{more} of the file"
    return f"in row{'s' if len(rows) > 1 else ''} {', '.join(str(r + 1) for r in shown)}{more} of split '{split}'"


def check_texts(data: Any, name: str, split: str, text_field: str, role: str = "text_field") -> Any:
    """Texts that can be tokenized: numbers (a numeric column) are read as their text; empty, missing and
    non-text cells are refused with the lines they are on."""
    import datasets
    import pyarrow as pa
    import pyarrow.compute as pc

    where = f"{role} '{text_field}' of dataset '{name}'"
    column = data.select_columns([text_field]).with_format("arrow")[:][text_field]
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        log.warning("%s holds numbers (%s), not text; each number is read as its text (e.g. '12')", where, kind)
        data = data.cast_column(text_field, datasets.Value("string"))
        column = data.select_columns([text_field]).with_format("arrow")[:][text_field]
    elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
        raise UserInputError(
            f"{where} holds {kind} values, not text; choose the column that holds the texts, or write each text "
            "as a plain string"
        )
    blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column.cast(pa.large_string())), ""), True)
    rows = pc.indices_nonzero(blank).to_pylist() if len(column) else []
    if rows:
        raise UserInputError(
            f"{where} has {len(rows)} empty or missing text{'s' if len(rows) > 1 else ''} "
            f"{_where_rows(rows, name, split)}; write the texts there, or delete those rows"
        )
    return data


def _encoder_fingerprint(encoder: Callable) -> str:
    """A TokenEncoder carries its own; another encode function (one returning an (ids, mask)
    tuple) is hashed by its code and closure as `datasets` does, else by identity."""
    fingerprint = getattr(encoder, "fingerprint", None)
    if fingerprint:
        return str(fingerprint)
    from datasets.fingerprint import Hasher

    try:
        return Hasher.hash(encoder)
    except Exception:  # unpicklable closure: never reuse (an id() could be recycled)
        import uuid

        return uuid.uuid4().hex


def text_columns(text_field: str | Sequence[str]) -> tuple[str, str]:
    """(text column, pair column): `text_field` is one column name, or two for pairs of texts."""
    if isinstance(text_field, str):
        return text_field.strip(), ""
    first, second = (list(text_field) + [""])[:2]
    return first.strip(), (second or "").strip()


def _encode_key(data: Any, encoder: TokenEncoder, text_field: str, label_field: str,
                return_dict: bool, strip: bool, labels: LabelScheme, pair_field: str = "") -> str:
    parts = [data._fingerprint, _encoder_fingerprint(encoder), text_field, label_field, str(return_dict),
             f"{strip}{STRIP_HTML_VERSION if strip else ''}", labels.fingerprint]
    if pair_field:  # single-text keys stay as they were
        parts.append(f"pair:{pair_field}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _encode_texts(encoder: Callable, batch: dict, text_field: str, pair_field: str, return_dict: bool,
                  strip: bool) -> Any:
    def cleaned(column: str) -> list[str]:
        return [strip_html(t) if strip else t for t in batch[column]]

    if pair_field:
        return encoder.encode_pairs(cleaned(text_field), cleaned(pair_field))
    texts = cleaned(text_field)
    # the pack's encoder always gives a dict: windows add their text_index to it
    return encoder(texts, return_dict=True) if isinstance(encoder, TokenEncoder) else encoder(texts)


def _batch_encoder(encoder: Callable, text_field: str, label_field: str, return_dict: bool,
                   strip: bool, labels: LabelScheme, pair_field: str = "") -> Callable[[dict, list[int]], dict]:
    to_label = labels.converter()

    def encode_batch(batch: dict, indices: list[int]) -> dict:
        encoded = _encode_texts(encoder, batch, text_field, pair_field, return_dict, strip)
        if return_dict:
            out = {k: encoded[k] for k in MODEL_INPUTS if k in encoded}
        elif isinstance(encoder, TokenEncoder):
            out = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
        else:
            if not isinstance(encoded, (tuple, list)) or len(encoded) != 2:
                raise UserInputError(
                    "encode_return_dict is False, so the encode function must return an (ids, mask) tuple, "
                    f"but it returned {type(encoded).__name__}; set encode_return_dict to True for HF tokenizers"
                )
            out = {"input_ids": encoded[0], "attention_mask": encoded[1]}
        out = {k: [list(map(int, row)) for row in v] for k, v in out.items()}
        owners = encoded.get("text_index") if isinstance(encoded, dict) else None
        label_cells = batch[label_field]
        if owners is not None:  # sliding windows: one row per window, each with its text's label and id
            out["labels"] = [to_label(label_cells[i]) for i in owners]
            out[TEXT_ID] = [indices[i] for i in owners]
        else:
            out["labels"] = [to_label(v) for v in label_cells]
        out["length"] = [len(ids) for ids in out["input_ids"]]
        return out

    return encode_batch


def _check_pair_encoder(encoder: Callable, pair_field: str) -> None:
    """Pairs need the tokenizer node's encoder, with room for a pair's special tokens and two texts."""
    if not pair_field:
        return
    if not hasattr(encoder, "encode_pairs"):
        raise UserInputError(
            f"text_pair_field '{pair_field}' needs the encode function of {TOKENIZER_NODE} (it encodes two texts "
            "as one sequence); connect that node, or leave text_pair_field empty"
        )
    if getattr(encoder, "cuts_itself", False):
        raise UserInputError(
            f"text_pair_field '{pair_field}': pairs of texts are truncated longest-first, so {TOKENIZER_NODE} must "
            f"use truncation_mode head with window 0 (it has {encoder.truncation_rule.mode}, window "
            f"{encoder.windows.size}); set those, or leave text_pair_field empty"
        )
    try:
        special = encoder.tokenizer.num_special_tokens_to_add(pair=True)
    except (AttributeError, NotImplementedError):
        return
    if encoder.max_length and encoder.max_length < special + 2:
        raise UserInputError(
            f"max_length {encoder.max_length} leaves no room for a pair of texts: the tokenizer adds {special} "
            f"special tokens to every pair; use at least {special + 2} on {TOKENIZER_NODE} (128 suits sentence pairs)"
        )


def encode_text_dataset(name: str, split: str, text_field: str | Sequence[str], label_field: str,
                        encoder: TokenEncoder, encode_return_dict: bool = True, strip_html_tags: bool = True,
                        subset: str = "") -> EncodedTextDataset:
    """Tokenize a split once. `text_field` is a column, or (text column, pair column) for pairs of texts."""
    text_field, pair_field = text_columns(text_field)
    if pair_field and pair_field == text_field:
        raise UserInputError(f"text_pair_field '{pair_field}' is the text_field too; give the column of the second "
                             "texts (e.g. sentence2 with text_field sentence1), or leave it empty")
    _check_pair_encoder(encoder, pair_field)
    data = load_split(name, split, subset)
    description = f"{name}{':' + subset if subset else ''}[{split}]"
    source = {"name": name, "subset": subset, "split": split}
    if len(data) == 0:
        raise UserInputError(f"dataset '{name}' split '{split}' is empty; choose a split or slice that has rows")
    check_columns(data, name, text_field, label_field, pair_field)
    data = check_texts(data, name, split, text_field)
    if pair_field:
        data = check_texts(data, name, split, pair_field, "text_pair_field")
    labels = inspect_labels(data, name, label_field)
    label_values = list(labels.values)
    label_names = list(labels.names) if labels.names is not None else None
    if labels.from_text:
        log.info("text labels of %s numbered in sorted order: %s", description,
                 ", ".join(f"{i}={n}" for i, n in enumerate(label_names[:20])))
    key = _encode_key(data, encoder, text_field, label_field, encode_return_dict, strip_html_tags, labels,
                      pair_field)
    label_kind = {"multi_label": labels.multi_label, "source": source, "score_range": labels.score_range,
                  "fractional_labels": labels.fractional, "text_pair_field": pair_field}
    cached = _CACHE.get(key)
    if cached is not None:
        _CACHE.move_to_end(key)
        log.info("reusing the tokenized %s (%d rows) from this session's cache", description, len(cached))
        return EncodedTextDataset(cached.data, encoder, label_values, label_names, description, True, key,
                                  **label_kind)

    tokenized = data.map(
        _batch_encoder(encoder, text_field, label_field, encode_return_dict, strip_html_tags, labels, pair_field),
        batched=True, with_indices=True, batch_size=1000, remove_columns=data.column_names, new_fingerprint=key,
        desc=f"Tokenizing {description}",
    )
    max_length = getattr(encoder, "max_length", None)
    if max_length and not getattr(encoder, "truncation", True):
        longest = max(tokenized["length"])
        if longest > max_length:
            raise UserInputError(
                f"truncation is off and some texts of {description} have {longest} tokens, more than max_length "
                f"{max_length}; turn truncation on"
            )
    result = EncodedTextDataset(tokenized, encoder, label_values, label_names, description, False, key,
                                **label_kind)
    if result.windowed:
        log.info("%s: %d texts read as %d windows", description, len(data), len(tokenized))
    _CACHE[key] = result
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result


def clear_cache() -> None:
    _CACHE.clear()
