"""What a trained model carries so that a saved copy can continue training where it stopped.

After training, the trainer records the optimizer's state (Adam moments, step
counts), the scheduler's position, the number of epochs done and the settings used
(`capture_training_state`). The Save node writes them; the Load node puts them in the
classifier's `resume_state`, and the next trainer continues from there: `epochs` counts the whole
run, as in Hugging Face's Trainer, so a model saved after 2 epochs and trained with
epochs 4 runs epochs 3 and 4 with its optimizer state restored. Learning rate and the
other optimizer settings come from the optimizer node, so they can be changed on resume.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, is_dataclass
from typing import Any, Optional

import torch

from ..errors import UserInputError
from ..model.classifier import TextClassifier, TrainingState
from ..node_names import LOAD_NODE
from .schedulers import BuiltScheduler

log = logging.getLogger(__name__)


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


def capture_training_state(optimizer: torch.optim.Optimizer, optimizer_spec: Any, scheduler: Optional[BuiltScheduler],
                           scheduler_spec: Any, loss_spec: Any, settings: Any,
                           epochs_done: int) -> tuple[dict, TrainingState]:
    """What Save writes after a run: the settings used (JSON) and the resumable state."""
    used = {"train": _plain(settings), "optimizer": _plain(optimizer_spec), "loss": _plain(loss_spec),
            "lr_scheduler": _plain(scheduler_spec) if scheduler_spec else None, "epochs_done": epochs_done}
    state = TrainingState(
        epochs_done=epochs_done, optimizer_kind=optimizer_spec.kind, optimizer=_to_cpu(optimizer.state_dict()),
        scheduler_kind=scheduler_spec.kind if scheduler_spec else None,
        scheduler=_to_cpu(scheduler.scheduler.state_dict()) if scheduler is not None else None,
        freeze_pretrained_module_epochs=settings.freeze_pretrained_module_epochs)
    return used, state


def resume_epochs(model: TextClassifier, settings: Any) -> int:
    """Epochs already done by a model loaded to resume (0 for a fresh run); checks `epochs` goes beyond."""
    state = model.resume_state
    if state is None:
        return 0
    done = state.epochs_done
    if settings.epochs <= done:
        raise UserInputError(
            f"the loaded model was saved after {done} epochs and resumes from there, so epochs {settings.epochs} "
            f"leaves nothing to train; set epochs above {done} (it counts the whole run), or turn "
            f"restore_training_state off on the {LOAD_NODE} node to start a new run"
        )
    if done < settings.freeze_pretrained_module_epochs:
        raise UserInputError(
            f"the loaded model was saved after {done} epochs, inside its frozen phase of "
            f"{settings.freeze_pretrained_module_epochs} epochs; resume with freeze_pretrained_module_epochs {done} "
            f"or less, or turn restore_training_state off on the {LOAD_NODE} node"
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


def restore_optimizer_state(state: Optional[TrainingState], optimizer: torch.optim.Optimizer,
                            optimizer_spec: Any) -> None:
    """Load saved moments and step counts; keep the learning rate and settings of the optimizer node."""
    if state is None:
        return
    if state.optimizer_kind != optimizer_spec.kind:
        raise UserInputError(
            f"the loaded model's optimizer state is from {state.optimizer_kind}, but the optimizer node is "
            f"{optimizer_spec.kind}; use {state.optimizer_kind} to resume, or turn restore_training_state off on "
            f"the {LOAD_NODE} node"
        )
    chosen = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    try:
        optimizer.load_state_dict(_trainable_copy(state.optimizer))
    except (ValueError, KeyError, RuntimeError) as exc:
        raise UserInputError(
            f"the saved optimizer state does not fit this model's parameters ({exc}); resume only a model "
            f"loaded from the folder that holds the state, or turn restore_training_state off on the {LOAD_NODE} node"
        ) from exc
    for group, settings in zip(optimizer.param_groups, chosen):
        group.pop("initial_lr", None)
        group.update(settings)


def restore_scheduler_state(state: Optional[TrainingState], scheduler: Optional[BuiltScheduler],
                            scheduler_spec: Any) -> None:
    """Continue the saved schedule (same kind) from the step it reached, as Hugging Face's Trainer
    does: the schedule spans this run's whole length, and its peak is the optimizer node's rate.
    A fresh schedule is stepped to the saved position (public API only); ReduceLROnPlateau,
    whose reductions and patience are its state, loads its state dict."""
    if state is None or scheduler is None or state.scheduler is None:
        return
    if state.scheduler_kind != scheduler_spec.kind:
        log.warning("the saved schedule was %s, now %s: the new schedule starts from its beginning",
                    state.scheduler_kind, scheduler_spec.kind)
        return
    inner = scheduler.scheduler
    if isinstance(inner, torch.optim.lr_scheduler.ReduceLROnPlateau):
        inner.load_state_dict(_trainable_copy(state.scheduler))
        return
    position = int(state.scheduler["last_epoch"])
    with warnings.catch_warnings():  # stepping with no optimizer step in between is the point here
        warnings.filterwarnings("ignore", message=r".*lr_scheduler.step\(\).*", category=UserWarning)
        for _ in range(position - inner.last_epoch):
            inner.step()
