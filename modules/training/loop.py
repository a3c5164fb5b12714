"""Fine-tune a classifier: one loop to read top to bottom, with an optional frozen-encoder phase first.

The input classifier is never changed: ComfyUI hands the same cached object to every
queue run, so training works on a copy and the same seed gives the same metrics.
Before the loop: labels are aligned to one set of names, data, model and loss are
checked to fit, "auto" loss weights are computed from the training labels, and the
run's state is built once (preparation.py), possibly continued from a checkpoint
(autosave.py, run_snapshot.py). Then: the frozen epochs (head only, on cached features), the full
epochs (every parameter, a checkpoint after each), and early stopping that may end
training and restore the best epoch's weights. A Cancel, an out-of-memory error or any
other failure writes a checkpoint of the last clean point before it propagates. Under
torchrun every process runs this same loop on its share of each batch (distributed.py).
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from dataclasses import asdict, replace
from typing import Optional

import torch

from ..data.batching import TextDataLoader
from ..data.truncation import Truncation
from ..data.windows import Windows
from ..errors import TrainingDivergedError, UserInputError
from ..host import RuntimeHooks
from ..model.classifier import TextClassifier
from ..model.weight_dtype import bf16_weights_would_help
from ..termination import Terminated, training_scope
from .autosave import after_batch
from .preparation import aligned_loaders, check_warmup, start_run
from .run_snapshot import apply_resumed_schedule, saved_extras, torch_generators
from .distributed import describe as describe_processes, sum_across
from .eval_pass import EvalResult, batch_loss_sum, count_hits, evaluate, move_batch, predictions_from_logits
from .fit_checks import check_ready, check_stopping_metric, problem_type
from .frozen_phase import train_head_on_frozen_features
from .gpu_memory import (DeviceOutOfMemoryError, free_after_failure, is_out_of_memory, out_of_memory_message,
                         set_gradient_checkpointing)
from .losses import LossSpec, describe_weights, resolve_auto_weights
from .optimizers import OptimizerSpec
from .resume import capture_training_state, restore_scheduler_state
from .run import TrainingRun
from .schedulers import SchedulerSpec
from .short_runs import short_run_note
from .settings import EpochMetrics, TrainResult, TrainSettings

log = logging.getLogger(__name__)








def optimizer_step(run: TrainingRun) -> None:
    """Clip (unscaled) gradients, step, and advance a per-step schedule."""
    scaler, optimizer = run.scaler, run.optimizer
    if run.settings.max_grad_norm > 0:
        if scaler is not None:
            scaler.unscale_(optimizer)
        params = [p for p in run.network.parameters() if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, run.settings.max_grad_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if run.scheduler is not None:
        run.scheduler.after_optimizer_step()


def train_step(run: TrainingRun, batch: dict[str, torch.Tensor],
               sync: bool = True) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Forward and backward for one batch; returns its loss sum and hits (on the device) and its size.
    `sync` False: several processes skip averaging gradients until the accumulation's last batch."""
    batch = move_batch(batch, run.device)
    labels = batch.pop("labels")
    skip_sync = not sync and isinstance(run.trainer, torch.nn.parallel.DistributedDataParallel)
    with run.trainer.no_sync() if skip_sync else contextlib.nullcontext():
        with run.precision.autocast():
            logits = run.trainer(**batch)
        loss = run.loss_fn(*run.loss_spec.targets(labels, logits.float()))
        scaled = loss / run.settings.gradient_accumulation_steps
        (run.scaler.scale(scaled) if run.scaler is not None else scaled).backward()
    hits = (count_hits(predictions_from_logits(logits.detach(), run.loss_spec), labels)
            if not run.loss_spec.is_regression else torch.zeros((), device=labels.device))
    return batch_loss_sum(loss, run.loss_spec, labels.shape[0]), hits, labels.shape[0]


def log_step(run: TrainingRun, epoch: int, step: int, batches: int) -> Optional[object]:
    """Read the running loss back (the only host sync inside the loop): log, check, plot."""
    pos = run.position
    total = float(pos.running)
    window = (total - pos.logged[0]) / (pos.seen - pos.logged[1])
    run.guard.check(window, f"epoch {epoch + 1}, step {step + 1}", run.learning_rate)
    log.info("epoch %d step %d/%d: train loss %.4f", epoch + 1, step + 1, batches, total / pos.seen)
    run.progress.hooks.training_update(epoch + 1, run.settings.epochs, total / pos.seen)
    run.curves.add_step_loss(epoch + (step + 1) / batches, window)
    run.tracker.train_window(run, epoch, step + 1, pos.seen - pos.logged[1])
    pos.logged = (total, pos.seen)
    return run.curves.preview()


