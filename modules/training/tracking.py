"""Experiment tracking: a training run's numbers written to TensorBoard or Trackio while it trains.

The trainer's `tracking` setting picks off, tensorboard or trackio. Logs go under
`<output>/hf_text_finetune_logs/`: TensorBoard's event files in one folder per run, Trackio's
local store in `trackio/` (project hf_text_finetune) under a run of the same name. A run's
name starts with its start time, so runs sort by age: `20261207-231700-<model>-<run id>`,
where the run id is the checkpoint folder's (the same workflow settings, the same id). A
continued run (from a checkpoint, or a saved model's training state) looks up the newest
earlier run with its id and writes on into it, so a resumed run stays one continuous curve.

One step axis: training batches since the run began (`epoch * batches_per_epoch + batch`).
Every `log_every` batches, when the loop reads the loss back anyway (tracking adds no host
sync): train loss over those batches, learning rate and samples/s. After every epoch: each
number of its metrics (validation loss, accuracy, ...). At the end: the confusion matrix of
the epoch whose weights the trained model holds, as an image; the settings go in as
hyperparameters when the run starts. Under torchrun only rank 0 writes; the confusion counts
of the validation shards are summed over every rank first.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from ..errors import UserInputError
from ..figures import render_confusion_matrix, render_multilabel_confusion
from .distributed import Processes, sum_across
from .resume import _plain
from .trackers import earlier_runs, open_writer

log = logging.getLogger(__name__)

TRACKING = ("off", "tensorboard", "trackio")
LOGS_DIR = "hf_text_finetune_logs"
_NOT_SETTINGS = ("checkpoint_root", "tracking_root")  # where files go, not how the model trains


def check_tracking(choice: Optional[str]) -> None:
    if choice is not None and choice not in TRACKING:
        raise UserInputError(f"tracking '{choice}' is not one of {list(TRACKING)}; off writes no logs, tensorboard "
                             "event files, trackio a local Trackio store")


def confusion_counts(predictions: torch.Tensor, labels: torch.Tensor, classes: int) -> torch.Tensor:
    """K x K counts (rows: true class); multi-label rows (N, L): per label (tn, fp, fn, tp)."""
    if predictions.ndim > 1:
        pred, true = predictions.long().bool(), labels.round().long().bool()
        cells = [~true & ~pred, ~true & pred, true & ~pred, true & pred]
        return torch.stack([c.sum(dim=0) for c in cells], dim=1).double()
    true, pred = labels.reshape(-1).long(), predictions.reshape(-1).long()
    return torch.bincount(true * classes + pred, minlength=classes * classes).reshape(classes, classes).double()


def epoch_scalars(metrics: Any) -> dict[str, float]:
    """An epoch's numbers under tags: validation metrics as validation/<name>, the rest as epoch/<name>."""
    values = {}
    for name, value in asdict(metrics).items():
        if name == "phase" or value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        values[f"validation/{name[4:]}" if name.startswith("val_") else f"epoch/{name}"] = float(value)
    return values


def run_settings(run: Any, model_name: str) -> dict[str, Any]:
    """The run's settings as flat hyperparameters (train/..., optimizer/..., loss/..., lr_scheduler/...)."""
    loader, val = run.train_loader, run.val_loader
    values = {"model": model_name, "batch_size": loader.batch_size, "train_rows": len(loader.dataset),
              "validation_rows": len(val.dataset) if val is not None else 0, "processes": run.processes.world_size,
              "device": str(run.device), "precision": run.precision.name}
    for prefix, spec in (("train", run.settings), ("optimizer", run.optimizer_spec), ("loss", run.loss_spec),
                         ("lr_scheduler", run.scheduler_spec)):
        plain = _plain(spec)
        if isinstance(plain, dict):
            values.update({f"{prefix}/{k}": v for k, v in plain.items() if k not in _NOT_SETTINGS})
    return values


def compared_metrics(run: Any) -> list[str]:
    if run.val_loader is None:
        return ["epoch/train_loss"]
    if run.loss_spec.is_regression:
        return ["validation/loss", "validation/mae", "validation/pearson"]
    return ["validation/loss", "validation/accuracy"]


