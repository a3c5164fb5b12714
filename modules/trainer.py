"""Fine-tune a classifier: one readable loop, with an optional frozen-encoder phase first.

The input model is never changed: ComfyUI hands the same cached object to every
queue run, so training works on a copy and the same seed gives the same metrics.
Around the loop: labels are aligned to one set of names, "auto" loss weights are
computed from the training labels, early stopping may end training and restore the
best epoch, and a live loss/accuracy plot is offered to hosts that show previews.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Optional

import torch

from .classification_model import HfEncoderClassifier
from .compatibility import align_for_model, check_ready, problem_type
from .data_loader import TextDataLoader
from .early_stopping import EarlyStopping
from .errors import TrainingDivergedError, UserInputError
from .evaluation import batch_loss_sum, count_hits, evaluate, move_batch, predictions_from_logits
from .frozen_phase import train_head_on_frozen_features
from .live_curves import LiveCurves
from .losses import LossSpec, describe_weights, resolve_auto_weights
from .optimizers import OptimizerSpec, check_learning_rate, parameter_groups
from .precision import Precision, choose_precision
from .resume import (capture_training_state, restore_optimizer_state, restore_scheduler_state,
                     resume_epochs)
from .runtime import RuntimeHooks, resolve_device
from .schedulers import SchedulerSpec

log = logging.getLogger(__name__)


@dataclass
class TrainSettings:
    epochs: int = 2
    freeze_pretrained_module_epochs: int = 0
    frozen_head_learning_rate: float = 1e-3
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 1.0
    log_every: int = 10
    early_stopping_patience: int = 0  # epochs without improvement before stopping; 0 = off
    early_stopping_metric: str = "val_loss"  # or "val_accuracy"
    early_stopping_min_delta: float = 0.0
    restore_best_weights: bool = False  # end with the weights of the best validation epoch
    live_plot_interval_s: float = 10.0  # least seconds between live plot previews; 0 = none

    def early_stopping(self) -> EarlyStopping:
        return EarlyStopping(self.early_stopping_metric, self.early_stopping_patience,
                             self.early_stopping_min_delta, self.restore_best_weights)

    def check(self, has_validation: bool = True) -> None:
        if self.epochs < 1:
            raise UserInputError(f"epochs {self.epochs} must be at least 1")
        if self.freeze_pretrained_module_epochs < 0:
            raise UserInputError(f"freeze_pretrained_module_epochs {self.freeze_pretrained_module_epochs} is negative; use 0 or more")
        if self.freeze_pretrained_module_epochs >= self.epochs:
            raise UserInputError(
                f"freeze_pretrained_module_epochs {self.freeze_pretrained_module_epochs} must be less than epochs "
                f"{self.epochs}, or the encoder is never fine-tuned; e.g. 1 frozen epoch with epochs 4"
            )
        if self.freeze_pretrained_module_epochs:
            check_learning_rate(self.frozen_head_learning_rate)
        if self.gradient_accumulation_steps < 1:
            raise UserInputError(f"gradient_accumulation_steps {self.gradient_accumulation_steps} must be at least 1")
        if self.max_grad_norm < 0:
            raise UserInputError(f"max_grad_norm {self.max_grad_norm} is negative; use 0 to turn clipping off")
        stopping = self.early_stopping()  # checks its own values
        if stopping.active and not has_validation:
            what = "early_stopping_patience" if self.early_stopping_patience else "restore_best_weights"
            raise UserInputError(
                f"{what} needs a val_loader to measure {self.early_stopping_metric} after each epoch; connect one "
                "(e.g. from Ptv Train Validation Split), or set early_stopping_patience 0 and restore_best_weights off"
            )


@dataclass
class EpochMetrics:
    epoch: int
    phase: str  # "frozen" (head only) or "full"
    train_loss: float
    val_loss: Optional[float]
    val_accuracy: Optional[float]
    learning_rate: float
    seconds: float
    samples_per_second: float
    train_accuracy: Optional[float] = None  # running accuracy during the epoch (dropout on)

    def line(self, epochs: int) -> str:
        val = "" if self.val_loss is None else f", val loss {self.val_loss:.4f}, val accuracy {self.val_accuracy:.2%}"
        return (f"epoch {self.epoch}/{epochs} [{self.phase}]: train loss {self.train_loss:.4f}{val} "
                f"({self.seconds:.1f} s, {self.samples_per_second:.1f} samples/s)")


@dataclass
class TrainResult:
    model: HfEncoderClassifier
    history: list[EpochMetrics] = field(default_factory=list)
    device: str = "cpu"
    precision: str = "fp32"
    notes: list[str] = field(default_factory=list)  # loss weights, early stopping, restored epoch
    best_epoch: Optional[int] = None
    restored_epoch: Optional[int] = None  # set when the best epoch's weights were restored
    planned_epochs: int = 0  # the epochs asked for (early stopping may run fewer)

    @property
    def final(self) -> EpochMetrics:
        """Metrics of the epoch whose weights the returned model holds (the last, or the restored best)."""
        if self.restored_epoch is not None:
            return next(m for m in self.history if m.epoch == self.restored_epoch)
        return self.history[-1]

    def summary(self) -> str:
        epochs = self.planned_epochs or (self.history[-1].epoch if self.history else 0)
        head = f"trained on {self.device} ({self.precision})"
        return "\n".join([head] + [m.line(epochs) for m in self.history] + self.notes)

    def as_dicts(self) -> list[dict]:
        return [asdict(m) for m in self.history]


class _StepCounter:
    """Progress over all phases, with Cancel checked every step."""

    def __init__(self, hooks: RuntimeHooks, total: int) -> None:
        self.hooks, self.total, self.done = hooks, total, 0

    def step(self, preview: Optional[Any] = None) -> None:
        self.hooks.check_interrupted()
        self.done += 1
        self.hooks.progress(self.done, self.total, preview)


def ensure_finite(value: float, where: str, lr: float) -> None:
    if not math.isfinite(value):
        raise TrainingDivergedError(
            f"training stopped at {where}: the loss became {value}. Lower the learning rate (now {lr:g}), "
            "keep max_grad_norm at 1.0, or use precision fp32. Your input model is unchanged."
        )


def copy_for_training(model: HfEncoderClassifier, device: torch.device) -> HfEncoderClassifier:
    """A trainable deep copy: the cached input stays as it was, and tensors created
    under ComfyUI's inference mode become ordinary tensors that autograd accepts."""
    with torch.no_grad():
        trained = copy.deepcopy(model)
        for module in trained.modules():
            for name, tensor in list(module.named_parameters(recurse=False)):
                if tensor.is_inference():
                    setattr(module, name, torch.nn.Parameter(tensor.clone(), requires_grad=tensor.requires_grad))
            for name, tensor in list(module.named_buffers(recurse=False)):
                if tensor is not None and tensor.is_inference():
                    module._buffers[name] = tensor.clone()
    trained.set_encoder_trainable(True)
    for param in trained.head.parameters():
        param.requires_grad_(True)
    return trained.to(device)


