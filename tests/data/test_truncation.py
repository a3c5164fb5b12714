"""Truncation modes of the tokenizer node: head (the tokenizer's own), tail and head+tail, cut
from the text's own tokens so that max_length keeps counting the special tokens."""

from __future__ import annotations

import pytest
from helpers.checks import raises_with, refused
from helpers.models import ARCHITECTURES
from helpers.nodes import run_node, validate_node

from hf_text_finetune.modules.data.encoding import build_token_encoder, tokenizer_fingerprint
from hf_text_finetune.modules.data.truncation import Truncation

LONG = " ".join(f"great acting {w} plot" for w in ("first", "scene", "ending", "wooden") * 30) + " the last words"


def _content(encoder, text):
    return list(encoder.tokenizer(text, add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_head_tail_keeps_the_first_and_last_tokens_of_a_text_exactly(tiny_models, arch):
    encoder = build_token_encoder(str(tiny_models[arch]), 40, truncation_rule=Truncation("head+tail", 0.25))
    plain = build_token_encoder(str(tiny_models[arch]), 40)
    content = _content(encoder, LONG)
    row = encoder([LONG])["input_ids"][0]
    special = encoder.special_tokens
    room = 40 - special.count
    head = round(room * 0.25)
    assert len(row) == 40 and len(content) > 40
    assert row == list(special.prefix) + content[:head] + content[-(room - head):] + list(special.suffix)
    # the special tokens are the tokenizer's own: the same as its own head truncation puts around the text
    own = plain([LONG])["input_ids"][0]
    assert row[:len(special.prefix)] == own[:len(special.prefix)] and row[-len(special.suffix):] == own[-len(special.suffix):]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_tail_keeps_the_last_tokens_and_short_texts_stay_whole(tiny_models, arch):
    encoder = build_token_encoder(str(tiny_models[arch]), 32, truncation_rule=Truncation("tail"))
    plain = build_token_encoder(str(tiny_models[arch]), 32)
    special = encoder.special_tokens
    long_row, short_row = encoder([LONG, "a wonderful film"])["input_ids"]
    assert long_row == list(special.prefix) + _content(encoder, LONG)[-(32 - special.count):] + list(special.suffix)
    assert short_row == plain(["a wonderful film"])["input_ids"][0]


def test_head_share_sets_the_split_and_each_end_keeps_a_token():
    assert Truncation("head+tail", 0.25).head_tokens(510) == 128  # Sun et al.: 128 + 382
    assert Truncation("head+tail", 0.01).head_tokens(10) == 1
    assert Truncation("head+tail", 0.99).head_tokens(10) == 9
    assert Truncation("head+tail", 0.5).cut(list(range(10)), 4) == [0, 1, 8, 9]


@pytest.mark.parametrize("share", [0.0, 1.0, -0.5, 1.5])
def test_a_head_share_outside_zero_and_one_is_refused_with_the_fix(share):
    refused(validate_node("HfTokenizerEncode", head_share=share), f"head_share {share}", "between 0 and 1", "0.25")
    raises_with(lambda: Truncation("head+tail", share), f"head_share {share}", "0.25")


def test_an_unknown_truncation_mode_is_refused():
    refused(validate_node("HfTokenizerEncode", truncation_mode="middle"), "'middle'", "head+tail")


def test_the_mode_is_part_of_the_fingerprint_and_head_keeps_the_old_one(tiny_bert):
    fingerprints = {mode: build_token_encoder(str(tiny_bert), 32, truncation_rule=Truncation(mode)).fingerprint
                    for mode in ("head", "tail", "head+tail")}
    assert len(set(fingerprints.values())) == 3
    other_share = build_token_encoder(str(tiny_bert), 32, truncation_rule=Truncation("head+tail", 0.5)).fingerprint
    assert other_share != fingerprints["head+tail"]
    plain = build_token_encoder(str(tiny_bert), 32)
    assert fingerprints["head"] == tokenizer_fingerprint(plain.tokenizer, 32, True)  # cached datasets stay valid


def test_the_tokenize_once_cache_separates_truncation_modes(tiny_bert, tmp_path):
    from helpers.data import write_csv

    from hf_text_finetune.modules.data.tokenized import encode_text_dataset

    data = write_csv(tmp_path / "long.csv", [(LONG, 1), ("a terrible film", 0)])
    head = encode_text_dataset(str(data), "train", "text", "label",
                               build_token_encoder(str(tiny_bert), 24, truncation_rule=Truncation("head")))
    tail = encode_text_dataset(str(data), "train", "text", "label",
                               build_token_encoder(str(tiny_bert), 24, truncation_rule=Truncation("tail")))
    assert not tail.from_cache and head.fingerprint != tail.fingerprint
    assert head.data[0]["input_ids"] != tail.data[0]["input_ids"]
    assert head.data[1]["input_ids"] == tail.data[1]["input_ids"]


def test_the_node_builds_a_head_tail_encoder(tiny_bert):
    encoder = run_node("HfTokenizerEncode", model_name=str(tiny_bert), max_length=32, truncation=True,
                       truncation_mode="head+tail", head_share=0.5)[0]
    assert encoder.truncation_rule == Truncation("head+tail", 0.5) and not encoder.windows.enabled