def train_epoch(run: TrainingRun, epoch: int) -> tuple[float, Optional[float]]:
    """One pass over the training data updating every parameter; returns mean loss and accuracy (None for
    regression).
    A checkpoint taken inside this epoch continues it: the batches it had done are skipped."""
    run.network.train()
    pos = run.position.enter(epoch, run.device, run.learning_rate)
    order = run.epoch_batches(epoch)
    accumulate, batches, checkpoints = run.settings.gradient_accumulation_steps, len(order), run.checkpointer
    for step, batch in enumerate(run.train_loader.batches_of(order[pos.batches_done:]), start=pos.batches_done):
        boundary = (step + 1) % accumulate == 0 or step + 1 == batches
        pos.begin_batch(step % accumulate != 0, torch_generators(run.device) if checkpoints else None)
        loss_sum, hits, size = train_step(run, batch, sync=boundary)
        if boundary:
            optimizer_step(run)
        pos.end_batch(loss_sum, hits, size, pending_grads=not boundary)
        run.tracker.note_step(epoch, step + 1, loss_sum, size)
        if run.guard.start is None:  # the run's starting loss: one host sync per run
            run.guard.check(float(loss_sum) / size, f"epoch {epoch + 1}, step {step + 1}", run.learning_rate)
        logs = (step + 1) % run.settings.log_every == 0 or step + 1 == batches  # and the epoch's last batch
        preview = log_step(run, epoch, step, batches) if logs else None
        run.progress.step(preview)
        after_batch(run, boundary)
    running, correct, seen = sum_across([pos.running, pos.correct, torch.tensor(float(pos.seen))], run.processes)
    mean = float(running) / max(float(seen), 1)
    run.guard.check(mean, f"the end of epoch {epoch + 1}", run.learning_rate)
    run.progress.hooks.training_update(epoch + 1, run.settings.epochs, mean)
    return mean, None if run.loss_spec.is_regression else float(correct) / max(float(seen), 1)


def validate(run: TrainingRun) -> EvalResult:
    """Validation loss and accuracy; several processes each take a share and add up their sums."""
    val = evaluate(run.network, run.val_loader, run.loss_spec, run.device, run.precision,
                   keep_outputs=run.tracker.wants_outputs, on_batch=run.progress.step)
    run.tracker.keep_validation(val, run.processes, max(run.network.num_outputs, 2))
    if not run.processes.active:
        return val
    count = torch.tensor(float(val.count), dtype=torch.float64)
    if val.score_sums is not None:
        total, sums, count = sum_across([count * val.loss, val.score_sums, count], run.processes)
        return EvalResult(loss=float(total / count), accuracy=None, count=int(count), score_sums=sums)
    total, correct, count = sum_across([count * val.loss, count * val.accuracy, count], run.processes)
    return EvalResult(loss=float(total / count), accuracy=float(correct / count), count=int(count))


def full_epoch(run: TrainingRun, epoch: int) -> EpochMetrics:
    """Train one epoch, then validate, step a per-epoch schedule and record the metrics."""
    train_loss, train_accuracy = train_epoch(run, epoch)
    val = None
    if run.val_loader is not None:
        val = validate(run)
    if run.scheduler is not None:
        run.scheduler.after_epoch(val.loss if val else train_loss)
    seconds = run.position.seconds()  # a continued epoch counts its time before the stop too
    return EpochMetrics(epoch + 1, "full", train_loss, val.loss if val else None, val.accuracy if val else None,
                        run.position.learning_rate, seconds, len(run.train_loader.dataset) / seconds, train_accuracy,
                        val_mae=val.mae if val else None, val_pearson=val.pearson if val else None)


def record_epoch(run: TrainingRun, metrics: EpochMetrics) -> bool:
    """Log and plot a full epoch; True when early stopping says to stop now."""
    run.history.append(metrics)
    log.info(metrics.line(run.settings.epochs))
    run.report_epochs(run.history)
    run.curves.add_epoch(asdict(metrics))
    run.tracker.epoch(metrics)
    run.progress.show(run.curves.preview())
    return run.stopping.update(metrics.epoch, getattr(metrics, run.stopping.metric), run.network)


