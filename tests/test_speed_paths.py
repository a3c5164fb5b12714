"""The speed paths must not change results.

bf16 mixed precision, dropping the attention mask of an unpadded batch, length
grouping and gradient accumulation are on by default or one switch away; each is
only worth having if training gives (within a stated tolerance) what the plain
fp32, masked, ungrouped, big-batch run gives. Tokenization must happen once.

Tolerances, on tiny models with every dropout at 0 so runs are deterministic:
- no mask vs an all-ones mask: logits within 1e-5, training losses within 1e-4 relative;
- bf16 autocast vs fp32: training losses within 3% relative, logits within 0.05 + 2%
  (bf16 keeps 8 bits of mantissa; measured: 1% and 0.012 on logits of 1.6), predictions
  equal wherever fp32's logit is beyond 0.05;
- k batches of b accumulated vs one batch of k*b: losses within 1e-4 relative, weights
  within 1e-4 absolute (AdamW steps are ~1e-3 here, so a wrong scaling shows).
"""

from __future__ import annotations

import csv
import random

import numpy as np
import pytest
import torch
from tiny_models import ARCHITECTURES, write_reviews_csv

from hf_text_finetune.modules.data import tokenized as text_dataset
from hf_text_finetune.modules.model.linear_head import LinearHeadNetwork
from hf_text_finetune.modules.data.batching import TextDataLoader, pad_batch
from hf_text_finetune.modules.training.eval_pass import evaluate
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.pretrained import load_config, load_encoder
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.precision import Precision, choose_precision
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.data.encoding import TokenEncoder, build_token_encoder
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.settings import TrainSettings

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread; on a busy machine two OpenMP threads are ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def dropout_free_model(folder, seed: int = 0) -> HfEncoderClassifier:
    """The classifier of the model node with every dropout at 0: training is deterministic."""
    config = load_config(str(folder))
    for key, value in config.to_dict().items():
        if "dropout" in key and isinstance(value, float):
            setattr(config, key, 0.0)
    torch.manual_seed(seed)
    return HfEncoderClassifier(load_encoder(str(folder), config), 1, "cls", 0.0, model_name=str(folder), init_seed=seed)


def encoded(folder, csv_path, max_length: int = 0):
    return encode_text_dataset(str(csv_path), "train", "text", "label", build_token_encoder(str(folder), max_length))


def train(model, loader, precision="fp32", accumulation=1, epochs=2, lr=1e-3):
    settings = TrainSettings(epochs=epochs, precision=precision, device="cpu", gradient_accumulation_steps=accumulation,
                             seed=0, live_plot_interval_s=0)
    return train_classifier(model, loader, OptimizerSpec("AdamW", lr, 0.01), LossSpec("bce_with_logits"), settings)


def losses(result) -> list[float]:
    return [m.train_loss for m in result.history]


@torch.no_grad()
def logits_of(model, loader, precision: Precision = Precision("fp32", "cpu")) -> torch.Tensor:
    out = evaluate(model, loader, LossSpec("bce_with_logits"), torch.device("cpu"), precision, keep_outputs=True)
    return out.logits.squeeze(-1)


# --- attention mask dropping ------------------------------------------------------------------------

