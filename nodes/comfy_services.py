"""The one adapter to ComfyUI's services; without ComfyUI each one degrades to plain Python.

Inside ComfyUI: its progress bar (with previews) on the running node, its Cancel button,
its preferred device, freeing its other models' memory before training, its output folder
and `text_classifiers` models folders, and its temp folder for the pictures shown on a node.
Outside (tests, the headless runner): progress goes to the log and to listeners, Ctrl+C
cancels, the output folder is $HF_TEXT_FINETUNE_OUTPUT_DIR or ./output, the models folder
$HF_TEXT_FINETUNE_MODELS_DIR or ./models/text_classifiers, and nodes show no pictures.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from ..modules.host import RuntimeHooks
from ..modules.results.plots import render_training_curves

log = logging.getLogger(__name__)

OUTPUT_DIR_ENV = "HF_TEXT_FINETUNE_OUTPUT_DIR"
MODELS_DIR_ENV = "HF_TEXT_FINETUNE_MODELS_DIR"
MODEL_FOLDER = "text_classifiers"  # ComfyUI models folder type of saved classifiers (extra_model_paths.yaml key)
ProgressListener = Callable[[int, int, Optional[Any]], None]


def comfy_available() -> bool:
    try:
        import comfy.model_management  # noqa: F401
        import comfy.utils  # noqa: F401
    except ImportError:
        return False
    return True


def _folder_paths() -> Optional[Any]:
    """ComfyUI's `folder_paths` module, or None outside ComfyUI."""
    try:
        import folder_paths
    except ImportError:
        return None
    return folder_paths


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
    """Logs progress every 10% (every step of a tiny run would be noise) and tells each listener."""

    def __init__(self, listeners: tuple[ProgressListener, ...] = ()) -> None:
        self._last_decile = -1
        self._listeners = listeners

    def progress(self, done: int, total: int, preview: Optional[Any] = None) -> None:
        for listener in self._listeners:
            listener(done, total, preview)
        decile = int(10 * done / max(total, 1))
        if decile != self._last_decile:
            self._last_decile = decile
            log.info("progress %d/%d steps (%d%%)", done, total, 100 * done // max(total, 1))


_headless_listeners: list[ProgressListener] = []


def add_progress_listener(listener: ProgressListener) -> None:
    """The headless runner and tests observe progress through this (runs started afterwards)."""
    _headless_listeners.append(listener)


def remove_progress_listener(listener: ProgressListener) -> None:
    if listener in _headless_listeners:
        _headless_listeners.remove(listener)


def runtime_hooks(node_id: Optional[str] = None) -> RuntimeHooks:
    """ComfyUI's services for the running node, or the headless ones."""
    if comfy_available():
        return ComfyHooks(node_id)
    return HeadlessHooks(tuple(_headless_listeners))


def output_directory() -> Path:
    """ComfyUI's output folder; outside ComfyUI $HF_TEXT_FINETUNE_OUTPUT_DIR, else ./output."""
    folder_paths = _folder_paths()
    if folder_paths is None:
        return Path(os.path.abspath(os.environ.get(OUTPUT_DIR_ENV) or "output"))
    return Path(folder_paths.get_output_directory())


def register_model_folder() -> None:
    """Register models/text_classifiers with ComfyUI, so extra_model_paths.yaml can add folders to it
    (`text_classifiers: path/to/folder`). Idempotent; nothing to do outside ComfyUI."""
    folder_paths = _folder_paths()
    if folder_paths is not None:
        folder_paths.add_model_folder_path(MODEL_FOLDER, os.path.join(folder_paths.models_dir, MODEL_FOLDER))


def model_folders() -> list[Path]:
    """Every text_classifiers folder, the one saves go to first: ComfyUI's models/text_classifiers and
    those extra_model_paths.yaml adds; outside ComfyUI $HF_TEXT_FINETUNE_MODELS_DIR or ./models/text_classifiers."""
    folder_paths = _folder_paths()
    if folder_paths is None:
        return [Path(os.path.abspath(os.environ.get(MODELS_DIR_ENV) or os.path.join("models", MODEL_FOLDER)))]
    register_model_folder()
    return [Path(path) for path in folder_paths.get_folder_paths(MODEL_FOLDER)]


def save_root(save_to: str) -> Path:
    """The folder the Save node writes into: the output folder, or the first text_classifiers folder."""
    return model_folders()[0] if save_to == MODEL_FOLDER else output_directory()


def saved_model_roots() -> dict[str, Path]:
    """Folders the Load node lists saved classifiers from: {label: path}. The output folder, then each
    text_classifiers folder: `models` for the first (the label older workflows saved), `models_2`, ..."""
    roots = {"output": output_directory()}
    for index, folder in enumerate(model_folders()):
        roots["models" if index == 0 else f"models_{index + 1}"] = folder
    return roots


def save_preview_images(images: list, prefix: str = "hf_text_finetune") -> list[dict]:
    """Save PIL images to ComfyUI's temp folder, as its Preview Image node does, and return
    the `ui.images` entries that show them on the node; [] outside ComfyUI."""
    folder_paths = _folder_paths()
    if folder_paths is None:
        return []
    temp = folder_paths.get_temp_directory()
    suffix = "_temp_" + "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))  # as ComfyUI's
    width, height = images[0].size
    folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(prefix + suffix, temp, width, height)
    entries = []
    for offset, image in enumerate(images):
        name = f"{filename}_{counter + offset:05}_.png"
        image.save(os.path.join(folder, name), compress_level=1)
        entries.append({"filename": name, "subfolder": subfolder, "type": "temp"})
    return entries
