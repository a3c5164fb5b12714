"""Learning-rate schedule recipes, built by the trainer once the step count is known.

Transformer recipes (linear or cosine decay with warmup) come from
`transformers.get_scheduler` and step every optimizer step; the classic torch
schedules (StepLR, CosineAnnealingLR, ReduceLROnPlateau) step once per epoch.
With a frozen phase, the schedule covers the fine-tuning phase: warmup starts when
the encoder is unfrozen, which is when it protects the pretrained weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from ..errors import UserInputError

WARMUP_KINDS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")
EPOCH_KINDS = ("step", "cosine_annealing", "reduce_on_plateau")


MAX_WARMUP_RATIO = 0.99  # the warmup widget's maximum: some steps must be left to decay over


def check_warmup_ratio(ratio: Optional[float]) -> None:
    """0 <= warmup_ratio <= MAX_WARMUP_RATIO (None: linked, known at run time)."""
    if ratio is not None and not 0 <= ratio <= MAX_WARMUP_RATIO:
        raise UserInputError(f"warmup_ratio {ratio} must be between 0 and {MAX_WARMUP_RATIO}; 0.06 or 0.1 are usual")


@dataclass(frozen=True)
class SchedulerSpec:
    kind: str
    warmup_ratio: float = 0.0
    warmup_steps: int = 0
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in WARMUP_KINDS + EPOCH_KINDS:
            raise UserInputError(f"scheduler '{self.kind}' is unknown; use one of {list(WARMUP_KINDS + EPOCH_KINDS)}")
        check_warmup_ratio(self.warmup_ratio)

    def warmup_for(self, optimizer_steps: int) -> int:
        return self.warmup_steps or math.ceil(self.warmup_ratio * optimizer_steps)

    def check_fits(self, optimizer_steps: int, how: str) -> None:
        """A warmup as long as the run leaves the learning rate rising until training ends (it hardly trains)."""
        if self.kind not in WARMUP_KINDS or self.kind == "constant" or optimizer_steps < 1:
            return
        warmup = self.warmup_for(optimizer_steps)
        if warmup >= optimizer_steps:
            what = f"warmup_steps {self.warmup_steps}" if self.warmup_steps else \
                f"warmup_ratio {self.warmup_ratio} ({warmup} steps)"
            suggestion = max(optimizer_steps // 10, 1) if optimizer_steps > 1 else 0
            raise UserInputError(
                f"{what} is not less than the {optimizer_steps} optimizer steps of this run ({how}): the learning "
                "rate would still be warming up when training ends, so the model would hardly train. Use "
                f"warmup_steps {suggestion} or fewer (about a tenth of the run), warmup_steps 0 with warmup_ratio "
                "0.1, or more epochs or data"
            )

    def build(self, optimizer: torch.optim.Optimizer, optimizer_steps: int, epochs: int) -> "BuiltScheduler":
        if self.kind in WARMUP_KINDS:
            from transformers import get_scheduler

            warmup = self.warmup_for(optimizer_steps)
            scheduler = get_scheduler(self.kind, optimizer, num_warmup_steps=warmup,
                                      num_training_steps=max(optimizer_steps, 1),
                                      scheduler_specific_kwargs=dict(self.options) or None)
            return BuiltScheduler(scheduler, per_step=True)
        if self.kind == "step":
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=self.options.get("step_size", 1),
                                                        gamma=self.options.get("gamma", 0.1))
        elif self.kind == "cosine_annealing":
            t_max = self.options.get("t_max", 0) or max(epochs, 1)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t_max,
                                                                   eta_min=self.options.get("eta_min", 0.0))
        else:
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=self.options.get("factor", 0.1),
                patience=self.options.get("patience", 0), threshold=self.options.get("threshold", 1e-4))
        return BuiltScheduler(scheduler, per_step=False)


@dataclass
class BuiltScheduler:
    scheduler: Any
    per_step: bool

    def after_optimizer_step(self) -> None:
        if self.per_step:
            self.scheduler.step()

    def after_epoch(self, monitored_loss: Optional[float]) -> None:
        if self.per_step:
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            if monitored_loss is not None:
                self.scheduler.step(monitored_loss)
        else:
            self.scheduler.step()
