"""Early stopping and best-model tracking on a validation metric.

After each epoch the tracker compares the chosen metric with the best so far: an
improvement must beat it by more than `min_delta` (lower for val_loss, higher for
val_accuracy). With `restore_best`, the weights of the best epoch are copied to
CPU memory (never to a fixed path on disk) and loaded back at the end of training.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Optional

import torch

from ..errors import UserInputError

log = logging.getLogger(__name__)

METRICS = {"val_loss": "min", "val_accuracy": "max"}


@dataclass
class EarlyStopping:
    metric: str = "val_loss"
    patience: int = 0  # epochs without improvement before stopping; 0 = never stop early
    min_delta: float = 0.0
    restore_best: bool = False
    best_value: Optional[float] = None
    best_epoch: Optional[int] = None
    stopped_after: Optional[int] = None
    _bad_epochs: int = 0
    _best_state: Optional[dict[str, torch.Tensor]] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise UserInputError(f"early stopping metric '{self.metric}' is unknown; use one of {list(METRICS)}")
        if self.patience < 0:
            raise UserInputError(f"early_stopping_patience {self.patience} is negative; use 0 (off) or more")
        if self.min_delta < 0:
            raise UserInputError(f"early_stopping_min_delta {self.min_delta} is negative; use 0 or a small "
                                 "positive number such as 0.001")

    @property
    def active(self) -> bool:
        return self.patience > 0 or self.restore_best

    def _improves(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best_value is None:
            return True
        if METRICS[self.metric] == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def update(self, epoch: int, value: Optional[float], model: torch.nn.Module) -> bool:
        """Record one epoch's metric; True when training should stop now."""
        if not self.active or value is None:
            return False
        if self._improves(value):
            self.best_value, self.best_epoch, self._bad_epochs = value, epoch, 0
            if self.restore_best:
                self._best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            return False
        self._bad_epochs += 1
        if self.patience and self._bad_epochs >= self.patience:
            self.stopped_after = epoch
            return True
        return False

    def restore(self, model: torch.nn.Module, last_epoch: int) -> bool:
        """Load the best epoch's weights into `model` when they are not the last ones."""
        if not self.restore_best or self._best_state is None or self.best_epoch == last_epoch:
            return False
        model.load_state_dict(self._best_state)
        self._best_state = None
        return True

    def describe(self, restored: bool) -> str:
        """A line for the metrics text, or '' when nothing happened worth saying."""
        if not self.active or self.best_epoch is None:
            return ""
        parts = []
        if self.stopped_after is not None:
            parts.append(f"early stopping after epoch {self.stopped_after}: {self.metric} did not improve by more "
                         f"than {self.min_delta:g} for {self.patience} epoch(s)")
        best = f"best {self.metric} {self.best_value:.4f} at epoch {self.best_epoch}"
        parts.append(f"{best}; restored its weights" if restored else best)
        return "; ".join(parts)
