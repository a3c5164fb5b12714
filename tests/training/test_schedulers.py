"""The learning-rate scheduler nodes: warmup schedules step at every optimizer step (linear and
cosine, warmup by steps or ratio), epoch schedules (step, cosine annealing, reduce on plateau)
once per epoch; a warmup ratio out of range is refused at queue time."""

from __future__ import annotations

import math

import pytest
from helpers.nodes import adamw_node, run_node, validate_node


def _full_phase_lrs(optimizer_steps):
    return [lrs[0] for _, lrs in optimizer_steps]


def test_warmup_linear_steps_every_optimizer_step(pipelines, optimizer_steps):
    pipeline = pipelines["distilbert"]
    schedule = run_node("PtoLrSchedulerWarmup", schedule="linear", warmup_ratio=0.0, warmup_steps=2)[0]
    pipeline.train(optimizer=adamw_node(1e-3), scheduler=schedule, epochs=2)
    steps = 2 * len(pipeline.train_loader)
    lrs = _full_phase_lrs(optimizer_steps)
    assert len(lrs) == steps == 12
    expected = [1e-3 * s / 2 if s < 2 else 1e-3 * (steps - s) / (steps - 2) for s in range(steps)]
    assert lrs == pytest.approx(expected)


def test_warmup_ratio_sets_the_warmup_of_a_cosine_schedule(pipelines, optimizer_steps):
    pipeline = pipelines["distilbert"]
    schedule = run_node("PtoLrSchedulerWarmup", schedule="cosine", warmup_ratio=0.25, warmup_steps=0)[0]
    pipeline.train(optimizer=adamw_node(1e-3), scheduler=schedule, epochs=2)
    lrs = _full_phase_lrs(optimizer_steps)
    warmup, steps = 3, 12  # ceil(0.25 * 12)
    expected = [1e-3 * s / warmup if s < warmup else
                1e-3 * 0.5 * (1 + math.cos(math.pi * (s - warmup) / (steps - warmup))) for s in range(steps)]
    assert lrs == pytest.approx(expected)


def _epoch_lrs(pipeline, schedule, epochs, optimizer_steps):
    outputs = pipeline.train(optimizer=adamw_node(1e-3), scheduler=schedule, epochs=epochs)
    per_epoch = len(pipeline.train_loader)
    lrs = _full_phase_lrs(optimizer_steps)
    chunks = [lrs[i:i + per_epoch] for i in range(0, len(lrs), per_epoch)]
    assert all(len(set(chunk)) == 1 for chunk in chunks), "epoch schedules do not change within an epoch"
    history = [m["learning_rate"] for m in outputs[0].history]
    assert history == pytest.approx([chunk[0] for chunk in chunks])
    return history


def test_step_lr_decays_once_per_epoch(pipelines, optimizer_steps):
    schedule = run_node("PtoLrSchedulerStep", step_size=1, gamma=0.5)[0]
    assert _epoch_lrs(pipelines["distilbert"], schedule, 3, optimizer_steps) == pytest.approx([1e-3, 5e-4, 2.5e-4])


def test_cosine_annealing_steps_once_per_epoch(pipelines, optimizer_steps):
    schedule = run_node("PtoLrSchedulerCosineAnnealing", t_max=0, eta_min=1e-5)[0]
    lrs = _epoch_lrs(pipelines["distilbert"], schedule, 3, optimizer_steps)
    expected = [1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)]
    assert lrs == pytest.approx(expected)


def test_reduce_on_plateau_lowers_the_rate_when_validation_loss_stalls(pipelines, optimizer_steps):
    # threshold 1.0: only a loss below 0 would count as an improvement, so every epoch stalls
    schedule = run_node("PtoLrSchedulerReduceOnPlateau", factor=0.5, patience=0, threshold=1.0)[0]
    lrs = _epoch_lrs(pipelines["distilbert"], schedule, 3, optimizer_steps)
    assert lrs == pytest.approx([1e-3, 5e-4, 2.5e-4])


def test_reduce_on_plateau_follows_the_validation_loss(pipelines, optimizer_steps):
    schedule = run_node("PtoLrSchedulerReduceOnPlateau", factor=0.5, patience=0, threshold=0.0)[0]
    outputs = pipelines["distilbert"].train(optimizer=adamw_node(1e-3), scheduler=schedule, epochs=3)
    history = outputs[0].history
    expected, best = [1e-3], float("inf")
    for metrics in history[:-1]:
        improved = metrics["val_loss"] < best
        best = min(best, metrics["val_loss"])
        expected.append(expected[-1] * (1.0 if improved else 0.5))
    assert [m["learning_rate"] for m in history] == pytest.approx(expected)


def test_warmup_ratio_out_of_range_is_refused_at_queue_time():
    message = validate_node("PtoLrSchedulerWarmup", warmup_ratio=1.5)
    assert isinstance(message, str) and "warmup_ratio 1.5" in message
