"""Carve a seeded, stratified validation split out of a tokenized training split.

Choosing epochs, early stopping or the best checkpoint on the test split leaks the
test set into model selection; this gives a validation set from the training data
instead. Each class is shuffled with the seed and the same share of it goes to
validation (rounded, at least one row of every class that has two or more), so a
rare class is represented in both parts. This is the per-class rule of a stratified
shuffle split written out in numpy, because `datasets.train_test_split(stratify_by_column=...)`
needs a ClassLabel column and refuses classes with a single row, which small and
imbalanced user files have. Multi-label rows are split at random (seeded): one row
holds several labels, so there is no single class to stratify by.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import Optional

import numpy as np

from ..errors import UserInputError
from .dataset import EncodedTextDataset

log = logging.getLogger(__name__)


def _validation_rows(labels: np.ndarray, fraction: float, rng: np.random.Generator, stratify: bool) -> np.ndarray:
    if not stratify or labels.ndim > 1:
        order = rng.permutation(len(labels))
        return np.sort(order[: max(1, round(fraction * len(labels)))])
    chosen = []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        take = round(fraction * len(rows))
        if len(rows) >= 2:
            take = min(max(take, 1), len(rows) - 1)  # both parts keep the class
        chosen.append(rows[:take])
    return np.sort(np.concatenate(chosen))


def _part(dataset: EncodedTextDataset, rows: np.ndarray, role: str, fraction: float, seed: int) -> EncodedTextDataset:
    data = dataset.data.select(rows.tolist())
    labels = np.asarray(data.with_format("numpy")["labels"])
    values = (np.flatnonzero(labels.sum(axis=0)) if labels.ndim > 1 else np.unique(labels)).tolist()
    key = hashlib.sha256(f"{dataset.fingerprint}|{role}|{fraction}|{seed}".encode()).hexdigest()[:32]
    share = fraction if role == "validation" else 1 - fraction
    scores = {} if dataset.score_range is None else {"score_range": (float(labels.min()), float(labels.max()))}
    return replace(dataset, data=data, label_values=[] if dataset.fractional_labels else [int(v) for v in values],
                   fingerprint=key, from_cache=False, **scores,
                   description=f"{dataset.description} ({role} part, {share:.0%}, seed {seed})")


VALIDATION_FRACTIONS = (0.01, 0.9)  # the split widget's range: both parts keep rows


def check_validation_fraction(fraction: Optional[float]) -> None:
    """None: linked, known at run time."""
    low, high = VALIDATION_FRACTIONS
    if fraction is not None and not low <= fraction <= high:
        raise UserInputError(f"validation_fraction {fraction} must be between {low} and {high}; 0.1 keeps 10% "
                             "of the training rows for validation")


def split_train_validation(dataset: EncodedTextDataset, validation_fraction: float = 0.1, seed: int = 0,
                           stratify: bool = True) -> tuple[EncodedTextDataset, EncodedTextDataset]:
    """(train, validation) parts of `dataset`; the same seed always gives the same parts.
    Both keep the parent's label names, so their ids mean the same classes."""
    check_validation_fraction(validation_fraction)
    if len(dataset) < 2:
        raise UserInputError(f"dataset {dataset.description} has {len(dataset)} row(s); a validation split needs "
                             "at least 2")
    labels = np.asarray(dataset.data.with_format("numpy")["labels"])
    rng = np.random.default_rng(seed)
    stratify = stratify and not dataset.fractional_labels  # scores: no classes to stratify by
    val_rows = _validation_rows(labels, validation_fraction, rng, stratify)
    mask = np.ones(len(labels), dtype=bool)
    mask[val_rows] = False
    train_rows = np.flatnonzero(mask)
    if len(train_rows) == 0 or len(val_rows) == 0:
        raise UserInputError(
            f"validation_fraction {validation_fraction} of {len(dataset)} rows leaves one part empty; "
            "choose a fraction that keeps rows on both sides"
        )
    train = _part(dataset, train_rows, "train", validation_fraction, seed)
    val = _part(dataset, val_rows, "validation", validation_fraction, seed)
    log.info("split %s into %d training and %d validation rows (seed %d%s)", dataset.description, len(train),
             len(val), seed, ", stratified" if stratify and labels.ndim == 1 else "")
    return train, val
