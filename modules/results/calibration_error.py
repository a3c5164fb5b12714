"""How far a classifier's probabilities are from how often it is right: expected calibration error.

A fine-tuned transformer is usually over-confident: of the texts it gives 95%, far fewer
than 95% are right. ECE (Guo et al. 2017, "On Calibration of Modern Neural Networks")
puts every prediction in one of 15 equal-width confidence bins and averages, weighted by
the bins' sizes, the gap between each bin's mean confidence and its accuracy.
What counts as a prediction follows the task (read off the shapes, as metrics.py does):
- one logit: the sigmoid's probability of the chosen label, max(p, 1 - p), right when the
  label at 0.5 is the true one;
- several classes: the softmax's largest probability, right when its class is the true one;
- multi-label (labels of shape (N, L)): every (text, label) pair as a binary prediction.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from .metrics import sigmoid, softmax

ECE_BINS = 15


def confidences(logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(confidence of each prediction, whether it is right), flattened over labels for multi-label data."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    logits = logits.reshape(len(logits), -1)
    if labels.ndim == 2 or logits.shape[1] == 1:
        positive = sigmoid(logits).reshape(-1)
        truth = labels.reshape(-1).astype(bool)
        return np.maximum(positive, 1 - positive), (positive >= 0.5) == truth
    probabilities = softmax(logits)
    return probabilities.max(axis=1), probabilities.argmax(axis=1) == labels.reshape(-1)


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per equal-width bin (lower, upper]: how many predictions, their mean confidence and accuracy."""
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    confidence_sums = np.bincount(index, weights=confidence, minlength=bins)
    correct_sums = np.bincount(index, weights=correct.astype(np.float64), minlength=bins)
    rows = []
    for b in range(bins):
        n = int(counts[b])
        rows.append({"lower": b / bins, "upper": (b + 1) / bins, "count": n,
                     "confidence": float(confidence_sums[b] / n) if n else None,
                     "accuracy": float(correct_sums[b] / n) if n else None})
    return rows


def expected_calibration_error(rows: list[dict]) -> Optional[float]:
    """Sum over bins of (share of predictions) x |accuracy - confidence|; None for no predictions."""
    total = sum(row["count"] for row in rows)
    if not total:
        return None
    return float(sum(row["count"] / total * abs(row["accuracy"] - row["confidence"]) for row in rows if row["count"]))


def calibration_summary(logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray,
                        bins: int = ECE_BINS) -> dict:
    """ECE, the bins behind it (the reliability diagram's data) and the mean confidence and accuracy."""
    confidence, correct = confidences(logits, labels)
    rows = reliability_bins(confidence, correct, bins)
    return {"ece": expected_calibration_error(rows), "bins": rows, "predictions": int(len(confidence)),
            "mean_confidence": float(confidence.mean()) if len(confidence) else None,
            "accuracy": float(correct.mean()) if len(correct) else None}
