"""Experiment tracking, read back with each tracker's own reader: TensorBoard's EventAccumulator
and Trackio's local store hold train loss, learning rate, samples/s, every validation metric,
the settings and the confusion matrix; a resumed run continues the same run with every step
once; a missing package leaves the run training with one line saying how to install it."""

from __future__ import annotations

import logging
import sys

import pytest
from helpers.checkpoints import CancelAt, Cancelled, train, use_output

from hf_text_finetune.modules.training import tracking

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

BATCHES = 6  # training batches of one epoch of the tiny pipeline (48 rows, batch 8); log_every 10 > 6


def _runs(root):
    return sorted(p for p in (root / tracking.LOGS_DIR).iterdir() if p.name != "trackio")


def _events(folder):
    reader = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    reader.Reload()
    return reader


def _steps(reader, tag):
    return [event.step for event in reader.Scalars(tag)]


def test_tensorboard_run_holds_every_number_of_the_run(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path)
    model = train(pipelines["bert"], epochs=2, tracking="tensorboard")[0]
    (folder,) = _runs(tmp_path)
    reader = _events(folder)
    scalars = set(reader.Tags()["scalars"])
    assert {"train/loss", "train/learning_rate", "train/samples_per_second", "validation/loss",
            "validation/accuracy", "epoch/train_loss", "epoch/samples_per_second"} <= scalars
    assert _steps(reader, "train/loss") == [BATCHES, 2 * BATCHES]  # each epoch's last batch (log_every 10)
    validation = [(e.step, e.value) for e in reader.Scalars("validation/loss")]
    assert validation == [(m["epoch"] * BATCHES, pytest.approx(m["val_loss"], rel=1e-6)) for m in model.history]
    accuracy = [e.value for e in reader.Scalars("validation/accuracy")]
    assert accuracy == [pytest.approx(m["val_accuracy"], rel=1e-6) for m in model.history]
    (picture,) = reader.Images("validation/confusion_matrix")
    assert picture.step == 2 * BATCHES and picture.width > 100
    assert "_hparams_/session_start_info" in reader.PluginTagToContent("hparams")
