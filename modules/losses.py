"""Loss recipes: built fresh on the training device for each run (tensors such as
pos_weight must live there, and a module shared through ComfyUI's cache must not move)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from .errors import UserInputError

REDUCTIONS = ("mean", "sum")


@dataclass(frozen=True)
class LossSpec:
    kind: str  # "bce_with_logits" or "cross_entropy"
    reduction: str = "mean"
    pos_weight: Optional[float] = None
    class_weights: Optional[tuple[float, ...]] = None
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.reduction not in REDUCTIONS:
            raise UserInputError(f"reduction '{self.reduction}' is unknown; use one of {list(REDUCTIONS)}")
        if self.pos_weight is not None and self.pos_weight <= 0:
            raise UserInputError(f"pos_weight {self.pos_weight} must be above 0 (1.0 = no weighting)")
        if not 0 <= self.label_smoothing < 1:
            raise UserInputError(f"label_smoothing {self.label_smoothing} must be in [0, 1)")
        if self.class_weights is not None and any(w <= 0 for w in self.class_weights):
            raise UserInputError(f"class_weights {list(self.class_weights)} must all be above 0")

    @property
    def is_binary(self) -> bool:
        return self.kind == "bce_with_logits"

    def build(self, device: torch.device) -> torch.nn.Module:
        if self.kind == "bce_with_logits":
            weight = None if self.pos_weight is None else torch.tensor(self.pos_weight, device=device)
            return torch.nn.BCEWithLogitsLoss(reduction=self.reduction, pos_weight=weight)
        weight = None if self.class_weights is None else torch.tensor(self.class_weights, device=device)
        return torch.nn.CrossEntropyLoss(weight=weight, reduction=self.reduction,
                                         label_smoothing=self.label_smoothing)

    def targets(self, labels: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shape logits and labels for this loss: BCE wants floats shaped like the logits."""
        if self.kind == "bce_with_logits":
            if logits.shape[-1] == 1 and labels.ndim == 1:
                return logits.squeeze(-1), labels.to(logits.dtype)
            return logits, labels.to(logits.dtype)
        return logits, labels.long()
