"""When a running training writes checkpoints, to which run folder, and what a finished run keeps.

Checkpoints are written at the end of every epoch, every N minutes inside one, and when Cancel,
SIGTERM or an error stops the run (at its last clean point; run_snapshot.py says what one holds).
A checkpoint that cannot be written (full or read-only disk, any error type) is a warning and
training goes on. A run that ends normally keeps only its final checkpoint, which a Save node
removes once it saved the model (the disk budget, docs/long_runs.md). The run folder is named
from the workflow's settings, so queueing the same workflow again finds it (`resume latest`).
Only rank 0 of a torchrun job writes.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..disk_space import NotEnoughSpaceError, check_free_space, folder_bytes, megabytes, tensor_bytes, write_failure_cause
from ..errors import UserInputError
from ..termination import Terminated, requested, watching
from .checkpoints import (FORMAT, FORMAT_VERSION, Checkpoint, CheckpointFolder, checkpoint_name,
                          load_first_readable, resume_candidates, run_id)
from .distributed import any_each_across, sum_across
from .optimizers import LEVER_DEFAULTS
from .resume import _plain
from .run import TrainingRun
from .run_snapshot import capture, every_generator

log = logging.getLogger(__name__)

def data_fingerprint(dataset) -> str:
    """Same rows, same lengths, same labels: the same fingerprint (cheap: two columns)."""
    digest = hashlib.sha256(str(len(dataset)).encode())
    for column in ("length", "labels"):
        if column in dataset.data.column_names:
            digest.update(np.ascontiguousarray(dataset.data.with_format("numpy")[column]).tobytes())
    digest.update(repr(dataset.label_names).encode())
    return digest.hexdigest()[:16]


def check_fit(saved: dict, now: dict, folder: Path) -> None:
    """Refuse a checkpoint of another model, other data, another optimizer or batch size."""
    differ = [f"{key}: the checkpoint has {saved.get(key)!r}, this run {value!r}"
              for key, value in now.items() if saved.get(key) != value]
    if differ:
        raise UserInputError(f"checkpoint '{folder}' does not fit this run ({'; '.join(differ)}); resume it with "
                             "the workflow that wrote it, or set resume off to start a new run")


class Checkpointer:
    """When to write (every epoch, every N minutes, on Cancel, SIGTERM or an error), what, and what a run keeps."""

    def __init__(self, folder: CheckpointFolder, run_name: str, fit: dict, every_epoch: bool = True,
                 minutes: float = 0.0, write: bool = True) -> None:
        self.folder, self.run_name, self.fit = folder, run_name, fit
        self.every_epoch, self.minutes, self.may_write = every_epoch, minutes, write
        self.last_time, self.last_position = time.monotonic(), None
        self.written: list[Path] = []
        self.failures: list[str] = []
        self.checkpoint_bytes = 0  # size of the last one written (what each takes on disk)

    def due_by_time(self) -> bool:
        return self.minutes > 0 and time.monotonic() - self.last_time >= self.minutes * 60

    def _manifest(self, run: TrainingRun, reason: str, position: tuple[int, int]) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "run": self.run_name, "reason": reason,
                "epochs_done": position[0], "batches_done": position[1], "planned_epochs": run.settings.epochs,
                "batches_per_epoch": run.batches_per_epoch, "world_size": run.processes.world_size,
                "fit": self.fit, "written": time.strftime("%Y-%m-%d %H:%M:%S")}

    def write(self, run: TrainingRun, reason: str, generators: Optional[dict] = None,
              agreed: bool = False) -> Optional[Path]:
        """Write one checkpoint (rank 0 only). One that cannot be written (disk full, read-only, quota, any
        error) is a warning naming the cause: training goes on and the previous checkpoint stays.
        `agreed`: every process writes at this same batch, so the epoch's sums are gathered from all."""
        pos = run.position
        position = (pos.epochs_done, pos.batches_done)
        self.last_time = time.monotonic()
        sums = None
        if agreed and run.processes.active and pos.running is not None:  # a collective: before any early return
            sums = sum_across([pos.running, pos.correct, torch.tensor(float(pos.seen))], run.processes)
        if not self.may_write or position == self.last_position:
            return None
        started = time.perf_counter()
        state = capture(run, {**every_generator(run.device), **(generators or {})}, sums)
        weights = run.network.state_dict()
        best = run.stopping._best_state if run.stopping.restore_best else None
        needed = tensor_bytes(state) + tensor_bytes(weights) + tensor_bytes(best)
        try:
            check_free_space(self.folder.folder, needed, "a checkpoint", "nothing was written")
            folder = self.folder.write(self._manifest(run, reason, position), state, weights, best)
        except Exception as exc:  # safetensors, torch.save and the OS each raise their own type
            self._report_failure(position, exc)
            return None
        self.last_position, self.checkpoint_bytes = position, folder_bytes(folder)
        self.written.append(folder)
        best_folder = None
        if run.stopping.active and run.stopping.best_epoch is not None:
            best_folder = self.folder.folder / checkpoint_name(run.stopping.best_epoch, 0)
        self.folder.prune(protect=best_folder)
        log.info("checkpoint (%s, %s) written to %s in %.2f s", reason, megabytes(self.checkpoint_bytes), folder,
                 time.perf_counter() - started)
        return folder

    def _report_failure(self, position: tuple[int, int], exc: Exception) -> None:
        cause = str(exc) if isinstance(exc, NotEnoughSpaceError) else f"{write_failure_cause(exc)}, in {self.folder.folder}"
        earlier = self.folder.checkpoints()
        kept = (f"the previous checkpoint {earlier[-1].name} is intact: resume latest continues from it"
                if earlier else "there is no earlier checkpoint of this run; free space so the next one can be written")
        note = (f"checkpoint after {position[0]} epochs + {position[1]} batches not written ({cause}); "
                f"training goes on; {kept}")
        log.warning("%s", note)
        self.failures.append(note)

    def finish(self, keep_all: bool) -> Optional[str]:
        """A run that ended normally keeps only its final checkpoint (the last `keep`, if asked); returns the
        run folder a Save node empties once it saved the model (None: kept, or not written here)."""
        if not self.may_write or keep_all:
            return None
        self.folder.prune(keep=1)
        return str(self.folder.folder)

    def after_failure(self, run: TrainingRun, reason: str, agreed: bool = False) -> Optional[Path]:
        """A checkpoint after Cancel, SIGTERM or an error: of the last clean point, when there is one.
        `agreed`: every process stopped after the same batch (SIGTERM)."""
        pos = run.position
        if pos.running is None:
            return None  # between epochs or in the frozen phase: the last epoch's checkpoint stands
        if not pos.in_batch:
            return self.write(run, reason, agreed=agreed)
        if pos.pending_grads or pos.rng_at_batch_start is None:
            log.warning("no checkpoint on %s: it struck inside a gradient accumulation", reason)
            return None
        for param in run.network.parameters():
            param.grad = None  # the interrupted batch's partial gradients
        pos.in_batch = False
        return self.write(run, reason, pos.rng_at_batch_start)

    def describe(self, removed_by_save: bool = False) -> str:
        """The node's note: where, the size of one checkpoint of this model, and what is kept."""
        lines = [f"checkpoints: {self.folder.folder}"]
        if self.written:
            lines[0] += f" (last: {self.written[-1].name}, {megabytes(self.checkpoint_bytes)} each"
            lines[0] += "; a Save node that saves this model removes them)" if removed_by_save else ")"
        return "\n".join(lines + self.failures)


