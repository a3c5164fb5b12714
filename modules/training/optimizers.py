"""Optimizer recipes: the node picks a kind and its settings, the trainer builds it.

A node cannot build a torch optimizer (it has no model yet), and a built optimizer
shared through ComfyUI's cache would carry state from one queue run to the next.
So nodes return an `OptimizerSpec`, and each training run builds a fresh optimizer
over parameter groups: encoder and head, each split into decayed weights and
undecayed biases/LayerNorm weights as in the Hugging Face recipe.

Two levers work on the encoder's depth (embeddings 0, layer i at i + 1): layer-wise
learning-rate decay (ELECTRA, and Hugging Face examples: layer l of L trains at
lr * decay^(L - l), the embeddings at lr * decay^L, the head at lr) and freezing the
embeddings and the lowest N layers (no weight gradients for them: less backward work).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from ..errors import UserInputError

log = logging.getLogger(__name__)

OPTIMIZER_KINDS = ("AdamW", "Adam", "SGD")  # the ones an optimizer node builds
# the depth levers at these values change nothing; run ids leave them out then (older checkpoints resume)
LEVER_DEFAULTS = {"layer_lr_decay": 1.0, "freeze_embeddings": False, "freeze_layers": 0, "head_learning_rate": 0.0}
_NUMBERED_LAYER = re.compile(r"(?:^|\.)layers?\.(\d+)\.")


@dataclass(frozen=True)
class OptimizerSpec:
    kind: str
    lr: float
    weight_decay: float = 0.0
    options: dict = field(default_factory=dict)
    layer_lr_decay: float = 1.0
    freeze_embeddings: bool = False
    freeze_layers: int = 0
    head_learning_rate: float = 0.0  # 0 = lr; the freshly initialised head's own rate otherwise

    def __post_init__(self) -> None:
        check_depth_levers(self.layer_lr_decay, self.freeze_layers)
        check_head_learning_rate(self.head_learning_rate)
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


def check_head_learning_rate(rate: Optional[float]) -> None:
    if rate is not None and not rate >= 0:
        raise UserInputError(f"head_learning_rate {rate} must be 0 (= learning_rate) or above; about 1e-3 lets a new "
                             "head learn within a few dozen steps")


def check_weight_decay(weight_decay: Optional[float]) -> None:
    if weight_decay is not None and weight_decay < 0:
        raise UserInputError(f"weight_decay {weight_decay} is negative; use 0 or more (0.01 is usual)")


def check_depth_levers(layer_lr_decay: Optional[float], freeze_layers: Optional[int]) -> None:
    if layer_lr_decay is not None and not 0 < layer_lr_decay <= 1:
        raise UserInputError(f"layer_lr_decay {layer_lr_decay} must be above 0 and at most 1; 1 = the same rate "
                             "everywhere, 0.8-0.95 are usual")
    if freeze_layers is not None and freeze_layers < 0:
        raise UserInputError(f"freeze_layers {freeze_layers} is negative; use 0 (none) or the number of lowest "
                             "encoder layers to keep fixed")


def encoder_depth(name: str) -> Optional[int]:
    """0 for the embeddings, i + 1 for numbered layer i, None for the rest (pooler, final norm: the top)."""
    match = _NUMBERED_LAYER.search(name)
    if match:
        return int(match.group(1)) + 1
    return 0 if "embeddings" in name else None


def _encoder_layers(encoder: torch.nn.Module) -> int:
    return max((encoder_depth(n) or 0 for n, _ in encoder.named_parameters()), default=0)


def freeze_lower_encoder(encoder: torch.nn.Module, spec: OptimizerSpec) -> None:
    """No gradients for the embeddings (if asked) and the lowest `freeze_layers` layers."""
    if not spec.freeze_embeddings and not spec.freeze_layers:
        return
    layers = _encoder_layers(encoder)
    if spec.freeze_layers > layers:
        raise UserInputError(f"freeze_layers {spec.freeze_layers} is more than this encoder's {layers} numbered "
                             f"layers; use at most {layers}" + (" (ALBERT shares one layer: freeze none)"
                                                                 if layers == 0 else ""))
    for name, param in encoder.named_parameters():
        depth = encoder_depth(name)
        if depth is not None and ((depth == 0 and spec.freeze_embeddings) or 0 < depth <= spec.freeze_layers):
            param.requires_grad_(False)


def _fastest_implementation(cls: type, device: torch.device) -> dict[str, bool]:
    """Fused kernels on CUDA, and on CPU for AdamW/Adam where this torch has them; else foreach."""
    if cls in (torch.optim.AdamW, torch.optim.Adam) and device.type in ("cuda", "cpu"):
        return {"fused": True}
    if device.type == "cuda":
        return {"foreach": True}
    return {}


def _decay_split(params: list, name: str, extra: dict) -> list[dict[str, Any]]:
    # Biases and LayerNorm weights (all 1-D) are not decayed, as in the HF recipe.
    decay, no_decay = [p for p in params if p.ndim >= 2], [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "name": f"{name}_decay", **extra}] if decay else []
    return groups + ([{"params": no_decay, "name": f"{name}_no_decay", "weight_decay": 0.0, **extra}]
                     if no_decay else [])


def parameter_groups(encoder: torch.nn.Module, head: torch.nn.Module,
                     spec: Optional[OptimizerSpec] = None) -> list[dict[str, Any]]:
    """Encoder/head x decay/no-decay groups, tagged by name so phases can find them; with a
    layer-wise decay below 1 the encoder's groups are per depth, each with its own rate. The head
    trains at `head_learning_rate` where one is set: it starts from random weights, and at a
    fine-tuning rate it hardly moves in a short run."""
    decay = spec.layer_lr_decay if spec is not None else 1.0
    layers = _encoder_layers(encoder) if decay < 1 else 0
    head_rate = {"lr": spec.head_learning_rate} if spec is not None and spec.head_learning_rate > 0 else {}
    if decay < 1 and layers == 0:
        log.warning("layer_lr_decay %g needs numbered encoder layers; this encoder has none (ALBERT shares one), "
                    "so every part trains at one rate", decay)
    if layers == 0:
        return (_decay_split(list(encoder.parameters()), "encoder", {})
                + _decay_split(list(head.parameters()), "head", head_rate))
    by_depth: dict[int, list] = {}
    for name, param in encoder.named_parameters():
        depth = encoder_depth(name)
        by_depth.setdefault(layers if depth is None else depth, []).append(param)
    groups = []
    for depth in sorted(by_depth):
        groups += _decay_split(by_depth[depth], f"encoder_depth{depth}", {"lr": spec.lr * decay ** (layers - depth)})
    return groups + _decay_split(list(head.parameters()), "head", head_rate)
