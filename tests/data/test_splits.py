"""Ptv Train Validation Split: a seeded split, stratified for single-label data (a rare class
keeps rows on both sides, with the label names), random but seeded for multi-label data,
and a fraction that leaves rows on both sides."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from helpers.data import write_multilabel_jsonl, write_topics_csv

from hf_text_finetune.modules.data.splits import split_train_validation
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.nodes.data_split_nodes import PtvTrainValidationSplit


def test_validation_split_is_stratified_disjoint_and_seeded(imbalanced):
    train, val = split_train_validation(imbalanced, 0.25, seed=3)
    train_labels, val_labels = np.array(train.data["labels"]), np.array(val.data["labels"])
    assert len(train) + len(val) == len(imbalanced) and len(val) == 12
    assert np.bincount(val_labels).tolist() == [9, 3]  # 25% of 36 negatives and of 12 positives
    assert np.bincount(train_labels).tolist() == [27, 9]
    rows = lambda part: Counter(map(tuple, part.data["input_ids"]))  # noqa: E731
    assert rows(train) + rows(val) == rows(imbalanced)  # together exactly the original rows, none twice
    again = split_train_validation(imbalanced, 0.25, seed=3)[1]
    other = split_train_validation(imbalanced, 0.25, seed=4)[1]
    assert again.data["input_ids"] == val.data["input_ids"]
    assert other.data["input_ids"] != val.data["input_ids"]
    assert train.fingerprint != val.fingerprint != imbalanced.fingerprint


def test_validation_split_keeps_a_rare_class_on_both_sides_and_its_names(tmp_path, encoder):
    path = write_topics_csv(tmp_path / "rare.csv", rows=22, labels=("pos",) * 10 + ("neg",) * 10 + ("meh",) * 2)
    data = encode_text_dataset(str(path), "train", "text", "label", encoder)
    train, val = PtvTrainValidationSplit().split(data, 0.1, 0, True)
    assert train.label_names == val.label_names == ["meh", "neg", "pos"]
    assert 0 in train.data["labels"] and 0 in val.data["labels"]


def test_validation_split_of_multi_label_data_is_random_but_seeded(tmp_path, encoder):
    data = encode_text_dataset(str(write_multilabel_jsonl(tmp_path / "m.jsonl", rows=20)), "train", "text",
                               "labels", encoder)
    train, val = split_train_validation(data, 0.2, seed=1)
    assert len(val) == 4 and len(train) == 16 and val.multi_label
    assert split_train_validation(data, 0.2, seed=1)[1].data["labels"] == val.data["labels"]


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_validation_fraction_must_leave_rows_on_both_sides(imbalanced, fraction):
    with pytest.raises(UserInputError, match="validation_fraction"):
        split_train_validation(imbalanced, fraction)
    assert "validation_fraction" in PtvTrainValidationSplit.VALIDATE_INPUTS(validation_fraction=fraction)
