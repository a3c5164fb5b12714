"""What a running training writes into a checkpoint, when, and how a run continues from one.

A checkpoint is taken at a clean point: after a batch (with the gradients of an unfinished
accumulation saved too), or, when an error struck inside a batch, as of that batch's start
when no earlier gradients were waiting (the generators are snapshotted at every batch
start for that). Continuing from it restores weights, optimizer, schedule, gradient
scaler, every random generator, the epoch's running sums and position, early stopping
and history, so a run continued at an epoch boundary ends bit-identical to one that was
never stopped (CPU, fp32), and one continued inside an epoch skips the batches done of
that epoch's seeded order. Only rank 0 of a torchrun job writes.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..disk_space import NotEnoughSpaceError, check_free_space, folder_bytes, megabytes, tensor_bytes, write_failure_cause
from ..errors import UserInputError
from ..termination import Terminated, requested, watching
from .distributed import any_across, sum_across
from .checkpoints import (FORMAT, FORMAT_VERSION, Checkpoint, CheckpointFolder, checkpoint_name,
                          load_first_readable, resume_candidates, run_id)
from .optimizers import LEVER_DEFAULTS
from .resume import _plain, _to_cpu, _trainable_copy
from .run import EpochPosition, TrainingRun
from .settings import EpochMetrics

log = logging.getLogger(__name__)


def torch_generators(device: torch.device) -> dict:
    """The generators a training step draws from (cheap: taken at every batch start)."""
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = [torch.cuda.get_rng_state(device)]
        state["cuda_index"] = device.index or 0
    return state


def every_generator(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state["numpy"] = {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached": float(cached)}
    version, internal, gauss = random.getstate()
    state["python"] = {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss}
    return state


def restore_generators(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available():
        if "cuda_index" in state:
            torch.cuda.set_rng_state(cuda[0], state["cuda_index"])
        elif len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    if "python" in state:
        p = state["python"]
        random.setstate((p["version"], tuple(int(x) for x in p["internal"].tolist()), p["gauss"]))


def data_fingerprint(dataset) -> str:
    """Same rows, same lengths, same labels: the same fingerprint (cheap: two columns)."""
    digest = hashlib.sha256(str(len(dataset)).encode())
    for column in ("length", "labels"):
        if column in dataset.data.column_names:
            digest.update(np.ascontiguousarray(dataset.data.with_format("numpy")[column]).tobytes())
    digest.update(repr(dataset.label_names).encode())
    return digest.hexdigest()[:16]


def _early_stopping_state(run: TrainingRun) -> dict:
    s = run.stopping
    return {"best_value": s.best_value, "best_epoch": s.best_epoch, "bad_epochs": s._bad_epochs,
            "stopped_after": s.stopped_after}


def _gradients(run: TrainingRun) -> Optional[dict]:
    grads = {name: p.grad for name, p in run.network.named_parameters() if p.grad is not None}
    return _to_cpu(grads) if grads else None


def capture(run: TrainingRun, generators: dict, sums: Optional[list] = None) -> dict:
    """state.pt of a checkpoint at the run's current position. `sums`: the epoch's running loss, hits and rows
    over every process (rank 0 carries them on when resumed); None: this process's own."""
    pos = run.position
    scheduler = run.scheduler.scheduler.state_dict() if run.scheduler is not None else None
    running, correct, seen = sums if sums is not None else (pos.running, pos.correct, pos.seen)
    return {
        "position": {"epochs_done": pos.epochs_done, "batches_done": pos.batches_done, "seen": int(seen),
                     "running": _to_cpu(running), "correct": _to_cpu(correct), "all_processes": sums is not None,
                     "logged": [float(pos.logged[0]), int(pos.logged[1])],
                     "learning_rate": pos.learning_rate, "seconds": pos.seconds() if pos.running is not None else 0.0},
        "divergence_start": run.guard.start,
        "optimizer": _to_cpu(run.optimizer.state_dict()), "scheduler": _to_cpu(scheduler),
        "learning_rates": [float(g["lr"]) for g in run.optimizer.param_groups],
        "scaler": run.scaler.state_dict() if run.scaler is not None else None,
        "generators": generators, "pending_grads": _gradients(run) if pos.pending_grads else None,
        "early_stopping": _early_stopping_state(run), "history": [asdict(m) for m in run.history],
        "settings": {"train": _plain(run.settings), "optimizer": _plain(run.optimizer_spec),
                     "loss": _plain(run.loss_spec), "lr_scheduler": _plain(run.scheduler_spec)},
    }


def check_fit(saved: dict, now: dict, folder: Path) -> None:
    """Refuse a checkpoint of another model, other data, another optimizer or batch size."""
    differ = [f"{key}: the checkpoint has {saved.get(key)!r}, this run {value!r}"
              for key, value in now.items() if saved.get(key) != value]
    if differ:
        raise UserInputError(f"checkpoint '{folder}' does not fit this run ({'; '.join(differ)}); resume it with "
                             "the workflow that wrote it, or set resume off to start a new run")


