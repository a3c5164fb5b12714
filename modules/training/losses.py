"""Loss recipes: built fresh on the training device for each run (tensors such as
pos_weight must live there, and a module shared through ComfyUI's cache must not move).

`auto_weights` asks for weights from the training labels, which the loss node
cannot see: the trainer calls `resolve_auto_weights` with its training data.
BCE gets pos_weight = negatives / positives (per label for multi-label), cross-
entropy gets inverse-frequency class weights n_samples / (n_classes * n_c), the
"balanced" rule of scikit-learn's compute_class_weight.

Regression (one output per text, float scores such as STS-B's 0-5) learns with mean
squared error, or with the Huber loss, which is squared near the target and linear
beyond `huber_delta`, so a few far-off labels pull less.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Optional, Union

import numpy as np
import torch

from ..data.dataset import EncodedTextDataset
from ..data.labels import label_counts
from ..errors import UserInputError

log = logging.getLogger(__name__)

REDUCTIONS = ("mean", "sum")
REGRESSION_KINDS = ("mse", "huber")  # LossSpec kinds that learn scores, not classes


def check_pos_weight(pos_weight: Optional[Union[float, tuple[float, ...]]]) -> None:
    """Every pos_weight above 0 (None: no weighting, or linked and known at run time)."""
    weights = pos_weight if isinstance(pos_weight, tuple) else (pos_weight,)
    if pos_weight is not None and any(not w > 0 for w in weights):
        raise UserInputError(f"pos_weight {pos_weight} must be above 0 (1.0 = no weighting)")


@dataclass(frozen=True)
class LossSpec:
    kind: str  # "bce_with_logits", "cross_entropy", or a regression kind: "mse", "huber"
    reduction: str = "mean"
    pos_weight: Optional[Union[float, tuple[float, ...]]] = None  # a tuple: one per label (multi-label)
    class_weights: Optional[tuple[float, ...]] = None
    label_smoothing: float = 0.0
    auto_weights: bool = False  # pos_weight / class_weights from the training label counts
    huber_delta: float = 1.0  # huber: where the loss turns from squared to linear

    def __post_init__(self) -> None:
        if self.reduction not in REDUCTIONS:
            raise UserInputError(f"reduction '{self.reduction}' is unknown; use one of {list(REDUCTIONS)}")
        check_pos_weight(self.pos_weight)
        if not 0 <= self.label_smoothing < 1:
            raise UserInputError(f"label_smoothing {self.label_smoothing} must be in [0, 1)")
        if self.class_weights is not None and any(w <= 0 for w in self.class_weights):
            raise UserInputError(f"class_weights {list(self.class_weights)} must all be above 0")
        check_huber_delta(self.huber_delta)

    @property
    def is_binary(self) -> bool:
        return self.kind == "bce_with_logits"

    @property
    def is_regression(self) -> bool:
        """Learns a score per text (one output, float labels) instead of classes."""
        return self.kind in REGRESSION_KINDS

    def build(self, device: torch.device) -> torch.nn.Module:
        if self.auto_weights:
            raise RuntimeError("auto loss weights must be resolved from the training data first")
        if self.kind == "bce_with_logits":
            weight = None if self.pos_weight is None else torch.tensor(self.pos_weight, device=device)
            return torch.nn.BCEWithLogitsLoss(reduction=self.reduction, pos_weight=weight)
        if self.kind == "mse":
            return torch.nn.MSELoss(reduction=self.reduction)
        if self.kind == "huber":
            return torch.nn.HuberLoss(reduction=self.reduction, delta=self.huber_delta)
        weight = None if self.class_weights is None else torch.tensor(self.class_weights, device=device)
        return torch.nn.CrossEntropyLoss(weight=weight, reduction=self.reduction,
                                         label_smoothing=self.label_smoothing)

    def targets(self, labels: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shape logits and labels for this loss: BCE and regression want floats shaped like the logits."""
        if self.is_regression:
            return logits.reshape(-1), labels.reshape(-1).to(logits.dtype)
        if self.kind == "bce_with_logits":
            if logits.shape[-1] == 1 and labels.ndim == 1:
                return logits.squeeze(-1), labels.to(logits.dtype)
            return logits, labels.to(logits.dtype)
        return logits, labels.long()


