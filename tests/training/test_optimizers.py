"""Pto AdamW, Pto Adam and Pto SGD: learning-rate widgets that keep 2e-5, the trainer builds the
chosen optimizer with its settings (no weight decay on biases and LayerNorm), and a zero or
negative rate, or nesterov without momentum, is refused."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.checks import raises_with, refused
from helpers.nodes import adamw_node, node_class, run_node, validate_node

from hf_text_finetune.modules.errors import UserInputError


def test_learning_rate_widgets_keep_2e_5():
    """ComfyUI's frontend rounds a FLOAT to the precision of its `step` unless round is False."""
    for name in ("PtoAdamW", "PtoAdam", "PtoSGD"):
        kind, options = node_class(name).INPUT_TYPES()["required"]["learning_rate"]
        assert kind == "FLOAT" and options["round"] is False
        decimals = max(0, -math.floor(math.log10(options["step"])))
        assert round(2e-5, decimals) == 2e-5 and round(5e-5, decimals) == 5e-5
        assert options["min"] <= 2e-5 <= options["max"]
    spec = adamw_node(learning_rate=2e-5)
    assert spec.lr == 2e-5


@pytest.fixture
def built_optimizers(monkeypatch):
    """Every optimizer a trainer builds, captured as it is built."""
    from hf_text_finetune.modules.training.optimizers import OptimizerSpec

    built = []
    original = OptimizerSpec.build

    def build(self, groups, device):
        optimizer = original(self, groups, device)
        built.append(optimizer)
        return optimizer

    monkeypatch.setattr(OptimizerSpec, "build", build)
    return built


OPTIMIZERS = [
    ("PtoAdamW", dict(learning_rate=2e-5, beta1=0.85, beta2=0.99, weight_decay=0.05, amsgrad=True),
     torch.optim.AdamW, dict(lr=2e-5, betas=(0.85, 0.99), amsgrad=True)),
    ("PtoAdam", dict(learning_rate=3e-4, beta1=0.9, beta2=0.999, weight_decay=0.0, amsgrad=False),
     torch.optim.Adam, dict(lr=3e-4, betas=(0.9, 0.999), amsgrad=False)),
    ("PtoSGD", dict(learning_rate=0.05, momentum=0.8, weight_decay=0.001, nesterov=True),
     torch.optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True)),
]


@pytest.mark.parametrize("node, inputs, kind, settings", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_trainer_builds_the_chosen_optimizer_with_its_settings(pipelines, built_optimizers, node, inputs, kind,
                                                              settings):
    spec = run_node(node, **inputs)[0]
    pipelines["distilbert"].train(optimizer=spec, epochs=1, scheduler=None)
    (optimizer,) = built_optimizers
    assert type(optimizer) is kind
    for group in optimizer.param_groups:
        for key, value in settings.items():
            assert group[key] == value, key
    decays = {group["name"]: group["weight_decay"] for group in optimizer.param_groups}
    assert decays["encoder_no_decay"] == decays["head_no_decay"] == 0.0, "no decay on biases and LayerNorm"
    assert decays["encoder_decay"] == decays["head_decay"] == inputs["weight_decay"]
    assert optimizer.state, "the optimizer was used"


def test_nesterov_without_momentum_is_refused():
    with pytest.raises(UserInputError, match="nesterov needs momentum"):
        run_node("PtoSGD", learning_rate=0.1, momentum=0.0, weight_decay=0.0, nesterov=True)


@pytest.mark.parametrize("node", ["PtoAdamW", "PtoAdam", "PtoSGD"])
@pytest.mark.parametrize("lr", [0.0, -2e-5])
def test_zero_or_negative_learning_rate_is_refused(node, lr):
    refused(validate_node(node, learning_rate=lr, weight_decay=0.0), f"learning_rate {lr}", "above 0", "2e-5")
    inputs = dict(learning_rate=lr, weight_decay=0.0)
    inputs.update(dict(momentum=0.9, nesterov=False) if node == "PtoSGD" else
                  dict(beta1=0.9, beta2=0.999, amsgrad=False))
    raises_with(lambda: run_node(node, **inputs), f"learning_rate {lr}", "above 0")
    refused(validate_node("PtTrainFineTuneClassificationTransformerModel", epochs=4,
                           freeze_pretrained_module_epochs=1, frozen_head_learning_rate=lr), f"learning_rate {lr}")
