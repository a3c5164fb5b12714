"""What a training run is told (`TrainSettings`) and what it reports (`EpochMetrics`, `TrainResult`).

The checks here are the rules the trainer nodes also apply at queue time (`check_epochs`),
so a value is refused by the same words before and during a run.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Optional

from ..errors import UserInputError
from ..model.classifier import TextClassifier
from ..node_names import SPLIT_NODE
from .early_stopping import EarlyStopping
from .optimizers import check_learning_rate
from .tracking import check_tracking


def check_epochs(epochs: Optional[int], freeze: Optional[int] = None) -> None:
    """epochs >= 1 and 0 <= freeze_pretrained_module_epochs < epochs (None: not known yet)."""
    if epochs is not None and epochs < 1:
        raise UserInputError(f"epochs {epochs} must be at least 1")
    if freeze is not None and freeze < 0:
        raise UserInputError(f"freeze_pretrained_module_epochs {freeze} is negative; use 0 or more")
    if epochs is not None and freeze is not None and freeze >= epochs:
        raise UserInputError(
            f"freeze_pretrained_module_epochs {freeze} must be less than epochs {epochs}, or the encoder is "
            "never fine-tuned; e.g. 1 frozen epoch with epochs 4"
        )


def check_resume_choice(resume: Optional[str]) -> None:
    """The trainer's `resume`: off, latest, or an existing folder (None: linked, known at run time)."""
    choice = (resume or "off").strip() if isinstance(resume, str) else "off"
    if choice.lower() not in ("off", "latest") and not os.path.isdir(os.path.expanduser(choice)):
        raise UserInputError(f"resume '{choice}' is neither off, latest nor an existing checkpoint folder; "
                             "use off for a new run, latest to continue this workflow's newest checkpoint, or the "
                             "path of a checkpoint folder")


def check_checkpoint_settings(minutes: Optional[float], keep: Optional[int]) -> None:
    if minutes is not None and minutes < 0:
        raise UserInputError(f"checkpoint_minutes {minutes} is negative; use 0 (only at epoch ends) or e.g. 15")
    if keep is not None and keep < 1:
        raise UserInputError(f"keep_checkpoints {keep} must be at least 1 (2 keeps the previous one as a spare)")


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
    log_every: int = 10  # steps between loss read-backs (the only host sync in the loop)
    early_stopping_patience: int = 0  # epochs without improvement before stopping; 0 = off
    early_stopping_metric: str = "val_loss"  # or "val_accuracy"
    early_stopping_min_delta: float = 0.0
    restore_best_weights: bool = False  # end with the weights of the best validation epoch
    live_plot_interval_s: float = 10.0  # least seconds between live plot previews; 0 = none
    checkpoint_root: Optional[str] = None  # the output folder checkpoints go under; None = none written
    checkpoint_every_epoch: bool = True
    checkpoint_minutes: float = 0.0  # also every N minutes inside an epoch; 0 = only at epoch ends
    keep_checkpoints: int = 2  # the last K (plus the best epoch's when early stopping is on)
    resume: str = "off"  # off, latest (this workflow's newest checkpoint) or a checkpoint folder
    gradient_checkpointing: bool = False  # recompute activations in backward: far less memory
    auto_batch_size: bool = False  # out of memory: halve the training batch size and start again
    keep_finished_checkpoints: bool = False  # off: a finished run keeps its final checkpoint, none once saved
    tracking: str = "tensorboard"  # off, tensorboard or trackio (tracking.py)
    tracking_root: Optional[str] = None  # the output folder logs go under; None = checkpoint_root; both None: none

    @property
    def frozen_epochs(self) -> int:
        return self.freeze_pretrained_module_epochs

    def early_stopping(self) -> EarlyStopping:
        return EarlyStopping(self.early_stopping_metric, self.early_stopping_patience,
                             self.early_stopping_min_delta, self.restore_best_weights)

    def check(self, has_validation: bool = True) -> None:
        check_epochs(self.epochs, self.freeze_pretrained_module_epochs)
        if self.freeze_pretrained_module_epochs:
            check_learning_rate(self.frozen_head_learning_rate)
        if self.gradient_accumulation_steps < 1:
            raise UserInputError(f"gradient_accumulation_steps {self.gradient_accumulation_steps} must be at least 1")
        if self.max_grad_norm < 0:
            raise UserInputError(f"max_grad_norm {self.max_grad_norm} is negative; use 0 to turn clipping off")
        check_checkpoint_settings(self.checkpoint_minutes, self.keep_checkpoints)
        check_tracking(self.tracking)
        stopping = self.early_stopping()  # checks its own values
        if stopping.active and not has_validation:
            what = "early_stopping_patience" if self.early_stopping_patience else "restore_best_weights"
            raise UserInputError(
                f"{what} needs a val_loader to measure {self.early_stopping_metric} after each epoch; connect one "
                f"(e.g. from {SPLIT_NODE}), or set early_stopping_patience 0 and restore_best_weights off"
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
    val_mae: Optional[float] = None  # regression: mean absolute error and Pearson's r instead of accuracy
    val_pearson: Optional[float] = None

    def _validation(self) -> str:
        if self.val_loss is None:
            return ""
        if self.val_accuracy is None and self.val_mae is not None:
            return f", val loss {self.val_loss:.4f}, val MAE {self.val_mae:.4f}, val Pearson {self.val_pearson:.4f}"
        if self.val_accuracy is None:
            return f", val loss {self.val_loss:.4f}"
        return f", val loss {self.val_loss:.4f}, val accuracy {self.val_accuracy:.2%}"

    def line(self, epochs: int) -> str:
        val = self._validation()
        return (f"epoch {self.epoch}/{epochs} [{self.phase}]: train loss {self.train_loss:.4f}{val} "
                f"({self.seconds:.1f} s, {self.samples_per_second:.1f} samples/s)")


def metrics_text(device: str, precision: str, epochs: int, history: list[EpochMetrics],
                 notes: Optional[list[str]] = None) -> str:
    """The trainer's text: where it trained, one line per epoch, then its notes. The same text
    fills in on the node epoch by epoch while it trains and is its result at the end."""
    head = f"trained on {device} ({precision})"
    return "\n".join([head] + [m.line(epochs) for m in history] + list(notes or []))


@dataclass
class TrainResult:
    model: TextClassifier
    history: list[EpochMetrics] = field(default_factory=list)  # this run's epochs
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
        return metrics_text(self.device, self.precision, epochs, self.history, self.notes)

    def as_dicts(self) -> list[dict]:
        return [asdict(m) for m in self.history]
