"""The ComfyUI adapter of the runtime hooks (nodes/comfy_services.py): training previews reach
ComfyUI's progress bar as the ("PNG", image, size) tuple it expects."""

from __future__ import annotations

import sys
import types

from hf_text_finetune.modules.results.plots import render_training_curves
from hf_text_finetune.nodes import comfy_services


def test_comfyui_progress_bar_gets_the_preview_as_a_png_tuple(monkeypatch):
    calls = []

    class ProgressBar:
        def __init__(self, total, node_id=None):
            self.node_id = node_id

        def update_absolute(self, value, total=None, preview=None):
            calls.append((value, total, preview))

    comfy = types.ModuleType("comfy")
    comfy.utils = types.SimpleNamespace(ProgressBar=ProgressBar)
    comfy.model_management = types.SimpleNamespace()
    monkeypatch.setitem(sys.modules, "comfy", comfy)
    monkeypatch.setitem(sys.modules, "comfy.utils", comfy.utils)
    monkeypatch.setitem(sys.modules, "comfy.model_management", comfy.model_management)
    hooks = comfy_services.ComfyHooks("7")
    assert hooks.wants_previews
    image = render_training_curves([{"epoch": 1, "train_loss": 0.6}])
    hooks.progress(3, 10, image)
    hooks.progress(4, 10)
    assert calls == [(3, 10, ("PNG", image, 800)), (4, 10, None)]
