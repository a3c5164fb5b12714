"""A loss that becomes NaN stops training with TrainingDivergedError, which says how to fix it,
and nothing is lost: the input model is unchanged and finite, for both trainer nodes."""

from __future__ import annotations

import pytest
import torch
from helpers.checks import raises_with
from helpers.models import same_state, state_snapshot
from helpers.nodes import run_node

from hf_text_finetune.modules.errors import TrainingDivergedError


def test_absurd_learning_rate_stops_with_training_diverged(pipelines):
    pipeline = pipelines["bert"]
    before = state_snapshot(pipeline.model.network)
    sgd = run_node("PtoSGD", learning_rate=10.0, momentum=0.9, weight_decay=0.0, nesterov=False)[0]
    raises_with(lambda: pipeline.train(epochs=3, optimizer=sgd, max_grad_norm=0.0, scheduler=None),
                "loss became", "Lower the learning rate (now 10)", "input model is unchanged",
                error=TrainingDivergedError)
    assert same_state(before, state_snapshot(pipeline.model.network))


@pytest.mark.parametrize("trainer", ["PtTrainTransformerClassificationModel",
                                     "PtTrainFineTuneClassificationTransformerModel"])
def test_nan_loss_stops_training_and_keeps_the_input_model(pipelines, monkeypatch, trainer):
    from hf_text_finetune.modules.training.losses import LossSpec

    original = LossSpec.build

    def nan_loss(self, device):
        loss = original(self, device)
        return lambda *args: loss(*args) * float("nan")

    monkeypatch.setattr(LossSpec, "build", nan_loss)
    pipeline = pipelines["roberta"]
    before = state_snapshot(pipeline.model.network)
    extra = {"freeze_pretrained_module_epochs": 1} if "FineTune" in trainer else {}
    raises_with(lambda: pipeline.train(trainer, epochs=2, **extra), "training stopped", "nan",
                error=TrainingDivergedError)
    assert same_state(before, state_snapshot(pipeline.model.network))
    with torch.inference_mode():
        assert all(torch.isfinite(p).all() for p in pipeline.model.network.parameters())
