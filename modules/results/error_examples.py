"""The examples behind the errors: the texts an evaluated classifier gets most wrong.

Evaluation keeps one row of logits per text (the windows of a text combined) with its label;
this module ranks them by the example's own loss and returns the top N wrongly decided
texts with true and predicted label and their probabilities (multi-label: the labels
it got wrong), or, for a score model, the N largest errors. The decision rule is the
evaluation report's and Predict's (metrics.decide): binary and two-class texts are positive
when the positive class's probability reaches the threshold, multi-class texts take the
argmax, multi-label texts get each label whose sigmoid reaches the threshold.

The loss is the unweighted per-text loss: cross-entropy of the true class (-log p),
binary cross-entropy of one logit, the mean binary cross-entropy over the labels of a
multi-label text, and the squared error of a score. The texts come back as the model read
them: the tokens decoded (a text cut head+tail shows the kept parts; windows of one text
are joined where they overlap), with the row of the evaluated split (for windows: the
text's row before it was split into windows).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data.windows import TEXT_ID
from ..errors import UserInputError
from .metrics import decide
from .prediction import probabilities_from_logits

PREVIEW_CHARACTERS = 300  # of each text in the text table (the JSON has it whole)


def check_error_examples(top: Optional[int]) -> None:
    """How many texts the table lists (None: linked, known at run time)."""
    if top is not None and top < 0:
        raise UserInputError(f"error_examples {top} is negative; use 0 for only the count of errors, or e.g. 20")


@dataclass
class ErrorExample:
    row: int  # the text's row in the evaluated split (windows: its row before windowing)
    text: Optional[str]  # as the model read it; None when the data has no tokenizer to decode with
    loss: float
    true_label: Any  # a label name, a list of names (multi-label) or a score
    predicted_label: Any
    probability: Optional[float] = None  # of the predicted label (single-label)
    true_probability: Optional[float] = None  # of the true label (single-label)
    wrong_labels: dict = field(default_factory=dict)  # multi-label: label -> its probability
    error: Optional[float] = None  # regression: predicted - true
    windows: Optional[int] = None  # windows the text was read as (windowed data)


@dataclass
class ErrorTable:
    task: str  # binary, multiclass, multilabel or regression
    count: int  # texts evaluated
    wrong: int  # texts decided wrongly (regression: texts with any error)
    examples: list[ErrorExample]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, allow_nan=False, default=str)

    def text(self) -> str:
        if self.task == "regression":
            head = f"the {len(self.examples)} largest errors of {self.count} scored texts (sorted by squared error):"
        else:
            head = (f"{self.wrong} of {self.count} texts misclassified; the {len(self.examples)} with the highest "
                    "loss:")
        lines = [head] if self.examples else [head.split(";")[0] if self.wrong else "no text was misclassified"]
        for rank, example in enumerate(self.examples, start=1):
            lines.append(f"#{rank} row {example.row}: {_verdict(example)}, loss {example.loss:.4f}"
                         + (f" ({example.windows} windows)" if example.windows else ""))
            if example.text is not None:
                preview = example.text if len(example.text) <= PREVIEW_CHARACTERS else \
                    example.text[:PREVIEW_CHARACTERS - 1] + "…"
                lines.append(f"    {preview!r}")
        return "\n".join(lines)


def _verdict(example: ErrorExample) -> str:
    if example.error is not None:
        return f"true {example.true_label:.4g}, predicted {example.predicted_label:.4g}, error {example.error:+.4g}"
    if example.wrong_labels:
        wrong = ", ".join(f"{name} p {p:.3f}" for name, p in example.wrong_labels.items())
        return f"true [{', '.join(example.true_label)}], predicted [{', '.join(example.predicted_label)}] ({wrong})"
    return (f"true {example.true_label} (p {example.true_probability:.3f}), predicted {example.predicted_label} "
            f"(p {example.probability:.3f})")


def _names(label_names: Optional[Sequence[str]], count: int) -> list[str]:
    if label_names is not None and len(label_names) >= count:
        return [str(n) for n in label_names[:count]]
    return [str(i) for i in range(count)]


def _single_label(logits: torch.Tensor, labels: torch.Tensor, threshold: float,
                  names: Optional[Sequence[str]]) -> tuple[str, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(task, per-text loss, predicted class, probabilities of every class)."""
    labels = labels.reshape(-1).long()
    one_logit = logits.shape[1] == 1
    probabilities = probabilities_from_logits(logits, "binary" if one_logit else "multiclass")
    if one_logit:
        loss = F.binary_cross_entropy_with_logits(logits[:, 0], labels.double(), reduction="none")
    else:
        loss = F.cross_entropy(logits, labels, reduction="none")
    classes = max(probabilities.shape[1], int(labels.max()) + 1 if len(labels) else 0)
    binary = classes == 2
    predicted = torch.as_tensor(decide(probabilities, "multi_class", threshold))
    return ("binary" if binary else "multiclass"), loss, predicted, probabilities


