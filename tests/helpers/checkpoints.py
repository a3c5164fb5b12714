"""Shared by the checkpoint, resume and GPU-memory tests: train the tiny pipeline through the
trainer node with checkpoints under a temporary output folder, and stop it on the Nth step."""

from __future__ import annotations

from helpers.models import state_snapshot
from helpers.nodes import adamw_node, bce_node, run_node, warmup_node

from hf_text_finetune.modules.host import RuntimeHooks
from hf_text_finetune.nodes import comfy_services, train_nodes

TRAINER = "PtTrainTransformerClassificationModel"


class Cancelled(Exception):
    """Stands in for ComfyUI's InterruptProcessingException."""


class CancelAt(RuntimeHooks):
    """Presses Cancel at the `at`-th progress step (None: never); counts the steps."""

    def __init__(self, at=None):
        self.at, self.checks = at, 0

    def check_interrupted(self):
        self.checks += 1
        if self.at is not None and self.checks == self.at:
            raise Cancelled()


def use_output(monkeypatch, folder, hooks=None):
    """Trainer nodes write under `folder`; progress and Cancel go through `hooks`."""
    monkeypatch.setenv(comfy_services.OUTPUT_DIR_ENV, str(folder))
    monkeypatch.setattr(train_nodes, "runtime_hooks", lambda node_id=None: hooks or RuntimeHooks())


def train(pipeline, epochs=3, scheduler=True, trainer=TRAINER, **extra):
    """The trainer node on the tiny pipeline, fp32, dropout as built; returns the outputs tuple."""
    inputs = dict(model=pipeline.model, train_loader=pipeline.train_loader, optimizer=adamw_node(),
                  loss_function=bce_node(), epochs=epochs, seed=0, val_loader=pipeline.val_loader,
                  lr_scheduler=warmup_node() if scheduler else None, precision="fp32", device="cpu")
    inputs.update(extra)
    return run_node(trainer, **inputs)


def losses(model) -> list[tuple]:
    return [(m["epoch"], m["train_loss"], m["val_loss"], m["val_accuracy"], m["train_accuracy"])
            for m in model.history]


def weights(model) -> dict:
    return state_snapshot(model.network)
