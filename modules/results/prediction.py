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
from typing import Optional, Sequence, Union

import torch

from ..data.batching import check_batch_size
from ..data.dataset import MODEL_INPUTS
from ..data.encoding import TokenEncoder
from ..data.text_cleaning import strip_html
from ..data.windows import combine_window_logits
from ..errors import UserInputError
from ..model.classifier import TextClassifier
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


def _encoded_rows(model: TextClassifier, texts: Sequence[str]) -> tuple[list[dict], Optional[list[int]]]:
    """Each text as the model was trained to read it: cut (head, tail, head+tail) or split into
    windows, as recorded on the classifier. (rows of token ids, the text of each row when windowed)."""
    max_length = _model_max_length(model)
    encoder = TokenEncoder(model.model_name, model.tokenizer, max_length or 0, truncation=max_length is not None,
                           fingerprint="prediction (never cached)", truncation_rule=model.truncation_rule,
                           windows=model.windows)
    encoded = encoder(list(texts))
    keys = [k for k in MODEL_INPUTS if k in encoded]
    rows = [{k: encoded[k][i] for k in keys} for i in range(len(encoded["input_ids"]))]
    return rows, encoded.get("text_index")


@torch.no_grad()
def predict_logits(model: TextClassifier, texts: Sequence[str], batch_size: int = 32,
                   device: Optional[torch.device] = None) -> torch.Tensor:
    """Raw logits, one row per text (a windowed model's windows combined), batch by batch; the network
    comes back on its own device and in its own mode."""
    model.require_tokenizer()
    check_batch_size(batch_size)
    tokenizer, network = model.tokenizer, model.network
    rows, owners = _encoded_rows(model, texts)
    home, was_training = next(network.parameters()).device, network.training
    device = device or home
    network.eval()
    if device != home:
        network.to(device)
    try:
        chunks = []
        for start in range(0, len(rows), batch_size):
            batch = tokenizer.pad(rows[start:start + batch_size], padding=True, return_tensors="pt")
            inputs = {k: v.to(device) for k, v in batch.items() if k in MODEL_INPUTS}
            chunks.append(network(**inputs).float().cpu())
        logits = torch.cat(chunks) if chunks else torch.zeros((0, model.num_outputs))
    finally:
        if device != home:
            network.to(home)
        network.train(was_training)
    if owners is not None and len(logits):
        logits, _ = combine_window_logits(logits, torch.as_tensor(owners), model.windows.combine)
    return logits


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
                  device: Optional[torch.device] = None, strip_html_tags: bool = False) -> list[Prediction]:
    """Label(s) and probabilities for each text. The threshold decides binary and multi-label models."""
    check_threshold(threshold)
    model.require_tokenizer()
    kind = model.output_kind
    names = model.output_labels(label_names)
    if not texts:
        raise UserInputError("there are no texts to classify; give one text per line")
    cleaned = [strip_html(t) if strip_html_tags else t for t in texts]
    probs = probabilities_from_logits(predict_logits(model, cleaned, batch_size, device), kind).tolist()
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
