"""Pt Data Loader: batches padded to their longest member, no attention mask where nothing is
padded, a seeded order that changes every epoch, dataset order for validation, length
grouping that cuts padding, and order-free passes over length-sorted batches."""

from __future__ import annotations

import csv
import random

import numpy as np
import pytest
import torch
from helpers.checks import raises_with, refused
from helpers.classifiers import dropout_free_classifier
from helpers.data import write_reviews_csv
from helpers.models import MAX_POSITIONS
from helpers.nodes import dataset_node, encode_node, loader_node, validate_node

from hf_text_finetune.modules.data.batching import TextDataLoader, pad_batch
from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.precision import Precision
from hf_text_finetune.modules.training.eval_pass import evaluate
from hf_text_finetune.modules.training.losses import LossSpec


def _epoch(loader, epoch=0):
    return list(loader.batches(epoch))


def test_batches_are_padded_to_their_longest_member(pipelines):
    data = pipelines["bert"].train_data
    pad_id = pipelines["bert"].encode.tokenizer.pad_token_id
    loader = loader_node(data, batch_size=8, shuffle=True, seed=3, group_by_length=False)
    widths = set()
    for batch in _epoch(loader):
        mask = batch.get("attention_mask")
        real = mask.sum(dim=1) if mask is not None else torch.full((len(batch["labels"]),), batch["input_ids"].shape[1])
        width = batch["input_ids"].shape[1]
        widths.add(width)
        assert width == int(real.max()), "padded to the longest text of this batch, not to max_length"
        if mask is not None:
            assert (batch["input_ids"][mask == 0] == pad_id).all()
            assert set(batch) >= {"input_ids", "attention_mask", "labels"}
    assert len(widths) > 1 and max(widths) < MAX_POSITIONS


def test_a_batch_without_padding_has_no_attention_mask(tiny_bert, tmp_path):
    path = tmp_path / "same.csv"
    path.write_text("text,label\n" + "".join(f"a wonderful film,{i % 2}\n" for i in range(8)))
    loader = loader_node(dataset_node(path, encode_node(tiny_bert)), batch_size=4)
    for batch in _epoch(loader):
        assert "attention_mask" not in batch, "no padding -> no mask, so SDPA can take its fast path"
        assert batch["input_ids"].shape == (4, batch["input_ids"].shape[1])


