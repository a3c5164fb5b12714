"""Pairs of texts on the dataset node (text_pair_field): each row's two texts are encoded together as the
tokenizer encodes a pair ([CLS] a [SEP] b [SEP], token type ids 0 then 1), too long a pair loses tokens
from its longer text first, the pair column is part of the tokenize-once cache key, and a pair column
that cannot work is refused with the fix."""

from __future__ import annotations

import csv

import pytest
from helpers.checks import raises_with
from helpers.data import write_pairs_csv
from helpers.nodes import dataset_node, encode_node

from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.pretrained import load_tokenizer


@pytest.fixture(scope="module")
def pairs_csv(tmp_path_factory):
    return write_pairs_csv(tmp_path_factory.mktemp("pairs") / "mrpc.csv", rows=12)


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_each_row_is_encoded_as_the_tokenizer_encodes_the_pair(tiny_bert, pairs_csv):
    data = dataset_node(pairs_csv, encode_node(tiny_bert), text_field="sentence1", text_pair_field="sentence2")
    tokenizer = load_tokenizer(str(tiny_bert))
    rows = _rows(pairs_csv)
    expected = tokenizer([r["sentence1"] for r in rows], [r["sentence2"] for r in rows])
    assert data.pairs and data.text_pair_field == "sentence2"
    assert data.data["input_ids"] == expected["input_ids"]
    assert data.data["token_type_ids"] == expected["token_type_ids"]
    assert {1} <= set(data.data["token_type_ids"][0]), "the second text has token type 1"
    assert data.data["labels"] == [int(r["label"]) for r in rows]


def test_a_pair_too_long_loses_tokens_of_its_longer_text_first(tiny_bert, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("a,b,label\n" + "great film,"
                    + " ".join(["boring plot and wooden acting"] * 10) + ",1\n")
    encoder = build_token_encoder(str(tiny_bert), 16)
    data = encode_text_dataset(str(path), "train", ("a", "b"), "label", encoder)
    tokenizer = load_tokenizer(str(tiny_bert))
    ids = data.data["input_ids"][0]
    first = tokenizer("great film", add_special_tokens=False)["input_ids"]
    assert len(ids) == 16
    assert ids[1:1 + len(first)] == first and ids[1 + len(first)] == tokenizer.sep_token_id, "short text whole"
    assert ids == tokenizer("great film", " ".join(["boring plot and wooden acting"] * 10), truncation="longest_first",
                            max_length=16)["input_ids"]


def test_the_pair_column_is_part_of_the_tokenize_once_cache_key(tiny_bert, pairs_csv):
    encoder = build_token_encoder(str(tiny_bert))
    single = encode_text_dataset(str(pairs_csv), "train", "sentence1", "label", encoder)
    pair = encode_text_dataset(str(pairs_csv), "train", ("sentence1", "sentence2"), "label", encoder)
    swapped = encode_text_dataset(str(pairs_csv), "train", ("sentence1", "idx"), "label", encoder)
    again = encode_text_dataset(str(pairs_csv), "train", ("sentence1", "sentence2"), "label", encoder)
    assert len({single.fingerprint, pair.fingerprint, swapped.fingerprint}) == 3
    assert not single.pairs and single.data["input_ids"] != pair.data["input_ids"]
    assert again.from_cache and again.fingerprint == pair.fingerprint and again.pairs


def test_a_pair_field_that_is_not_a_column_is_refused_listing_the_columns(tiny_bert, pairs_csv):
    encode = encode_node(tiny_bert)
    raises_with(lambda: dataset_node(pairs_csv, encode, text_field="sentence1", text_pair_field="sentence_2"),
                "text_pair_field 'sentence_2' is not a column", "['idx', 'sentence1', 'sentence2', 'label']")
    raises_with(lambda: dataset_node(pairs_csv, encode, text_field="sentence1", text_pair_field="sentence1"),
                "is the text_field too", "sentence2")


def test_empty_second_texts_are_refused_with_their_lines(tiny_bert, tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("a,b,label\ngood film,great acting,1\nbad film,,0\n")
    raises_with(lambda: dataset_node(path, encode_node(tiny_bert), text_field="a", text_pair_field="b"),
                "text_pair_field 'b'", "line 3")


def test_pairs_need_the_tokenizer_nodes_encoder_and_room_for_two_texts(tiny_bert, pairs_csv):
    def own_encoder(texts):
        return [[1, 2]] * len(texts), [[1, 1]] * len(texts)

    raises_with(lambda: encode_text_dataset(str(pairs_csv), "train", ("sentence1", "sentence2"), "label",
                                            own_encoder, encode_return_dict=False),
                "text_pair_field 'sentence2'", "Hf Tokenizer Encode")
    raises_with(lambda: encode_text_dataset(str(pairs_csv), "train", ("sentence1", "sentence2"), "label",
                                            build_token_encoder(str(tiny_bert), 4)),
                "max_length 4", "at least 5")
