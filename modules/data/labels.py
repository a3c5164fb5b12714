"""Labels as the user has them (integers, names, lists of either) turned into class ids.

Rules, chosen so every split of one dataset maps the same way:
- integer labels (and a `datasets.ClassLabel`) are their own ids; ClassLabel names are kept;
- text labels are sorted and numbered: names `["neg", "pos"]` give ids 0 and 1;
- a column of lists is multi-label: each row becomes a multi-hot vector with one
  slot per label;
- a column of floats holds scores: a regression loss learns them as they are; whole
  numbers (0.0, 1.0) also work as class ids, fractions (3.8) only as scores.
A split that lacks some labels (a small test slice) numbers its names differently,
so datasets are aligned by name to the model's labels before training or evaluation
(`align_labels`); a name the model never saw is an error.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..errors import UserInputError
from .dataset import EncodedTextDataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelScheme:
    """How one label column maps to ids: `names` is None for plain integer labels."""

    multi_label: bool
    names: Optional[tuple[str, ...]]
    values: tuple[int, ...]  # the ids that occur in the column
    from_text: bool = False  # names were made from text labels (not a ClassLabel)
    score_range: Optional[tuple[float, float]] = None  # (lowest, highest) of a float column: scores
    fractional: bool = False  # some scores are not whole numbers: stored as floats, no class ids

    @property
    def width(self) -> int:
        """Classes (single-label) or label slots (multi-label) this column needs."""
        if self.names is not None:
            return len(self.names)
        return max(self.values) + 1 if self.values else 0

    @property
    def fingerprint(self) -> str:
        scores = f"|scores{int(self.fractional)}" if self.score_range is not None else ""
        return f"{int(self.multi_label)}|{self.width}|{'/'.join(self.names or ())}|{int(self.from_text)}{scores}"

    def converter(self) -> Callable[[Any], Any]:
        """Raw column value -> id (single-label) or multi-hot list (multi-label)."""
        if self.fractional:
            return float
        index = {name: i for i, name in enumerate(self.names)} if self.from_text else None

        def to_id(value: Any) -> int:
            return index[str(value)] if index is not None else int(value)

        if not self.multi_label:
            return to_id
        width = self.width

        def to_multi_hot(values: Sequence[Any]) -> list[int]:
            row = [0] * width
            for value in values:
                row[to_id(value)] = 1
            return row

        return to_multi_hot


def _is_list_feature(feature: Any) -> bool:
    import datasets

    kinds = tuple(k for k in (getattr(datasets, "List", None), getattr(datasets, "Sequence", None),
                              getattr(datasets, "LargeList", None)) if isinstance(k, type))
    return isinstance(feature, kinds) or isinstance(feature, list)


def _distinct_values(data: Any, label_field: str, multi_label: bool) -> list[Any]:
    if not multi_label:
        return list(data.unique(label_field))
    import pyarrow.compute as pc

    column = data.data.column(label_field)
    if column.null_count:
        return [None]
    return pc.unique(pc.list_flatten(column)).to_pylist()


def is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _check_one_kind(names: Sequence[str], where: str) -> None:
    """Numbers and names in one column (a typo, or two files pasted together) would become
    classes of their own, silently; refuse them."""
    numbers = [n for n in names if is_number(n)]
    if numbers and len(numbers) < len(names):
        words = [n for n in names if not is_number(n)]
        raise UserInputError(
            f"{where} mixes numbers {numbers[:10]} and names {words[:10]}; use one kind for every row "
            "(all integers 0..N-1, or all names)"
        )


FLOAT_TYPES = ("float16", "float32", "float64")


def _scores(values: Sequence[float], where: str) -> LabelScheme:
    """A float column: scores for a regression loss (NaN refused); whole numbers also serve as class ids."""
    numbers = [float(v) for v in values]
    if any(v != v for v in numbers):
        raise UserInputError(f"{where} has NaN (missing) scores; fill or drop those rows")
    fractional = any(not v.is_integer() for v in numbers)
    ints = () if fractional else tuple(sorted({int(v) for v in numbers}))
    if ints and ints[0] < 0:
        ints = ()  # negative whole scores: no class ids, but a regression can learn them
        fractional = True
    return LabelScheme(False, None, ints, score_range=(min(numbers), max(numbers)), fractional=fractional)


def inspect_labels(data: Any, dataset_name: str, label_field: str) -> LabelScheme:
    """Read a label column's kind and values; refuse only labels that cannot work."""
    feature = data.features[label_field]
    multi_label = _is_list_feature(feature)
    inner = (feature.feature if hasattr(feature, "feature") else feature[0]) if multi_label else feature
    where = f"label_field '{label_field}' of dataset '{dataset_name}'"
    values = _distinct_values(data, label_field, multi_label)
    if any(v is None for v in values):
        raise UserInputError(f"{where} has empty (missing) labels; fill or drop those rows")
    if any(isinstance(v, str) for v in values) or getattr(inner, "dtype", "") in ("string", "large_string"):
        names = tuple(sorted({str(v) for v in values}))
        if any(not name.strip() for name in names):
            raise UserInputError(f"{where} has blank text labels; fill or drop those rows")
        _check_one_kind(names, where)
        return LabelScheme(multi_label, names, tuple(range(len(names))), from_text=True)
    if not multi_label and getattr(inner, "dtype", "") in FLOAT_TYPES:
        return _scores(values, where)
    if any(isinstance(v, float) and not float(v).is_integer() for v in values):
        raise UserInputError(
            f"{where} holds non-integer values {sorted(values)[:10]}; classification labels are integers "
            "0..N-1 or text names"
        )
    ints = sorted({int(v) for v in values})
    if ints and ints[0] < 0:
        raise UserInputError(
            f"{where} has negative labels {ints[:10]}; classification labels must be integers 0..N-1 "
            "(drop unlabeled rows such as -1)"
        )
    names = tuple(inner.names) if hasattr(inner, "names") else None
    return LabelScheme(multi_label, names, tuple(ints))


