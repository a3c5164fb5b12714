"""The per-batch arithmetic shared by the loop, the frozen phase and evaluation, and the
no-gradient pass over a loader that a trainer runs after each epoch and Evaluate runs on any backend
(both through model/inference.py's one batched routine).

Sums stay on the device: the host reads them once per pass, not once per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from ..data.batching import TextDataLoader
from ..data.windows import TEXT_ID, combine_window_logits
from ..model.inference import LABELS, Forward, batched_logits, torch_forward
from ..precision import Precision
from .losses import LossSpec


@dataclass
class EvalResult:
    loss: float
    accuracy: Optional[float]  # None for regression
    count: int
    predictions: Optional[torch.Tensor] = None
    labels: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None
    score_sums: Optional[torch.Tensor] = None  # regression: see score_sums()

    @property
    def mae(self) -> Optional[float]:
        return None if self.score_sums is None else float(self.score_sums[0] / max(self.count, 1))

    @property
    def pearson(self) -> Optional[float]:
        return None if self.score_sums is None else pearson_from_sums(self.score_sums)


def score_sums(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sums that add up across batches and processes: |error|, n, x, y, x², y², xy (float64, on the device)."""
    x, y = scores.reshape(-1).double(), labels.reshape(-1).double()
    return torch.stack([(x - y).abs().sum(), torch.tensor(float(len(x)), device=x.device, dtype=x.dtype),
                        x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()])


def pearson_from_sums(sums: torch.Tensor) -> float:
    """Pearson's r of predicted and true scores from score_sums (NaN when either is constant: a spread below
    1e-5 of the values' size is float32 rounding, whose correlation would be noise)."""
    _, n, sx, sy, sxx, syy, sxy = (float(v) for v in sums)
    cov, var_x, var_y = n * sxy - sx * sy, n * sxx - sx * sx, n * syy - sy * sy
    varies = var_x > 1e-10 * n * sxx and var_y > 1e-10 * n * syy
    return cov / (var_x * var_y) ** 0.5 if varies else float("nan")


def predictions_from_logits(logits: torch.Tensor, loss_spec: LossSpec) -> torch.Tensor:
    """Single logit: positive when > 0 (sigmoid > 0.5); several logits: argmax; regression: the score."""
    if loss_spec.is_regression:
        return logits.reshape(-1)
    if logits.shape[-1] == 1:
        return (logits.squeeze(-1) > 0).long()
    if loss_spec.is_binary:  # multi-label: one sigmoid per label
        return (logits > 0).long()
    return logits.argmax(dim=-1)


