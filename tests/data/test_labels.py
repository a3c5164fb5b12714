"""Labels as the dataset node reads them: text and integer labels become ids with their names
kept, lists of labels are multi-label, a split is aligned to the model's labels by name, and
labels that cannot work are clear errors."""

from __future__ import annotations

import json

import pytest
from helpers.checks import raises_with
from helpers.data import write_csv, write_multilabel_jsonl, write_topics_csv
from helpers.nodes import dataset_node, encode_node

from hf_text_finetune.modules.data.labels import align_labels
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.errors import UserInputError


def _csv(path, rows) -> str:
    return str(write_csv(path, rows))


def test_text_labels_become_sorted_ids_with_names_kept(topics):
    assert topics.label_names == ["meh", "neg", "pos"]
    assert topics.label_values == [0, 1, 2]
    assert topics.num_classes == 3
    first_rows = topics.data.select(range(3))["labels"]
    assert first_rows == [2, 1, 0]  # the file cycles pos, neg, meh


def test_integer_labels_are_their_own_ids(tmp_path, encoder):
    data = encode_text_dataset(_csv(tmp_path / "ints.csv", [("a wonderful film", 2), ("a terrible film", 0)]),
                               "train", "text", "label", encoder)
    assert data.label_names is None
    assert data.label_values == [0, 2]
    assert sorted(data.data["labels"]) == [0, 2]


def test_class_label_names_of_a_saved_dataset_are_kept(tmp_path, encoder):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["World", "Sports", "Business"])})
    saved = datasets.Dataset.from_dict({"text": ["a wonderful film", "a terrible film"], "label": [2, 0]},
                                       features=features)
    saved.save_to_disk(str(tmp_path / "saved"))
    data = encode_text_dataset(str(tmp_path / "saved"), "train", "text", "label", encoder)
    assert data.label_names == ["World", "Sports", "Business"]
    assert data.data["labels"] == [2, 0]


@pytest.mark.parametrize("rows, message", [
    ([("a wonderful film", ""), ("a terrible film", "neg")], "missing"),
    ([("a wonderful film", -1), ("a terrible film", 0)], "negative labels"),
])
def test_labels_that_cannot_work_are_errors(tmp_path, encoder, rows, message):
    with pytest.raises(UserInputError, match=message):
        encode_text_dataset(_csv(tmp_path / "bad.csv", rows), "train", "text", "label", encoder)


def test_lists_of_labels_are_multi_label_multi_hot_rows(tmp_path, encoder):
    path = write_multilabel_jsonl(tmp_path / "multi.jsonl", rows=14)
    data = encode_text_dataset(str(path), "train", "text", "labels", encoder)
    assert data.multi_label
    assert data.label_names == ["meh", "neg", "pos"]
    raw = [json.loads(line)["labels"] for line in path.read_text().splitlines()]
    expected = [[int(name in row) for name in ["meh", "neg", "pos"]] for row in raw]
    assert data.data["labels"] == expected
    assert [0, 0, 0] in expected  # rows without any label stay valid


def test_lists_of_integer_labels_are_multi_hot_up_to_the_largest(tmp_path, encoder):
    path = tmp_path / "multi_ints.jsonl"
    path.write_text('{"text": "a wonderful film", "labels": [0, 3]}\n{"text": "a terrible film", "labels": [1]}\n')
    data = encode_text_dataset(str(path), "train", "text", "labels", encoder)
    assert data.multi_label and data.label_names is None
    assert data.data["labels"] == [[1, 0, 0, 1], [0, 1, 0, 0]]


def test_a_split_lacking_a_class_is_renumbered_to_the_model_labels(tmp_path, encoder):
    subset = encode_text_dataset(str(write_topics_csv(tmp_path / "sub.csv", rows=4, labels=("pos", "meh"))),
                                 "train", "text", "label", encoder)
    assert subset.label_names == ["meh", "pos"]  # numbered on its own: pos would be 1
    aligned = align_labels(subset, ["meh", "neg", "pos"], 3, "evaluation")
    assert aligned.label_names == ["meh", "neg", "pos"]
    assert aligned.data["labels"] == [2, 0, 2, 0]
    assert subset.data["labels"] == [1, 0, 1, 0]  # the cached input is not changed


def test_negative_labels_are_refused_and_fractional_ones_kept_as_scores_by_the_dataset_node(tiny_bert, tmp_path):
    encode = encode_node(tiny_bert)
    raises_with(lambda: dataset_node(write_csv(tmp_path / "neg.csv", [("good", 1), ("unlabeled", -1)]), encode),
                "[-1, 1]", "0..N-1")
    scores = dataset_node(write_csv(tmp_path / "frac.csv", [("good", 0.5), ("bad", 0)]), encode)
    assert scores.fractional_labels and scores.score_range == (0.0, 0.5)  # a trainer decides (tests/training)


def test_dataset_node_keeps_text_label_names_and_refuses_blank_ones(tiny_bert, tmp_path):
    encode = encode_node(tiny_bert)
    two = dataset_node(write_csv(tmp_path / "two.csv", [("good", "pos"), ("bad", "neg"), ("fine", "pos")]), encode)
    assert two.label_names == ["neg", "pos"] and two.data["labels"] == [1, 0, 1]
    raises_with(lambda: dataset_node(write_csv(tmp_path / "blank.csv", [("good", "pos"), ("bad", '" "')]), encode),
                "blank")