def _optimizer_step(optimizer, scaler, model, settings: TrainSettings) -> None:
    if settings.max_grad_norm > 0:
        if scaler is not None:
            scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], settings.max_grad_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _full_epoch(model, loader, epoch, loss_spec, loss_fn, optimizer, scheduler, scaler, precision: Precision,
                device, settings: TrainSettings, counter: _StepCounter, curves: LiveCurves) -> tuple[float, float]:
    """One pass over the training data updating every parameter; returns mean loss and accuracy."""
    model.train()
    accumulate = settings.gradient_accumulation_steps
    running = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.float64)
    seen = 0
    window_start = (0.0, 0)  # running loss and rows at the last log, for the live plot
    batches = len(loader)
    for step, batch in enumerate(loader.batches(epoch)):
        batch = move_batch(batch, device)
        labels = batch.pop("labels")
        with precision.autocast():
            logits = model(**batch)
        loss = loss_fn(*loss_spec.targets(labels, logits.float()))
        scaled = loss / accumulate
        (scaler.scale(scaled) if scaler is not None else scaled).backward()
        running += batch_loss_sum(loss, loss_spec, labels.shape[0])
        correct += count_hits(predictions_from_logits(logits.detach(), loss_spec), labels)
        seen += labels.shape[0]
        if (step + 1) % accumulate == 0 or step + 1 == batches:
            _optimizer_step(optimizer, scaler, model, settings)
            if scheduler is not None:
                scheduler.after_optimizer_step()
        preview = None
        if (step + 1) % settings.log_every == 0:  # the only host sync inside the loop
            total = float(running)
            mean = total / seen
            ensure_finite(mean, f"epoch {epoch + 1}, step {step + 1}", optimizer.param_groups[0]["lr"])
            log.info("epoch %d step %d/%d: train loss %.4f", epoch + 1, step + 1, batches, mean)
            curves.add_step_loss(epoch + (step + 1) / batches, (total - window_start[0]) / (seen - window_start[1]))
            window_start = (total, seen)
            preview = curves.preview()
        counter.step(preview)
    mean = float(running) / max(seen, 1)
    ensure_finite(mean, f"the end of epoch {epoch + 1}", optimizer.param_groups[0]["lr"])
    return mean, float(correct) / max(seen, 1)