def count_hits(predicted: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Correct rows (a multi-label row counts only when every label is right), on the device."""
    hits = (predicted == labels).all(dim=-1) if predicted.ndim > 1 else predicted == labels
    return hits.sum()


def batch_loss_sum(loss: torch.Tensor, loss_spec: LossSpec, batch_size: int) -> torch.Tensor:
    """A batch's loss as a sum over samples, so epoch averages weigh every sample once."""
    return loss.detach() * batch_size if loss_spec.reduction == "mean" else loss.detach()


def move_batch(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def outputs_per_text(logits: torch.Tensor, labels: torch.Tensor, loader: TextDataLoader, order: list[int],
                     combine: Optional[str] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Window rows (dataset rows `order`, in that order) combined into one row of logits per text, with
    the text's label; `combine` mean or max, else the encoder's choice."""
    dataset = loader.dataset
    text_ids = torch.as_tensor(np.asarray(dataset.data.with_format("numpy")[TEXT_ID])[order])
    encoder_windows = getattr(dataset.encoder, "windows", None)
    combine = combine or getattr(encoder_windows, "combine", "mean")
    combined, first = combine_window_logits(logits.cpu(), text_ids, combine)
    return combined, labels.cpu()[first]


class _Totals:
    """Running sums of one evaluation pass, on the device (read once at the end)."""

    def __init__(self, loss_spec: LossSpec, device: torch.device) -> None:
        self.loss_spec = loss_spec
        self.loss = torch.zeros((), device=device, dtype=torch.float64)
        self.correct = torch.zeros((), device=device, dtype=torch.float64)
        self.scores = torch.zeros(7, device=device, dtype=torch.float64) if loss_spec.is_regression else None
        self.count = 0

    def add(self, loss_fn: Callable, logits: torch.Tensor, labels: torch.Tensor) -> None:
        spec = self.loss_spec
        self.loss += batch_loss_sum(loss_fn(*spec.targets(labels, logits)), spec, labels.shape[0])
        if self.scores is not None:
            self.scores += score_sums(logits, labels)
        else:
            self.correct += count_hits(predictions_from_logits(logits, spec), labels)
        self.count += labels.shape[0]

    def result(self) -> EvalResult:
        count = max(self.count, 1)
        accuracy = None if self.scores is not None else float(self.correct / count)
        return EvalResult(loss=float(self.loss / count), accuracy=accuracy, count=self.count, score_sums=self.scores)


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: TextDataLoader, loss_spec: LossSpec, device: torch.device,
             precision: Precision, keep_outputs: bool = False,
             on_batch: Optional[Callable[[], None]] = None, combine: Optional[str] = None) -> EvalResult:
    """The trainers' validation pass over their own network (in eval mode for the pass, then back):
    `evaluate_batches` with PyTorch's forward on `device` under `precision`."""
    was_training = model.training
    model.eval()
    try:
        return evaluate_batches(torch_forward(model, device, precision), loader, loss_spec, keep_outputs, on_batch,
                                combine)
    finally:
        model.train(was_training)


def evaluate_batches(forward: Forward, loader: TextDataLoader, loss_spec: LossSpec, keep_outputs: bool = False,
                     on_batch: Optional[Callable[[], None]] = None, combine: Optional[str] = None) -> EvalResult:
    """Mean loss and accuracy (regression: MAE and Pearson instead) of `forward`'s logits (any backend, through
    the one batched routine); `on_batch` runs after each batch (progress, Cancel). Batches hold rows of similar
    length; kept logits and labels come back in the dataset's row order. On windows of texts, the windows of
    each text are combined (`combine`, else the encoder's) and texts are counted."""
    windowed = getattr(loader.dataset, "windowed", False)
    keep_outputs = keep_outputs or windowed
    device = forward.device
    loss_fn = loss_spec.build(device)
    totals = _Totals(loss_spec, device)
    kept_logits, kept_labels = [], []
    indices = loader.batch_indices(shuffle=False, by_length=True)  # similar lengths share a batch: less padding
    for _, logits, batch in batched_logits(forward, zip(indices, loader.batches_of(indices)), on_batch):
        labels = batch[LABELS].to(device, non_blocking=True)
        if not windowed:
            totals.add(loss_fn, logits, labels)
        if keep_outputs:  # kept where they are: one read-back after the pass, not a host sync per batch
            kept_logits.append(logits)
            kept_labels.append(batch[LABELS])
    if kept_logits:
        kept_logits, kept_labels = [torch.cat(kept_logits).cpu()], [torch.cat(kept_labels).cpu()]
    if windowed and kept_logits:
        order = [row for batch in indices for row in batch]
        logits, labels = outputs_per_text(kept_logits[0], kept_labels[0], loader, order, combine)
        kept_logits, kept_labels = [logits], [labels]
        totals.add(loss_fn, logits.to(device), labels.to(device))
    result = totals.result()
    if keep_outputs and kept_logits:
        # windows come back as one row per text already; plain rows are put back in dataset order
        in_order = slice(None) if windowed else torch.argsort(torch.tensor([i for batch in indices for i in batch]))
        result.logits = torch.cat(kept_logits)[in_order]
        result.labels = torch.cat(kept_labels)[in_order]
        result.predictions = predictions_from_logits(result.logits, loss_spec)
    return result
