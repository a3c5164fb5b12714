"""Sliding windows: a long text read as overlapping windows, each a training sample with the
text's label and id; their settings checked against the model's length."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.checks import raises_with, refused
from helpers.data import write_csv
from helpers.models import MAX_POSITIONS
from helpers.nodes import validate_node

from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.data.splits import split_train_validation
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.data.windows import Windows, combine_window_logits

LONG = " ".join(["great acting and a moving story"] * 600)  # about 3,000 tokens


def test_a_3000_token_text_gives_overlapping_windows_that_cover_it(tiny_bert):
    encoder = build_token_encoder(str(tiny_bert), 0, windows=Windows(size=64, stride=40))
    content = list(encoder.tokenizer(LONG, add_special_tokens=False)["input_ids"])
    assert len(content) >= 3000
    encoded = encoder([LONG, "a terrible film"])
    special = encoder.special_tokens
    room = 64 - special.count
    rows, owners = encoded["input_ids"], encoded["text_index"]
    assert owners.count(0) == len(rows) - 1 > 40 and owners[-1] == 1
    pieces = [row[len(special.prefix):len(row) - len(special.suffix)] for row in rows[:-1]]
    assert all(len(row) == 64 for row in rows[:-1])
    assert pieces[0] == content[:room] and pieces[1] == content[40:40 + room]  # 40 tokens on, the rest shared
    assert pieces[-1] == content[-room:]  # the last window ends with the text
    assert rows[-1] == build_token_encoder(str(tiny_bert), 0)(["a terrible film"])["input_ids"][0]


def test_max_windows_keeps_the_first_windows_of_a_text():
    windows = Windows(size=12, stride=5, max_windows=2)
    assert windows.split(list(range(100)), 10) == [list(range(10)), list(range(5, 15))]
    assert Windows(size=12).split(list(range(6)), 10) == [list(range(6))]  # a short text is one window


def test_a_stride_not_smaller_than_the_window_is_refused_at_queue_time():
    refused(validate_node("HfTokenizerEncode", window=128, stride=128), "stride 128", "window 128", "64")
    assert validate_node("HfTokenizerEncode", window=128, stride=0) is True


def test_a_stride_that_skips_text_is_refused(tiny_bert):
    raises_with(lambda: build_token_encoder(str(tiny_bert), 0, windows=Windows(size=64, stride=63)),
                "stride 63", "at most 62")


def test_a_window_longer_than_a_tiny_models_maximum_is_refused(tiny_bert):
    raises_with(lambda: build_token_encoder(str(tiny_bert), 0, windows=Windows(size=512)),
                "window 512", f"max_length {MAX_POSITIONS}", f"at most {MAX_POSITIONS}")
    raises_with(lambda: build_token_encoder(str(tiny_bert), 0, windows=Windows(size=2)), "window 2", "at least 3")


def test_window_settings_are_part_of_the_fingerprint_but_combining_is_not(tiny_bert):
    def fingerprint(**settings):
        return build_token_encoder(str(tiny_bert), 0, windows=Windows(**settings)).fingerprint

    assert len({fingerprint(size=0), fingerprint(size=64), fingerprint(size=64, stride=20),
                fingerprint(size=64, max_windows=2)}) == 4
    assert fingerprint(size=64, combine="max") == fingerprint(size=64, combine="mean")


@pytest.fixture(scope="module")
def windowed(tiny_bert, tmp_path_factory):
    rows = [(LONG, 1), ("a terrible film", 0), ("boring plot and wooden acting " * 30, 0), ("a wonderful film", 1)]
    data = write_csv(tmp_path_factory.mktemp("long") / "long.csv", rows * 3)
    encoder = build_token_encoder(str(tiny_bert), 0, windows=Windows(size=48))
    return encode_text_dataset(str(data), "train", "text", "label", encoder)


def test_each_window_carries_its_texts_label_and_id(windowed):
    ids = np.asarray(windowed.data["text_id"])
    labels = np.asarray(windowed.data["labels"])
    assert windowed.windowed and windowed.text_count == 12 and len(windowed) > 12
    for text in range(12):
        assert len(set(labels[ids == text])) == 1
        assert labels[ids == text][0] == (1 if text % 4 in (0, 3) else 0)
    assert max(windowed.data["length"]) <= 48


def test_windows_are_length_grouped_and_padded_per_batch(windowed):
    loader = TextDataLoader(windowed, batch_size=8, seed=0)
    batches = list(loader.batches(epoch=0))
    assert sum(len(b["labels"]) for b in batches) == len(windowed)
    assert all(b["input_ids"].shape[1] <= 48 for b in batches)
    assert loader.padding_efficiency() > 0.8


def test_a_validation_split_keeps_each_texts_windows_together(windowed):
    train, val = split_train_validation(windowed, 0.25, seed=0)
    train_texts, val_texts = set(train.data["text_id"]), set(val.data["text_id"])
    assert train_texts and val_texts and not train_texts & val_texts
    assert len(train) + len(val) == len(windowed)


def test_combining_takes_the_mean_or_the_max_of_each_texts_window_logits():
    logits = torch.tensor([[1.0, 0.0], [3.0, -2.0], [0.5, 0.5], [-1.0, 4.0]])
    text_ids = torch.tensor([7, 7, 2, 7])
    mean, first = combine_window_logits(logits, text_ids, "mean")
    assert torch.allclose(mean, torch.tensor([[0.5, 0.5], [1.0, 2.0 / 3.0]]))
    assert first.tolist() == [2, 0]
    biggest, _ = combine_window_logits(logits, text_ids, "max")
    assert torch.equal(biggest, torch.tensor([[0.5, 0.5], [3.0, 4.0]]))
