"""The frozen-encoder phase: compute pooled features once, then train only the head.

While the encoder is frozen its output for a text never changes, so running it
every epoch (in train mode, with dropout noise) wastes a full forward pass per
sample per epoch. Here the encoder runs once in eval mode over the training and
validation data; the head then trains on the cached vectors, which costs a tiny
fraction of a full epoch. A head learns nothing in one epoch at a fine-tuning
learning rate (5e-5), so this phase uses its own rate for the head groups and
restores the chosen rate before the encoder is unfrozen. The optimizer object,
its kind and its state carry over into fine-tuning.
"""

from __future__ import annotations

import logging
import time
from typing import Optional

import torch

from ..data.batching import TextDataLoader
from ..model.network import ClassifierNetwork
from ..precision import Precision
from .eval_pass import (EvalResult, batch_loss_sum, count_hits, move_batch, outputs_per_text,
                        predictions_from_logits, score_sums)
from .optimizers import freeze_lower_encoder
from .run import Progress, TrainingRun
from .settings import EpochMetrics

log = logging.getLogger(__name__)


@torch.no_grad()
def pooled_features(network: ClassifierNetwork, loader: TextDataLoader, device: torch.device,
                    precision: Precision, progress: Optional[Progress] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's pooled vector and the label of every row (rows sorted by length: least padding)."""
    network.eval()
    features, labels = [], []
    for batch in loader.batches(shuffle=False, by_length=True):
        batch = move_batch(batch, device)
        labels.append(batch.pop("labels"))
        with precision.autocast():
            features.append(network.pool(**batch).float())
        if progress is not None:
            progress.step()
    return torch.cat(features), torch.cat(labels)


def _head_epoch(run: TrainingRun, features: torch.Tensor, labels: torch.Tensor, epoch: int) -> float:
    """One epoch of the head alone over the cached vectors, in a seeded order."""
    head, spec = run.network.head, run.loss_spec
    head.train()
    generator = torch.Generator().manual_seed(run.train_loader.seed * 100_003 + epoch)
    order = torch.randperm(len(labels), generator=generator).to(features.device)
    running = torch.zeros((), device=features.device, dtype=torch.float64)
    size = run.train_loader.batch_size
    for start in range(0, len(order), size):
        index = order[start:start + size]
        loss = run.loss_fn(*spec.targets(labels[index], head(features[index])))
        loss.backward()
        run.optimizer.step()
        run.optimizer.zero_grad(set_to_none=True)
        running += batch_loss_sum(loss, spec, len(index))
        run.progress.step()
    return float(running) / len(order)


@torch.no_grad()
def _head_eval(run: TrainingRun, features: torch.Tensor, labels: torch.Tensor) -> EvalResult:
    """Validation loss and accuracy (regression: score sums) of the head; windows of one text are combined
    (texts are counted)."""
    head, spec = run.network.head, run.loss_spec
    head.eval()
    logits = head(features)
    if getattr(run.val_loader.dataset, "windowed", False):
        order = [row for batch in run.val_loader.batch_indices(shuffle=False, by_length=True) for row in batch]
        logits, labels = outputs_per_text(logits, labels, run.val_loader, order)
        logits, labels = logits.to(features.device), labels.to(features.device)
    total = float(batch_loss_sum(run.loss_fn(*spec.targets(labels, logits)), spec, len(labels)))
    if spec.is_regression:
        return EvalResult(total / len(labels), None, len(labels), score_sums=score_sums(logits, labels))
    hits = float(count_hits(predictions_from_logits(logits, spec), labels))
    return EvalResult(total / len(labels), hits / len(labels), len(labels))


def _with_head_rate(optimizer: torch.optim.Optimizer, rate: float) -> list[float]:
    """Set the head groups' rate for the frozen phase; returns every group's chosen rate."""
    chosen = [group["lr"] for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        if group.get("name", "").startswith("head"):
            group["lr"] = rate
    return chosen


def train_head_on_frozen_features(run: TrainingRun) -> list[EpochMetrics]:
    """The frozen epochs: features once, then the head alone; the encoder is unfrozen at the end."""
    settings, network = run.settings, run.network
    network.set_encoder_trainable(False)
    started = time.perf_counter()
    train_x, train_y = pooled_features(network, run.train_loader, run.device, run.precision, run.progress)
    val = None
    if run.val_loader is not None:
        val = pooled_features(network, run.val_loader, run.device, run.precision, run.progress)
    log.info("cached %d pooled training vectors in %.1f s", len(train_y), time.perf_counter() - started)
    chosen_rates = _with_head_rate(run.optimizer, settings.frozen_head_learning_rate)
    history = []
    for epoch in range(settings.frozen_epochs):
        train_loss = _head_epoch(run, train_x, train_y, epoch)
        run.guard.check(train_loss, f"frozen epoch {epoch + 1}", settings.frozen_head_learning_rate)
        result = _head_eval(run, *val) if val is not None else None
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        metrics = EpochMetrics(epoch + 1, "frozen", train_loss, result.loss if result else None,
                               result.accuracy if result else None, settings.frozen_head_learning_rate, seconds,
                               len(train_y) / max(seconds, 1e-9), val_mae=result.mae if result else None,
                               val_pearson=result.pearson if result else None)
        history.append(metrics)
        log.info(metrics.line(settings.epochs))
        run.report_epochs(run.history + history)
    for group, rate in zip(run.optimizer.param_groups, chosen_rates):
        group["lr"] = rate
    network.set_encoder_trainable(True)
    freeze_lower_encoder(network.encoder, run.optimizer_spec)  # the parts the optimizer node keeps fixed stay so
    return history
