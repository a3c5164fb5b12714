"""The speed paths must not change results.

bf16 mixed precision, dropping the attention mask of an unpadded batch and gradient
accumulation are on by default or one switch away; each is only worth having if
training gives (within a stated tolerance) what the plain fp32, masked, big-batch run
gives. (Length grouping and tokenizing once are specified in tests/data/.)

Tolerances, on tiny models with every dropout at 0 so runs are deterministic:
- no mask vs an all-ones mask: logits within 1e-5, training losses within 1e-4 relative;
- bf16 autocast vs fp32: training losses within 3% relative, logits within 0.05 + 2%
  (bf16 keeps 8 bits of mantissa; measured: 1% and 0.012 on logits of 1.6), predictions
  equal wherever fp32's logit is beyond 0.05;
- k batches of b accumulated vs one batch of k*b: losses within 1e-4 relative, weights
  within 1e-4 absolute (AdamW steps are ~1e-3 here, so a wrong scaling shows).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.classifiers import dropout_free_classifier
from helpers.data import write_reviews_csv
from helpers.models import ARCHITECTURES

from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.precision import Precision
from hf_text_finetune.modules.training.eval_pass import evaluate
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.training.settings import TrainSettings


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread; on a busy machine two OpenMP threads are ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
    out = evaluate(model.network, loader, LossSpec("bce_with_logits"), torch.device("cpu"), precision,
                   keep_outputs=True)
    return out.logits.squeeze(-1)


# --- attention mask dropping ------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_no_mask_gives_the_logits_of_an_all_ones_mask(tiny_models, arch):
    network = dropout_free_classifier(tiny_models[arch]).network.eval()
    torch.manual_seed(1)
    ids = torch.randint(5, network.vocab_size, (4, 12))
    with torch.no_grad():
        without = network(input_ids=ids)
        with_mask = network(input_ids=ids, attention_mask=torch.ones_like(ids))
    torch.testing.assert_close(without, with_mask, atol=1e-5, rtol=0)


def test_training_without_masks_matches_training_with_them(tiny_bert, tmp_path):
    data = encoded(tiny_bert, write_reviews_csv(tmp_path / "r.csv", rows=64, seed=3))
    dropping = TextDataLoader(data, 4, seed=2)
    keeping = TextDataLoader(data, 4, seed=2, drop_full_mask=False)
    maskless = sum("attention_mask" not in b for b in dropping.batches(0))
    assert 0 < maskless < len(dropping), "the data must give both padded and unpadded batches"
    assert all("attention_mask" in b for b in keeping.batches(0))
    a, b = train(dropout_free_classifier(tiny_bert), dropping), train(dropout_free_classifier(tiny_bert), keeping)
    np.testing.assert_allclose(losses(a), losses(b), rtol=1e-4)
    torch.testing.assert_close(logits_of(a.model, dropping), logits_of(b.model, dropping), atol=1e-4, rtol=0)


# --- bf16 mixed precision ---------------------------------------------------------------------------

def test_bf16_training_matches_fp32_within_tolerance(tiny_bert, tmp_path):
    data = encoded(tiny_bert, write_reviews_csv(tmp_path / "r.csv", rows=64, seed=5))
    loader = TextDataLoader(data, 8, seed=1)
    full = train(dropout_free_classifier(tiny_bert), loader, "fp32", epochs=3, lr=3e-3)
    mixed = train(dropout_free_classifier(tiny_bert), loader, "bf16", epochs=3, lr=3e-3)
    assert mixed.precision == "bf16" and full.precision == "fp32"
    assert losses(full)[-1] < 0.6 * losses(full)[0], "the run must learn for the comparison to mean anything"
    np.testing.assert_allclose(losses(mixed), losses(full), rtol=0.03)
    # the weights trained in bf16 give the logits and predictions of the weights trained in fp32
    eval_loader = TextDataLoader(data, 16, shuffle=False)
    reference, other = logits_of(full.model, eval_loader), logits_of(mixed.model, eval_loader)
    untrained = logits_of(dropout_free_classifier(tiny_bert), eval_loader)
    assert (reference - untrained).abs().max() > 0.5, "training moved the logits far beyond the tolerance"
    torch.testing.assert_close(other, reference, atol=0.05, rtol=0.02)
    clear = reference.abs() > 0.05
    assert clear.sum() > len(reference) // 2
    assert torch.equal((other > 0)[clear], (reference > 0)[clear])


def test_bf16_inference_matches_fp32(tiny_bert, tmp_path):
    data = encoded(tiny_bert, write_reviews_csv(tmp_path / "r.csv", rows=48, seed=6))
    model = train(dropout_free_classifier(tiny_bert), TextDataLoader(data, 8), "fp32", epochs=2).model
    loader = TextDataLoader(data, 16, shuffle=False)
    fp32 = logits_of(model, loader)
    bf16 = logits_of(model, loader, Precision("bf16", "cpu"))
    torch.testing.assert_close(bf16, fp32, atol=0.05, rtol=0)
    clear = fp32.abs() > 0.05
    assert torch.equal((bf16 > 0)[clear], (fp32 > 0)[clear])


# --- gradient accumulation --------------------------------------------------------------------------

def test_accumulating_k_batches_of_b_equals_one_batch_of_k_times_b(tiny_bert, tmp_path):
    data = encoded(tiny_bert, write_reviews_csv(tmp_path / "r.csv", rows=48, seed=7))
    small = train(dropout_free_classifier(tiny_bert), TextDataLoader(data, 4, shuffle=False), accumulation=3)
    big = train(dropout_free_classifier(tiny_bert), TextDataLoader(data, 12, shuffle=False), accumulation=1)
    one_step = train(dropout_free_classifier(tiny_bert), TextDataLoader(data, 4, shuffle=False), accumulation=1)
    np.testing.assert_allclose(losses(small), losses(big), rtol=1e-4)
    weights = lambda r: torch.cat([p.detach().flatten() for p in r.model.network.parameters()])  # noqa: E731
    torch.testing.assert_close(weights(small), weights(big), atol=1e-4, rtol=0)
    assert (weights(one_step) - weights(big)).abs().max() > 1e-3, "more optimizer steps must give other weights"
