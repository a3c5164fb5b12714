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

from .errors import UserInputError
from .text_dataset import strip_html

log = logging.getLogger(__name__)

OUTPUT_KINDS = ("binary", "multi_class", "multi_label")
_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class Prediction:
    text: str
    label: Union[str, list[str]]  # a list for multi-label models
    score: Union[float, list[float]]  # probability of the label(s)
    probabilities: dict[str, float] = field(default_factory=dict)


def output_kind(model: torch.nn.Module) -> str:
    """binary (one logit), multi_label (several sigmoid outputs) or multi_class (softmax)."""
    if model.num_outputs == 1:
        return "binary"
    # set by training (compatibility.problem_type) and by loading a saved folder
    multi_label = getattr(model, "problem_type", None) == "multi_label_classification"
    return "multi_label" if multi_label else "multi_class"


def parse_label_names(text: str) -> Optional[list[str]]:
    """'neg, pos' -> ['neg', 'pos']; '' -> None (use the model's own names)."""
    names = [part.strip() for part in (text or "").split(",") if part.strip()]
    return names or None


def label_names_for(model: torch.nn.Module, override: Optional[Sequence[str]] = None,
                    source: str = "label_names input") -> list[str]:
    """One name per class (two for a single-logit binary model); checked against the outputs."""
    outputs = model.num_outputs
    names = list(override) if override else getattr(model, "label_names", None)
    source = source if override else "model's label names"
    if not names:
        return ["0", "1"] if outputs == 1 else [str(i) for i in range(outputs)]
    names = [str(n) for n in names]
    if len(set(names)) != len(names):
        raise UserInputError(f"the {source} {names} repeat a name; give each class its own name")
    if outputs == 1:
        if len(names) == 1:
            return [f"not {names[0]}", names[0]]
        if len(names) == 2:
            return names
        raise UserInputError(
            f"the {source} {names} give {len(names)} names, but this binary model has one output: give two names, "
            "the negative class first (e.g. 'negative, positive')"
        )
    if len(names) != outputs:
        raise UserInputError(
            f"the {source} {names} give {len(names)} names, but the model has {outputs} outputs; give exactly one "
            f"name per output, in output order"
        )
    return names


def check_threshold(threshold: float) -> None:
    if not 0 < threshold < 1:
        raise UserInputError(f"threshold {threshold} must be between 0 and 1 (exclusive); 0.5 is usual")


def require_tokenizer(model: torch.nn.Module) -> None:
    if getattr(model, "tokenizer", None) is None:
        raise UserInputError(
            "this model has no tokenizer attached, so it cannot read text: connect the model output of a trainer "
            "node (training attaches the tokenizer) or of the Pt Load Classification Model node, not the untrained "
            "model node's output"
        )


def split_texts(text: str) -> list[str]:
    """One text per non-empty line of a multiline widget."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


@torch.no_grad()
def predict_logits(model: torch.nn.Module, texts: Sequence[str], batch_size: int = 32,
                   device: Optional[torch.device] = None) -> torch.Tensor:
    """Raw logits, batch by batch; the model comes back on its own device and in its own mode."""
    require_tokenizer(model)
    if batch_size < 1:
        raise UserInputError(f"batch_size {batch_size} must be at least 1")
    tokenizer = model.tokenizer
    max_length = getattr(model, "max_length", None) or getattr(tokenizer, "model_max_length", None)
    if max_length is not None and max_length >= 1_000_000:  # tokenizers say 1e30 when they know no limit
        max_length = None
    first = next(model.parameters())
    home, was_training = first.device, model.training
    device = device or home
    model.eval()
    if device != home:
        model.to(device)
    try:
        chunks = []
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[start:start + batch_size]), truncation=max_length is not None,
                              max_length=max_length, padding=True, return_tensors="pt")
            inputs = {k: v.to(device) for k, v in batch.items() if k in _MODEL_INPUTS}
            chunks.append(model(**inputs).float().cpu())
        return torch.cat(chunks) if chunks else torch.zeros((0, model.num_outputs))
    finally:
        if device != home:
            model.to(home)
        model.train(was_training)


def probabilities_from_logits(logits: torch.Tensor, kind: str) -> torch.Tensor:
    """binary: (n, 2) as [P(first), P(second)]; multi-class: softmax; multi-label: sigmoid per label."""
    if kind == "binary":
        positive = torch.sigmoid(logits.reshape(-1))
        return torch.stack([1 - positive, positive], dim=-1)
    if kind == "multi_label":
        return torch.sigmoid(logits)
    return torch.softmax(logits, dim=-1)


def predict_texts(model: torch.nn.Module, texts: Sequence[str], threshold: float = 0.5,
                  label_names: Optional[Sequence[str]] = None, batch_size: int = 32,
                  device: Optional[torch.device] = None, strip_html_tags: bool = False) -> list[Prediction]:
    """Label(s) and probabilities for each text. The threshold decides binary and multi-label models."""
    check_threshold(threshold)
    require_tokenizer(model)
    kind = output_kind(model)
    names = label_names_for(model, label_names)
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
