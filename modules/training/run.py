"""The state of one training run, built once (`preparation.start_run`) and handed to every epoch and step.

Everything a step touches lives here: the trainable copy of the network, optimizer,
schedule, loss, gradient scaler, precision, device, settings, progress, live curves and
early stopping. The loop (loop.py) and the frozen phase read it top to bottom instead of
passing a dozen arguments around.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from ..data.batching import TextDataLoader
from ..host import RuntimeHooks
from ..model.network import ClassifierNetwork
from ..precision import Precision
from ..termination import Terminated, requested
from .divergence import DivergenceGuard
from .early_stopping import EarlyStopping
from .live_curves import LiveCurves
from .losses import LossSpec
from .optimizers import OptimizerSpec, freeze_lower_encoder, parameter_groups
from .schedulers import BuiltScheduler, SchedulerSpec
from .distributed import Processes, shard_batches
from .settings import EpochMetrics, TrainSettings, metrics_text
from .tracking import Tracker


def progress_total(settings: TrainSettings, train_batches: int, val_batches: int, epochs_done: int) -> int:
    """Progress steps of a whole run: frozen epochs cost one feature pass over the training and
    validation data, then one step per training batch each; full epochs cost one step per
    training batch and one per validation batch. A resumed run counts only what is left."""
    frozen = settings.frozen_epochs if epochs_done == 0 else 0
    feature_pass = train_batches + val_batches if frozen else 0
    full_epochs = settings.epochs - max(settings.frozen_epochs, epochs_done)
    return feature_pass + frozen * train_batches + full_epochs * (train_batches + val_batches)


class Progress:
    """Steps done of `total`, reported to the host, with its Cancel (and a SIGTERM) checked at every step.
    `shared`: several processes train together; they stop on SIGTERM only where all agree (the loop)."""

    def __init__(self, hooks: RuntimeHooks, total: int, shared: bool = False) -> None:
        self.hooks, self.total, self.done, self.shared = hooks, total, 0, shared

    def step(self, preview: Optional[Any] = None) -> None:
        self.hooks.check_interrupted()
        if requested() and not self.shared:
            raise Terminated("stopped by SIGTERM")
        self.done += 1
        self.hooks.progress(self.done, self.total, preview)

    def show(self, preview: Optional[Any] = None) -> None:
        self.hooks.progress(self.done, self.total, preview)


@dataclass
class EpochPosition:
    """Where the run is in the epoch under way, with that epoch's running sums: what a checkpoint
    needs to continue the epoch exactly where it stopped."""

    epochs_done: int = 0
    batches_done: int = 0
    running: Optional[torch.Tensor] = None  # float64 loss sum of the rows so far (on the device)
    correct: Optional[torch.Tensor] = None
    seen: int = 0
    logged: tuple[float, int] = (0.0, 0)  # running loss and rows at the last log (live plot)
    in_batch: bool = False  # between the start of a batch and its end (an error there loses the batch)
    pending_grads: bool = False  # gradients of earlier batches wait for an optimizer step
    rng_at_batch_start: Optional[dict] = None  # torch generators when the batch began
    learning_rate: Optional[float] = None  # the rate the epoch started with (what its metrics report)
    earlier_seconds: float = 0.0  # time the epoch took before the run continued from a checkpoint
    clock: float = 0.0  # perf_counter when the epoch (or its continuation) started

    def enter(self, epoch: int, device: torch.device, learning_rate: float) -> "EpochPosition":
        """Start `epoch`, unless a restored checkpoint already holds its first batches."""
        if self.epochs_done != epoch or self.running is None:
            self.epochs_done, self.batches_done, self.seen, self.logged = epoch, 0, 0, (0.0, 0)
            self.running = torch.zeros((), device=device, dtype=torch.float64)
            self.correct = torch.zeros((), device=device, dtype=torch.float64)
            self.learning_rate, self.earlier_seconds = learning_rate, 0.0
        elif self.learning_rate is None:  # a checkpoint written before the rate was kept
            self.learning_rate = learning_rate
        self.clock = time.perf_counter()
        return self

    def seconds(self) -> float:
        """Time spent on the epoch so far, across a stop and its continuation."""
        return self.earlier_seconds + time.perf_counter() - self.clock

    def begin_batch(self, pending_grads: bool, rng: Optional[dict]) -> None:
        self.in_batch, self.pending_grads, self.rng_at_batch_start = True, pending_grads, rng

    def end_batch(self, loss_sum: torch.Tensor, hits: torch.Tensor, size: int, pending_grads: bool) -> None:
        self.running += loss_sum
        self.correct += hits
        self.seen += size
        self.batches_done += 1
        self.in_batch, self.pending_grads = False, pending_grads

    def finish_epoch(self) -> None:
        self.epochs_done, self.batches_done, self.running, self.correct = self.epochs_done + 1, 0, None, None
        self.seen, self.logged, self.learning_rate, self.earlier_seconds = 0, (0.0, 0), None, 0.0


@dataclass
class TrainingRun:
    network: ClassifierNetwork  # the trainable copy; the input classifier is never touched
    settings: TrainSettings
    train_loader: TextDataLoader
    val_loader: Optional[TextDataLoader]
    loss_spec: LossSpec  # with "auto" weights resolved from the training labels
    loss_fn: torch.nn.Module
    optimizer: torch.optim.Optimizer
    optimizer_spec: OptimizerSpec
    scheduler_spec: Optional[SchedulerSpec]
    scaler: Optional[Any]  # torch.amp.GradScaler for fp16, else None
    precision: Precision
    device: torch.device
    progress: Progress
    curves: LiveCurves
    stopping: EarlyStopping
    epochs_done: int = 0  # epochs a resumed classifier (or checkpoint) had already trained
    scheduler: Optional[BuiltScheduler] = None  # built when the full phase starts
    history: list[EpochMetrics] = field(default_factory=list)
    guard: DivergenceGuard = field(default_factory=DivergenceGuard)  # stops a run whose loss blows up
    processes: Processes = field(default_factory=Processes)  # one, or the ranks of a torchrun job
    trainer: Optional[torch.nn.Module] = None  # what training steps call: the network, or DDP around it
    position: EpochPosition = field(default_factory=EpochPosition)
    checkpointer: Optional[Any] = None  # autosave.Checkpointer when checkpoints are on
    batch_plan: Optional[TextDataLoader] = None  # the loader at the global batch size (several processes)
    resumed_schedule: Optional[dict] = None  # a checkpoint's scheduler state and learning rates
    continues_model: bool = False  # the input model carries a Load node's state: its history goes first
    tracker: Tracker = field(default_factory=Tracker)  # TensorBoard / Trackio logs (tracking.py); off by default

    @property
    def learning_rate(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    @property
    def batches_per_epoch(self) -> int:
        """Steps of one full epoch on this process (all processes take the same number)."""
        if not self.processes.active:
            return len(self.train_loader)
        return len(self.epoch_batches(0))

    @property
    def optimizer_steps_per_epoch(self) -> int:
        return -(-self.batches_per_epoch // self.settings.gradient_accumulation_steps)

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """This process's rows of every batch of `epoch`, in the epoch's seeded order."""
        plan = self.batch_plan or self.train_loader
        return shard_batches(plan.batch_indices(epoch), self.processes)

    def report_epochs(self, history: list[EpochMetrics]) -> None:
        """Tell the host the metrics text so far: the node's text fills in epoch by epoch."""
        self.progress.hooks.epoch_finished(metrics_text(str(self.device), self.precision.name,
                                                        self.settings.epochs, history))

    @property
    def last_epoch(self) -> int:
        return self.history[-1].epoch if self.history else self.epochs_done


def trainable_copy(network: ClassifierNetwork, device: torch.device) -> ClassifierNetwork:
    """A deep copy that autograd accepts: the cached input stays as it was, and tensors created
    under ComfyUI's inference mode become ordinary tensors."""
    with torch.no_grad():
        copied = copy.deepcopy(network)
        for module in copied.modules():
            for name, tensor in list(module.named_parameters(recurse=False)):
                if tensor.is_inference():
                    setattr(module, name, torch.nn.Parameter(tensor.clone(), requires_grad=tensor.requires_grad))
            for name, tensor in list(module.named_buffers(recurse=False)):
                if tensor is not None and tensor.is_inference():
                    module._buffers[name] = tensor.clone()
    copied.set_all_trainable()
    return copied.to(device)


def build_optimizer(network: ClassifierNetwork, spec: OptimizerSpec, device: torch.device) -> torch.optim.Optimizer:
    """The spec's optimizer over the network's groups, after freezing the parts the spec keeps fixed."""
    freeze_lower_encoder(network.encoder, spec)
    return spec.build(parameter_groups(network.encoder, network.head, spec), device)