def frozen_phase(run: TrainingRun) -> None:
    """The head-only epochs; early stopping judges the head they leave (the last frozen epoch)."""
    frozen = train_head_on_frozen_features(run)
    run.history += frozen
    for metrics in frozen:
        run.curves.add_epoch(asdict(metrics))
        run.tracker.epoch(metrics)
    run.stopping.update(frozen[-1].epoch, getattr(frozen[-1], run.stopping.metric), run.network)
    run.position.epochs_done = run.epochs_done = run.settings.frozen_epochs
    if run.checkpointer is not None and run.settings.checkpoint_every_epoch:
        run.checkpointer.write(run, "end of the frozen phase")


def start_full_phase(run: TrainingRun, resume_from: TextClassifier) -> None:
    """Build the schedule over the fine-tuning epochs (warmup starts when the encoder is unfrozen)."""
    if run.scheduler_spec is None:
        return
    full_epochs = run.settings.epochs - run.settings.frozen_epochs
    run.scheduler = run.scheduler_spec.build(run.optimizer, full_epochs * run.optimizer_steps_per_epoch,
                                             full_epochs)
    restore_scheduler_state(resume_from.resume_state, run.scheduler, run.scheduler_spec)
    apply_resumed_schedule(run)


def end_of_epoch(run: TrainingRun, metrics: EpochMetrics) -> bool:
    """Record the epoch and write its checkpoint; True when early stopping says to stop now."""
    stop = record_epoch(run, metrics)
    run.position.finish_epoch()
    if run.checkpointer is not None and run.settings.checkpoint_every_epoch:
        run.checkpointer.write(run, "end of epoch")
    return stop


def stopped(run: Optional[TrainingRun], error: BaseException) -> BaseException:
    """Cancel, out of memory or another error mid-run: checkpoint the last clean point, free the
    accelerator's memory; returns what to raise (the error itself, or the out-of-memory message)."""
    if run is None or isinstance(error, (UserInputError, TrainingDivergedError)):
        return error
    oom = is_out_of_memory(error)
    note = ""
    if run.checkpointer is not None:
        reason = "out of memory" if oom else "SIGTERM" if isinstance(error, Terminated) else "cancel or error"
        folder = run.checkpointer.after_failure(run, reason, agreed=isinstance(error, Terminated))
        if folder is not None:
            note = f" A checkpoint was written to {folder}; set resume latest on the trainer to continue."
    if isinstance(error, Terminated):
        where = f"after epoch {run.position.epochs_done + 1}, batch {run.position.batches_done}"
        kept = note or (" No checkpoint was written by this process (rank 0 writes under torchrun; checkpoints off "
                        "or no clean point yet): the last end-of-epoch checkpoint, if any, resumes the run.")
        return Terminated(f"stopped by SIGTERM {where}.{kept}")
    if not oom:
        return error
    where = f"epoch {run.position.epochs_done + 1}, batch {run.position.batches_done + 1}"
    message = out_of_memory_message(run.device, run.train_loader.batch_size,
                                    int(run.train_loader.token_lengths().max()), where,
                                    run.settings.gradient_checkpointing, note,
                                    has_lora=run.network.has_adapters,
                                    offer_bf16_weights=bf16_weights_would_help(run.network, run.device))
    traceback.clear_frames(error.__traceback__)  # the failed step's activations
    run.optimizer.state.clear()
    run.network.to("cpu")
    free_after_failure(run.device)
    log.error("%s", message)
    return DeviceOutOfMemoryError(message)


def finish_run(run: TrainingRun, model: TextClassifier, result: TrainResult) -> TrainResult:
    """Restore the best weights if asked, and wrap the trained network with what travels with it."""
    restored = run.stopping.restore(run.network, run.last_epoch)
    result.history, result.best_epoch = run.history, run.stopping.best_epoch
    result.restored_epoch = run.stopping.best_epoch if restored else None
    note = run.stopping.describe(restored)
    if note:
        result.notes.append(note)
        log.info(note)
    run.tracker.finish(result.restored_epoch or run.last_epoch)
    run.progress.show(run.curves.preview(force=True))
    disposable = None  # the run folder a Save node empties once it has saved this model
    if run.checkpointer is not None:
        disposable = run.checkpointer.finish(run.settings.keep_finished_checkpoints)
        result.notes.append(run.checkpointer.describe(removed_by_save=disposable is not None))
    run.network.eval()
    run.network.set_encoder_trainable(True)
    if run.settings.gradient_checkpointing:
        set_gradient_checkpointing(run.network, False)
    used, state = capture_training_state(run.optimizer, run.optimizer_spec, run.scheduler, run.scheduler_spec,
                                         run.loss_spec, run.settings, run.last_epoch)
    used["data"] = {"train": run.train_loader.dataset.source,
                    "validation": run.val_loader.dataset.source if run.val_loader is not None else None}
    state = replace(state, **saved_extras(run))
    if run.device.type != "cpu":
        run.network.to("cpu")  # give the accelerator back to the host's other models
    encoder = run.train_loader.dataset.encoder
    result.model = model.with_network(
        run.network, tokenizer=getattr(encoder, "tokenizer", None), max_length=getattr(encoder, "max_length", None),
        **long_text_settings(encoder),
        label_names=run.train_loader.dataset.label_names, problem_type=problem_type(model, run.loss_spec),
        text_pairs=run.train_loader.dataset.pairs,
        history=(list(model.history) if run.continues_model else []) + result.as_dicts(),
        training_settings=used, training_state=state, resume_state=None, checkpoint_run=disposable,
        calibration=None)
    return result


