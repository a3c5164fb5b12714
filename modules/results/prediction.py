"""Predict labels and probabilities for new texts with a trained classifier.

The output function follows the task: one logit is a binary model (sigmoid gives the
probability of the second label), several logits trained with cross-entropy are one
label out of N (softmax; two classes: the second when its probability reaches the
threshold, as for one logit: metrics.decide), several trained with BCE are multi-label (a sigmoid per
label, each label kept when its probability reaches the threshold). A regression
model gives its raw score. A model trained on pairs of texts reads pairs: in the Predict
node's text, one pair a line with the two texts separated by a tab.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence, Union

import torch

from ..data.batching import check_batch_size
from ..data.text_cleaning import strip_html
from ..data.windows import combine_window_logits
from ..errors import UserInputError
from ..model.classifier import TextClassifier
from ..model.inference import length_sorted_batches, logits_in_order
from .backends import Runtime, inference_forward
from .encoded_texts import encoded_rows, pad_id
from .metrics import check_threshold, decide

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    text: str
    label: Union[str, list[str]]  # a list for multi-label models; "score" (or its name) for regression
    score: Union[float, list[float]]  # probability of the label(s); regression: the predicted score
    probabilities: dict[str, float] = field(default_factory=dict)  # empty for regression
    text_pair: Optional[str] = None  # the second text of a pair model's input

    def as_dict(self) -> dict:
        row = asdict(self)
        if self.text_pair is None:
            row.pop("text_pair")
        return row


PAIR_SEPARATOR = "\t"
Inputs = Sequence[Union[str, tuple[str, str]]]


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return f"line{'s' if len(numbers) > 1 else ''} {shown}{' and more' if len(numbers) > 10 else ''}"


def text_inputs(model: TextClassifier, texts: Inputs) -> tuple[list[str], Optional[list[str]]]:
    """(first texts, second texts or None): a pair model needs two texts per item, a (text, pair) tuple or
    one string with a tab between them; a single-text model refuses a tab (it would read it as one text)."""
    items = [tuple(t) if isinstance(t, (tuple, list)) else tuple(t.split(PAIR_SEPARATOR, 1)) for t in texts]
    if model.text_pairs:
        missing = [i + 1 for i, item in enumerate(items) if len(item) != 2 or not all(p.strip() for p in item)]
        if missing:
            raise UserInputError(
                f"this model reads pairs of texts, but {_lines(missing)} of the texts do not hold two texts "
                "separated by a tab; write each pair on one line as: first text<TAB>second text"
            )
        return [a.strip() for a, _ in items], [b.strip() for _, b in items]
    paired = [i + 1 for i, item in enumerate(items) if len(item) != 1]
    if paired:
        raise UserInputError(
            f"{_lines(paired)} of the texts hold a tab, which separates the two texts of a pair, but this model "
            "reads single texts; remove the tab (or replace it by a space), or use a model trained with a "
            "text_pair_field"
        )
    return [item[0] for item in items], None


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


@torch.inference_mode()
def predict_logits(model: TextClassifier, texts: Sequence[str], batch_size: int = 32,
                   device: Optional[torch.device] = None, pairs: Optional[Sequence[str]] = None,
                   precision: "str | Runtime" = "fp32") -> torch.Tensor:
    """Raw logits in the texts' order, one row per text (a windowed model's windows combined; `pairs`: each
    text's second text, for a pair model), through the one batched routine (model/inference.py); the model is
    not changed or moved. `precision` auto = bf16/fp16 autocast where the device computes it natively, int8 =
    an int8 model made once; a `Runtime` also names the backend (torch, onnxruntime or auto; backends.py)."""
    model.require_tokenizer()
    check_batch_size(batch_size)
    rows, owners = encoded_rows(model, texts, pairs) if len(texts) else ([], None)
    device = device or next(model.network.parameters()).device
    batches = list(length_sorted_batches(rows, pad_id(model), batch_size))
    probe = {k: v[:8] for k, v in batches[0][1].items()} if batches else None
    forward = inference_forward(model, Runtime.of(precision), device, probe)
    logits = logits_in_order(forward, batches, len(rows), model.num_outputs)
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


def _scores(texts: list[str], pairs: Optional[list[str]], values: torch.Tensor, name: str) -> list[Prediction]:
    seconds = pairs if pairs is not None else [None] * len(texts)
    return [Prediction(text, name, float(v), {}, pair) for text, pair, v in zip(texts, seconds, values.reshape(-1))]


def predict_texts(model: TextClassifier, texts: Inputs, threshold: Optional[float] = None,
                  label_names: Optional[Sequence[str]] = None, batch_size: int = 32,
                  device: Optional[torch.device] = None, strip_html_tags: bool = False,
                  precision: "str | Runtime" = "fp32") -> list[Prediction]:
    """Label(s) and probabilities for each text (a regression model: its score). The threshold decides binary,
    two-class and multi-label models (metrics.decide, as Evaluate); None = the model's own: the one calibration
    stored, else 0.5. A pair model takes (text, pair) tuples or tab-separated strings. `precision`: a
    name (torch backend) or a `Runtime` naming the backend too (auto: torch unless an ONNX export of these
    weights is at hand and measures faster; backends.py)."""
    threshold = model.threshold_for(threshold)
    check_threshold(threshold)
    model.require_tokenizer()
    kind = model.output_kind
    names = model.output_labels(label_names)
    if not texts:
        raise UserInputError("there are no texts to classify; give one text per line")
    texts, pairs = text_inputs(model, texts)

    def cleaned(items: Optional[list[str]]) -> Optional[list[str]]:
        return [strip_html(t) if strip_html_tags else t for t in items] if items is not None else None

    runtime = Runtime.of(precision)
    if kind == "regression" and runtime.precision == "auto":
        runtime = runtime.with_precision("fp32")  # bf16 logits keep 3 significant digits: too coarse for a score
    logits = predict_logits(model, cleaned(texts), batch_size, device, cleaned(pairs), runtime)
    if kind == "regression":
        return _scores(texts, pairs, logits, names[0])
    probabilities = probabilities_from_logits(logits, kind)
    decided = decide(probabilities, kind, threshold).tolist()
    results = []
    for text, row, choice in zip(texts, probabilities.tolist(), decided):
        table = {name: float(p) for name, p in zip(names, row)}
        if kind == "multi_label":
            chosen = [i for i, on in enumerate(choice) if on]
            results.append(Prediction(text, [names[i] for i in chosen], [float(row[i]) for i in chosen], table))
        else:
            results.append(Prediction(text, names[choice], float(row[choice]), table))
    for result, pair in zip(results, pairs or ()):
        result.text_pair = pair
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
        elif not p.probabilities:  # regression: the score itself
            shown = f"{p.label} {p.score:.4f}"
        else:
            shown = f"{p.label} ({p.score:.3f})"
        text = _short(p.text) if p.text_pair is None else f"{_short(p.text, 40)} | {_short(p.text_pair, 40)}"
        lines.append(f"{shown}: {text}")
    return "\n".join(lines)


def predicted_labels(predictions: Sequence[Prediction]) -> str:
    """One line per text: its label (multi-label: comma-separated; regression: the score)."""
    def one(p: Prediction) -> str:
        if isinstance(p.label, list):
            return ", ".join(p.label)
        return f"{p.score:.6g}" if not p.probabilities else p.label

    return "\n".join(one(p) for p in predictions)


def predictions_json(predictions: Sequence[Prediction]) -> str:
    return json.dumps([p.as_dict() for p in predictions], indent=2, ensure_ascii=False)
