"""Optimizer recipes: the node picks a kind and its settings, the trainer builds it.

A node cannot build a torch optimizer (it has no model yet), and a built optimizer
shared through ComfyUI's cache would carry state from one queue run to the next.
So nodes return an `OptimizerSpec`, and each training run builds a fresh optimizer
over parameter groups: encoder and head, each split into decayed weights and
undecayed biases/LayerNorm weights as in the Hugging Face recipe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from ..errors import UserInputError

log = logging.getLogger(__name__)

OPTIMIZER_KINDS = ("AdamW", "Adam", "SGD")  # the ones an optimizer node builds


@dataclass(frozen=True)
class OptimizerSpec:
    kind: str
    lr: float
    weight_decay: float = 0.0
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in OPTIMIZER_KINDS:
            raise UserInputError(f"optimizer '{self.kind}' is unknown; use one of {list(OPTIMIZER_KINDS)}")
        check_learning_rate(self.lr)
        check_weight_decay(self.weight_decay)
        momentum = self.options.get("momentum", 0)
        if self.options.get("nesterov") and momentum <= 0:
            raise UserInputError(f"nesterov needs momentum above 0 (got {momentum}); set momentum to 0.9 or turn "
                                 "nesterov off")

    def build(self, groups: list[dict[str, Any]], device: torch.device) -> torch.optim.Optimizer:
        cls = getattr(torch.optim, self.kind)
        for group in groups:
            group.setdefault("weight_decay", self.weight_decay)
        kwargs = {**self.options, **_fastest_implementation(cls, device)}
        return cls(groups, lr=self.lr, **kwargs)


def check_learning_rate(lr: Optional[float]) -> None:
    """Above 0 (None: linked, known at run time); `not lr > 0` also refuses NaN."""
    if lr is not None and not lr > 0:
        raise UserInputError(
            f"learning_rate {lr} must be above 0; 2e-5 to 5e-5 suit fine-tuning a transformer, "
            "1e-3 suits training a head alone"
        )


def check_weight_decay(weight_decay: Optional[float]) -> None:
    if weight_decay is not None and weight_decay < 0:
        raise UserInputError(f"weight_decay {weight_decay} is negative; use 0 or more (0.01 is usual)")


def _fastest_implementation(cls: type, device: torch.device) -> dict[str, bool]:
    """Fused kernels on CUDA, and on CPU for AdamW/Adam where this torch has them; else foreach."""
    if cls in (torch.optim.AdamW, torch.optim.Adam) and device.type in ("cuda", "cpu"):
        return {"fused": True}
    if device.type == "cuda":
        return {"foreach": True}
    return {}


def parameter_groups(encoder: torch.nn.Module, head: torch.nn.Module) -> list[dict[str, Any]]:
    """Encoder/head x decay/no-decay groups, tagged by name so phases can find them."""
    groups = []
    for part_name, part in (("encoder", encoder), ("head", head)):
        decay, no_decay = [], []
        for param in part.parameters():
            # Biases and LayerNorm weights (all 1-D) are not decayed, as in the HF recipe.
            (no_decay if param.ndim < 2 else decay).append(param)
        if decay:
            groups.append({"params": decay, "name": f"{part_name}_decay"})
        if no_decay:
            groups.append({"params": no_decay, "name": f"{part_name}_no_decay", "weight_decay": 0.0})
    return groups
