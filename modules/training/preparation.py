"""Before the loop: a run's state built once, after the data, model and schedule were checked to fit.

Labels are aligned to one set of names (the model's when it continues, else the training data's),
the device, process group and precision are chosen, the host frees the memory the run needs, and the
trainable copy, optimizer, loss and the rest of `TrainingRun` (run.py) are built; a run continued from
a saved model or a checkpoint (autosave.py, run_snapshot.py) picks up where it stopped, and its tracker
learns where that is.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Optional

from ..data.batching import TextDataLoader
from ..figures import short_model_name
from ..host import RuntimeHooks, resolve_device
from ..model.classifier import TextClassifier
from ..model.weight_dtype import check_device_computes
from ..precision import choose_precision
from .autosave import data_fingerprint, run_identity, start_checkpoints
from .distributed import (check_enough_batches, device_for, evaluation_shard, from_environment, global_loader,
                          start_process_group, wrap_for_training)
from .fit_checks import align_for_model, check_label_sets
from .gpu_memory import set_gradient_checkpointing, training_bytes
from .live_curves import LiveCurves
from .losses import LossSpec
from .optimizers import OptimizerSpec
from .resume import restore_optimizer_state, resume_epochs
from .run import Progress, TrainingRun, build_optimizer, progress_total, trainable_copy
from .run_snapshot import restore, restore_saved_extras
from .schedulers import SchedulerSpec
from .settings import TrainSettings
from .tracking import start_tracking

log = logging.getLogger(__name__)


def aligned_loaders(model: TextClassifier, train_loader: TextDataLoader,
                    val_loader: Optional[TextDataLoader]) -> tuple[TextDataLoader, Optional[TextDataLoader]]:
    """Loaders whose labels use one numbering: the model's label names when it has them
    (continued training), else the training data's, which the trained model adopts."""
    names = model.label_names or train_loader.dataset.label_names
    train = align_for_model(model, train_loader.dataset, "training", names)
    if train is not train_loader.dataset:
        train_loader = replace(train_loader, dataset=train)
    if val_loader is not None:
        check_label_sets(train, val_loader.dataset)
        val = align_for_model(model, val_loader.dataset, "validation", train.label_names)
        if val is not val_loader.dataset:
            val_loader = replace(val_loader, dataset=val)
    return train_loader, val_loader


def build_run(model: TextClassifier, train_loader: TextDataLoader, val_loader: Optional[TextDataLoader],
              optimizer_spec: OptimizerSpec, loss_spec: LossSpec, scheduler_spec: Optional[SchedulerSpec],
              settings: TrainSettings, hooks: RuntimeHooks) -> TrainingRun:
    """The run's objects on their device, after the host freed the memory the run needs."""
    processes = from_environment()
    check_enough_batches(train_loader, processes)
    device = device_for(processes, resolve_device(settings.device, hooks))
    start_process_group(processes, device)
    precision = choose_precision(settings.precision, device)
    check_device_computes(model.network, device, precision.name)
    hooks.prepare_for_training(device, training_bytes(
        model.network, optimizer_spec.kind, train_loader.batch_size, int(train_loader.token_lengths().max()),
        settings.gradient_checkpointing, 2 if precision.dtype is not None else 4))
    network = trainable_copy(model.network, device)
    if settings.gradient_checkpointing:
        set_gradient_checkpointing(network, True)
    optimizer = build_optimizer(network, optimizer_spec, device)
    restore_optimizer_state(model.resume_state, optimizer, optimizer_spec)
    return TrainingRun(
        network=network, settings=settings, train_loader=train_loader,
        val_loader=evaluation_shard(val_loader, processes) if val_loader is not None else None,
        loss_spec=loss_spec, loss_fn=loss_spec.build(device), optimizer=optimizer, optimizer_spec=optimizer_spec,
        scheduler_spec=scheduler_spec, scaler=precision.grad_scaler(), precision=precision, device=device,
        progress=Progress(hooks, 0, processes.active),
        curves=LiveCurves(hooks, settings.live_plot_interval_s, title=short_model_name(model.model_name)),
        stopping=settings.early_stopping(), processes=processes, trainer=wrap_for_training(network, processes, device),
        batch_plan=global_loader(train_loader, processes))


def start_run(model: TextClassifier, train_loader: TextDataLoader, val_loader: Optional[TextDataLoader],
              optimizer_spec: OptimizerSpec, loss_spec: LossSpec, scheduler_spec: Optional[SchedulerSpec],
              settings: TrainSettings, hooks: RuntimeHooks) -> TrainingRun:
    """Build the run's state (inside the caller's grad-enabled, seeded scope): fresh, continued from a
    model the Load node restored, or continued from a checkpoint."""
    done = resume_epochs(model, settings)
    run = build_run(model, train_loader, val_loader, optimizer_spec, loss_spec, scheduler_spec, settings, hooks)
    run.epochs_done, run.position.epochs_done, run.continues_model = done, done, done > 0
    restore_saved_extras(model.resume_state, run)
    checkpoint = start_checkpoints(run, model.base_model)
    if checkpoint is not None:
        if model.resume_state is not None:
            log.info("the checkpoint takes precedence over the loaded model's training state")
        restore(run, checkpoint)
    val_batches = len(run.val_loader) if run.val_loader is not None else 0
    run.progress.total = (progress_total(settings, run.batches_per_epoch, val_batches, run.epochs_done)
                          - run.position.batches_done)
    run.tracker = start_tracking(run, model.base_model, lambda: run.checkpointer.run_name if run.checkpointer else
                                 run_identity(run, model.base_model, data_fingerprint(train_loader.dataset))[0])
    return run


def check_warmup(spec: SchedulerSpec, settings: TrainSettings, batches: int) -> None:
    """Refuse a warmup longer than the fine-tuning phase once its step count is known."""
    full_epochs = settings.epochs - settings.frozen_epochs
    accumulate = settings.gradient_accumulation_steps
    steps = full_epochs * -(-batches // accumulate)
    how = f"{full_epochs} fine-tuning epoch{'s' if full_epochs != 1 else ''} x {batches} batches"
    spec.check_fits(steps, how + (f" / gradient_accumulation_steps {accumulate}" if accumulate > 1 else ""))