def classification_errors(logits: torch.Tensor, labels: torch.Tensor, threshold: float,
                          label_names: Optional[Sequence[str]], top: int) -> tuple[str, int, list[ErrorExample]]:
    """(task, wrongly decided texts, the `top` of them by loss, without texts yet)."""
    logits = logits.detach().cpu().double().reshape(len(labels), -1)
    if labels.ndim == 2:
        return _multi_label_errors(logits, labels.detach().cpu().double(), threshold, label_names, top)
    labels = labels.detach().cpu().reshape(-1).long()
    task, loss, predicted, probabilities = _single_label(logits, labels, threshold, label_names)
    names = _names(label_names, max(probabilities.shape[1], 2))
    wrong = torch.nonzero(predicted != labels).reshape(-1)
    order = wrong[torch.argsort(loss[wrong], descending=True, stable=True)][:top]
    examples = [ErrorExample(row=int(i), text=None, loss=float(loss[i]), true_label=names[int(labels[i])],
                             predicted_label=names[int(predicted[i])],
                             probability=float(probabilities[i, predicted[i]]),
                             true_probability=float(probabilities[i, labels[i]])) for i in order.tolist()]
    return task, len(wrong), examples


def _multi_label_errors(logits: torch.Tensor, labels: torch.Tensor, threshold: float,
                        label_names: Optional[Sequence[str]], top: int) -> tuple[str, int, list[ErrorExample]]:
    probabilities = torch.sigmoid(logits)
    predicted = torch.as_tensor(decide(probabilities, "multi_label", threshold))
    truth = labels.round().long()
    loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(dim=1)
    names = _names(label_names, truth.shape[1])
    wrong = torch.nonzero((predicted != truth).any(dim=1)).reshape(-1)
    order = wrong[torch.argsort(loss[wrong], descending=True, stable=True)][:top]
    examples = []
    for i in order.tolist():
        missed = torch.nonzero(predicted[i] != truth[i]).reshape(-1).tolist()
        examples.append(ErrorExample(
            row=i, text=None, loss=float(loss[i]), true_label=[names[j] for j in torch.nonzero(truth[i]).reshape(-1)],
            predicted_label=[names[j] for j in torch.nonzero(predicted[i]).reshape(-1)],
            wrong_labels={names[j]: float(probabilities[i, j]) for j in missed}))
    return "multilabel", len(wrong), examples


def regression_errors(scores: torch.Tensor, labels: torch.Tensor, top: int) -> list[ErrorExample]:
    """The `top` texts with the largest squared error, without texts yet."""
    x = scores.detach().cpu().double().reshape(-1)
    y = labels.detach().cpu().double().reshape(-1)
    squared = (x - y) ** 2
    order = torch.argsort(squared, descending=True, stable=True)[:top]
    return [ErrorExample(row=i, text=None, loss=float(squared[i]), true_label=float(y[i]), predicted_label=float(x[i]),
                         error=float(x[i] - y[i])) for i in order.tolist()]