def after_batch(run: TrainingRun, boundary: bool) -> None:
    """After each training batch: a checkpoint when one is due by time (at an optimizer step), a stop when
    SIGTERM asked. Several processes decide together (one small all-reduce of CPU flags per batch, only when a
    timer or a SIGTERM handler is on; under NCCL over a gloo group, so it never waits for the GPU), so they
    write and stop after the same batch."""
    checkpoints = run.checkpointer
    timed = checkpoints is not None and checkpoints.minutes > 0
    due = boundary and timed and checkpoints.due_by_time()
    stop = False
    if run.processes.active and (timed or watching()):
        due, stop = any_each_across((due, watching() and requested()), run.processes)  # one all-reduce a batch, on the CPU
    if due:
        checkpoints.write(run, f"every {run.settings.checkpoint_minutes:g} minutes", agreed=True)
    if stop:
        raise Terminated("stopped by SIGTERM")  # every rank after the same batch: a clean point


def run_identity(run: TrainingRun, model_name: str, data: str) -> tuple[str, dict]:
    """The run folder's name (from the workflow's settings) and what a checkpoint must fit."""
    s, loader = run.settings, run.train_loader
    fit = {"model": model_name, "head": run.network.head_type, "outputs": run.network.num_outputs, "data": data,
           "optimizer": run.optimizer_spec.kind, "batch_size": loader.batch_size}
    parts = {**fit, "loader": [loader.shuffle, loader.seed, loader.group_by_length, loader.drop_last],
             "optimizer": {k: v for k, v in _plain(run.optimizer_spec).items()  # older runs' ids stay the same
                           if k not in LEVER_DEFAULTS or LEVER_DEFAULTS[k] != v},
             "loss": _plain(run.loss_spec), "schedule": _plain(run.scheduler_spec),
             "train": [s.seed, s.freeze_pretrained_module_epochs, s.frozen_head_learning_rate,
                       s.gradient_accumulation_steps, s.max_grad_norm, s.early_stopping_patience,
                       s.early_stopping_metric, s.early_stopping_min_delta, s.restore_best_weights]}
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(model_name.rstrip("/\\")).name)[:40] or "model"
    return f"{stem}-{run_id(parts)}", fit


