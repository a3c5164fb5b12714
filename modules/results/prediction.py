"""Predict labels and probabilities for new texts with a trained classifier.

The output function follows the task: one logit is a binary model (sigmoid gives the
probability of the second label), several logits trained with cross-entropy are one
label out of N (softmax), several trained with BCE are multi-label (a sigmoid per
label, each label kept when its probability reaches the threshold).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Iterator, Optional, Sequence, Union

import numpy as np
import torch

from ..data.batching import check_batch_size, pad_batch
from ..data.dataset import MODEL_INPUTS
from ..data.text_cleaning import strip_html
from ..errors import UserInputError
from ..model.classifier import TextClassifier
from ..precision import choose_precision
from .metrics import check_threshold

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    text: str
    label: Union[str, list[str]]  # a list for multi-label models
    score: Union[float, list[float]]  # probability of the label(s)
    probabilities: dict[str, float] = field(default_factory=dict)


def parse_label_names(text: str) -> Optional[list[str]]:
    """'neg, pos' -> ['neg', 'pos']; '' -> None (use the model's own names)."""
    names = [part.strip() for part in (text or "").split(",") if part.strip()]
    return names or None


def check_texts(text: Optional[str]) -> None:
    """The texts widget must hold at least one non-empty line (None: linked, known at run time)."""
    if text is not None and not split_texts(text):
        raise UserInputError("texts is empty; write the texts to classify, one per line")


def split_texts(text: str) -> list[str]:
    """One text per non-empty line of a multiline widget."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _model_max_length(model: TextClassifier) -> Optional[int]:
    max_length = model.max_length or getattr(model.tokenizer, "model_max_length", None)
    if max_length is not None and max_length >= 1_000_000:  # tokenizers say 1e30 when they know no limit
        return None
    return max_length


def length_sorted_batches(texts: Sequence[str], tokenizer, max_length: Optional[int],
                          batch_size: int) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """All texts tokenized in one call, then (rows, padded batch) longest first: texts of similar
    length share a batch, so little is computed on padding (the caller puts rows back in order)."""
    if not texts:
        return
    encoded = tokenizer(list(texts), truncation=max_length is not None, max_length=max_length)
    columns = [k for k in MODEL_INPUTS if k in encoded]
    order = np.argsort([-len(ids) for ids in encoded["input_ids"]], kind="stable").tolist()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        yield rows, pad_batch([{k: encoded[k][i] for k in columns} for i in rows], pad_id)


@torch.inference_mode()
def predict_logits(model: TextClassifier, texts: Sequence[str], batch_size: int = 32,
                   device: Optional[torch.device] = None, precision: str = "fp32") -> torch.Tensor:
    """Raw logits in the texts' order; the network comes back on its own device and in its own mode.
    `precision` auto = bf16/fp16 autocast where the device computes it natively (modules/precision.py)."""
    model.require_tokenizer()
    check_batch_size(batch_size)
    network = model.network
    home, was_training = next(network.parameters()).device, network.training
    device = device or home
    autocast = choose_precision(precision, device).autocast
    network.eval()
    if device != home:
        network.to(device)
    try:
        logits = torch.zeros((len(texts), model.num_outputs))
        for rows, batch in length_sorted_batches(texts, model.tokenizer, _model_max_length(model), batch_size):
            with autocast():
                out = network(**{k: v.to(device) for k, v in batch.items()})
            logits[rows] = out.float().cpu()
        return logits
    finally:
        if device != home:
            network.to(home)
        network.train(was_training)


def probabilities_from_logits(logits: torch.Tensor, kind: str) -> torch.Tensor:
    """binary: (n, 2) as [P(first), P(second)]; multi-class: softmax; multi-label: sigmoid per label."""
    if kind == "binary":
        positive = torch.sigmoid(logits.reshape(-1))
        return torch.stack([1 - positive, positive], dim=-1)
    if kind == "multi_label":
        return torch.sigmoid(logits)
    return torch.softmax(logits, dim=-1)


def predict_texts(model: TextClassifier, texts: Sequence[str], threshold: float = 0.5,
                  label_names: Optional[Sequence[str]] = None, batch_size: int = 32,
                  device: Optional[torch.device] = None, strip_html_tags: bool = False,
                  precision: str = "fp32") -> list[Prediction]:
    """Label(s) and probabilities for each text. The threshold decides binary and multi-label models."""
    check_threshold(threshold)
    model.require_tokenizer()
    kind = model.output_kind
    names = model.output_labels(label_names)
    if not texts:
        raise UserInputError("there are no texts to classify; give one text per line")
    cleaned = [strip_html(t) if strip_html_tags else t for t in texts]
    probs = probabilities_from_logits(predict_logits(model, cleaned, batch_size, device, precision), kind).tolist()
    results = []
    for text, row in zip(texts, probs):
        table = {name: float(p) for name, p in zip(names, row)}
        if kind == "multi_label":
            chosen = [i for i, p in enumerate(row) if p >= threshold]
            results.append(Prediction(text, [names[i] for i in chosen], [float(row[i]) for i in chosen], table))
        elif kind == "binary":
            index = 1 if row[1] >= threshold else 0
            results.append(Prediction(text, names[index], float(row[index]), table))
        else:
            index = max(range(len(row)), key=row.__getitem__)
            results.append(Prediction(text, names[index], float(row[index]), table))
    return results


def _short(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def predictions_text(predictions: Sequence[Prediction]) -> str:
    """One line per text: label(s) with probability, then the text."""
    lines = []
    for p in predictions:
        if isinstance(p.label, list):
            shown = ", ".join(f"{n} ({s:.3f})" for n, s in zip(p.label, p.score)) or "(no label above threshold)"
        else:
            shown = f"{p.label} ({p.score:.3f})"
        lines.append(f"{shown}: {_short(p.text)}")
    return "\n".join(lines)


def predictions_json(predictions: Sequence[Prediction]) -> str:
    return json.dumps([asdict(p) for p in predictions], indent=2, ensure_ascii=False)
