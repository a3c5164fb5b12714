"""Fine-tune a classifier: one loop to read top to bottom, with an optional frozen-encoder phase first.

The input classifier is never changed: ComfyUI hands the same cached object to every
queue run, so training works on a copy and the same seed gives the same metrics.
Before the loop: labels are aligned to one set of names, data, model and loss are
checked to fit, "auto" loss weights are computed from the training labels, and the
run's state is built once (run.py). Then: the frozen epochs (head only, on cached
features), the full epochs (every parameter), and early stopping that may end
training and restore the best epoch's weights.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, replace
from typing import Optional

import torch

from ..data.batching import TextDataLoader
from ..host import RuntimeHooks, resolve_device
from ..model.classifier import TextClassifier
from ..precision import choose_precision
from .eval_pass import batch_loss_sum, count_hits, evaluate, move_batch, predictions_from_logits
from .fit_checks import align_for_model, check_label_sets, check_ready, problem_type
from .frozen_phase import train_head_on_frozen_features
from .live_curves import LiveCurves
from .losses import LossSpec, describe_weights, resolve_auto_weights
from .optimizers import OptimizerSpec
from .resume import capture_training_state, restore_optimizer_state, restore_scheduler_state, resume_epochs
from .run import Progress, TrainingRun, build_optimizer, progress_total, trainable_copy
from .schedulers import SchedulerSpec
from .settings import EpochMetrics, TrainResult, TrainSettings

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


def start_run(model: TextClassifier, train_loader: TextDataLoader, val_loader: Optional[TextDataLoader],
              optimizer_spec: OptimizerSpec, loss_spec: LossSpec, scheduler_spec: Optional[SchedulerSpec],
              settings: TrainSettings, hooks: RuntimeHooks) -> TrainingRun:
    """Build the run's state (inside the caller's grad-enabled, seeded scope)."""
    device = resolve_device(settings.device, hooks)
    precision = choose_precision(settings.precision, device)
    done = resume_epochs(model, settings)
    hooks.prepare_for_training(device)
    network = trainable_copy(model.network, device)
    optimizer = build_optimizer(network, optimizer_spec, device)
    restore_optimizer_state(model.resume_state, optimizer, optimizer_spec)
    val_batches = len(val_loader) if val_loader is not None else 0
    return TrainingRun(
        network=network, settings=settings, train_loader=train_loader, val_loader=val_loader,
        loss_spec=loss_spec, loss_fn=loss_spec.build(device), optimizer=optimizer, optimizer_spec=optimizer_spec,
        scheduler_spec=scheduler_spec, scaler=precision.grad_scaler(), precision=precision, device=device,
        progress=Progress(hooks, progress_total(settings, len(train_loader), val_batches, done)),
        curves=LiveCurves(hooks, settings.live_plot_interval_s, title=model.model_name),
        stopping=settings.early_stopping(), epochs_done=done)


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


def train_step(run: TrainingRun, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Forward and backward for one batch; returns its loss sum and hits (on the device) and its size."""
    batch = move_batch(batch, run.device)
    labels = batch.pop("labels")
    with run.precision.autocast():
        logits = run.network(**batch)
    loss = run.loss_fn(*run.loss_spec.targets(labels, logits.float()))
    scaled = loss / run.settings.gradient_accumulation_steps
    (run.scaler.scale(scaled) if run.scaler is not None else scaled).backward()
    hits = count_hits(predictions_from_logits(logits.detach(), run.loss_spec), labels)
    return batch_loss_sum(loss, run.loss_spec, labels.shape[0]), hits, labels.shape[0]


def train_epoch(run: TrainingRun, epoch: int) -> tuple[float, float]:
    """One pass over the training data updating every parameter; returns mean loss and accuracy."""
    run.network.train()
    accumulate, batches = run.settings.gradient_accumulation_steps, len(run.train_loader)
    running = torch.zeros((), device=run.device, dtype=torch.float64)
    correct = torch.zeros((), device=run.device, dtype=torch.float64)
    seen, logged = 0, (0.0, 0)  # rows so far; running loss and rows at the last log (live plot)
    for step, batch in enumerate(run.train_loader.batches(epoch)):
        loss_sum, hits, size = train_step(run, batch)
        running += loss_sum
        correct += hits
        seen += size
        if (step + 1) % accumulate == 0 or step + 1 == batches:
            optimizer_step(run)
        preview = None
        if run.guard.start is None:  # the run's starting loss: one host sync per run
            run.guard.check(float(loss_sum) / size, f"epoch {epoch + 1}, step 1", run.learning_rate)
        if (step + 1) % run.settings.log_every == 0:  # the only host sync inside the loop
            total = float(running)
            window = (total - logged[0]) / (seen - logged[1])
            run.guard.check(window, f"epoch {epoch + 1}, step {step + 1}", run.learning_rate)
            log.info("epoch %d step %d/%d: train loss %.4f", epoch + 1, step + 1, batches, total / seen)
            run.curves.add_step_loss(epoch + (step + 1) / batches, window)
            logged = (total, seen)
            preview = run.curves.preview()
        run.progress.step(preview)
    mean = float(running) / max(seen, 1)
    run.guard.check(mean, f"the end of epoch {epoch + 1}", run.learning_rate)
    return mean, float(correct) / max(seen, 1)


def full_epoch(run: TrainingRun, epoch: int) -> EpochMetrics:
    """Train one epoch, then validate, step a per-epoch schedule and record the metrics."""
    started, lr = time.perf_counter(), run.learning_rate
    train_loss, train_accuracy = train_epoch(run, epoch)
    val = None
    if run.val_loader is not None:
        val = evaluate(run.network, run.val_loader, run.loss_spec, run.device, run.precision,
                       on_batch=run.progress.step)
    if run.scheduler is not None:
        run.scheduler.after_epoch(val.loss if val else train_loss)
    seconds = time.perf_counter() - started
    return EpochMetrics(epoch + 1, "full", train_loss, val.loss if val else None, val.accuracy if val else None,
                        lr, seconds, len(run.train_loader.dataset) / seconds, train_accuracy)