def start_checkpoints(run: TrainingRun, model_name: str) -> Optional[Checkpoint]:
    """Set up the run's checkpoint folder; returns the checkpoint to continue from (resume), if any."""
    s = run.settings
    resume = (s.resume or "off").strip()
    if s.checkpoint_root is None and resume.lower() == "off":
        return None
    name, fit = run_identity(run, model_name, data_fingerprint(run.train_loader.dataset))
    root = Path(s.checkpoint_root) if s.checkpoint_root else Path("output")
    folder = CheckpointFolder(root, name, s.keep_checkpoints)
    writes = s.checkpoint_root is not None and (s.checkpoint_every_epoch or s.checkpoint_minutes > 0)
    run.checkpointer = Checkpointer(folder, name, fit, s.checkpoint_every_epoch, s.checkpoint_minutes,
                                    write=writes and run.processes.is_main)
    if run.processes.is_main and s.checkpoint_root is not None:
        folder.remove_temporaries()
    if resume.lower() == "off":
        if folder.checkpoints():
            log.warning("resume is off: a new run; its first checkpoint replaces those of the earlier run in %s "
                        "(set resume latest to continue that run)", folder.folder)
            folder.replace_earlier = True
        return None
    checkpoint = load_first_readable(resume_candidates(resume, folder))
    check_fit(checkpoint.manifest.get("fit", {}), fit, checkpoint.folder)
    done, _ = checkpoint.position
    stopped = checkpoint.state["early_stopping"].get("stopped_after")
    if done >= s.epochs or stopped is not None:
        why = f"early stopping ended it after epoch {stopped}" if stopped is not None else f"it has {done} epochs"
        raise UserInputError(f"checkpoint '{checkpoint.folder}' is of a finished run ({why}), so epochs "
                             f"{s.epochs} leaves nothing to train; raise epochs, or set resume off")
    return checkpoint