def test_the_mask_is_dropped_only_when_no_row_is_padded():
    rows = [{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": 0},
            {"input_ids": [5, 6, 8], "attention_mask": [1, 1, 1], "labels": 1}]
    assert "attention_mask" not in pad_batch(rows, 0)
    kept = pad_batch(rows, 0, drop_full_mask=False)
    assert kept["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 1]]
    padded = pad_batch(rows + [{"input_ids": [5], "attention_mask": [1], "labels": 1}], 0)
    assert padded["attention_mask"].tolist()[2] == [1, 0, 0] and padded["input_ids"].tolist()[2] == [5, 0, 0]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_no_mask_gives_the_logits_of_an_all_ones_mask(tiny_models, arch):
    model = dropout_free_model(tiny_models[arch]).eval()
    torch.manual_seed(1)
    ids = torch.randint(5, model.vocab_size, (4, 12))
    with torch.no_grad():
        without = model(input_ids=ids)
        with_mask = model(input_ids=ids, attention_mask=torch.ones_like(ids))
    torch.testing.assert_close(without, with_mask, atol=1e-5, rtol=0)


def test_training_without_masks_matches_training_with_them(tiny_bert, tmp_path):
    data = encoded(tiny_bert, write_reviews_csv(tmp_path / "r.csv", rows=64, seed=3))
    dropping = TextDataLoader(data, 4, seed=2)
    keeping = TextDataLoader(data, 4, seed=2, drop_full_mask=False)
    maskless = sum("attention_mask" not in b for b in dropping.batches(0))
    assert 0 < maskless < len(dropping), "the data must give both padded and unpadded batches"
    assert all("attention_mask" in b for b in keeping.batches(0))
    a, b = train(dropout_free_model(tiny_bert), dropping), train(dropout_free_model(tiny_bert), keeping)
    np.testing.assert_allclose(losses(a), losses(b), rtol=1e-4)
    torch.testing.assert_close(logits_of(a.model, dropping), logits_of(b.model, dropping), atol=1e-4, rtol=0)


# --- bf16 mixed precision ---------------------------------------------------------------------------

def test_auto_precision_is_bf16_exactly_where_the_cpu_computes_it_natively():
    from hf_text_finetune.modules.precision import cpu_has_native_bf16

    chosen = choose_precision("auto", torch.device("cpu")).name
    assert chosen == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert choose_precision("fp32", torch.device("cpu")).dtype is None


def test_bf16_training_matches_fp32_within_tolerance(tiny_bert, tmp_path):
    data = encoded(tiny_bert, write_reviews_csv(tmp_path / "r.csv", rows=64, seed=5))
    loader = TextDataLoader(data, 8, seed=1)
    full = train(dropout_free_model(tiny_bert), loader, "fp32", epochs=3, lr=3e-3)
    mixed = train(dropout_free_model(tiny_bert), loader, "bf16", epochs=3, lr=3e-3)
    assert mixed.precision == "bf16" and full.precision == "fp32"
    assert losses(full)[-1] < 0.6 * losses(full)[0], "the run must learn for the comparison to mean anything"
    np.testing.assert_allclose(losses(mixed), losses(full), rtol=0.03)
    # the weights trained in bf16 give the logits and predictions of the weights trained in fp32
    eval_loader = TextDataLoader(data, 16, shuffle=False)
    reference, other = logits_of(full.model, eval_loader), logits_of(mixed.model, eval_loader)
    untrained = logits_of(dropout_free_model(tiny_bert), eval_loader)
    assert (reference - untrained).abs().max() > 0.5, "training moved the logits far beyond the tolerance"
    torch.testing.assert_close(other, reference, atol=0.05, rtol=0.02)
    clear = reference.abs() > 0.05
    assert clear.sum() > len(reference) // 2
    assert torch.equal((other > 0)[clear], (reference > 0)[clear])


def test_bf16_inference_matches_fp32(tiny_bert, tmp_path):
    data = encoded(tiny_bert, write_reviews_csv(tmp_path / "r.csv", rows=48, seed=6))
    model = train(dropout_free_model(tiny_bert), TextDataLoader(data, 8), "fp32", epochs=2).model
    loader = TextDataLoader(data, 16, shuffle=False)
    fp32 = logits_of(model, loader)
    bf16 = logits_of(model, loader, Precision("bf16", "cpu"))
    torch.testing.assert_close(bf16, fp32, atol=0.05, rtol=0)
    clear = fp32.abs() > 0.05
    assert torch.equal((bf16 > 0)[clear], (fp32 > 0)[clear])


# --- gradient accumulation --------------------------------------------------------------------------

def test_accumulating_k_batches_of_b_equals_one_batch_of_k_times_b(tiny_bert, tmp_path):
    data = encoded(tiny_bert, write_reviews_csv(tmp_path / "r.csv", rows=48, seed=7))
    small = train(dropout_free_model(tiny_bert), TextDataLoader(data, 4, shuffle=False), accumulation=3)
    big = train(dropout_free_model(tiny_bert), TextDataLoader(data, 12, shuffle=False), accumulation=1)
    one_step = train(dropout_free_model(tiny_bert), TextDataLoader(data, 4, shuffle=False), accumulation=1)
    np.testing.assert_allclose(losses(small), losses(big), rtol=1e-4)
    weights = lambda r: torch.cat([p.detach().flatten() for p in r.model.parameters()])  # noqa: E731
    torch.testing.assert_close(weights(small), weights(big), atol=1e-4, rtol=0)
    assert (weights(one_step) - weights(big)).abs().max() > 1e-3, "more optimizer steps must give other weights"


# --- length grouping --------------------------------------------------------------------------------

def _varied_lengths_csv(path, rows: int = 400, seed: int = 0):
    rng = random.Random(seed)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(rows):
            writer.writerow([" ".join(["a wonderful film"] * rng.randint(1, 30)), i % 2])
    return path


def _padding(loader: TextDataLoader, epoch: int) -> tuple[int, int]:
    real = padded = 0
    for batch in loader.batches(epoch):
        mask = batch.get("attention_mask")
        padded += batch["input_ids"].numel()
        real += batch["input_ids"].numel() if mask is None else int(mask.sum())
    return real, padded


def test_grouped_batches_carry_less_padding_than_random_ones(tiny_bert, tmp_path):
    data = encoded(tiny_bert, _varied_lengths_csv(tmp_path / "varied.csv"))
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
    data = encoded(tiny_bert, _varied_lengths_csv(tmp_path / "varied.csv", rows=120, seed=2))
    loader = TextDataLoader(data, 16, shuffle=False)
    sorted_rows = [i for b in loader.batch_indices(shuffle=False, by_length=True) for i in b]
    assert sorted(sorted_rows) == list(range(len(data))), "every row exactly once"
    lengths = loader.token_lengths()[sorted_rows]
    assert (np.diff(lengths) <= 0).all(), "longest first"
    assert loader.padding_efficiency(by_length=True) > 0.9 > 0.7 > loader.padding_efficiency(shuffle=False)
    # evaluation totals do not depend on the order: the sorted pass (keep_outputs off) gives the
    # loss and accuracy of the dataset-order pass (keep_outputs on)
    model = dropout_free_model(tiny_bert).eval()
    args = (model, loader, LossSpec("bce_with_logits"), torch.device("cpu"), Precision("fp32", "cpu"))
    fast, ordered = evaluate(*args), evaluate(*args, keep_outputs=True)
    assert fast.accuracy == ordered.accuracy and fast.count == ordered.count == len(data)
    assert fast.loss == pytest.approx(ordered.loss, rel=1e-5)


def test_the_longest_batch_comes_first_so_memory_errors_show_at_once(tiny_bert, tmp_path):
    data = encoded(tiny_bert, _varied_lengths_csv(tmp_path / "varied.csv", seed=1))
    loader = TextDataLoader(data, 16, seed=3)
    widths = [b["input_ids"].shape[1] for b in loader.batches(0)]
    assert widths[0] == max(widths) and widths != sorted(widths, reverse=True), "longest first, then shuffled"


# --- tokenize once ----------------------------------------------------------------------------------

class CountingEncoder(TokenEncoder):
    """The node's encode function, counting the texts it tokenizes."""

    texts = 0

    def __call__(self, texts, return_dict=True):
        CountingEncoder.texts += len(texts)
        return super().__call__(texts, return_dict)


def counting_encoder(folder) -> CountingEncoder:
    base = build_token_encoder(str(folder), 0)
    return CountingEncoder(base.model_name, base.tokenizer, base.max_length, base.truncation)


def test_an_unchanged_file_is_tokenized_once_even_after_a_restart(tiny_bert, tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    path = write_reviews_csv(tmp_path / "reviews.csv", rows=30, seed=9)
    text_dataset.clear_cache()
    CountingEncoder.texts = 0

    def encode():
        return encode_text_dataset(str(path), "train", "text", "label", counting_encoder(tiny_bert))

    first = encode()
    assert CountingEncoder.texts == 30 and not first.from_cache
    second = encode()  # the next queue run: this process's cache
    assert CountingEncoder.texts == 30 and second.from_cache
    text_dataset.clear_cache()  # a restarted ComfyUI: only the datasets disk cache is left
    third = encode()
    assert CountingEncoder.texts == 30, "the datasets cache file must be reused, not a second tokenization"
    assert third.data["input_ids"] == first.data["input_ids"] and third.data["labels"] == first.data["labels"]
    # an edited file is tokenized again
    write_reviews_csv(path, rows=31, seed=9)
    text_dataset.clear_cache()
    assert len(encode()) == 31 and CountingEncoder.texts == 61