def record_epoch(run: TrainingRun, metrics: EpochMetrics) -> bool:
    """Log and plot a full epoch; True when early stopping says to stop now."""
    run.history.append(metrics)
    log.info(metrics.line(run.settings.epochs))
    run.curves.add_epoch(asdict(metrics))
    run.progress.show(run.curves.preview())
    return run.stopping.update(metrics.epoch, getattr(metrics, run.stopping.metric), run.network)


def frozen_phase(run: TrainingRun) -> None:
    """The head-only epochs; early stopping judges the head they leave (the last frozen epoch)."""
    frozen = train_head_on_frozen_features(run)
    run.history += frozen
    for metrics in frozen:
        run.curves.add_epoch(asdict(metrics))
    run.stopping.update(frozen[-1].epoch, getattr(frozen[-1], run.stopping.metric), run.network)


def start_full_phase(run: TrainingRun, resume_from: TextClassifier) -> None:
    """Build the schedule over the fine-tuning epochs (warmup starts when the encoder is unfrozen)."""
    if run.scheduler_spec is None:
        return
    full_epochs = run.settings.epochs - run.settings.frozen_epochs
    run.scheduler = run.scheduler_spec.build(run.optimizer, full_epochs * run.optimizer_steps_per_epoch,
                                             full_epochs)
    restore_scheduler_state(resume_from.resume_state, run.scheduler, run.scheduler_spec)


def finish_run(run: TrainingRun, model: TextClassifier, result: TrainResult) -> TrainResult:
    """Restore the best weights if asked, and wrap the trained network with what travels with it."""
    restored = run.stopping.restore(run.network, run.last_epoch)
    result.history, result.best_epoch = run.history, run.stopping.best_epoch
    result.restored_epoch = run.stopping.best_epoch if restored else None
    note = run.stopping.describe(restored)
    if note:
        result.notes.append(note)
        log.info(note)
    run.progress.show(run.curves.preview(force=True))
    run.network.eval()
    run.network.set_encoder_trainable(True)
    used, state = capture_training_state(run.optimizer, run.optimizer_spec, run.scheduler, run.scheduler_spec,
                                         run.loss_spec, run.settings, run.last_epoch)
    used["data"] = {"train": run.train_loader.dataset.source,
                    "validation": run.val_loader.dataset.source if run.val_loader is not None else None}
    if run.device.type != "cpu":
        run.network.to("cpu")  # give the accelerator back to the host's other models
    encoder = run.train_loader.dataset.encoder
    result.model = model.with_network(
        run.network, tokenizer=getattr(encoder, "tokenizer", None), max_length=getattr(encoder, "max_length", None),
        label_names=run.train_loader.dataset.label_names, problem_type=problem_type(model, run.loss_spec),
        history=(list(model.history) if run.epochs_done else []) + result.as_dicts(),
        training_settings=used, training_state=state, resume_state=None)
    return result


def check_warmup(spec: SchedulerSpec, settings: TrainSettings, batches: int) -> None:
    """Refuse a warmup longer than the fine-tuning phase once its step count is known."""
    full_epochs = settings.epochs - settings.frozen_epochs
    accumulate = settings.gradient_accumulation_steps
    steps = full_epochs * -(-batches // accumulate)
    how = f"{full_epochs} fine-tuning epoch{'s' if full_epochs != 1 else ''} x {batches} batches"
    spec.check_fits(steps, how + (f" / gradient_accumulation_steps {accumulate}" if accumulate > 1 else ""))


def train_classifier(model: TextClassifier, train_loader: TextDataLoader, optimizer_spec: OptimizerSpec,
                     loss_spec: LossSpec, settings: TrainSettings, val_loader: Optional[TextDataLoader] = None,
                     scheduler_spec: Optional[SchedulerSpec] = None,
                     hooks: Optional[RuntimeHooks] = None) -> TrainResult:
    hooks = hooks or RuntimeHooks()
    settings.check(has_validation=val_loader is not None)
    train_loader, val_loader = aligned_loaders(model, train_loader, val_loader)
    check_ready(model, train_loader.dataset, val_loader.dataset if val_loader else None, loss_spec)
    if scheduler_spec is not None:
        check_warmup(scheduler_spec, settings, len(train_loader))
    loss_spec = resolve_auto_weights(loss_spec, train_loader.dataset, model.num_outputs)
    # Seeded dropout that leaves the caller's random generators as they were (CUDA ones too).
    cuda_devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.inference_mode(False), torch.enable_grad(), torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(settings.seed)
        run = start_run(model, train_loader, val_loader, optimizer_spec, loss_spec, scheduler_spec, settings, hooks)
        log.info("training %s on %s with %s precision: %d epochs (%d frozen), %d batches per epoch",
                 model.model_name, run.device, run.precision.name, settings.epochs, settings.frozen_epochs,
                 len(train_loader))
        result = TrainResult(model=model, device=str(run.device), precision=run.precision.name,
                             planned_epochs=settings.epochs)
        if describe_weights(loss_spec):
            result.notes.append(f"loss weighting: {describe_weights(loss_spec)}")

        if settings.frozen_epochs and not run.epochs_done:
            frozen_phase(run)
        start_full_phase(run, model)
        for epoch in range(max(settings.frozen_epochs, run.epochs_done), settings.epochs):
            if record_epoch(run, full_epoch(run, epoch)):
                log.info("early stopping after epoch %d", epoch + 1)
                break
        return finish_run(run, model, result)
