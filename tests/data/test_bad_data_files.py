"""Damaged or odd data files end in a message that names the file, the cause with its line, and
the fix; never in "An error occurred while generating the dataset" or a raw TypeError, and never in
rows merged silently."""

from __future__ import annotations

import json

import pytest
from helpers.nodes import dataset_node, encode_node

from hf_text_finetune.modules.errors import UserInputError

GOOD_ROWS = "a wonderful film,1\na terrible film,0\n"


def _refused(path, encode, *parts, **inputs):
    with pytest.raises(UserInputError) as caught:
        dataset_node(path, encode, **inputs)
    message = str(caught.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    for raw in ("DatasetGenerationError", "An error occurred while generating", "Traceback", "NoneType"):
        assert raw not in message
    return message


@pytest.fixture(scope="module")
def encode(tiny_bert):
    return encode_node(tiny_bert)


# (file name, bytes, parts the message must hold): 1 case each
BAD_FILES = [
    ("empty.csv", b"", ["empty.csv", "is empty", "header and rows"]),
    ("blank.csv", b"\n\n  \n", ["blank.csv", "is empty"]),
    ("empty.jsonl", b"", ["empty.jsonl", "is empty"]),
    ("empty.parquet", b"", ["empty.parquet", "is empty"]),
    ("latin1.csv", "text,label\ncaf\u00e9 cr\u00e8me,1\n".encode("latin-1"),
     ["latin1.csv", "not UTF-8", "line 2", "save it as UTF-8"]),
    ("cp1252.jsonl", '{"text": "\u201cquoted\u201d", "label": 1}\n'.encode("cp1252"),
     ["cp1252.jsonl", "not UTF-8", "line 1", "save it as UTF-8"]),
    ("quote_mid.csv", b'text,label\n"a good film,1\nbad film,0\n"great" movie,1\n',
     ["quote_mid.csv", "unbalanced quote", "line 2", '""']),
    ("quote_end.csv", b'text,label\ngood,1\n"never closed,0\n', ["quote_end.csv", "unbalanced quote", "line 3"]),
    ("fields_more.csv", b"text,label\ngood film,1\ngreat, really great,1\n",
     ["fields_more.csv", "line 3 has 3 fields", "header has 2", "put quotes around"]),
    ("fields_less.csv", b"text,label,source\ngood film,1,web\nbad film\n",
     ["fields_less.csv", "line 3 has 1 fields", "header has 3"]),
    ("tabs.csv", b"text\tlabel\ngood film\t1\n", ["tabs.csv", "separated by tabs", "rename it to .tsv"]),
    ("semicolons.csv", b"text;label\ngood film;1\n", ["semicolons.csv", "separated by semicolons",
                                                      "save it with commas"]),
    ("commas.tsv", b"text,label\ngood film,1\n", ["commas.tsv", "separated by commas", "rename it to .csv"]),
    ("truncated.json", b'[{"text": "good", "label": 1}, {"text": "bad", "lab',
     ["truncated.json", "not valid JSON", "truncated", "a list of objects"]),
    ("broken.json", b'[{"text": "good" "label": 1}]', ["broken.json", "not valid JSON", "line 1 column",
                                                       "write the file again"]),
    ("bad_line.jsonl", b'{"text": "good", "label": 1}\n{"text": "bad", label: 0}\n{"text": "ok", "label": 1}\n',
     ["bad_line.jsonl", "line 2", "not valid JSON", "one JSON object per line"]),
    ("bad_line_in.json", b'{"text": "good", "label": 1}\n{"text": "bad" "label": 0}\n',
     ["bad_line_in.json", "line 2", "not valid JSON"]),
    ("not_object.jsonl", b'{"text": "good", "label": 1}\n["bad", 0]\n',
     ["not_object.jsonl", "line 2", "not an object", "one object per line"]),
    ("damaged.parquet", b"PAR1 this is not really parquet",
     ["damaged.parquet", "could not be read", "well-formed"]),
]


@pytest.mark.parametrize("file_name, content, parts", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_damaged_file_names_its_cause_line_and_fix(file_name, content, parts, encode, tmp_path):
    path = tmp_path / file_name
    path.write_bytes(content)
    _refused(path, encode, *parts)


def test_mixed_types_in_one_json_field_name_the_file(encode, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"text": "good", "label": 1}\n{"text": {"nested": true}, "label": 0}\n')
    _refused(path, encode, "mixed.jsonl")


# --- Text cells -----------------------------------------------------------------------------------

TEXT_CELLS = [
    ("empty_cell.csv", "text,label\ngood film,1\n,0\nbad film,0\n", ["1 empty or missing text", "line 3",
                                                                    "write the texts there, or delete"]),
    ("two_empty.csv", "text,label\n,1\ngood,1\n,0\n", ["2 empty or missing texts", "lines 2, 4"]),
    ("quoted_empty.csv", 'text,label\n"",1\ngood,0\n', ["line 2"]),
    ("spaces.csv", "text,label\ngood,1\n   ,0\n", ["line 3"]),
    ("null.jsonl", '{"text": "good", "label": 1}\n{"text": null, "label": 0}\n', ["line 2", "missing"]),
    ("blank.jsonl", '{"text": "good", "label": 1}\n\n{"text": "", "label": 0}\n', ["line 3"]),
    ("multiline.csv", 'text,label\n"a good\nfilm",1\n,0\n', ["line 4"]),
]


@pytest.mark.parametrize("file_name, content, parts", TEXT_CELLS, ids=[case[0] for case in TEXT_CELLS])
def test_empty_or_missing_texts_are_refused_with_their_lines(file_name, content, parts, encode, tmp_path):
    path = tmp_path / file_name
    path.write_text(content)
    _refused(path, encode, f"text_field 'text' of dataset '{path}'", *parts)


def test_empty_texts_in_a_slice_are_named_by_row(encode, tmp_path):
    path = tmp_path / "slice.csv"
    path.write_text("text,label\ngood,1\nbad,0\n,1\n")
    _refused(path, encode, "row 2 of split 'train[1:]'", split="train[1:]")


def test_a_column_of_lists_is_not_text(encode, tmp_path):
    path = tmp_path / "lists.jsonl"
    path.write_text(json.dumps({"text": ["a", "b"], "label": 1}) + "\n")
    _refused(path, encode, "text_field 'text'", "not text", "choose the column that holds the texts")


@pytest.mark.parametrize("values, expected", [([12, 7, 30], ["12", "7", "30"]), ([1.5, 2.0], ["1.5", "2.0"])],
                         ids=["integers", "floats"])
def test_numeric_text_column_is_read_as_text(values, expected, encode, tmp_path, caplog):
    """Documented handling: a text column that holds only numbers is tokenized as the numbers' text."""
    path = tmp_path / "numbers.csv"
    path.write_text("text,label\n" + "".join(f"{v},{i % 2}\n" for i, v in enumerate(values)))
    data = dataset_node(path, encode)
    assert len(data) == len(values)
    tokenizer = encode.tokenizer
    assert [tokenizer.decode(ids, skip_special_tokens=True) for ids in data.data["input_ids"]] == \
        [tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) for text in expected]
    assert any("read as its text" in record.getMessage() for record in caplog.records)


def test_quoted_texts_with_commas_and_newlines_still_load(encode, tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('text,label\n"great, really great",1\n"a ""fine"" film\non two lines",0\n' + GOOD_ROWS)
    assert len(dataset_node(path, encode)) == 4


def test_a_json_list_and_json_lines_in_a_json_file_load(encode, tmp_path):
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([{"text": "good", "label": 1}, {"text": "bad", "label": 0}]))
    lines = tmp_path / "lines.json"
    lines.write_text('{"text": "good", "label": 1}\n{"text": "bad", "label": 0}\n')
    assert len(dataset_node(listed, encode)) == 2 and len(dataset_node(lines, encode)) == 2


# --- Labels ------------------------------------------------------------------------------------------

MIXED_LABELS = [
    ("text,label\ngood,1\nbad,neg\nok,0\n", ["['0', '1']", "['neg']"]),
    ("text,label\ngood,pos\nbad,neg\nok,2\n", ["['2']", "['neg', 'pos']"]),
    ("text,label\ngood,1.0\nbad,negative\n", ["['1.0']", "['negative']"]),
]


@pytest.mark.parametrize("content, parts", MIXED_LABELS, ids=["ints-and-a-name", "names-and-an-int", "float-and-name"])
def test_mixed_label_kinds_are_refused(content, parts, encode, tmp_path):
    path = tmp_path / "mixed_labels.csv"
    path.write_text(content)
    _refused(path, encode, "label_field 'label'", "mixes numbers", "use one kind", *parts)


def test_text_labels_that_are_all_numbers_still_load(encode, tmp_path):
    path = tmp_path / "string_ints.jsonl"
    path.write_text('{"text": "good", "label": "1"}\n{"text": "bad", "label": "0"}\n')
    data = dataset_node(path, encode)
    assert data.label_names == ["0", "1"]
