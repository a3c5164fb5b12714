"""The optimizer nodes' depth levers: layer-wise learning-rate decay gives encoder layer l of L
the rate lr x decay^(L - l), the embeddings lr x decay^L and the head lr, every parameter in
exactly one group (decay 1 keeps the four plain groups, so saved optimizer states still fit);
freezing the embeddings and the lowest N layers leaves exactly those weights unchanged by
training (also across a frozen-encoder phase) while the rest trains; bad values are refused."""

from __future__ import annotations

import pytest
import torch
from helpers.classifiers import loader
from helpers.models import state_snapshot

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.training.optimizers import OptimizerSpec, encoder_depth, parameter_groups
from hf_text_finetune.modules.training.settings import TrainSettings
from hf_text_finetune.nodes.optim_nodes import PtoAdamW, PtoSGD


@pytest.mark.parametrize("arch", ["bert", "distilbert"])
def test_layer_decay_gives_each_depth_its_rate(tiny_models, arch):
    network = build_classification_model(str(tiny_models[arch]), 1).network
    spec = OptimizerSpec("AdamW", 1e-3, layer_lr_decay=0.5)
    groups = parameter_groups(network.encoder, network.head, spec)
    rate = {id(p): g.get("lr", spec.lr) for g in groups for p in g["params"]}  # no lr: the optimizer's
    assert len(rate) == sum(1 for _ in network.parameters()) == sum(len(g["params"]) for g in groups)
    for name, param in network.encoder.named_parameters():
        depth = encoder_depth(name)
        expected = 1e-3 * 0.5 ** (2 - (2 if depth is None else depth))  # 2 layers
        assert rate[id(param)] == pytest.approx(expected), name
    assert any(encoder_depth(n) == 0 for n, _ in network.encoder.named_parameters())
    assert all(rate[id(p)] == 1e-3 for p in network.head.parameters())
    assert all(g["weight_decay"] == 0.0 for g in groups if g["name"].endswith("_no_decay"))


def test_no_decay_keeps_the_four_plain_groups(tiny_bert):
    network = build_classification_model(str(tiny_bert), 1).network
    groups = parameter_groups(network.encoder, network.head, OptimizerSpec("AdamW", 1e-3))
    assert [g["name"] for g in groups] == ["encoder_decay", "encoder_no_decay", "head_decay", "head_no_decay"]
    assert all("lr" not in g for g in groups)


def _train(folder, data, spec, freeze_epochs=0):
    model = build_classification_model(str(folder), 1, dropout=0.0)
    settings = TrainSettings(epochs=freeze_epochs + 1, freeze_pretrained_module_epochs=freeze_epochs, device="cpu",
                             precision="fp32", seed=0, live_plot_interval_s=0)
    before = state_snapshot(model.network)
    trained = train_classifier(model, loader(folder, data, batch_size=8), spec, LossSpec("bce_with_logits"), settings)
    return before, state_snapshot(trained.model.network)


@pytest.mark.parametrize("freeze_epochs", [0, 1])
def test_frozen_embeddings_and_lowest_layers_do_not_change(tiny_bert, reviews_csv, freeze_epochs):
    spec = OptimizerSpec("AdamW", 1e-3, 0.01, freeze_embeddings=True, freeze_layers=1)
    before, after = _train(tiny_bert, reviews_csv, spec, freeze_epochs)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    frozen = {k for k in before if k.startswith("encoder.") and encoder_depth(k) in (0, 1)}
    assert frozen and not frozen & changed
    assert any(encoder_depth(k) == 2 for k in changed) and any(k.startswith("head.") for k in changed)


def test_layer_decay_trains_the_lowest_layers_less(tiny_bert, reviews_csv):
    def moved(spec):
        before, after = _train(tiny_bert, reviews_csv, spec)
        return sum(float((after[k] - before[k]).abs().sum()) for k in before
                   if k.startswith("encoder.") and encoder_depth(k) == 0 and before[k].is_floating_point())

    assert moved(OptimizerSpec("AdamW", 1e-3, layer_lr_decay=0.1)) < 0.1 * moved(OptimizerSpec("AdamW", 1e-3))


def test_freezing_more_layers_than_the_encoder_has_is_refused(tiny_models, reviews_csv):
    with pytest.raises(UserInputError, match="freeze_layers 3 is more than this encoder's 2 numbered layers"):
        _train(tiny_models["bert"], reviews_csv, OptimizerSpec("AdamW", 1e-3, freeze_layers=3))


@pytest.mark.parametrize("decay, layers, problem", [(0.0, 0, "layer_lr_decay 0.0 must be above 0"),
                                                    (1.5, 0, "layer_lr_decay 1.5 must be above 0 and at most 1"),
                                                    (1.0, -1, "freeze_layers -1 is negative")])
def test_bad_lever_values_are_refused_at_queue_time(decay, layers, problem):
    for node in (PtoAdamW, PtoSGD):
        assert problem in node.VALIDATE_INPUTS(learning_rate=1e-3, layer_lr_decay=decay, freeze_layers=layers)
    with pytest.raises(UserInputError, match=problem):
        OptimizerSpec("AdamW", 1e-3, layer_lr_decay=decay, freeze_layers=layers)


def test_optimizer_nodes_pass_the_levers_on():
    spec = PtoAdamW().build(1e-4, 0.9, 0.999, 0.01, False, 1e-8, layer_lr_decay=0.9, freeze_embeddings=True,
                            freeze_layers=2)[0]
    assert (spec.layer_lr_decay, spec.freeze_embeddings, spec.freeze_layers) == (0.9, True, 2)
    assert PtoSGD().build(1e-2, 0.9, 0.0, False)[0].layer_lr_decay == 1.0


@pytest.mark.parametrize("decay", [1.0, 0.5])
def test_the_head_trains_at_its_own_rate_where_one_is_set(tiny_bert, decay):
    network = build_classification_model(str(tiny_bert), 1).network
    for head_rate, expected in ((0.0, 1e-4), (3e-3, 3e-3)):
        spec = OptimizerSpec("AdamW", 1e-4, layer_lr_decay=decay, head_learning_rate=head_rate)
        groups = parameter_groups(network.encoder, network.head, spec)
        rate = {id(p): g.get("lr", spec.lr) for g in groups for p in g["params"]}
        assert all(rate[id(p)] == expected for p in network.head.parameters())
        assert max(rate[id(p)] for p in network.encoder.parameters()) == pytest.approx(1e-4)
        optimizer = spec.build(groups, torch.device("cpu"))
        assert {g["lr"] for g in optimizer.param_groups if g["name"].startswith("head")} == {expected}


def test_a_negative_head_rate_is_refused_at_queue_time():
    message = PtoAdamW.VALIDATE_INPUTS(learning_rate=1e-4, weight_decay=0.01, head_learning_rate=-1.0)
    assert "head_learning_rate -1.0" in message and "0 (= learning_rate)" in message
    with pytest.raises(UserInputError):
        OptimizerSpec("AdamW", 1e-4, head_learning_rate=-1.0)