def label_counts(dataset: EncodedTextDataset, width: int) -> np.ndarray:
    """Rows per class (single-label) or positive rows per label (multi-label), `width` long."""
    labels = np.asarray(dataset.data.with_format("numpy")["labels"])
    if labels.ndim == 2:
        counts = labels.sum(axis=0).astype(np.int64)
        return np.pad(counts, (0, max(width - len(counts), 0)))[:max(width, len(counts))]
    return np.bincount(labels.astype(np.int64), minlength=width)


def _named(values: Sequence[int], names: Optional[Sequence[str]]) -> list[str]:
    return [names[v] if names is not None and v < len(names) else str(v) for v in values]


def align_labels(dataset: EncodedTextDataset, names: Optional[Sequence[str]], width: int,
                 role: str) -> EncodedTextDataset:
    """The dataset with ids renumbered to `names` (the model's labels) and multi-hot rows
    `width` wide; unchanged when it already fits. Labels outside `names` are an error."""
    own = dataset.label_names
    where = f"the {role} data {dataset.description}"
    if own is not None and names is not None and list(own) != list(names):
        position = {name: i for i, name in enumerate(names)}
        present = _named(dataset.label_values, own)
        unknown = [name for name in present if name not in position]
        if unknown:
            raise UserInputError(
                f"labels {unknown[:10]} of {where} are not among the model's labels {list(names)[:20]}: the model "
                f"never saw them ({where} has the labels {list(own)[:20]}). Use data with the model's labels (the "
                "same names, spelt the same), or train a model on these labels"
            )
        mapping = [position.get(name, -1) for name in own]
        remapped = _relabel(dataset, mapping, width, names)
        log.info("renumbered the labels of %s to the model's label order", dataset.description)
        return remapped
    if dataset.multi_label and dataset.num_classes < width:
        return _relabel(dataset, list(range(dataset.num_classes)), width, names if names is not None else own)
    return dataset


def _relabel(dataset: EncodedTextDataset, mapping: list[int], width: int,
             names: Optional[Sequence[str]]) -> EncodedTextDataset:
    mapping_array = np.asarray(mapping, dtype=np.int64)

    def renumber(batch: dict) -> dict:
        if not dataset.multi_label:
            return {"labels": mapping_array[np.asarray(batch["labels"], dtype=np.int64)].tolist()}
        rows = np.asarray(batch["labels"], dtype=np.int64)
        out = np.zeros((len(rows), width), dtype=np.int64)
        for old, new in enumerate(mapping):
            if new >= 0:
                out[:, new] = rows[:, old]
        return {"labels": out.tolist()}

    key = hashlib.sha256(f"{dataset.fingerprint}|{mapping}|{width}".encode()).hexdigest()[:32]
    data = dataset.data.map(renumber, batched=True, batch_size=10_000, new_fingerprint=key,
                            desc="Aligning labels")
    values = sorted({mapping[v] for v in dataset.label_values if mapping[v] >= 0})
    return replace(dataset, data=data, label_values=values,
                   label_names=list(names) if names is not None else None, fingerprint=key)