def _aligned_loaders(model: HfEncoderClassifier, train_loader: TextDataLoader,
                     val_loader: Optional[TextDataLoader]) -> tuple[TextDataLoader, Optional[TextDataLoader]]:
    """Loaders whose labels use one numbering: the model's label names when it has them
    (continued training), else the training data's, which the trained model adopts."""
    names = getattr(model, "label_names", None) or train_loader.dataset.label_names
    train = align_for_model(model, train_loader.dataset, "training", names)
    if train is not train_loader.dataset:
        train_loader = replace(train_loader, dataset=train)
    if val_loader is not None:
        val = align_for_model(model, val_loader.dataset, "validation", train.label_names)
        if val is not val_loader.dataset:
            val_loader = replace(val_loader, dataset=val)
    return train_loader, val_loader


def _previews_wanted(hooks: RuntimeHooks) -> bool:
    return bool(getattr(hooks, "wants_previews", False))


def train_classifier(model: HfEncoderClassifier, train_loader: TextDataLoader, optimizer_spec: OptimizerSpec,
                     loss_spec: LossSpec, settings: TrainSettings, val_loader: Optional[TextDataLoader] = None,
                     scheduler_spec: Optional[SchedulerSpec] = None,
                     hooks: Optional[RuntimeHooks] = None) -> TrainResult:
    hooks = hooks or RuntimeHooks()
    settings.check(has_validation=val_loader is not None)
    train_loader, val_loader = _aligned_loaders(model, train_loader, val_loader)
    check_ready(model, train_loader.dataset, val_loader.dataset if val_loader else None, loss_spec)
    loss_spec = resolve_auto_weights(loss_spec, train_loader.dataset, model.num_outputs)
    device = resolve_device(settings.device, hooks)
    precision = choose_precision(settings.precision, device)
    hooks.prepare_for_training(device)
    frozen = settings.freeze_pretrained_module_epochs
    done = resume_epochs(model, settings)  # epochs a loaded model already trained (resume), else 0
    log.info("training %s on %s with %s precision: %d epochs (%d frozen), %d batches per epoch",
             model.model_name, device, precision.name, settings.epochs, frozen, len(train_loader))
    stopping = settings.early_stopping()
    curves = LiveCurves(_previews_wanted(hooks), settings.live_plot_interval_s, title=model.model_name)

    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.inference_mode(False), torch.enable_grad(), torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(settings.seed)
        trained = copy_for_training(model, device)
        trained.tokenizer = getattr(train_loader.dataset.encoder, "tokenizer", None)
        trained.max_length = getattr(train_loader.dataset.encoder, "max_length", None)
        trained.label_names = train_loader.dataset.label_names
        trained.problem_type = problem_type(trained, loss_spec)
        optimizer = optimizer_spec.build(parameter_groups(trained.encoder, trained.head), device)
        restore_optimizer_state(model, optimizer, optimizer_spec)
        loss_fn = loss_spec.build(device)
        scaler = precision.grad_scaler()
        result = TrainResult(model=trained, device=str(device), precision=precision.name,
                             planned_epochs=settings.epochs)
        weights = describe_weights(loss_spec)
        if weights:
            result.notes.append(f"loss weighting: {weights}")

        full_epochs = settings.epochs - frozen
        val_batches = len(val_loader) if val_loader else 0
        feature_batches = (len(train_loader) + val_batches) if frozen and not done else 0
        counter = _StepCounter(hooks, feature_batches + (0 if done else frozen) * len(train_loader)
                               + (settings.epochs - max(frozen, done)) * (len(train_loader) + val_batches))

        if frozen and not done:
            result.history += train_head_on_frozen_features(
                trained, train_loader, val_loader, optimizer, loss_spec, loss_fn, precision, device,
                settings, counter, total_epochs=settings.epochs)
            for metrics in result.history:
                curves.add_epoch(asdict(metrics))
            last = result.history[-1]
            stopping.update(last.epoch, getattr(last, stopping.metric), trained)

        optimizer_steps = full_epochs * math.ceil(len(train_loader) / settings.gradient_accumulation_steps)
        scheduler = scheduler_spec.build(optimizer, optimizer_steps, full_epochs) if scheduler_spec else None
        restore_scheduler_state(model, scheduler, scheduler_spec, optimizer)
        for epoch in range(max(frozen, done), settings.epochs):
            started = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            train_loss, train_accuracy = _full_epoch(trained, train_loader, epoch, loss_spec, loss_fn, optimizer,
                                                     scheduler, scaler, precision, device, settings, counter, curves)
            val = None
            if val_loader is not None:
                val = evaluate(trained, val_loader, loss_spec, device, precision, on_batch=counter.step)
            if scheduler is not None:
                scheduler.after_epoch(val.loss if val else train_loss)
            seconds = time.perf_counter() - started
            metrics = EpochMetrics(epoch + 1, "full", train_loss, val.loss if val else None,
                                   val.accuracy if val else None, lr, seconds, len(train_loader.dataset) / seconds,
                                   train_accuracy)
            result.history.append(metrics)
            log.info(metrics.line(settings.epochs))
            curves.add_epoch(asdict(metrics))
            hooks.progress(counter.done, counter.total, curves.preview())
            if stopping.update(metrics.epoch, getattr(metrics, stopping.metric), trained):
                log.info("early stopping after epoch %d", metrics.epoch)
                break

        restored = stopping.restore(trained, result.history[-1].epoch if result.history else done)
        result.best_epoch = stopping.best_epoch
        result.restored_epoch = stopping.best_epoch if restored else None
        note = stopping.describe(restored)
        if note:
            result.notes.append(note)
            log.info(note)
        hooks.progress(counter.total, counter.total, curves.preview(force=True))
        trained.eval()
        trained.set_encoder_trainable(True)
        trained.history = (list(model.history) if done else []) + result.as_dicts()
        trained.restored_epoch = result.restored_epoch  # the history row the weights belong to, when not the last
        capture_training_state(trained, optimizer, optimizer_spec, scheduler, scheduler_spec, loss_spec, settings,
                               result.history[-1].epoch if result.history else done)
        if device.type != "cpu":
            trained.to("cpu")  # give the accelerator back to the host's other models
    return result
