"""The trainer nodes: they learn, report per-epoch metrics, never change their input model, give the
same result for the same seed, move the progress bar every step and stop on Cancel within a step."""

from __future__ import annotations

import pytest
import torch
from helpers.models import ARCHITECTURES, same_state, state_snapshot
from helpers.nodes import adamw_node, bce_node, run_node

from hf_text_finetune.nodes import comfy_services, train_nodes

TRAINERS = ["PtTrainTransformerClassificationModel", "PtTrainFineTuneClassificationTransformerModel"]


def _fingerprint(model) -> dict:
    """Everything about a classifier that a trainer must leave alone (its network included)."""
    network = model.network
    return {"state": state_snapshot(network), "requires_grad": [p.requires_grad for p in network.parameters()],
            "training": network.training, "history": list(model.history), "tokenizer": model.tokenizer,
            "ids": [id(p) for p in network.parameters()], "network": network}


def _unchanged(model, before: dict) -> bool:
    after = _fingerprint(model)
    return (same_state(before["state"], after["state"])
            and all(after[k] == before[k] for k in ("requires_grad", "training", "history", "tokenizer", "ids"))
            and after["network"] is before["network"])


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_training_learns_the_reviews(pipelines, arch):
    # random-init tiny encoders: lr 1e-2 with linear warmup/decay over 8 epochs reaches >= 0.92 for seeds 0-3
    model, metrics, val_accuracy, val_loss, train_loss = pipelines[arch].train(epochs=8)
    history = model.history
    assert val_accuracy >= 0.8, f"{arch}: {metrics}"
    assert history[-1]["train_loss"] < 0.4 < 0.6 < history[0]["train_loss"]
    assert val_loss == pytest.approx(history[-1]["val_loss"]) and train_loss == pytest.approx(history[-1]["train_loss"])
    assert val_accuracy == pytest.approx(history[-1]["val_accuracy"])
    lines = [line for line in metrics.splitlines() if line.startswith("epoch")]
    assert len(lines) == 8 and lines[-1].startswith("epoch 8/8")
    assert f"val accuracy {val_accuracy:.2%}" in lines[-1] and f"train loss {train_loss:.4f}" in lines[-1]


def test_trainer_node_shows_metrics_on_the_node_and_returns_a_ready_model(pipelines):
    pipeline = pipelines["distilbert"]
    node = train_nodes.PtTrainTransformerClassificationModel
    assert node.OUTPUT_NODE and node.RETURN_NAMES == ("model", "metrics", "val_accuracy", "val_loss", "train_loss")
    with torch.inference_mode():
        returned = node().train(model=pipeline.model, train_loader=pipeline.train_loader, optimizer=adamw_node(),
                                loss_function=bce_node(), epochs=2, seed=0, val_loader=pipeline.val_loader,
                                precision="fp32")
    model, metrics = returned["result"][:2]
    assert returned["ui"]["text"] == [metrics]
    assert model is not pipeline.model and model.network is not pipeline.model.network
    assert not model.network.training
    assert model.tokenizer is pipeline.encode.tokenizer and model.max_length == pipeline.encode.max_length
    assert [m["epoch"] for m in model.history] == [1, 2]
    assert all(p.requires_grad and not p.is_inference() for p in model.network.parameters())
    assert next(model.network.parameters()).device.type == "cpu"


def test_without_validation_the_accuracy_outputs_are_minus_one(pipelines):
    pipeline = pipelines["distilbert"]
    outputs = run_node("PtTrainTransformerClassificationModel", model=pipeline.model,
                       train_loader=pipeline.train_loader, optimizer=adamw_node(), loss_function=bce_node(),
                       epochs=1, seed=0, precision="fp32")
    assert outputs[2] == -1.0 and outputs[3] == -1.0 and outputs[4] > 0
    assert "val accuracy" not in outputs[1]


# --- No state leak (ComfyUI shares cached outputs by reference) --------------------------------------

