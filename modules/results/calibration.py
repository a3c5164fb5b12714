"""Calibrated probabilities: temperature scaling and a decision threshold fitted on validation data.

Temperature scaling (Guo et al. 2017) divides the logits by one number T, fitted to
minimise the validation negative log-likelihood: T > 1 softens an over-confident model's
probabilities, and no label changes, since dividing by a positive number keeps every
argmax and every sign. Multi-label models get one T per label. The temperature is folded
into the last linear layer (weights and bias divided by T), so the network itself gives
calibrated logits: Predict, Evaluate, int8 inference and a saved folder loaded with
`transformers.pipeline` (hf_sequence_classification head) all see them with no extra code.

For binary, two-class and multi-label models the decision threshold that maximises F1
(or accuracy) on the same data is chosen too; it travels with the classifier
(`TextClassifier.calibration`) and is what Predict and Evaluate use unless told otherwise.
The input classifier is never changed: the new one shares the encoder and has its own
copy of the last layer.
"""

from __future__ import annotations

import copy
import logging
import math
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from ..data.batching import TextDataLoader
from ..data.dataset import EncodedTextDataset
from ..errors import UserInputError
from ..host import RuntimeHooks
from ..model.classifier import REGRESSION, TextClassifier
from ..model.network import ClassifierNetwork
from .calibration_error import ECE_BINS, calibration_summary
from .evaluation import evaluation_outputs
from .metrics import decide, sigmoid, softmax

log = logging.getLogger(__name__)

THRESHOLD_METRICS = ("f1", "accuracy", "none")
_LOG_T_RANGE = (math.log(0.05), math.log(20.0))
_THRESHOLD_EDGE = 1e-6  # thresholds stay strictly inside (0, 1)


def check_threshold_metric(metric: Optional[str]) -> None:
    if metric is not None and metric not in THRESHOLD_METRICS:
        raise UserInputError(f"threshold_metric '{metric}' is not one of {list(THRESHOLD_METRICS)}; f1 picks the "
                             "threshold with the best F1, accuracy the most right labels, none keeps 0.5")


def _bce(logits: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.logaddexp(0.0, logits) - truth * logits))


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    top = logits.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return float(np.mean(log_norm - logits[np.arange(len(labels)), labels]))