def long_text_settings(encoder: object) -> dict:
    """How the training encoder cut long texts or split them into windows (its defaults otherwise)."""
    if not getattr(encoder, "truncation", False):
        return {"truncation_rule": Truncation(), "windows": Windows()}
    return {"truncation_rule": getattr(encoder, "truncation_rule", None) or Truncation(),
            "windows": getattr(encoder, "windows", None) or Windows()}




def train_classifier(model: TextClassifier, train_loader: TextDataLoader, optimizer_spec: OptimizerSpec,
                     loss_spec: LossSpec, settings: TrainSettings, val_loader: Optional[TextDataLoader] = None,
                     scheduler_spec: Optional[SchedulerSpec] = None,
                     hooks: Optional[RuntimeHooks] = None) -> TrainResult:
    """Fine-tune a copy of `model`; see the module docstring for the order of things."""
    hooks = hooks or RuntimeHooks()
    settings.check(has_validation=val_loader is not None)
    train_loader, val_loader = aligned_loaders(model, train_loader, val_loader)
    check_ready(model, train_loader.dataset, val_loader.dataset if val_loader else None, loss_spec)
    check_stopping_metric(settings, loss_spec)
    if scheduler_spec is not None:
        check_warmup(scheduler_spec, settings, len(train_loader))
    loss_spec = resolve_auto_weights(loss_spec, train_loader.dataset, model.num_outputs)
    # Seeded dropout that leaves the caller's random generators as they were (CUDA ones too).
    cuda_devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.inference_mode(False), torch.enable_grad(), torch.random.fork_rng(devices=cuda_devices), \
            training_scope():
        torch.manual_seed(settings.seed)
        run = None
        try:
            run = start_run(model, train_loader, val_loader, optimizer_spec, loss_spec, scheduler_spec, settings,
                            hooks)
            result = TrainResult(model=model, device=str(run.device), precision=run.precision.name,
                                 planned_epochs=settings.epochs)
            return train_phases(run, model, result)
        except BaseException as error:
            raised = stopped(run, error)
            if raised is error:
                raise
            raise raised from None
        finally:
            if run is not None:
                run.tracker.close()  # flushes what a stopped run logged


def train_phases(run: TrainingRun, model: TextClassifier, result: TrainResult) -> TrainResult:
    """The frozen epochs (unless a resumed run is past them), then the full epochs."""
    settings = run.settings
    log.info("training %s on %s with %s precision: %d epochs (%d frozen), %d batches per epoch",
             model.model_name, run.device, run.precision.name, settings.epochs, settings.frozen_epochs,
             run.batches_per_epoch)
    if describe_weights(run.loss_spec):
        result.notes.append(f"loss weighting: {describe_weights(run.loss_spec)}")
    if describe_processes(run.processes, run.train_loader):
        result.notes.append(describe_processes(run.processes, run.train_loader))
    full_epochs = settings.epochs - settings.frozen_epochs
    short = short_run_note(run.optimizer_steps_per_epoch * full_epochs, full_epochs,
                           getattr(run.train_loader, "batch_size", None))
    if short and not run.epochs_done:
        log.info("%s", short)
        result.notes.append(short)
    if settings.frozen_epochs and not run.epochs_done:
        frozen_phase(run)
    start_full_phase(run, model)
    for epoch in range(max(settings.frozen_epochs, run.epochs_done), settings.epochs):
        if end_of_epoch(run, full_epoch(run, epoch)):
            log.info("early stopping after epoch %d", epoch + 1)
            break
    return finish_run(run, model, result)