def _restore_position(run: TrainingRun, saved: dict, world_size: int) -> None:
    pos = saved["position"]
    if pos["batches_done"] and world_size != run.processes.world_size:
        raise UserInputError(
            f"the checkpoint was written inside an epoch by {world_size} process(es); this run has "
            f"{run.processes.world_size}, whose batches differ: resume from an end-of-epoch checkpoint "
            f"(a folder named {checkpoint_name(pos['epochs_done'], 0)}) or with {world_size} process(es)")
    run.position = EpochPosition(pos["epochs_done"], pos["batches_done"], seen=pos["seen"],
                                 logged=(pos["logged"][0], int(pos["logged"][1])),
                                 learning_rate=pos.get("learning_rate"), earlier_seconds=pos.get("seconds", 0.0))
    if pos["running"] is not None:
        run.position.running = pos["running"].to(run.device, torch.float64)
        run.position.correct = pos["correct"].to(run.device, torch.float64)
        if pos.get("all_processes") and not run.processes.is_main:  # rank 0 carries the sums of every rank
            run.position.running, run.position.correct = run.position.running * 0, run.position.correct * 0
            run.position.seen, run.position.logged = 0, (0.0, 0)
    run.epochs_done = pos["epochs_done"]


def _restore_weights(run: TrainingRun, checkpoint: Checkpoint) -> None:
    try:
        run.network.load_state_dict(checkpoint.weights)
    except RuntimeError as exc:
        raise UserInputError(f"the weights in checkpoint '{checkpoint.folder}' do not fit this model "
                             f"({str(exc).splitlines()[0]}); resume with the model that wrote it") from exc
    grads = checkpoint.state.get("pending_grads")
    if grads:
        for name, param in run.network.named_parameters():
            if name in grads:
                param.grad = grads[name].to(param.device, param.dtype).clone()
        run.position.pending_grads = True


def restore(run: TrainingRun, checkpoint: Checkpoint) -> None:
    """Put the run where the checkpoint left it (the schedule is applied when it is built)."""
    state = checkpoint.state
    _restore_position(run, state, int(checkpoint.manifest.get("world_size", 1)))
    _restore_weights(run, checkpoint)
    run.optimizer.load_state_dict(_trainable_copy(state["optimizer"]))
    if run.scaler is not None and state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    stop = state["early_stopping"]
    run.stopping.best_value, run.stopping.best_epoch = stop["best_value"], stop["best_epoch"]
    run.stopping._bad_epochs, run.stopping.stopped_after = stop["bad_epochs"], stop["stopped_after"]
    if checkpoint.best_weights is not None and run.stopping.restore_best:
        run.stopping._best_state = checkpoint.best_weights
    run.history = [EpochMetrics(**m) for m in state["history"]]
    run.guard.start = state.get("divergence_start")  # None (older checkpoints): the next loss read back
    if state.get("scheduler") is not None:
        run.resumed_schedule = {"state": state["scheduler"], "learning_rates": state["learning_rates"]}
    restore_generators(state["generators"])
    log.info("continuing from checkpoint %s (%d epochs and %d batches done)", checkpoint.folder,
             *checkpoint.position)


def apply_resumed_schedule(run: TrainingRun) -> None:
    """After the scheduler is built: its saved position, and the learning rates it had set."""
    if run.resumed_schedule is None or run.scheduler is None:
        return
    run.scheduler.scheduler.load_state_dict(_trainable_copy(run.resumed_schedule["state"]))
    for group, rate in zip(run.optimizer.param_groups, run.resumed_schedule["learning_rates"]):
        group["lr"] = rate
    run.resumed_schedule = None


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

    def finish(self, keep_all: bool) -> None:
        """A run that ended normally keeps only its final checkpoint (all the last `keep`, if asked)."""
        if not self.may_write or keep_all:
            return
        for old in self.folder.checkpoints()[:-1]:
            shutil.rmtree(old, ignore_errors=True)

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
    SIGTERM asked. Several processes decide together (one small all-reduce per batch, only when a timer or
    a SIGTERM handler is on), so they write and stop after the same batch."""
    checkpoints = run.checkpointer
    timed = checkpoints is not None and checkpoints.minutes > 0
    due = boundary and timed and checkpoints.due_by_time()
    stop = False
    if run.processes.active and (timed or watching()):
        due = any_across(due, run.processes) if timed else False
        stop = watching() and any_across(requested(), run.processes)
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


def saved_extras(run: TrainingRun) -> dict:
    """What the Save node keeps beyond optimizer and schedule, for the Load node's resume."""
    stopping = {**_early_stopping_state(run), "best_weights": run.stopping._best_state}
    return {"scaler": run.scaler.state_dict() if run.scaler is not None else None,
            "generators": every_generator(run.device), "early_stopping": stopping}


def restore_saved_extras(state, run: TrainingRun) -> None:
    """The Load node's resume: scaler, generators and early stopping as the saved run left them
    (patience carries on, as it would have without the stop)."""
    if state is None:
        return
    if run.scaler is not None and state.scaler:
        run.scaler.load_state_dict(state.scaler)
    if state.generators:
        restore_generators(state.generators)
    stop = state.early_stopping
    if stop and run.stopping.active:
        run.stopping.best_value, run.stopping.best_epoch = stop["best_value"], stop["best_epoch"]
        run.stopping._bad_epochs = stop["bad_epochs"]
        if run.stopping.restore_best and stop.get("best_weights") is not None:
            run.stopping._best_state = stop["best_weights"]
