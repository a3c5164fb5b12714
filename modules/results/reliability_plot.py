"""The reliability diagram: accuracy against confidence per bin, beside the diagonal of perfect calibration.

Bars below the diagonal are over-confidence (the model says 90% and is right 70% of the
time). Drawn from the bins of calibration_error.calibration_summary; Calibrate draws the
bins before and after temperature scaling in one picture.
"""

from __future__ import annotations

from typing import Any, Optional

from ..figures import figure_to_image, new_figure

_BEFORE, _AFTER = "#9aa5b1", "#1f77b4"


def _bars(ax: Any, summary: dict, label: str, color: str, offset: float, width: float) -> None:
    rows = [row for row in summary["bins"] if row["count"]]
    centres = [(row["lower"] + row["upper"]) / 2 + offset for row in rows]
    ax.bar(centres, [row["accuracy"] for row in rows], width=width, color=color, alpha=0.85,
           label=f"{label}: ECE {summary['ece']:.4f}" if summary["ece"] is not None else label)


def render_reliability_diagram(summary: Optional[dict], after: Optional[dict] = None, title: str = "") -> Any:
    """Accuracy per confidence bin (bars) and the diagonal; with `after`, both sets of bars side by side.
    No summary (a regression model): a picture saying there are no probabilities."""
    figure = new_figure(5.5, 5)
    ax = figure.subplots()
    if summary is None:
        ax.axis("off")
        ax.text(0.5, 0.5, "regression: scores, no probabilities to calibrate", ha="center", va="center")
        return figure_to_image(figure)
    size = 1.0 / max(len(summary["bins"]), 1)
    if after is None:
        _bars(ax, summary, "model", _AFTER, 0.0, size * 0.9)
    else:
        _bars(ax, summary, "before", _BEFORE, -size / 4, size * 0.45)
        _bars(ax, after, "after", _AFTER, size / 4, size * 0.45)
    ax.plot([0, 1], [0, 1], color="#d62728", linewidth=1, linestyle="--", label="perfectly calibrated")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title or f"reliability ({summary['predictions']} predictions)", fontsize=10)
    return figure_to_image(figure)
