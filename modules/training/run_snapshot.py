"""A training run's state as a checkpoint holds it, and the run put back where a checkpoint left it.

A snapshot is taken at a clean point: after a batch (with the gradients of an unfinished
accumulation saved too), or, when an error struck inside a batch, as of that batch's start
when no earlier gradients were waiting (the generators are snapshotted at every batch
start for that). Restoring it brings back weights, optimizer, schedule, gradient scaler,
every random generator, the epoch's running sums, position, learning rate and time so far,
the divergence guard's start, early stopping and history, so a run continued at an epoch
boundary ends bit-identical to one that was never stopped (CPU, fp32), and one continued
inside an epoch skips the batches done of that epoch's seeded order. Under torchrun the
sums of every rank are gathered when all ranks stop together; rank 0 carries them on.
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict
from typing import Optional

import numpy as np
import torch

from ..errors import UserInputError
from .checkpoints import Checkpoint, checkpoint_name
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
