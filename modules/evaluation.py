"""Loss, predictions and accuracy of a classifier over a data loader, without gradients:
the quick pass a trainer runs after each epoch, and the full report of the Evaluate node."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, replace
from typing import Callable, Optional

import torch

from .data_loader import TextDataLoader
from .errors import UserInputError
from .losses import LossSpec, resolve_auto_weights
from .metrics import ClassificationReport, classification_report
from .precision import Precision, choose_precision
from .runtime import RuntimeHooks, resolve_device
from .text_dataset import EncodedTextDataset

log = logging.getLogger(__name__)


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
    """Mean loss and accuracy; `on_batch` runs after each batch (progress, Cancel)."""
    loss_fn = loss_spec.build(device)
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.float64)
    count = 0
    kept_logits, kept_labels = [], []
    for batch in loader.batches(shuffle=False, by_length=not keep_outputs):  # totals do not need row order
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
        result.logits = torch.cat(kept_logits)
        result.labels = torch.cat(kept_labels)
        result.predictions = predictions_from_logits(result.logits, loss_spec)
    return result


def default_loss(model: torch.nn.Module, data: EncodedTextDataset) -> LossSpec:
    """The loss a model was most likely trained with: BCE for one logit or multi-label, else cross-entropy."""
    problem = getattr(model, "problem_type", None)
    if model.num_outputs == 1 or data.multi_label or problem == "multi_label_classification":
        return LossSpec("bce_with_logits")
    return LossSpec("cross_entropy")


def evaluate_classifier(model: torch.nn.Module, data: TextDataLoader | EncodedTextDataset,
                        loss_spec: Optional[LossSpec] = None, threshold: float = 0.5, device: str = "auto",
                        hooks: Optional[RuntimeHooks] = None, batch_size: int = 32,
                        precision: str = "auto") -> ClassificationReport:
    """Full metrics of `model` on labelled data (a loader, or a dataset batched here).

    The data's labels are renumbered to the model's label names; names the model never
    saw are an error. The model is not changed: on another device a copy runs."""
    from .compatibility import align_for_model, check_labels_fit, check_loss_weights, check_tokenizer_fits

    hooks = hooks or RuntimeHooks()
    loader = data if isinstance(data, TextDataLoader) else TextDataLoader(data, batch_size, shuffle=False)
    dataset = align_for_model(model, loader.dataset, "evaluation")
    loss_spec = loss_spec or default_loss(model, dataset)
    check_loss_weights(model, loss_spec)
    check_tokenizer_fits(model, dataset)
    check_labels_fit(model, dataset, loss_spec, "evaluation")
    loss_spec = resolve_auto_weights(loss_spec, dataset, model.num_outputs)
    if dataset is not loader.dataset:
        loader = replace(loader, dataset=dataset)
    target = resolve_device(device, hooks)
    chosen_precision = choose_precision(precision, target)
    current = next(model.parameters()).device
    runner = model
    if current != target:
        hooks.prepare_for_training(target)
        runner = copy.deepcopy(model).to(target)
    total, done = len(loader), 0

    def step() -> None:
        nonlocal done
        hooks.check_interrupted()
        done += 1
        hooks.progress(done, total)

    result = evaluate(runner, loader, loss_spec, target, chosen_precision, keep_outputs=True, on_batch=step)
    if result.logits is None:
        raise UserInputError(f"the evaluation data {dataset.description} has no rows; choose a split with rows")
    names = dataset.label_names or getattr(model, "label_names", None)
    report = classification_report(result.logits, result.labels, threshold, names, loss=result.loss)
    log.info("evaluated %s on %s: %s", getattr(model, "model_name", "model"), dataset.description,
             ", ".join(f"{k} {v:.4f}" for k, v in report.headline().items()))
    return report
