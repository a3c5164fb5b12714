"""Classification metrics from logits and labels, in numpy (no scikit-learn at run time).

The definitions follow scikit-learn's defaults, so numbers match what users compute
there: undefined ratios (0/0) count as 0; macro averages of single-label tasks run
over the classes present in the labels or the predictions; multi-label macro F1 runs
over every label. Which task applies follows the shapes:
- labels of shape (N, L): multi-label, one sigmoid per label, `threshold` decides (`>=`);
  accuracy is the exact-match ratio (every label of a text right);
- one logit, or two classes: binary, positive class = id 1 (sigmoid or softmax
  probability at or above `threshold`); precision/recall/F1 of that class, plus ROC-AUC;
- more classes: argmax; precision/recall/F1 are macro averages.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import numpy as np
import torch

from ..errors import UserInputError


@dataclass
class ClassificationReport:
    task: str  # "binary", "multiclass" or "multilabel"
    count: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    f1_macro: float
    average: str  # how precision/recall/f1 are averaged: "binary" (class 1), "macro" or "micro"
    label_names: list[str]
    per_class: list[dict]
    confusion: list  # K x K counts (rows: true, columns: predicted); multi-label: L x [[tn, fp], [fn, tp]]
    roc_auc: Optional[float] = None
    f1_micro: Optional[float] = None
    loss: Optional[float] = None
    threshold: Optional[float] = None
    extra: dict = field(default_factory=dict)

    def headline(self) -> dict:
        """The numbers users compare runs by."""
        keys = ("accuracy", "precision", "recall", "f1", "f1_macro", "f1_micro", "roc_auc", "loss")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}

    def as_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, allow_nan=False, default=_json_safe)

    def summary(self) -> str:
        lines = [f"{self.task} classification, {self.count} texts"
                 + (f", threshold {self.threshold:g}" if self.threshold is not None else "")]
        for key, value in self.headline().items():
            shown = f"{value:.4f}" if key == "loss" else f"{value:.2%}"
            lines.append(f"{key}: {shown}" + (f" ({self.average})" if key in ("precision", "recall", "f1") else ""))
        for row in self.per_class[:30]:
            lines.append(f"  {row['label']}: precision {row['precision']:.2%}, recall {row['recall']:.2%}, "
                         f"f1 {row['f1']:.2%}, support {row['support']}")
        if len(self.per_class) > 30:
            lines.append(f"  ... {len(self.per_class) - 30} more (see the JSON output)")
        return "\n".join(lines)


def _json_safe(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(type(value).__name__)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn)


def roc_auc(scores: np.ndarray, positives: np.ndarray) -> Optional[float]:
    """Area under the ROC curve as the Mann-Whitney statistic (ties count half);
    None when the labels hold only one class (the area is undefined)."""
    positives = positives.astype(bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=float)
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average_rank = first + (counts + 1) / 2.0  # 1-based average rank of each tie group
    ranks[order] = np.repeat(average_rank, counts)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|


def softmax(x: np.ndarray) -> np.ndarray:
    """Over the last axis, shifted by the row maximum so large logits do not overflow."""
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def decide(probabilities: "np.ndarray | torch.Tensor", kind: str, threshold: float) -> np.ndarray:
    """The one decision rule of Predict, Evaluate, the error table and calibration, so they never disagree.

    multi_label: 1 for every probability reaching `threshold` (same shape); otherwise rows of class
    probabilities ((N, 2) for a one-logit model too): two classes -> class 1 when its probability
    reaches `threshold`, more classes -> the most probable one.
    """
    if isinstance(probabilities, torch.Tensor):
        probabilities = probabilities.detach().cpu().double().numpy()
    probabilities = np.asarray(probabilities)
    if kind == "multi_label":
        return (probabilities >= threshold).astype(np.int64)
    if probabilities.shape[1] == 2:
        return (probabilities[:, 1] >= threshold).astype(np.int64)
    return probabilities.argmax(axis=1)


def _names(label_names: Optional[Sequence[str]], count: int) -> list[str]:
    if label_names is not None and len(label_names) >= count:
        return [str(n) for n in label_names[:count]]
    return [str(i) for i in range(count)]


def _per_class_rows(names: list[str], precision, recall, f1, support) -> list[dict]:
    return [{"label": n, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for n, p, r, f, s in zip(names, precision, recall, f1, support)]


def check_threshold(threshold: Optional[float]) -> None:
    """The probability cut of binary and multi-label decisions (Evaluate and Predict check it at queue
    time, where None means linked: known at run time)."""
    if threshold is not None and (not 0 < threshold < 1 or math.isnan(threshold)):
        raise UserInputError(f"threshold {threshold} must be between 0 and 1 (exclusive); 0.5 is usual")


def _single_label(logits: np.ndarray, labels: np.ndarray, threshold: float,
                  label_names: Optional[Sequence[str]]) -> ClassificationReport:
    outputs = logits.shape[1]
    classes = max(outputs, 2, int(labels.max()) + 1 if len(labels) else 0)
    binary = classes == 2
    if outputs == 1:
        positive = sigmoid(logits[:, 0])
        probabilities = np.stack([1 - positive, positive], axis=1)
    else:
        probabilities = softmax(logits)
    positive_score = probabilities[:, 1] if binary else None
    predicted = decide(probabilities, "multi_class", threshold)
    confusion = np.bincount(labels * classes + predicted, minlength=classes * classes).reshape(classes, classes)
    tp = np.diag(confusion)
    fp, fn = confusion.sum(axis=0) - tp, confusion.sum(axis=1) - tp
    precision, recall, f1 = _prf(tp, fp, fn)
    present = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0  # scikit-learn's default label set
    names = _names(label_names, classes)
    report = ClassificationReport(
        task="binary" if binary else "multiclass", count=len(labels),
        accuracy=float(tp.sum() / max(len(labels), 1)),
        precision=float(precision[1] if binary else precision[present].mean()),
        recall=float(recall[1] if binary else recall[present].mean()),
        f1=float(f1[1] if binary else f1[present].mean()),
        f1_macro=float(f1[present].mean()), average="binary" if binary else "macro",
        label_names=names, per_class=_per_class_rows(names, precision, recall, f1, confusion.sum(axis=1)),
        confusion=confusion.tolist(), threshold=threshold if binary else None,
    )
    if binary:
        report.roc_auc = roc_auc(positive_score, labels == 1)
        report.extra["positive_label"] = names[1]
    return report


def _multi_label(logits: np.ndarray, labels: np.ndarray, threshold: float,
                 label_names: Optional[Sequence[str]]) -> ClassificationReport:
    predicted = decide(sigmoid(logits), "multi_label", threshold)
    truth = labels.astype(np.int64)
    tp = (predicted & truth).sum(axis=0)
    fp = (predicted & (1 - truth)).sum(axis=0)
    fn = ((1 - predicted) & truth).sum(axis=0)
    tn = len(truth) - tp - fp - fn
    precision, recall, f1 = _prf(tp, fp, fn)
    micro_p, micro_r, micro_f1 = (float(v) for v in _prf(tp.sum(), fp.sum(), fn.sum()))
    names = _names(label_names, truth.shape[1])
    confusion = [[[int(a), int(b)], [int(c), int(d)]] for a, b, c, d in zip(tn, fp, fn, tp)]
    return ClassificationReport(
        task="multilabel", count=len(truth), accuracy=float((predicted == truth).all(axis=1).mean()),
        precision=micro_p, recall=micro_r, f1=micro_f1, f1_macro=float(f1.mean()), f1_micro=micro_f1,
        average="micro", label_names=names, per_class=_per_class_rows(names, precision, recall, f1, tp + fn),
        confusion=confusion, threshold=threshold,
    )


def classification_report(logits: torch.Tensor, labels: torch.Tensor, threshold: float = 0.5,
                          label_names: Optional[Sequence[str]] = None,
                          loss: Optional[float] = None) -> ClassificationReport:
    """Metrics of one evaluation run; see the module docstring for the rules."""
    check_threshold(threshold)
    logits_np = logits.detach().float().cpu().numpy().astype(np.float64)
    if logits_np.ndim == 1:
        logits_np = logits_np[:, None]
    labels_np = labels.detach().cpu().numpy().astype(np.int64)
    if labels_np.ndim == 2:
        report = _multi_label(logits_np, labels_np, threshold, label_names)
    else:
        report = _single_label(logits_np, labels_np, threshold, label_names)
    report.loss = loss
    return report


# --- regression: one score per text -----------------------------------------------------------------

@dataclass
class RegressionReport:
    """Metrics of a score-predicting model, named as GLUE's STS-B reports them (Pearson and Spearman)."""

    count: int
    mse: float
    mae: float
    pearson: Optional[float]  # None when the predictions or the labels are all equal (undefined)
    spearman: Optional[float]
    loss: Optional[float] = None
    label_range: tuple[float, float] = (0.0, 0.0)
    prediction_range: tuple[float, float] = (0.0, 0.0)
    task: str = "regression"
    points: list = field(default_factory=list, repr=False)  # up to 2000 (true, predicted) for the plot; not in JSON

    def headline(self) -> dict:
        keys = ("mse", "mae", "pearson", "spearman", "loss")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}

    def as_dict(self) -> dict:
        row = asdict(self)
        row.pop("points")
        return row

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, allow_nan=False, default=_json_safe)

    def summary(self) -> str:
        low, high = self.label_range
        lines = [f"regression, {self.count} texts (labels {low:g} to {high:g}, predictions "
                 f"{self.prediction_range[0]:.3g} to {self.prediction_range[1]:.3g})"]
        lines += [f"{key}: {value:.4f}" for key, value in self.headline().items()]
        return "\n".join(lines)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their average rank (scipy.stats.rankdata's default)."""
    order = np.argsort(values, kind="mergesort")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> Optional[float]:
    """Pearson's r; None when either side is constant (scipy gives NaN and a warning)."""
    dx, dy = x - x.mean(), y - y.mean()
    scale = math.sqrt(float((dx * dx).sum()) * float((dy * dy).sum()))
    return float((dx * dy).sum() / scale) if scale > 0 else None


def regression_report(scores: torch.Tensor, labels: torch.Tensor, loss: Optional[float] = None) -> RegressionReport:
    """MSE, MAE, Pearson and Spearman (Pearson of the average ranks) of predicted against true scores."""
    x = scores.detach().cpu().double().numpy().reshape(-1)
    y = labels.detach().cpu().double().numpy().reshape(-1)
    errors = x - y
    return RegressionReport(
        count=len(y), mse=float((errors ** 2).mean()), mae=float(np.abs(errors).mean()), pearson=pearson(x, y),
        spearman=pearson(average_ranks(x), average_ranks(y)), loss=loss,
        label_range=(float(y.min()), float(y.max())), prediction_range=(float(x.min()), float(x.max())),
        points=[(float(a), float(b)) for a, b in zip(y[:2000], x[:2000])])
