"""The one place that talks to ComfyUI's services; everything degrades to plain Python.

Inside ComfyUI: its progress bar (with previews) on the running node, its Cancel
button, its preferred device, and freeing its other models before training.
Outside (tests, the headless runner): progress goes to the log, Ctrl+C cancels.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Optional

import torch

from ..modules.host import RuntimeHooks

log = logging.getLogger(__name__)


def comfy_available() -> bool:
    try:
        import comfy.model_management  # noqa: F401
        import comfy.utils  # noqa: F401
    except ImportError:
        return False
    return True


class ComfyHooks(RuntimeHooks):
    wants_previews = True  # ComfyUI shows progress-bar previews (the live training plot)

    def __init__(self, node_id: Optional[str] = None) -> None:
        import comfy.model_management as mm
        import comfy.utils

        self._mm, self._utils, self._node_id = mm, comfy.utils, node_id
        self._bar: Any = None

    def progress(self, done: int, total: int, preview: Optional[Any] = None) -> None:
        if self._bar is None:
            self._bar = self._utils.ProgressBar(total, node_id=self._node_id)
        self._bar.update_absolute(done, total, ("PNG", preview, 800) if preview is not None else None)

    def check_interrupted(self) -> None:
        self._mm.throw_exception_if_processing_interrupted()

    def preferred_device(self) -> torch.device:
        return self._mm.get_torch_device()

    def training_preview(self, epochs, step_losses, title):
        from ..modules.results.plots import render_training_curves

        return render_training_curves(epochs, step_losses, title)

    def prepare_for_training(self, device: torch.device, bytes_needed: int = 0) -> None:
        """Unload only as many of ComfyUI's models as the run needs room for (all when unknown)."""
        if device.type == "cpu":
            return
        if bytes_needed > 0 and hasattr(self._mm, "free_memory"):
            log.info("asking ComfyUI for %.2f GB of %s memory for training", bytes_needed / 1e9, device)
            self._mm.free_memory(bytes_needed, device)
        else:
            self._mm.unload_all_models()
        self._mm.soft_empty_cache()


class HeadlessHooks(RuntimeHooks):
    """Logs progress every 10% (and every step of tiny runs is too noisy to log)."""

    def __init__(self) -> None:
        self._last_decile = -1
        self.listeners: list = []

    def progress(self, done: int, total: int, preview: Optional[Any] = None) -> None:
        for listener in self.listeners:
            listener(done, total, preview)
        decile = int(10 * done / max(total, 1))
        if decile != self._last_decile:
            self._last_decile = decile
            log.info("progress %d/%d steps (%d%%)", done, total, 100 * done // max(total, 1))


_headless_listeners: list = []


def add_progress_listener(listener) -> None:
    """The headless runner and tests observe progress through this."""
    _headless_listeners.append(listener)


def remove_progress_listener(listener) -> None:
    if listener in _headless_listeners:
        _headless_listeners.remove(listener)


def runtime_hooks(node_id: Optional[str] = None) -> RuntimeHooks:
    if comfy_available():
        return ComfyHooks(node_id)
    hooks = HeadlessHooks()
    hooks.listeners = list(_headless_listeners)
    return hooks


OUTPUT_DIR_ENV = "HF_TEXT_FINETUNE_OUTPUT_DIR"


def output_directory() -> str:
    """ComfyUI's output folder; outside ComfyUI $HF_TEXT_FINETUNE_OUTPUT_DIR, else ./output."""
    try:
        import folder_paths
    except ImportError:
        return os.path.abspath(os.environ.get(OUTPUT_DIR_ENV) or "output")
    return folder_paths.get_output_directory()


def saved_model_roots() -> dict:
    """Folders the Load node lists saved classifiers from: {label: path}. Inside ComfyUI its
    output folder and models/text_classifiers (for models you keep), outside the output folder."""
    roots = {"output": output_directory()}
    try:
        import folder_paths
    except ImportError:
        return roots
    roots["models"] = os.path.join(folder_paths.models_dir, "text_classifiers")
    return roots


def temp_directory() -> Optional[str]:
    try:
        import folder_paths
    except ImportError:
        return None
    return folder_paths.get_temp_directory()


def save_preview_images(images: list, prefix: str = "hf_text_finetune") -> list[dict]:
    """Save PIL images to ComfyUI's temp folder, as its Preview Image node does, and return
    the `ui.images` entries that show them on the node; [] outside ComfyUI."""
    try:
        import folder_paths
    except ImportError:
        return []
    import random

    temp = folder_paths.get_temp_directory()
    suffix = "_temp_" + "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))
    width, height = images[0].size
    folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(prefix + suffix, temp, width, height)
    entries = []
    for offset, image in enumerate(images):
        name = f"{filename}_{counter + offset:05}_.png"
        image.save(os.path.join(folder, name), compress_level=1)
        entries.append({"filename": name, "subfolder": subfolder, "type": "temp"})
    return entries