def _join_windows(windows: list[list[int]], step: int) -> list[int]:
    """One text's tokens from its windows (special tokens removed). Windows start `step` tokens apart, so
    each overlaps the text so far by (window - step) tokens; the last one ends at the text's end, so it
    overlaps by that or more: the smallest overlap from (window - step) up that matches is taken."""
    joined = list(windows[0])
    room = len(joined)
    for window in windows[1:]:
        sizes = range(max(room - step, 1), min(len(joined), len(window)) + 1)
        overlap = next((k for k in sizes if joined[-k:] == window[:k]), 0)
        joined += window[overlap:]
    return joined


def _decode(tokenizer: Any, ids: list[int], pairs: bool) -> str:
    """The text as the model read it; a pair of texts as 'first | second'."""
    sep = getattr(tokenizer, "sep_token_id", None)
    if not pairs or sep is None or sep not in ids:
        return tokenizer.decode(ids, skip_special_tokens=True).strip()
    parts, current = [], []
    for token in ids:
        if token == sep:
            parts.append(current)
            current = []
        else:
            current.append(token)
    parts.append(current)
    texts = [tokenizer.decode(part, skip_special_tokens=True).strip() for part in parts]
    return " | ".join(t for t in texts if t)


def attach_texts(examples: list[ErrorExample], dataset: Any, tokenizer: Optional[Any]) -> None:
    """Fill in each example's row and text. Evaluated rows are in dataset order, or, for windows,
    one per text in the order of their text ids."""
    data = dataset.data
    if getattr(dataset, "windowed", False):
        text_ids = np.asarray(data.with_format("numpy")[TEXT_ID])
        texts = np.unique(text_ids)
        for example in examples:
            rows = np.nonzero(text_ids == texts[example.row])[0].tolist()
            example.row, example.windows = int(texts[example.row]), len(rows)
            if tokenizer is not None:
                special = set(getattr(tokenizer, "all_special_ids", []))
                windows = [[t for t in data[r]["input_ids"] if t not in special] for r in rows]
                step = getattr(getattr(dataset.encoder, "windows", None), "step", lambda room: max(room // 2, 1))
                joined = _join_windows(windows, step(len(windows[0])))
                example.text = tokenizer.decode(joined, skip_special_tokens=True).strip()
        return
    if tokenizer is None:
        return
    ids_of = data.select([e.row for e in examples])["input_ids"] if examples else []
    for example, ids in zip(examples, ids_of):
        example.text = _decode(tokenizer, list(ids), getattr(dataset, "pairs", False))


def error_table(logits: torch.Tensor, labels: torch.Tensor, dataset: Any, tokenizer: Optional[Any],
                regression: bool, threshold: float = 0.5, label_names: Optional[Sequence[str]] = None,
                top: int = 20) -> ErrorTable:
    """The `top` wrongly decided texts by loss (regression: the largest errors), with their texts."""
    if regression:
        task, examples = "regression", regression_errors(logits, labels, top)
        wrong = int(((logits.reshape(-1).double() - labels.reshape(-1).double()) != 0).sum())
    else:
        task, wrong, examples = classification_errors(logits, labels, threshold, label_names, top)
    attach_texts(examples, dataset, tokenizer)
    return ErrorTable(task=task, count=len(labels), wrong=wrong, examples=examples)


def evaluation_errors(evaluation: Any, model: Any, threshold: float = 0.5, top: int = 20) -> ErrorTable:
    """The error table of an evaluation (evaluation.evaluate_texts), decoded with the data's tokenizer
    (the model's when the data was encoded by a custom function)."""
    report, outputs, dataset = evaluation.report, evaluation.outputs, evaluation.dataset
    tokenizer = getattr(getattr(dataset, "encoder", None), "tokenizer", None) or getattr(model, "tokenizer", None)
    regression = report.task == "regression"
    return error_table(outputs.logits, outputs.labels, dataset, tokenizer, regression, threshold,
                       None if regression else report.label_names, top)
