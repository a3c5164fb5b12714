"""Pictures of training and evaluation: loss/accuracy curves and confusion matrices.

matplotlib is imported inside the functions (it is heavy, and ComfyUI's start-up
must not pay for it) and used through its object API with the Agg canvas, so no
window, no global pyplot state and no display are needed. Series are cleaned before
plotting: NaN and infinite points are left out (and counted in the title), a flat
series gets a visible range, an empty one a note instead of an empty frame.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from ..figures import figure_to_image, new_figure, render_confusion_matrix, render_multilabel_confusion

_TRAIN, _VAL, _STEPS = "#1f77b4", "#d62728", "#9ecae1"


def _finite(points: Iterable[tuple[float, Optional[float]]]) -> tuple[list[float], list[float], int]:
    """Points with a finite value, and how many were NaN or infinite (missing ones are not counted)."""
    xs, ys, bad = [], [], 0
    for x, y in points:
        if y is None:
            continue
        if not math.isfinite(float(y)):
            bad += 1
            continue
        xs.append(float(x))
        ys.append(float(y))
    return xs, ys, bad


def _series(ax: Any, points, label: str, color: str, hidden: list[int], **style) -> bool:
    xs, ys, bad = _finite(points)
    hidden[0] += bad
    if not xs:
        return False
    ax.plot(xs, ys, label=label, color=color, **style)
    return True


def _finish_axis(ax: Any, drew: bool, ylabel: str, bounded: bool) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if not drew:
        ax.text(0.5, 0.5, "no values yet", ha="center", va="center", transform=ax.transAxes, color="gray")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(left=0)
    if bounded:
        ax.set_ylim(-0.02, 1.02)
    else:
        low, high = ax.get_ylim()
        if high - low < 1e-9:  # a flat series: give it a visible range
            ax.set_ylim(low - 0.5, high + 0.5)
    ax.legend(fontsize=8, loc="best")


CURVE_FONT = 14  # points at 100 dpi: shown at about half size on a node, still about 7 px


def render_training_curves(history: Sequence[dict], step_losses: Sequence[tuple[float, float]] = (),
                           title: str = "") -> Any:
    """Loss (left) and accuracy (right; Pearson for regression) per epoch as a PIL image, 640 x 300 pixels,
    its text large enough to read where a node shows it at about half size (100% zoom).

    `history` holds per-epoch dicts (epoch, train_loss, val_loss, val_accuracy,
    train_accuracy); `step_losses` optional (fractional epoch, windowed train loss)
    points drawn as a thin line while an epoch runs."""
    figure = new_figure(6.4, 3.0)
    loss_ax, acc_ax = figure.subplots(1, 2)
    hidden = [0]
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    marker = {"marker": "o", "markersize": 4}
    drew_loss = _series(loss_ax, step_losses, "train (recent steps)", _STEPS, hidden, linewidth=1)
    drew_loss |= _series(loss_ax, zip(epochs, (r.get("train_loss") for r in history)), "train", _TRAIN, hidden,
                         **marker)
    drew_loss |= _series(loss_ax, zip(epochs, (r.get("val_loss") for r in history)), "validation", _VAL, hidden,
                         **marker)
    scores = any(r.get("val_pearson") is not None for r in history)  # regression: Pearson instead of accuracy
    right = "Pearson" if scores else "accuracy"
    drew_acc = False if scores else _series(acc_ax, zip(epochs, (r.get("train_accuracy") for r in history)),
                                            "train", _TRAIN, hidden, **marker)
    drew_acc |= _series(acc_ax, zip(epochs, (r.get("val_pearson" if scores else "val_accuracy") for r in history)),
                        "validation", _VAL, hidden, **marker)
    _finish_axis(loss_ax, drew_loss, "loss", bounded=False)
    _finish_axis(acc_ax, drew_acc, right, bounded=not scores)
    loss_ax.set_title("loss", fontsize=CURVE_FONT)
    acc_ax.set_title(right, fontsize=CURVE_FONT)
    for ax in (loss_ax, acc_ax):
        ax.tick_params(labelsize=CURVE_FONT - 2)
        ax.xaxis.label.set_size(CURVE_FONT - 2)
        ax.yaxis.label.set_size(CURVE_FONT - 2)
        if ax.get_legend() is not None:
            ax.legend(fontsize=CURVE_FONT - 3, loc="best")
    note = f" ({hidden[0]} NaN/inf values not drawn)" if hidden[0] else ""
    if title or note:
        figure.suptitle(f"{title}{note}", fontsize=CURVE_FONT + 1)
    return figure_to_image(figure)


def render_regression_scatter(points: Sequence[tuple[float, float]], title: str = "") -> Any:
    """Predicted against true scores (up to the report's 2000 points), with the diagonal of perfect predictions."""
    figure = new_figure(5.5, 5)
    ax = figure.subplots()
    truth = np.asarray([p[0] for p in points], dtype=float)
    predicted = np.asarray([p[1] for p in points], dtype=float)
    if len(truth):
        ax.scatter(truth, predicted, s=8, alpha=0.5, color=_TRAIN)
        low, high = float(min(truth.min(), predicted.min())), float(max(truth.max(), predicted.max()))
        ax.plot([low, high], [low, high], color=_VAL, linewidth=1, label="perfect")
        ax.legend(fontsize=8, loc="best")
    ax.set_xlabel("true score")
    ax.set_ylabel("predicted score")
    ax.grid(True, alpha=0.3)
    ax.set_title(title or "predicted against true", fontsize=10)
    return figure_to_image(figure)


def render_report_confusion(report: Any) -> Any:
    """The confusion picture that fits a ClassificationReport's task (a scatter plot for regression)."""
    if report.task == "regression":
        pearson, spearman = ("n/a" if v is None else f"{v:.3f}" for v in (report.pearson, report.spearman))
        return render_regression_scatter(report.points, f"regression: MSE {report.mse:.3f}, Pearson {pearson}, "
                                                        f"Spearman {spearman}")
    title = f"{report.task}: accuracy {report.accuracy:.1%}, f1 {report.f1:.1%} ({report.average})"
    if report.task == "multilabel":
        return render_multilabel_confusion(report.confusion, report.label_names, title)
    return render_confusion_matrix(report.confusion, report.label_names, title)
