"""Ptn Hf Fine Tuned Classification Model with our linear head: one logit per output, every
pooling (cls, pooler, mean) blind to padding, and a small, unbiased head whose initial
weights follow the seed; a pooling the encoder cannot give is refused."""

from __future__ import annotations

import pytest
import torch
from helpers.models import ARCHITECTURES
from helpers.nodes import loader_node, model_node

from hf_text_finetune.modules.errors import UserInputError


def _batch(pipeline, size=6):
    batch = next(iter(loader_node(pipeline.val_data, size, shuffle=False).batches()))
    labels = batch.pop("labels")
    return batch, labels


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("num_outputs", [1, 3])
def test_model_gives_num_outputs_logits(pipelines, tiny_models, arch, num_outputs):
    model = model_node(tiny_models[arch], num_outputs=num_outputs)
    assert model.num_outputs == num_outputs
    batch, _ = _batch(pipelines[arch])
    with torch.no_grad():
        assert model.network(**batch).shape == (6, num_outputs)


POOLINGS = [(arch, pooling) for arch in ARCHITECTURES for pooling in ("cls", "pooler", "mean")
            if not (arch == "distilbert" and pooling == "pooler")]


@pytest.mark.parametrize("arch, pooling", POOLINGS)
def test_every_pooling_works_and_ignores_padding(pipelines, tiny_models, arch, pooling):
    """The pooled vector of a text is the same alone and inside a padded batch."""
    network = model_node(tiny_models[arch], pooling=pooling).network.eval()
    batch, _ = _batch(pipelines[arch])
    mask = batch["attention_mask"]
    padded_row = int((mask.sum(dim=1) < mask.shape[1]).nonzero()[0])  # a row that has padding
    n = int(mask[padded_row].sum())
    alone = {k: v[padded_row:padded_row + 1, :n] for k, v in batch.items()}
    alone.pop("attention_mask")
    with torch.no_grad():
        in_batch = network.pool(**batch)[padded_row]
        by_itself = network.pool(**alone)[0]
        if pooling == "pooler":
            assert torch.allclose(in_batch, network.encoder(**batch).pooler_output[padded_row])
        elif pooling == "cls":
            assert torch.allclose(in_batch, network.encoder(**batch).last_hidden_state[padded_row, 0])
    assert torch.allclose(in_batch, by_itself, atol=1e-4)


def test_mean_pooling_averages_only_real_tokens(pipelines, tiny_models):
    network = model_node(tiny_models["bert"], pooling="mean").network.eval()
    batch, _ = _batch(pipelines["bert"])
    with torch.no_grad():
        hidden = network.encoder(**batch).last_hidden_state
        pooled = network.pool(**batch)
    mask = batch["attention_mask"]
    for row in range(len(mask)):
        n = int(mask[row].sum())
        assert torch.allclose(pooled[row], hidden[row, :n].mean(dim=0), atol=1e-5)


def test_pooler_on_distilbert_is_a_clear_error(tiny_models):
    with pytest.raises(UserInputError) as error:
        model_node(tiny_models["distilbert"], pooling="pooler")
    message = str(error.value)
    assert "pooler" in message and "distilbert" in message and "'cls'" in message and "'mean'" in message


def test_head_starts_small_and_unbiased(tiny_models):
    head = model_node(tiny_models["albert"]).network.head
    assert head[1].weight.is_inference(), "built under inference mode, as ComfyUI runs nodes"
    with torch.inference_mode():
        assert 0 < float(head[1].weight.std()) < 0.1
        assert torch.equal(head[1].bias, torch.zeros(1))


def test_model_head_initialisation_follows_the_seed(tiny_models):
    first = model_node(tiny_models["bert"], seed=1).network.head[1].weight
    again = model_node(tiny_models["bert"], seed=1).network.head[1].weight
    other = model_node(tiny_models["bert"], seed=2).network.head[1].weight
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
