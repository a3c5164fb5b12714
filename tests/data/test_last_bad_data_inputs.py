"""Data inputs that still got a raw or wrong answer: a csv cell longer than Python's csv limit (128 KiB)
in a valid csv loads, as it does in jsonl; a JSON label column mixing numbers and texts, a folder of
csv files with different columns and the dataset name '.' each get one message naming the value and
the fix."""

from __future__ import annotations

import json

import pytest
from helpers.nodes import validate_node

from hf_text_finetune.modules.data.sources import load_split
from hf_text_finetune.modules.errors import UserInputError

LONG = "a very long review " * 10_000  # 190 kB, above csv's default field limit of 131072


def test_a_text_cell_longer_than_128_kib_in_a_valid_csv_loads(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text(f"text,label\n{LONG},1\nshort,0\n")
    loaded = load_split(str(path), "train")
    assert loaded["text"][0] == LONG and loaded.num_rows == 2
    (tmp_path / "long.jsonl").write_text(json.dumps({"text": LONG, "label": 1}) + "\n")
    assert load_split(str(tmp_path / "long.jsonl"), "train")["text"][0] == LONG, "the same as jsonl"


def test_an_unbalanced_quote_is_still_refused_with_its_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(f'text,label\n"{LONG},1\nshort,0\n')
    with pytest.raises(UserInputError, match="unbalanced quote in the record starting at line 2"):
        load_split(str(path), "train")


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_a_json_label_column_mixing_numbers_and_texts_names_the_column_and_types(tmp_path, suffix):
    rows = [{"text": "good film", "label": 1}, {"text": "bad film", "label": "neg"}]
    path = tmp_path / f"mixed{suffix}"
    path.write_text(json.dumps(rows) if suffix == ".json" else "".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(UserInputError, match=r"column 'label' of dataset .* mixes value types: 1 \(int\), 'neg' "
                                             r"\(str\); give every row the same type"):
        load_split(str(path), "train")


def test_a_folder_of_csv_files_with_different_columns_says_which_file(tmp_path):
    (tmp_path / "a.csv").write_text("text,label\ngood,1\nbad,0\n")
    (tmp_path / "b.csv").write_text("review,sentiment\ngood,1\nbad,0\n")
    with pytest.raises(UserInputError) as error:
        load_split(str(tmp_path), "train")
    message = str(error.value)
    assert f"the data files in folder '{tmp_path}' do not all have the same columns: b.csv has the columns" in message
    assert "'review'" in message and "'text'" in message and "give a single file" in message
    assert "Couldn't cast" not in message


@pytest.mark.parametrize("name", [".", "./", ".."])
def test_the_current_or_parent_folder_as_dataset_name_is_refused_at_queue_time(name):
    verdict = validate_node("PtvHfDatasetWithTokenEncode", name=name)
    assert "folder of the process" in str(verdict) and "not a dataset" in str(verdict), verdict
    with pytest.raises(UserInputError, match="not a dataset; give the path of a data file"):
        load_split(name, "train")
