"""Ptv Hf Dataset With Token Encode reads users' data: every local file kind and saved dataset
folders, their splits and slices; a missing file, dataset, split or column, or an empty
split, is refused with the value and what there is instead."""

from __future__ import annotations

import csv
import json

import pytest
from helpers.checks import raises_with, refused
from helpers.nodes import dataset_node, encode_node, validate_node

from hf_text_finetune.modules.data.text_cleaning import strip_html


def _rows(reviews_csv):
    with open(reviews_csv, newline="") as handle:
        return list(csv.DictReader(handle))


def _write_source(kind: str, reviews_csv, folder):
    import datasets

    rows = _rows(reviews_csv)
    table = datasets.Dataset.from_dict({"text": [r["text"] for r in rows], "label": [int(r["label"]) for r in rows]})
    if kind == "csv":
        return reviews_csv
    if kind == "json":  # one JSON array of records
        path = folder / "reviews.json"
        path.write_text(json.dumps([{"text": r["text"], "label": int(r["label"])} for r in rows]))
        return path
    if kind == "jsonl":
        path = folder / "reviews.jsonl"
        path.write_text("".join(json.dumps({"text": r["text"], "label": int(r["label"])}) + "\n" for r in rows))
        return path
    if kind == "parquet":
        path = folder / "reviews.parquet"
        table.to_parquet(str(path))
        return path
    if kind == "save_to_disk":
        path = folder / "saved"
        table.save_to_disk(str(path))
        return path
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["csv", "json", "jsonl", "parquet", "save_to_disk"])
def test_every_local_source_gives_the_same_tokens_and_labels(kind, tiny_bert, reviews_csv, tmp_path):
    encode = encode_node(tiny_bert)
    data = dataset_node(_write_source(kind, reviews_csv, tmp_path), encode)
    rows = _rows(reviews_csv)
    assert len(data) == len(rows)
    assert data.data["labels"] == [int(r["label"]) for r in rows]
    assert data.data["input_ids"] == encode([strip_html(r["text"]) for r in rows])["input_ids"]
    assert data.label_values == [0, 1] and data.num_classes == 2
    assert data.data["length"] == [len(ids) for ids in data.data["input_ids"]]


@pytest.fixture(scope="module")
def dataset_dict_folder(tmp_path_factory, reviews_csv):
    import datasets

    rows = _rows(reviews_csv)
    table = datasets.Dataset.from_dict({"text": [r["text"] for r in rows], "label": [int(r["label"]) for r in rows]})
    folder = tmp_path_factory.mktemp("dict") / "reviews_dict"
    datasets.DatasetDict({"train": table.select(range(40)), "test": table.select(range(40, 48))}).save_to_disk(
        str(folder))
    return folder


@pytest.mark.parametrize("split, expected_rows", [
    ("train", list(range(40))), ("test", list(range(40, 48))), ("train[:10]", list(range(10))),
    ("test[50%:]", list(range(44, 48))), ("train[:3]+test[:2]", [0, 1, 2, 40, 41]),
])
def test_dataset_dict_folder_gives_the_rows_of_each_split_and_slice(dataset_dict_folder, reviews_csv, tiny_bert,
                                                                    split, expected_rows):
    encode = encode_node(tiny_bert)
    data = dataset_node(dataset_dict_folder, encode, split=split)
    rows = _rows(reviews_csv)
    assert data.data["input_ids"] == encode([strip_html(rows[i]["text"]) for i in expected_rows])["input_ids"]


@pytest.mark.parametrize("split, count", [("train[:10]", 10), ("train[50%:]", 24), ("train[-5:]", 5), ("train", 48)])
def test_file_split_slices_are_their_own_datasets(tiny_bert, reviews_csv, split, count):
    """Each slice is its own dataset: a slice never reuses the cached tokens of the whole split."""
    encode = encode_node(tiny_bert)
    whole = dataset_node(reviews_csv, encode)
    part = dataset_node(reviews_csv, encode, split=split)
    assert len(part) == count
    expected = {"train[:10]": slice(0, 10), "train[50%:]": slice(24, 48), "train[-5:]": slice(43, 48),
                "train": slice(0, 48)}[split]
    assert part.data["input_ids"] == whole.data["input_ids"][expected]


# --- Dataset not found, split not found, fields missing, nothing in it ------------------------------

def test_missing_dataset_file_is_refused_at_queue_time(tmp_path, tiny_bert):
    missing = str(tmp_path / "reviews.csv")
    refused(validate_node("PtvHfDatasetWithTokenEncode", name=missing, split="train"), missing, "was not found in",
            f"its folder ({tmp_path})")
    refused(validate_node("PtvHfDatasetWithTokenEncode", name="./data/reviews.csv", split="train"),
            "./data/reviews.csv", "was not found in")
    refused(validate_node("PtvHfDatasetWithTokenEncode", name="", split="train"), "empty", "stanfordnlp/imdb")
    raises_with(lambda: dataset_node(missing, encode_node(tiny_bert)), missing, "was not found in")


def test_relative_data_file_name_that_does_not_exist_is_refused(tiny_bert):
    refused(validate_node("PtvHfDatasetWithTokenEncode", name="my_reviews.csv", split="train"),
            "my_reviews.csv", "was not found in the working directory")
    raises_with(lambda: dataset_node("my_reviews.csv", encode_node(tiny_bert)), "my_reviews.csv", "was not found in")


def test_unknown_hub_dataset_is_named_with_how_to_fix_it(tiny_bert):
    raises_with(lambda: dataset_node("nobody-here/no-such-dataset", encode_node(tiny_bert)),
                "'nobody-here/no-such-dataset'", "was not found", "Check the spelling", "local csv")


def test_split_not_found_lists_the_splits(tiny_bert, reviews_csv, tmp_path):
    import datasets

    encode = encode_node(tiny_bert)
    raises_with(lambda: dataset_node(reviews_csv, encode, split="test"), "'test'", "['train']")
    folder = tmp_path / "saved"
    table = datasets.Dataset.from_dict({"text": ["good", "bad"], "label": [1, 0]})
    datasets.DatasetDict({"train": table, "validation": table}).save_to_disk(str(folder))
    raises_with(lambda: dataset_node(folder, encode, split="valid"), "'valid'", "['train', 'validation']",
                "did you mean validation")
    raises_with(lambda: dataset_node(reviews_csv, encode, split="train[:"), "'train[:'", "train[:2000]")


def test_missing_text_or_label_field_lists_the_columns(tiny_bert, reviews_csv):
    encode = encode_node(tiny_bert)
    raises_with(lambda: dataset_node(reviews_csv, encode, text_field="review"), "'review'", "['text', 'label']")
    raises_with(lambda: dataset_node(reviews_csv, encode, label_field="sentiment"), "'sentiment'",
                "['text', 'label']")
    raises_with(lambda: dataset_node(reviews_csv, encode, text_field=" "), "text_field", "empty")


def test_empty_file_and_empty_slices_are_refused(tiny_bert, reviews_csv, tmp_path):
    encode = encode_node(tiny_bert)
    empty = tmp_path / "empty.csv"
    empty.write_text("text,label\n")
    for name, split in ((empty, "train"), (reviews_csv, "train[:0]"), (reviews_csv, "train[100%:]")):
        raises_with(lambda: dataset_node(name, encode, split=split), str(name), f"'{split}'", "is empty",
                    "choose a split or slice that has rows")