def _golden_minimum(loss: Callable[[float], float], low: float, high: float, steps: int = 80) -> float:
    """The minimiser of a unimodal function on [low, high] (the NLL is convex in 1/T, so unimodal in log T)."""
    ratio = (math.sqrt(5) - 1) / 2
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = loss(c), loss(d)
    for _ in range(steps):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = loss(d)
    return (a + b) / 2


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean NLL of the task the shapes say (one logit or multi-label: per-output BCE; else cross-entropy)."""
    if labels.ndim == 2 or logits.shape[1] == 1:
        return _bce(logits.reshape(labels.shape) if labels.ndim == 2 else logits[:, 0], labels.astype(np.float64))
    return _cross_entropy(logits, labels.astype(np.int64))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """T minimising the NLL of logits / T: one value, or one per label for multi-label data (shape (L,))."""
    low, high = _LOG_T_RANGE
    if labels.ndim == 2:
        return np.array([math.exp(_golden_minimum(
            lambda u, j=j: _bce(logits[:, j] / math.exp(u), labels[:, j].astype(np.float64)), low, high))
            for j in range(labels.shape[1])])
    return np.array([math.exp(_golden_minimum(lambda u: negative_log_likelihood(logits / math.exp(u), labels),
                                              low, high))])


def positive_probabilities(logits: np.ndarray, labels: np.ndarray) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """(probability of 'yes', truth) of every thresholded decision, flattened; None for > 2 classes."""
    if labels.ndim == 2 or logits.shape[1] == 1:
        return sigmoid(logits.reshape(-1)), labels.reshape(-1).astype(bool)
    if logits.shape[1] != 2:
        return None
    return softmax(logits)[:, 1], labels.reshape(-1) == 1


def _scores_per_cut(truth: np.ndarray, metric: str) -> np.ndarray:
    """The metric when the k most probable are called positive, for k = 0..N."""
    hits = np.concatenate([[0.0], np.cumsum(truth, dtype=np.float64)])
    called = np.arange(len(truth) + 1, dtype=np.float64)
    positives, count = float(truth.sum()), float(len(truth))
    false_pos, false_neg = called - hits, positives - hits
    if metric == "accuracy":
        return (hits + (count - positives - false_pos)) / count
    denominator = 2 * hits + false_pos + false_neg
    return np.divide(2 * hits, denominator, out=np.zeros_like(hits), where=denominator > 0)


def best_threshold(probability: np.ndarray, truth: np.ndarray, metric: str = "f1") -> tuple[float, float]:
    """(threshold, metric there): the cut maximising `metric`, halfway between two distinct probabilities (so
    `>` and `>=` agree on this data); among equal scores the one nearest 0.5."""
    order = np.argsort(-probability, kind="stable")
    ranked, truth = probability[order], truth[order].astype(np.float64)
    scores = _scores_per_cut(truth, metric)
    upper = np.concatenate([[1.0], ranked])  # the k-th cut lies between ranked[k-1] and ranked[k]
    lower = np.concatenate([ranked, [0.0]])
    distinct = upper > lower
    cuts = np.clip((upper + lower) / 2, _THRESHOLD_EDGE, 1 - _THRESHOLD_EDGE)
    candidates = np.flatnonzero(distinct)
    best = scores[candidates].max()
    chosen = candidates[np.isclose(scores[candidates], best, rtol=0, atol=1e-12)]
    pick = chosen[np.argmin(np.abs(cuts[chosen] - 0.5))]
    return float(cuts[pick]), float(scores[pick])


def _final_layer_path(network: ClassifierNetwork) -> list[str]:
    """Dotted path of the linear layer that gives the logits (the last one outside the encoder)."""
    inside = {id(m) for m in network.encoder.modules()}
    found = [name for name, module in network.named_modules()
             if isinstance(module, nn.Linear) and module.out_features == network.num_outputs and id(module) not in inside]
    if not found:
        raise UserInputError(f"this {network.head_type} head has no final linear layer with {network.num_outputs} "
                             "outputs to fold a temperature into, so it cannot be calibrated")
    return found[-1].split(".")


def _own_module_table(module: nn.Module) -> nn.Module:
    twin = copy.copy(module)  # shares parameters and children, gets its own table of children
    twin._modules = dict(module._modules)
    return twin


def folded_network(network: ClassifierNetwork, temperature: np.ndarray) -> ClassifierNetwork:
    """A network whose logits are the given one's divided by `temperature` (per output when several): a new
    last layer with weights and bias divided; every other layer shared. `network` is not changed."""
    path = _final_layer_path(network)
    with torch.inference_mode(False), torch.no_grad():
        root = parent = _own_module_table(network)
        for part in path[:-1]:
            child = _own_module_table(parent._modules[part])
            parent._modules[part] = child
            parent = child
        layer = copy.deepcopy(parent._modules[path[-1]])
        scale = torch.as_tensor(1.0 / temperature, dtype=layer.weight.dtype, device=layer.weight.device).reshape(-1)
        layer.weight.mul_(scale.unsqueeze(1).expand_as(layer.weight))
        if layer.bias is not None:
            layer.bias.mul_(scale.expand_as(layer.bias))
        parent._modules[path[-1]] = layer
    return root


def _threshold(scaled: np.ndarray, labels: np.ndarray, metric: str) -> dict:
    decisions = positive_probabilities(scaled, labels)
    if decisions is None or metric == "none":
        return {"threshold": None, "threshold_metric": None}
    probability, truth = decisions
    threshold, score = best_threshold(probability, truth, metric)
    called_at_half = int(decide(probability, "multi_label", 0.5).sum())  # every decision here is one yes/no
    at_half = _scores_per_cut(truth[np.argsort(-probability, kind="stable")], metric)[called_at_half]
    return {"threshold": threshold, "threshold_metric": metric, "metric_at_threshold": score,
            "metric_at_0.5": float(at_half)}


def calibrate_classifier(model: TextClassifier, data: TextDataLoader | EncodedTextDataset,
                         threshold_metric: str = "f1", device: str = "auto", hooks: Optional[RuntimeHooks] = None,
                         batch_size: int = 32) -> tuple[TextClassifier, dict]:
    """(a new classifier with the fitted temperature folded in and the threshold stored, the calibration
    record with the reliability bins before and after). Fitted on fp32 logits of `data` (validation data)."""
    check_threshold_metric(threshold_metric)
    if model.problem_type == REGRESSION:
        raise UserInputError("this model predicts scores (regression): it gives no probabilities to calibrate; "
                             "calibrate a classifier")
    result, loader, _ = evaluation_outputs(model, data, None, device, hooks, batch_size, "fp32")
    logits, labels = result.logits.double().numpy(), result.labels.numpy()
    temperature = fit_temperature(logits, labels)
    scaled = logits / temperature.reshape(1, -1) if labels.ndim == 2 else logits / temperature[0]
    before, after = calibration_summary(logits, labels), calibration_summary(scaled, labels)
    previous = np.asarray((model.calibration or {}).get("temperature", 1.0), dtype=np.float64).reshape(-1)
    total = (temperature * previous).tolist()
    record = {"method": "temperature scaling", "temperature": total if labels.ndim == 2 else total[0],
              **_threshold(scaled, labels, threshold_metric), "ece_before": before["ece"],
              "ece_after": after["ece"], "ece_bins": ECE_BINS, "nll_before": negative_log_likelihood(logits, labels),
              "nll_after": negative_log_likelihood(scaled, labels), "data": loader.dataset.description,
              "texts": int(len(labels))}
    log.info("calibrated %s on %s: temperature %s, ECE %.4f -> %.4f, threshold %s", model.model_name,
             record["data"], record["temperature"], before["ece"], after["ece"], record["threshold"])
    calibrated = model.with_network(folded_network(model.network, temperature), calibration=record)
    return calibrated, {**record, "reliability_before": before, "reliability_after": after}


def calibration_text(record: dict) -> str:
    """What the Calibrate node shows."""
    temperature = record["temperature"]
    shown = (", ".join(f"{t:.3f}" for t in temperature) if isinstance(temperature, list) else f"{temperature:.4f}")
    lines = [f"temperature {shown} (fitted on {record['texts']} texts of {record['data']})",
             f"ECE ({record['ece_bins']} bins): {record['ece_before']:.4f} before, {record['ece_after']:.4f} after",
             f"NLL: {record['nll_before']:.4f} before, {record['nll_after']:.4f} after"]
    if record.get("threshold") is not None:
        metric = record["threshold_metric"]
        lines.append(f"threshold {record['threshold']:.4f}: {metric} {record['metric_at_threshold']:.4f} "
                     f"(at 0.5: {record['metric_at_0.5']:.4f})")
    else:
        lines.append("threshold: not fitted (0.5 for binary and multi-label, argmax for classes)")
    return "\n".join(lines)