class Tracker:
    """What the loop calls. Without a writer (tracking off, a rank other than 0, a missing package)
    every call does nothing, except keeping the confusion counts that all ranks must sum together."""

    def __init__(self, wants_outputs: bool = False, batches_per_epoch: int = 1, world_size: int = 1,
                 label_names: Optional[list[str]] = None, multi_label: bool = False) -> None:
        self.wants_outputs = wants_outputs  # validation keeps its predictions for the confusion matrix
        self.batches_per_epoch, self.world_size = max(batches_per_epoch, 1), world_size
        self.label_names, self.multi_label = label_names, multi_label
        self.writer: Optional[Any] = None
        self.confusions: dict[int, np.ndarray] = {}  # epoch -> counts
        self._pending: Optional[np.ndarray] = None
        self._window_start = time.perf_counter()
        self._step_losses: list[tuple[int, torch.Tensor, int]] = []  # (step, loss sum, rows) since the last flush

    def _write(self, call: str, *args: Any) -> None:
        """A failing writer (disk full, a broken store) turns tracking off; it never stops training."""
        if self.writer is None:
            return
        try:
            getattr(self.writer, call)(*args)
        except Exception as exc:
            log.warning("tracking stopped: %s failed (%s)", call, exc)
            self.close()

    def note_step(self, epoch: int, batch: int, loss_sum: torch.Tensor, rows: int) -> None:
        """Batch `batch` (1-based) of `epoch`: its summed loss, kept on the device and read back with the
        window (or when the run stops), so logging every step adds no host sync."""
        if self.writer is not None:
            self._step_losses.append((epoch * self.batches_per_epoch + batch, loss_sum.detach(), rows))

    def _flush_steps(self, keep_last: bool = False) -> Optional[float]:
        """Writes each noted step's loss; with `keep_last` the last one is returned for the caller to write."""
        steps, self._step_losses = self._step_losses, []
        if not steps or self.writer is None:
            return None
        means = [total / max(rows, 1) for total, (_, _, rows) in
                 zip(torch.stack([loss.float() for _, loss, _ in steps]).tolist(), steps)]
        for (step, _, _), mean in zip(steps[:-1] if keep_last else steps, means):
            self._write("scalars", {"train/loss": mean}, step)
        return means[-1] if keep_last else None

    def train_window(self, run: Any, epoch: int, batch: int, rows: int) -> None:
        """The train loss of every step noted since the last log point, then the learning rate and samples/s
        at the window's end: `batch` (1-based) of `epoch`."""
        if self.writer is None:
            return
        now = time.perf_counter()
        seconds, self._window_start = now - self._window_start, now
        end = epoch * self.batches_per_epoch + batch
        last = self._flush_steps(keep_last=True)
        values = {"train/learning_rate": run.learning_rate} if last is None else \
            {"train/loss": last, "train/learning_rate": run.learning_rate}
        if seconds > 0:
            values["train/samples_per_second"] = rows * self.world_size / seconds
        self._write("scalars", values, end)

    def keep_validation(self, result: Any, processes: Processes, classes: int) -> None:
        """Confusion counts of a validation pass (every rank calls this: the counts are summed)."""
        if not self.wants_outputs or result.predictions is None:
            return
        counts = confusion_counts(result.predictions, result.labels, classes)
        if processes.active:
            counts = torch.stack(sum_across(list(counts.reshape(-1).unbind()), processes)).reshape(counts.shape)
        self._pending = counts.cpu().numpy().astype(np.int64)

    def epoch(self, metrics: Any) -> None:
        """An epoch's metrics, at the step where it ended."""
        if self._pending is not None:
            self.confusions[metrics.epoch], self._pending = self._pending, None
        self._write("scalars", epoch_scalars(metrics), metrics.epoch * self.batches_per_epoch)
        self._window_start = time.perf_counter()  # samples/s counts training time, not validation

    def finish(self, final_epoch: Optional[int]) -> None:
        """The confusion matrix of the returned model's epoch (the latest one measured if that has none)."""
        if self.writer is not None and self.confusions:
            epoch = final_epoch if final_epoch in self.confusions else max(self.confusions)
            counts = self.confusions[epoch]
            names = self.label_names or [str(i) for i in range(counts.shape[0])]
            draw = render_multilabel_confusion if self.multi_label else render_confusion_matrix
            try:
                picture = draw(counts, names, f"validation, epoch {epoch}")
            except Exception as exc:  # a picture must never cost the trained model
                log.warning("tracking: the confusion matrix was not drawn (%s)", exc)
            else:
                self._write("image", "validation/confusion_matrix", picture, epoch * self.batches_per_epoch,
                            counts.tolist())
        self.close()

    def close(self) -> None:
        self._flush_steps()  # the steps a cancelled or stopped run did since its last log point
        writer, self.writer = self.writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception as exc:
                log.warning("tracking logs may be incomplete: closing them failed (%s)", exc)


def logs_root(settings: Any) -> Optional[Path]:
    """The logs' folder under the output folder; None (no logs) for a run given no output folder."""
    folder = settings.tracking_root or settings.checkpoint_root
    return Path(folder) / LOGS_DIR if folder else None


def run_name(kind: str, root: Path, key: str, continuing: bool) -> tuple[str, bool]:
    """(the run's name, True when it is an earlier run this one continues)."""
    taken = set(earlier_runs(kind, root))
    if continuing:
        earlier = sorted(name for name in taken if name.endswith(f"-{key}"))
        if earlier:
            return earlier[-1], True
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{key}"
    suffix = 2
    while name in taken:
        name, suffix = f"{time.strftime('%Y%m%d-%H%M%S')}-{suffix}-{key}", suffix + 1
    return name, False


def start_tracking(run: Any, model_name: str, run_key: Callable[[], str]) -> Tracker:
    """The run's tracker (after a checkpoint was restored: it knows where the run stands). `run_key`: the
    run id of its checkpoint folder, asked for only when tracking is on."""
    kind, root = run.settings.tracking or "off", logs_root(run.settings)  # the settings' check() read `kind`
    if kind == "off" or root is None:
        return Tracker()
    regression = run.loss_spec.is_regression
    tracker = Tracker(wants_outputs=not regression and run.val_loader is not None,
                      batches_per_epoch=run.batches_per_epoch, world_size=run.processes.world_size,
                      label_names=run.train_loader.dataset.label_names,
                      multi_label=run.train_loader.dataset.multi_label)
    if not run.processes.is_main:
        return tracker
    done = run.epochs_done * tracker.batches_per_epoch + run.position.batches_done
    name, continued = run_name(kind, root, run_key(), continuing=done > 0)
    tracker.writer = open_writer(kind, root, name, done + 1 if continued else None, run_settings(run, model_name),
                                 compared_metrics(run))
    if tracker.writer is not None:
        how = "continues" if continued else "logs to"
        log.info("tracking (%s): this run %s %s", kind, how, getattr(tracker.writer, "where", root / name))
    return tracker
