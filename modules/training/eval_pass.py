"""The per-batch arithmetic shared by the loop, the frozen phase and evaluation, and the quick
no-gradient pass over a loader that a trainer runs after each epoch.

Sums stay on the device: the host reads them once per pass, not once per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ..data.batching import TextDataLoader
from ..precision import Precision
from .losses import LossSpec


@dataclass
class EvalResult:
    loss: float
    accuracy: float
    count: int
    predictions: Optional[torch.Tensor] = None
    labels: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None


def predictions_from_logits(logits: torch.Tensor, loss_spec: LossSpec) -> torch.Tensor:
    """Single logit: positive when > 0 (sigmoid > 0.5); several logits: argmax."""
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


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: TextDataLoader, loss_spec: LossSpec, device: torch.device,
             precision: Precision, keep_outputs: bool = False,
             on_batch: Optional[Callable[[], None]] = None) -> EvalResult:
    """Mean loss and accuracy; `on_batch` runs after each batch (progress, Cancel). Batches hold
    rows of similar length; kept logits and labels come back in the dataset's row order."""
    loss_fn = loss_spec.build(device)
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.float64)
    count = 0
    kept_logits, kept_labels = [], []
    indices = loader.batch_indices(shuffle=False, by_length=True)  # similar lengths share a batch: less padding
    for batch in loader.batches_of(indices):
        batch = move_batch(batch, device)
        labels = batch.pop("labels")
        with precision.autocast():
            logits = model(**batch)
        logits = logits.float()
        total += batch_loss_sum(loss_fn(*loss_spec.targets(labels, logits)), loss_spec, labels.shape[0])
        correct += count_hits(predictions_from_logits(logits, loss_spec), labels)
        count += labels.shape[0]
        if keep_outputs:
            kept_logits.append(logits.cpu())
            kept_labels.append(labels.cpu())
        if on_batch is not None:
            on_batch()
    model.train(was_training)
    result = EvalResult(loss=float(total / max(count, 1)), accuracy=float(correct / max(count, 1)), count=count)
    if keep_outputs and kept_logits:
        in_dataset_order = torch.argsort(torch.tensor([i for batch in indices for i in batch]))
        result.logits = torch.cat(kept_logits)[in_dataset_order]
        result.labels = torch.cat(kept_labels)[in_dataset_order]
        result.predictions = predictions_from_logits(result.logits, loss_spec)
    return result