@pytest.mark.parametrize("trainer", TRAINERS)
def test_trainer_never_changes_its_input_model_and_repeats_exactly(pipelines, trainer):
    pipeline = pipelines["bert"]
    before = _fingerprint(pipeline.model)
    extra = {"freeze_pretrained_module_epochs": 1} if "FineTune" in trainer else {}
    first = pipeline.train(trainer, epochs=3, **extra)
    assert _unchanged(pipeline.model, before), "the cached input model was modified"
    second = pipeline.train(trainer, epochs=3, **extra)
    assert _unchanged(pipeline.model, before)
    assert second[2:] == first[2:], "same seed, same cached inputs -> same metrics (no carry-over)"
    assert [(m["train_loss"], m["val_loss"]) for m in second[0].history] == \
           [(m["train_loss"], m["val_loss"]) for m in first[0].history]
    assert same_state(state_snapshot(first[0].network), state_snapshot(second[0].network))
    assert first[0] is not second[0] and first[0].network is not second[0].network
    assert not same_state(state_snapshot(first[0].network), before["state"]), "training changed the copy"


def test_a_different_seed_gives_a_different_run(pipelines):
    pipeline = pipelines["bert"]
    first = pipeline.train(epochs=2, seed=0)
    other = pipeline.train(epochs=2, seed=1)
    assert first[4] != other[4]


# --- Progress bar and Cancel ----------------------------------------------------------------------

@pytest.mark.parametrize("trainer", TRAINERS)
def test_progress_advances_every_step_and_ends_full(pipelines, trainer, optimizer_steps):
    pipeline = pipelines["roberta"]
    seen: list[tuple[int, int]] = []

    def listener(done, total, preview=None):
        seen.append((done, total))

    comfy_services.add_progress_listener(listener)
    try:
        extra = {"freeze_pretrained_module_epochs": 1} if "FineTune" in trainer else {}
        pipeline.train(trainer, epochs=3, **extra)
    finally:
        comfy_services.remove_progress_listener(listener)
    totals = {total for _, total in seen}
    assert len(totals) == 1
    (total,) = totals
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == total
    assert set(range(1, total + 1)) <= set(done), "the bar moves one step at a time, never jumps"
    assert len(optimizer_steps) <= total


class CancelAfter(Exception):
    """Stands in for ComfyUI's InterruptProcessingException."""


@pytest.mark.parametrize("trainer", TRAINERS)
def test_cancel_stops_training_within_a_step(pipelines, trainer, monkeypatch, optimizer_steps):
    from hf_text_finetune.modules.host import RuntimeHooks

    class Hooks(RuntimeHooks):
        checks = 0

        def check_interrupted(self):
            Hooks.checks += 1
            if Hooks.checks == 3:
                raise CancelAfter()

    monkeypatch.setattr(train_nodes, "runtime_hooks", lambda node_id=None: Hooks())
    pipeline = pipelines["albert"]
    before = _fingerprint(pipeline.model)
    extra = {"freeze_pretrained_module_epochs": 1} if "FineTune" in trainer else {}
    with pytest.raises(CancelAfter):
        pipeline.train(trainer, epochs=3, **extra)
    assert Hooks.checks == 3
    if not extra:
        assert len(optimizer_steps) == 3, "the third step was the last one"
    assert _unchanged(pipeline.model, before)
    monkeypatch.undo()
    assert pipeline.train(epochs=1)[4] > 0, "the next queue run works"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_cuda_learns_and_hands_back_a_cpu_model(pipelines):
    pipeline = pipelines["distilbert"]
    before = _fingerprint(pipeline.model)
    model, metrics, val_accuracy, *_ = pipeline.train(epochs=8, device="auto", precision="auto")
    assert metrics.startswith("trained on cuda")
    assert val_accuracy >= 0.75, metrics
    assert next(model.network.parameters()).device.type == "cpu", "the GPU is given back to ComfyUI's other models"
    assert _unchanged(pipeline.model, before)