def check_huber_delta(delta: Optional[float]) -> None:
    if delta is not None and not delta > 0:
        raise UserInputError(f"huber_delta {delta} must be above 0 (1.0 is usual; about the label noise)")


def _floats(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _shown(values) -> str:
    values = values if isinstance(values, tuple) else (values,)
    return ", ".join(f"{v:.4g}" for v in values)


def resolve_auto_weights(spec: LossSpec, dataset: EncodedTextDataset, num_outputs: int) -> LossSpec:
    """The spec with concrete weights computed from `dataset`'s label counts (unchanged
    without auto_weights). Classes or labels absent from the data get weight 1."""
    if not spec.auto_weights or spec.is_regression:
        return spec

    rows = len(dataset)
    if spec.is_binary:
        width = num_outputs if dataset.multi_label else 1
        positives = label_counts(dataset, width)[:width] if dataset.multi_label else label_counts(dataset, 2)[1:2]
        negatives = rows - positives
        weights = np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0)
        weights = np.where(weights > 0, weights, 1.0)  # a label on every row: no down-weighting to 0
        pos_weight = _floats(weights) if dataset.multi_label else float(weights[0])
        log.info("auto pos_weight from %d training rows: %s", rows, _shown(pos_weight))
        return replace(spec, pos_weight=pos_weight, auto_weights=False)
    counts = label_counts(dataset, num_outputs)
    present = int((counts > 0).sum())
    weights = np.where(counts > 0, rows / (max(present, 1) * np.maximum(counts, 1)), 1.0)
    log.info("auto class weights from %d training rows: %s", rows, _shown(_floats(weights)))
    return replace(spec, class_weights=_floats(weights), auto_weights=False)


def describe_weights(spec: LossSpec) -> str:
    """One line for the metrics text, or '' when the loss is unweighted."""
    if spec.is_binary and spec.pos_weight is not None:
        return f"pos_weight {_shown(spec.pos_weight)}"
    if not spec.is_binary and spec.class_weights is not None:
        return f"class weights {_shown(spec.class_weights)}"
    return ""


AUTO_WEIGHTS = "auto"


def parse_class_weights(text: str) -> Optional[tuple[float, ...]]:
    """The class_weights widget: comma-separated numbers; empty = none; 'auto' = from the labels (None here)."""
    text = (text or "").strip()
    if not text or text.lower() == AUTO_WEIGHTS:
        return None
    try:
        return tuple(float(part) for part in text.replace(";", ",").split(",") if part.strip())
    except ValueError as exc:
        raise UserInputError(f"class_weights '{text}' must be numbers separated by commas, e.g. 1.0, 2.5, 1.0") from exc


def cross_entropy_spec(reduction: str, label_smoothing: float, class_weights: str = "") -> LossSpec:
    """The Cross Entropy node's widgets as a recipe ('auto' weights are computed when training starts)."""
    auto = (class_weights or "").strip().lower() == AUTO_WEIGHTS
    return LossSpec("cross_entropy", reduction, class_weights=parse_class_weights(class_weights),
                    label_smoothing=label_smoothing, auto_weights=auto)


def bce_spec(reduction: str, pos_weight: float, auto_pos_weight: bool = False) -> LossSpec:
    """The BCE node's widgets as a recipe: pos_weight 1.0 means no weighting."""
    if auto_pos_weight:
        return LossSpec("bce_with_logits", reduction, auto_weights=True)
    return LossSpec("bce_with_logits", reduction, None if pos_weight == 1.0 else pos_weight)


def regression_spec(reduction: str, kind: str = "mse", huber_delta: float = 1.0) -> LossSpec:
    """The MSE Loss node's widgets as a recipe: mse, or huber with its delta."""
    if kind not in REGRESSION_KINDS:
        raise UserInputError(f"kind '{kind}' is unknown; use one of {list(REGRESSION_KINDS)}")
    return LossSpec(kind, reduction, huber_delta=huber_delta)
