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
from typing import TYPE_CHECKING, Optional

import torch

from .data_loader import TextDataLoader
from .evaluation import batch_loss_sum, move_batch, predictions_from_logits
from .losses import LossSpec
from .precision import Precision

if TYPE_CHECKING:
    from .classification_model import HfEncoderClassifier
    from .trainer import EpochMetrics, TrainSettings, _StepCounter

log = logging.getLogger(__name__)


@torch.no_grad()
def pooled_features(model: "HfEncoderClassifier", loader: TextDataLoader, device: torch.device,
                    precision: Precision, counter: Optional["_StepCounter"] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's pooled vector and the label of every row (rows sorted by length: least padding)."""
    model.eval()
    features, labels = [], []
    for batch in loader.batches(shuffle=False, by_length=True):
        batch = move_batch(batch, device)
        labels.append(batch.pop("labels"))
        with precision.autocast():
            features.append(model.pool(**batch).float())
        if counter is not None:
            counter.step()
    return torch.cat(features), torch.cat(labels)


def _head_epoch(model, features, labels, batch_size, generator, optimizer, loss_spec: LossSpec, loss_fn,
                counter, step_per_batch: bool) -> float:
    model.head.train()
    order = torch.randperm(len(labels), generator=generator).to(features.device)
    running = torch.zeros((), device=features.device, dtype=torch.float64)
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        logits = model.head(features[index])
        loss = loss_fn(*loss_spec.targets(labels[index], logits))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        running += batch_loss_sum(loss, loss_spec, len(index))
        if step_per_batch:
            counter.step()
    return float(running) / len(order)


@torch.no_grad()
def _head_eval(model, features, labels, loss_spec: LossSpec, loss_fn) -> tuple[float, float]:
    model.head.eval()
    logits = model.head(features)
    loss = loss_fn(*loss_spec.targets(labels, logits))
    total = float(batch_loss_sum(loss, loss_spec, len(labels)))
    predicted = predictions_from_logits(logits, loss_spec)
    hits = (predicted == labels).all(dim=-1) if predicted.ndim > 1 else predicted == labels
    return total / len(labels), float(hits.float().mean())


def train_head_on_frozen_features(model: "HfEncoderClassifier", train_loader: TextDataLoader,
                                  val_loader: Optional[TextDataLoader], optimizer: torch.optim.Optimizer,
                                  loss_spec: LossSpec, loss_fn, precision: Precision, device: torch.device,
                                  settings: "TrainSettings", counter: "_StepCounter",
                                  total_epochs: int) -> list["EpochMetrics"]:
    from .trainer import EpochMetrics, ensure_finite

    model.set_encoder_trainable(False)
    started = time.perf_counter()
    train_x, train_y = pooled_features(model, train_loader, device, precision, counter)
    val_x = val_y = None
    if val_loader is not None:
        val_x, val_y = pooled_features(model, val_loader, device, precision, counter)
    log.info("cached %d pooled training vectors in %.1f s", len(train_y), time.perf_counter() - started)

    chosen_lrs = [group["lr"] for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        if group.get("name", "").startswith("head"):
            group["lr"] = settings.frozen_head_learning_rate
    history = []
    for epoch in range(settings.freeze_pretrained_module_epochs):
        generator = torch.Generator().manual_seed(train_loader.seed * 100_003 + epoch)
        train_loss = _head_epoch(model, train_x, train_y, train_loader.batch_size, generator, optimizer,
                                 loss_spec, loss_fn, counter, step_per_batch=True)
        ensure_finite(train_loss, f"frozen epoch {epoch + 1}", settings.frozen_head_learning_rate)
        val_loss = val_acc = None
        if val_x is not None:
            val_loss, val_acc = _head_eval(model, val_x, val_y, loss_spec, loss_fn)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        metrics = EpochMetrics(epoch + 1, "frozen", train_loss, val_loss, val_acc,
                               settings.frozen_head_learning_rate, seconds, len(train_y) / max(seconds, 1e-9))
        history.append(metrics)
        log.info(metrics.line(total_epochs))
    for group, lr in zip(optimizer.param_groups, chosen_lrs):
        group["lr"] = lr
    model.set_encoder_trainable(True)
    return history
