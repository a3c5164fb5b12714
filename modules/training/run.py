"""The state of one training run, built once (`start_run`) and handed to every epoch and step.

Everything a step touches lives here: the trainable copy of the network, optimizer,
schedule, loss, gradient scaler, precision, device, settings, progress, live curves and
early stopping. The loop (loop.py) and the frozen phase read it top to bottom instead of
passing a dozen arguments around.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from ..data.batching import TextDataLoader
from ..host import RuntimeHooks
from ..model.network import ClassifierNetwork
from ..precision import Precision
from .divergence import DivergenceGuard
from .early_stopping import EarlyStopping
from .live_curves import LiveCurves
from .losses import LossSpec
from .optimizers import OptimizerSpec, parameter_groups
from .schedulers import BuiltScheduler, SchedulerSpec
from .settings import EpochMetrics, TrainSettings


def progress_total(settings: TrainSettings, train_batches: int, val_batches: int, epochs_done: int) -> int:
    """Progress steps of a whole run: frozen epochs cost one feature pass over the training and
    validation data, then one step per training batch each; full epochs cost one step per
    training batch and one per validation batch. A resumed run counts only what is left."""
    frozen = settings.frozen_epochs if epochs_done == 0 else 0
    feature_pass = train_batches + val_batches if frozen else 0
    full_epochs = settings.epochs - max(settings.frozen_epochs, epochs_done)
    return feature_pass + frozen * train_batches + full_epochs * (train_batches + val_batches)


class Progress:
    """Steps done of `total`, reported to the host, with its Cancel checked at every step."""

    def __init__(self, hooks: RuntimeHooks, total: int) -> None:
        self.hooks, self.total, self.done = hooks, total, 0

    def step(self, preview: Optional[Any] = None) -> None:
        self.hooks.check_interrupted()
        self.done += 1
        self.hooks.progress(self.done, self.total, preview)

    def show(self, preview: Optional[Any] = None) -> None:
        self.hooks.progress(self.done, self.total, preview)


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
    epochs_done: int = 0  # epochs a resumed classifier had already trained
    scheduler: Optional[BuiltScheduler] = None  # built when the full phase starts
    history: list[EpochMetrics] = field(default_factory=list)
    guard: DivergenceGuard = field(default_factory=DivergenceGuard)  # stops a run whose loss blows up

    @property
    def learning_rate(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    @property
    def optimizer_steps_per_epoch(self) -> int:
        return -(-len(self.train_loader) // self.settings.gradient_accumulation_steps)

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
    return spec.build(parameter_groups(network.encoder, network.head), device)
