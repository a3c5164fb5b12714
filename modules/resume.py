"""What a trained model carries so that a saved copy can continue training where it stopped.

After training, the trainer records the optimizer's state (Adam moments, step
counts), the scheduler's position, the number of epochs done and the settings used
(`capture_training_state`). The Save node writes them; the Load node attaches them as
`resume_state`, and the next trainer continues from there: `epochs` counts the whole
run, as in Hugging Face's Trainer, so a model saved after 2 epochs and trained with
epochs 4 runs epochs 3 and 4 with its optimizer state restored. Learning rate and the
other optimizer settings come from the optimizer node, so they can be changed on resume.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any, Optional

import torch

from .errors import UserInputError

log = logging.getLogger(__name__)


@dataclass
class TrainingState:
    """Optimizer and scheduler state after `epochs_done` epochs (tensors on the CPU).
    Never changed once captured, so copies of a model share it instead of duplicating it."""

    epochs_done: int
    optimizer_kind: str
    optimizer: dict
    scheduler_kind: Optional[str] = None
    scheduler: Optional[dict] = None
    freeze_pretrained_module_epochs: int = 0

    def __deepcopy__(self, memo: dict) -> "TrainingState":
        return self

    def to_file_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_file_dict(cls, data: dict) -> "TrainingState":
        return cls(**data)


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    """Settings as JSON-able values."""
    if is_dataclass(value):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def capture_training_state(trained: torch.nn.Module, optimizer: torch.optim.Optimizer, optimizer_spec: Any,
                           scheduler: Any, scheduler_spec: Any, loss_spec: Any, settings: Any,
                           epochs_done: int) -> None:
    """Attach to the trained model what Save writes: settings, problem type and resumable state."""
    trained.training_settings = {"train": _plain(settings), "optimizer": _plain(optimizer_spec),
                                 "loss": _plain(loss_spec),
                                 "lr_scheduler": _plain(scheduler_spec) if scheduler_spec else None,
                                 "epochs_done": epochs_done}
    inner = getattr(scheduler, "scheduler", None)
    trained.training_state = TrainingState(
        epochs_done=epochs_done, optimizer_kind=optimizer_spec.kind, optimizer=_to_cpu(optimizer.state_dict()),
        scheduler_kind=scheduler_spec.kind if scheduler_spec else None,
        scheduler=_to_cpu(inner.state_dict()) if inner is not None else None,
        freeze_pretrained_module_epochs=settings.freeze_pretrained_module_epochs)
    trained.resume_state = None


def resume_epochs(model: torch.nn.Module, settings: Any) -> int:
    """Epochs already done by a model loaded to resume (0 for a fresh run); checks `epochs` goes beyond."""
    state: Optional[TrainingState] = getattr(model, "resume_state", None)
    if state is None:
        return 0
    done = state.epochs_done
    if settings.epochs <= done:
        raise UserInputError(
            f"the loaded model was saved after {done} epochs and resumes from there, so epochs {settings.epochs} "
            f"leaves nothing to train; set epochs above {done} (it counts the whole run), or turn "
            "restore_training_state off on the Load node to start a new run"
        )
    if done < settings.freeze_pretrained_module_epochs:
        raise UserInputError(
            f"the loaded model was saved after {done} epochs, inside its frozen phase of "
            f"{settings.freeze_pretrained_module_epochs} epochs; resume with freeze_pretrained_module_epochs {done} "
            "or less, or turn restore_training_state off on the Load node"
        )
    log.info("resuming after epoch %d with the saved optimizer state", done)
    return done


def _trainable_copy(value: Any) -> Any:
    """Loaded tensors may be inference-mode tensors, which the optimizer cannot update in place."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {k: _trainable_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trainable_copy(v) for v in value]
    return value


def restore_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, optimizer_spec: Any) -> None:
    """Load saved moments and step counts; keep the learning rate and settings of the optimizer node."""
    state: Optional[TrainingState] = getattr(model, "resume_state", None)
    if state is None:
        return
    if state.optimizer_kind != optimizer_spec.kind:
        raise UserInputError(
            f"the loaded model's optimizer state is from {state.optimizer_kind}, but the optimizer node is "
            f"{optimizer_spec.kind}; use {state.optimizer_kind} to resume, or turn restore_training_state off on "
            "the Load node"
        )
    chosen = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    try:
        optimizer.load_state_dict(_trainable_copy(state.optimizer))
    except (ValueError, KeyError, RuntimeError) as exc:
        raise UserInputError(
            f"the saved optimizer state does not fit this model's parameters ({exc}); resume only a model "
            "loaded from the folder that holds the state, or turn restore_training_state off on the Load node"
        ) from exc
    for group, settings in zip(optimizer.param_groups, chosen):
        group.pop("initial_lr", None)
        group.update(settings)


def restore_scheduler_state(model: torch.nn.Module, scheduler: Any, scheduler_spec: Any,
                            optimizer: torch.optim.Optimizer) -> None:
    """Continue the saved schedule (same kind) from the step it reached, as Hugging Face's Trainer
    does: the schedule spans this run's whole length, and its peak is the optimizer node's rate."""
    state: Optional[TrainingState] = getattr(model, "resume_state", None)
    if state is None or scheduler is None or state.scheduler is None:
        return
    if state.scheduler_kind != scheduler_spec.kind:
        log.warning("the saved schedule was %s, now %s: the new schedule starts from its beginning",
                    state.scheduler_kind, scheduler_spec.kind)
        return
    inner, saved = scheduler.scheduler, state.scheduler
    if not hasattr(inner, "last_epoch"):  # ReduceLROnPlateau: its reductions and patience are its state
        inner.load_state_dict(_trainable_copy(saved))
    else:  # only the position: length and peak rate are this run's (a longer run stretches the schedule)
        inner.last_epoch = int(saved["last_epoch"])
        inner._step_count = int(saved.get("_step_count", inner.last_epoch + 1))
    if hasattr(inner, "lr_lambdas"):  # warmup/decay recipes (transformers.get_scheduler)
        rates = [base * fn(inner.last_epoch) for base, fn in zip(inner.base_lrs, inner.lr_lambdas)]
    elif hasattr(inner, "_get_closed_form_lr"):  # StepLR, CosineAnnealingLR
        rates = inner._get_closed_form_lr()
    else:  # ReduceLROnPlateau: its reductions are its state
        rates = list(getattr(inner, "_last_lr", [group["lr"] for group in optimizer.param_groups]))
    for group, rate in zip(optimizer.param_groups, rates):
        group["lr"] = rate
    inner._last_lr = [group["lr"] for group in optimizer.param_groups]
