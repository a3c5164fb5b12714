"""Figure helpers shared by every picture the pack draws (matplotlib's object API, Agg canvas).

matplotlib is imported inside the functions: it is heavy, and ComfyUI's start-up must
not pay for it. No window, no global pyplot state and no display are needed.
"""

from __future__ import annotations

from typing import Any

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
