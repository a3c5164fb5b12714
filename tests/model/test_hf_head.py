"""Hugging Face's own sequence-classification head behind the network interface: `pool` +
`head` split it where its classifier reads, so cached frozen-encoder features give the
logits of the whole model, the optimizer's groups cover every weight, and it trains with a
frozen phase."""

from __future__ import annotations

import pytest
import torch
from helpers.classifiers import TEXTS, ready_model, train_tiny
from helpers.models import ARCHITECTURES

from hf_text_finetune.modules.results.prediction import predict_logits


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_hf_head_splits_where_its_classifier_reads_so_frozen_features_give_the_same_logits(tiny_models, arch):
    model = ready_model(tiny_models[arch], 3, head="hf_sequence_classification")
    network = model.network
    batch = model.tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        split = network.head(network.pool(**batch))
    assert torch.allclose(split, predict_logits(model, TEXTS), atol=1e-5)
    trainable = {id(p) for p in network.encoder.parameters()} | {id(p) for p in network.head.parameters()}
    assert trainable == {id(p) for p in network.parameters()}  # the optimizer's groups cover every weight


def test_hf_head_trains_with_a_frozen_phase(tiny_models, reviews_csv):
    result = train_tiny(tiny_models["bert"], reviews_csv, head="hf_sequence_classification", epochs=2, freeze=1)
    assert [m.phase for m in result.history] == ["frozen", "full"]
    assert result.model.head_type == "hf_sequence_classification"
