"""Hf Tokenizer Encode and how the dataset node uses it: max_length (0 = the model's own),
truncation without forced padding, HTML stripping, and encode functions that return a
dict or an (ids, mask) tuple; a max_length the model cannot take is refused."""

from __future__ import annotations

import pytest
from helpers.checks import raises_with, refused
from helpers.data import write_reviews_csv
from helpers.models import ARCHITECTURES, MAX_POSITIONS
from helpers.nodes import (adamw_node, bce_node, dataset_node, encode_node, loader_node, model_node, run_node,
                           validate_node)

from hf_text_finetune.modules.data.text_cleaning import strip_html

LONG_TEXT = " ".join(["a wonderful film with great acting and a moving story"] * 40)


def _texts_and_labels(reviews_csv):
    import csv

    with open(reviews_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [int(r["label"]) for r in rows]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_max_length_zero_is_the_models_own_maximum(tiny_models, arch):
    encode = encode_node(tiny_models[arch], max_length=0)
    assert encode.max_length == MAX_POSITIONS
    ids = encode([LONG_TEXT])["input_ids"][0]
    assert len(ids) == MAX_POSITIONS, "long texts are truncated to the model's maximum"


def test_explicit_max_length_truncates_and_nothing_is_padded(tiny_bert):
    encode = encode_node(tiny_bert, max_length=16)
    encoded = encode([LONG_TEXT, "brilliant"])
    assert [len(ids) for ids in encoded["input_ids"]] == [16, 3], "per-sample padding must not be forced"
    assert encoded["attention_mask"][1] == [1, 1, 1]


def test_max_length_above_the_models_maximum_is_refused(tiny_bert):
    raises_with(lambda: encode_node(tiny_bert, max_length=200), "max_length 200", "(128 tokens)",
                "use 128 or less", "0 for the model's maximum")
    refused(validate_node("HfTokenizerEncode", model_name=str(tiny_bert), max_length=-1), "max_length -1")


def test_long_texts_without_truncation_are_refused(tiny_bert, tmp_path):
    encode = encode_node(tiny_bert, max_length=8, truncation=False)
    data = write_reviews_csv(tmp_path / "long.csv", rows=6, seed=3)
    raises_with(lambda: dataset_node(data, encode), "truncation is off", "max_length 8", "turn truncation on")


def test_html_tags_are_stripped_only_when_asked(tiny_bert, reviews_csv):
    encode = encode_node(tiny_bert)
    raw_text = _texts_and_labels(reviews_csv)[0][0]
    assert "<br />" in raw_text
    stripped = dataset_node(reviews_csv, encode, split="train[:1]", strip_html=True)
    kept = dataset_node(reviews_csv, encode, split="train[:1]", strip_html=False)
    assert stripped.data["input_ids"][0] == encode([raw_text.replace("<br /><br />", " ")])["input_ids"][0]
    assert kept.data["input_ids"][0] == encode([raw_text])["input_ids"][0]
    assert len(kept.data["input_ids"][0]) > len(stripped.data["input_ids"][0])
    assert strip_html("great<br /><br />film &amp; cast<p>!</p>") == "great film & cast !"


def test_encode_return_dict_false_with_the_tokenizer_node_gives_the_same_tokens(tiny_bert, reviews_csv):
    encode = encode_node(tiny_bert)
    as_dict = dataset_node(reviews_csv, encode, encode_return_dict=True)
    as_tuple = dataset_node(reviews_csv, encode, encode_return_dict=False)
    assert as_tuple.data["input_ids"] == as_dict.data["input_ids"]
    assert as_tuple.data["attention_mask"] == as_dict.data["attention_mask"]


def test_an_encoder_returning_an_ids_and_mask_tuple_gives_a_dataset_that_trains(tiny_bert, reviews_csv):
    """An encode function from elsewhere that returns (ids, mask) instead of a dict."""
    tokenizer = encode_node(tiny_bert).tokenizer

    def encode_pairs(texts):
        encoded = tokenizer(list(texts), truncation=True, max_length=32)
        return encoded["input_ids"], encoded["attention_mask"]

    data = dataset_node(reviews_csv, encode_pairs, encode_return_dict=False)
    texts, labels = _texts_and_labels(reviews_csv)
    assert data.data["input_ids"] == encode_pairs([strip_html(t) for t in texts])[0]
    assert data.data["labels"] == labels
    # and it trains (the loader pads with id 0: a plain function carries no tokenizer)
    outputs = run_node("PtTrainTransformerClassificationModel", model=model_node(tiny_bert),
                       train_loader=loader_node(data, 8), optimizer=adamw_node(), loss_function=bce_node(),
                       epochs=1, seed=0, precision="fp32")
    assert outputs[4] > 0
