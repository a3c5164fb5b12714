"""Figure helpers shared by every picture the pack draws (matplotlib's object API, Agg canvas), and the
confusion-matrix pictures, which Evaluate (results/plots.py) and the training logs (training/tracking.py)
both draw.

matplotlib is imported inside the functions: it is heavy, and ComfyUI's start-up must
not pay for it. No window, no global pyplot state and no display are needed.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch


def new_figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


GENERIC_FOLDER_NAMES = {"model", "models", "final", "best", "output", "checkpoint", "snapshot", "main"}


def short_model_name(name: str) -> str:
    """What a plot title shows of a model: a hub id's name, a folder's own name (with its parent when the
    folder is called something generic such as `model`), never a whole local path."""
    parts = [p for p in str(name).replace("\\", "/").split("/") if p]
    if not parts:
        return ""
    if len(parts) > 1 and (parts[-1].lower() in GENERIC_FOLDER_NAMES or parts[-1].startswith("checkpoint")):
        return f"{parts[-2]}/{parts[-1]}"
    return parts[-1]


def figure_to_image(figure: Any) -> Any:
    """Render a matplotlib Figure to an RGB PIL image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return Image.fromarray(rgba[..., :3].copy())


def image_to_tensor(image: Any) -> torch.Tensor:
    """A PIL image as a ComfyUI IMAGE: float tensor [1, H, W, 3] in 0..1."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array)[None]


def _short(name: str, limit: int = 14) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def render_confusion_matrix(confusion: Sequence, label_names: Sequence[str], title: str = "") -> Any:
    """A K x K confusion matrix (rows: true class, columns: predicted) as a PIL image.
    Cells are coloured by the share of their row, so rare classes stay readable."""
    matrix = np.asarray(confusion, dtype=np.int64)
    classes = matrix.shape[0]
    side = min(3.5 + 0.45 * classes, 14)
    figure = new_figure(side + 1.2, side)
    ax = figure.subplots()
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    if classes <= 25:
        for (row, col), count in np.ndenumerate(matrix):
            ax.text(col, row, str(count), ha="center", va="center", fontsize=8,
                    color="white" if shares[row, col] > 0.5 else "black")
    ticks = range(classes)
    names = [_short(n) for n in label_names]
    ax.set_xticks(ticks, names if classes <= 40 else [""] * classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(ticks, names if classes <= 40 else [""] * classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix", fontsize=10)
    return figure_to_image(figure)


def render_multilabel_confusion(confusion: Sequence, label_names: Sequence[str], title: str = "") -> Any:
    """Per-label counts (true negatives, false positives, false negatives, true positives)
    as a table-like heat map: one row per label."""
    per_label = np.asarray(confusion, dtype=np.int64).reshape(-1, 4)  # tn, fp, fn, tp
    labels = per_label.shape[0]
    figure = new_figure(6, min(1.5 + 0.35 * labels, 14))
    ax = figure.subplots()
    shares = per_label / np.maximum(per_label.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    if labels <= 60:
        for (row, col), count in np.ndenumerate(per_label):
            ax.text(col, row, str(count), ha="center", va="center", fontsize=8,
                    color="white" if shares[row, col] > 0.5 else "black")
    ax.set_xticks(range(4), ["true neg", "false pos", "false neg", "true pos"], fontsize=8)
    ax.set_yticks(range(labels), [_short(n) for n in label_names] if labels <= 60 else [""] * labels, fontsize=8)
    ax.set_title(title or "per-label confusion", fontsize=10)
    return figure_to_image(figure)
