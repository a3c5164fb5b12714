"""Per-text answers other nodes can branch on: a label, a class index and a number per text.

Predict's outputs are text for people (one line per text); a graph that routes each text needs
typed values, one item per text. `Answers` turns the predictions of `prediction.predict_texts`
into three parallel lists:

- single-label models (binary, multi-class): the label, its index among the model's outputs
  (binary: 0 = first/negative, 1 = second/positive) and the probability of that label;
- multi-label models: the labels kept by the threshold joined with ", " ("" when none), and the
  index and probability of the most probable label (kept or not);
- regression models: the score as text, the score rounded to the nearest integer, and the score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .prediction import Prediction

LABEL_JOINER = ", "


@dataclass(frozen=True)
class Answers:
    labels: list[str]
    indices: list[int]
    numbers: list[float]  # probability of the label; regression: the score


def _answer(prediction: Prediction) -> tuple[str, int, float]:
    if not prediction.probabilities:  # regression: the score itself
        score = float(prediction.score)
        return f"{score:.6g}", int(round(score)), score
    names = list(prediction.probabilities)
    if isinstance(prediction.label, list):  # multi-label
        top = max(range(len(names)), key=lambda i: prediction.probabilities[names[i]])
        return LABEL_JOINER.join(prediction.label), top, float(prediction.probabilities[names[top]])
    return prediction.label, names.index(prediction.label), float(prediction.score)


def answers(predictions: Sequence[Prediction]) -> Answers:
    """The three per-text lists, in the order of the texts."""
    rows = [_answer(p) for p in predictions]
    return Answers([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