def test_the_mask_is_dropped_only_when_no_row_is_padded():
    rows = [{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": 0},
            {"input_ids": [5, 6, 8], "attention_mask": [1, 1, 1], "labels": 1}]
    assert "attention_mask" not in pad_batch(rows, 0)
    kept = pad_batch(rows, 0, drop_full_mask=False)
    assert kept["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 1]]
    padded = pad_batch(rows + [{"input_ids": [5], "attention_mask": [1], "labels": 1}], 0)
    assert padded["attention_mask"].tolist()[2] == [1, 0, 0] and padded["input_ids"].tolist()[2] == [5, 0, 0]


def test_same_seed_gives_the_same_batches_and_epochs_differ(pipelines):
    data = pipelines["bert"].train_data
    first = loader_node(data, batch_size=8, seed=5)
    again = loader_node(data, batch_size=8, seed=5)
    other = loader_node(data, batch_size=8, seed=6)
    ids = lambda loader, epoch=0: [b["input_ids"].tolist() for b in _epoch(loader, epoch)]  # noqa: E731
    assert ids(first) == ids(again)
    assert ids(first, 1) == ids(again, 1)
    assert ids(first) != ids(first, 1), "a new order each epoch"
    assert ids(first) != ids(other)
    labels = sorted(int(v) for b in _epoch(first) for v in b["labels"])
    assert labels == sorted(data.data["labels"]), "every row exactly once per epoch"


def test_validation_loader_keeps_dataset_order(pipelines):
    data = pipelines["bert"].val_data
    loader = loader_node(data, batch_size=5, shuffle=False)
    labels = [int(v) for b in _epoch(loader) for v in b["labels"]]
    assert labels == data.data["labels"]
    assert len(_epoch(loader)) == len(loader) == 5


@pytest.mark.parametrize("batch_size", [0, -8])
def test_zero_or_negative_batch_size_is_refused(batch_size, pipelines):
    refused(validate_node("PtDataLoader", batch_size=batch_size), f"batch_size {batch_size}", "at least 1", "32")
    raises_with(lambda: loader_node(pipelines["distilbert"].train_data, batch_size=batch_size),
                f"batch_size {batch_size}", "at least 1")


# --- length grouping --------------------------------------------------------------------------------

def test_length_grouping_reduces_padding(tiny_bert, tmp_path):
    # Like the HF Trainer's sampler, grouping sorts mega-batches of up to 50 batches (a quarter of
    # the data at most), so it needs more than a few batches of data to show.
    data = dataset_node(write_reviews_csv(tmp_path / "many.csv", rows=320, seed=4), encode_node(tiny_bert))

    def padding(group):
        loader = loader_node(data, batch_size=8, seed=1, group_by_length=group)
        total = 0
        for epoch in range(3):
            for batch in _epoch(loader, epoch):
                mask = batch.get("attention_mask")
                total += 0 if mask is None else int((mask == 0).sum())
        return total

    grouped, random_order = padding(True), padding(False)
    assert grouped < 0.5 * random_order, (grouped, random_order)


def _varied_lengths_csv(path, rows: int = 400, seed: int = 0):
    rng = random.Random(seed)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(rows):
            writer.writerow([" ".join(["a wonderful film"] * rng.randint(1, 30)), i % 2])
    return path


def _encoded(folder, csv_path):
    return encode_text_dataset(str(csv_path), "train", "text", "label", build_token_encoder(str(folder), 0))


def _padding(loader: TextDataLoader, epoch: int) -> tuple[int, int]:
    real = padded = 0
    for batch in loader.batches(epoch):
        mask = batch.get("attention_mask")
        padded += batch["input_ids"].numel()
        real += batch["input_ids"].numel() if mask is None else int(mask.sum())
    return real, padded


def test_grouped_batches_carry_less_padding_than_random_ones(tiny_bert, tmp_path):
    data = _encoded(tiny_bert, _varied_lengths_csv(tmp_path / "varied.csv"))
    grouped = TextDataLoader(data, 16, seed=0, group_by_length=True)
    shuffled = TextDataLoader(data, 16, seed=0, group_by_length=False)
    for epoch in range(2):
        real_g, padded_g = _padding(grouped, epoch)
        real_r, padded_r = _padding(shuffled, epoch)
        assert real_g == real_r == grouped.real_tokens(), "every row exactly once"
        assert real_g / padded_g > 0.95 > 0.8 > real_r / padded_r, (real_g / padded_g, real_r / padded_r)
        assert grouped.padding_efficiency(epoch) == pytest.approx(real_g / padded_g)
        assert shuffled.padding_efficiency(epoch) == pytest.approx(real_r / padded_r)


def test_order_free_passes_use_length_sorted_batches_with_the_same_totals(tiny_bert, tmp_path):
    data = _encoded(tiny_bert, _varied_lengths_csv(tmp_path / "varied.csv", rows=120, seed=2))
    loader = TextDataLoader(data, 16, shuffle=False)
    sorted_rows = [i for b in loader.batch_indices(shuffle=False, by_length=True) for i in b]
    assert sorted(sorted_rows) == list(range(len(data))), "every row exactly once"
    lengths = loader.token_lengths()[sorted_rows]
    assert (np.diff(lengths) <= 0).all(), "longest first"
    assert loader.padding_efficiency(by_length=True) > 0.9 > 0.7 > loader.padding_efficiency(shuffle=False)
    # evaluation totals do not depend on the order: the sorted pass (keep_outputs off) gives the
    # loss and accuracy of the dataset-order pass (keep_outputs on)
    network = dropout_free_classifier(tiny_bert).network.eval()
    args = (network, loader, LossSpec("bce_with_logits"), torch.device("cpu"), Precision("fp32", "cpu"))
    fast, ordered = evaluate(*args), evaluate(*args, keep_outputs=True)
    assert fast.accuracy == ordered.accuracy and fast.count == ordered.count == len(data)
    assert fast.loss == pytest.approx(ordered.loss, rel=1e-5)


def test_the_longest_batch_comes_first_so_memory_errors_show_at_once(tiny_bert, tmp_path):
    data = _encoded(tiny_bert, _varied_lengths_csv(tmp_path / "varied.csv", seed=1))
    loader = TextDataLoader(data, 16, seed=3)
    widths = [b["input_ids"].shape[1] for b in loader.batches(0)]
    assert widths[0] == max(widths) and widths != sorted(widths, reverse=True), "longest first, then shuffled"
