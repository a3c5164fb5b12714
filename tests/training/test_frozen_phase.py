"""Pt Train Fine Tune Classification Transformer Model with freeze_pretrained_module_epochs 1, epochs 4:
epoch 1 trains only the head, epochs 2-4 train everything, with one optimizer of the chosen kind whose
state and schedule carry across the unfreeze."""

from __future__ import annotations

import pytest
import torch
from helpers.models import ARCHITECTURES, same_state, state_snapshot
from helpers.nodes import adamw_node, run_node

from hf_text_finetune.modules.training import loop as trainer_module

TRAINER = "PtTrainFineTuneClassificationTransformerModel"
HYPER = ("betas", "weight_decay", "amsgrad", "eps", "momentum", "nesterov", "dampening")


class Observer:
    """Wraps the frozen phase and each full epoch to see the model and optimizer in between."""

    def __init__(self, monkeypatch):
        self.snapshots: list[dict] = []
        frozen, full = trainer_module.train_head_on_frozen_features, trainer_module.full_epoch

        def observed_frozen(run):
            self.take("start", run.network, run.optimizer)
            returned = frozen(run)
            self.take("frozen", run.network, run.optimizer)
            return returned

        def observed_full(run, epoch):
            returned = full(run, epoch)
            self.take(f"full {epoch + 1}", run.network, run.optimizer, run.scheduler)
            return returned

        monkeypatch.setattr(trainer_module, "train_head_on_frozen_features", observed_frozen)
        monkeypatch.setattr(trainer_module, "full_epoch", observed_full)

    def take(self, when, network, optimizer, scheduler=None):
        steps = {}
        for group in optimizer.param_groups:
            state = [optimizer.state.get(p, {}) for p in group["params"]]
            steps[group["name"]] = [int(s["step"]) if "step" in s else (1 if s else 0) for s in state]
        self.snapshots.append({
            "when": when, "encoder": state_snapshot(network.encoder), "head": state_snapshot(network.head),
            "optimizer": optimizer, "type": type(optimizer), "steps": steps,
            "hyper": [{k: g[k] for k in HYPER if k in g} for g in optimizer.param_groups],
            "scheduler": scheduler,
        })

    def __getitem__(self, when):
        return next(s for s in self.snapshots if s["when"] == when)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_encoder_frozen_in_epoch_1_then_everything_trains_with_one_adamw(pipelines, arch, monkeypatch,
                                                                         optimizer_steps):
    pipeline = pipelines[arch]
    input_encoder = state_snapshot(pipeline.model.network.encoder)
    seen = Observer(monkeypatch)
    model, metrics, *_ = pipeline.train(TRAINER, epochs=4, freeze_pretrained_module_epochs=1,
                                        optimizer=adamw_node(2e-3), frozen_head_learning_rate=5e-3)
    names = ["start", "frozen", "full 2", "full 3", "full 4"]
    assert [s["when"] for s in seen.snapshots] == names
    assert [m["phase"] for m in model.history] == ["frozen", "full", "full", "full"]
    assert "epoch 1/4 [frozen]" in metrics and "epoch 4/4 [full]" in metrics

    # weights: encoder untouched while frozen, changed by every later epoch; head changes every epoch
    assert same_state(seen["start"]["encoder"], input_encoder)
    assert same_state(seen["frozen"]["encoder"], input_encoder), "the frozen epoch changed the encoder"
    for before, after in zip(names, names[1:]):
        assert not same_state(seen[before]["head"], seen[after]["head"]), f"head unchanged from {before} to {after}"
        if after != "frozen":
            assert not same_state(seen[before]["encoder"], seen[after]["encoder"]), f"encoder unchanged in {after}"

    # one optimizer, of the chosen kind and settings, whose state carries across the unfreeze
    optimizers = {id(s["optimizer"]) for s in seen.snapshots}
    assert len(optimizers) == 1 and all(s["type"] is torch.optim.AdamW for s in seen.snapshots)
    assert all(s["hyper"] == seen["start"]["hyper"] for s in seen.snapshots)
    per_epoch = len(pipeline.train_loader)
    frozen_steps = seen["frozen"]["steps"]
    assert set(frozen_steps["head_decay"] + frozen_steps["head_no_decay"]) == {per_epoch}
    assert set(frozen_steps["encoder_decay"]) == {0}, "no optimizer state (and no update) for a frozen encoder"
    after_unfreeze = seen["full 2"]["steps"]
    assert set(after_unfreeze["head_decay"]) == {2 * per_epoch}, "head state kept, not reset, at the unfreeze"
    encoder_steps = after_unfreeze["encoder_decay"]  # 0: weights outside the loss's graph (BERT's unused pooler)
    assert set(encoder_steps) - {0} == {per_epoch} and encoder_steps.count(per_epoch) > len(encoder_steps) // 2

    # learning rates: the head's own rate while frozen, then the warmup/decay schedule for every group
    lrs = [dict(zip([g["name"] for g in opt.param_groups], rates)) for opt, rates in optimizer_steps]
    frozen_lrs, full_lrs = lrs[:per_epoch], lrs[per_epoch:]
    assert len(full_lrs) == 3 * per_epoch
    assert all(step["head_decay"] == 5e-3 for step in frozen_lrs)
    assert all(len(set(step.values())) == 1 for step in full_lrs), "after the unfreeze every group follows one schedule"
    schedule = [step["encoder_decay"] for step in full_lrs]
    steps, warmup = 3 * per_epoch, -(-3 * per_epoch // 10)  # warmup_ratio 0.1 of the fine-tuning steps
    expected = [2e-3 * (s / warmup if s < warmup else (steps - s) / (steps - warmup)) for s in range(steps)]
    assert schedule == pytest.approx(expected), "warmup starts at the unfreeze, then one step per optimizer step"


def test_sgd_stays_sgd_with_its_momentum_across_the_unfreeze(pipelines, monkeypatch):
    pipeline = pipelines["distilbert"]
    seen = Observer(monkeypatch)
    sgd = run_node("PtoSGD", learning_rate=0.05, momentum=0.9, weight_decay=0.0, nesterov=False)[0]
    pipeline.train(TRAINER, epochs=2, freeze_pretrained_module_epochs=1, optimizer=sgd, scheduler=None)
    assert all(s["type"] is torch.optim.SGD for s in seen.snapshots)
    assert all(s["hyper"] == seen["start"]["hyper"] for s in seen.snapshots)
    optimizer = seen["full 2"]["optimizer"]
    head_weight = next(p for g in optimizer.param_groups if g["name"] == "head_decay" for p in g["params"])
    assert "momentum_buffer" in optimizer.state[head_weight]


def test_epoch_schedulers_keep_stepping_after_the_unfreeze(pipelines):
    pipeline = pipelines["distilbert"]
    step_lr = run_node("PtoLrSchedulerStep", step_size=1, gamma=0.5)[0]
    model = pipeline.train(TRAINER, epochs=4, freeze_pretrained_module_epochs=1, optimizer=adamw_node(1e-3),
                           scheduler=step_lr, frozen_head_learning_rate=1e-2)[0]
    assert [m["learning_rate"] for m in model.history] == pytest.approx([1e-2, 1e-3, 5e-4, 2.5e-4])


def test_freeze_zero_trains_everything_from_the_start(pipelines, monkeypatch):
    pipeline = pipelines["distilbert"]
    seen = Observer(monkeypatch)
    model = pipeline.train(TRAINER, epochs=2, freeze_pretrained_module_epochs=0)[0]
    assert [s["when"] for s in seen.snapshots] == ["full 1", "full 2"]
    assert [m["phase"] for m in model.history] == ["full", "full"]
