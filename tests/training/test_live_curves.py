"""Live training curves: a trainer sends the curves as progress previews to a host that shows
them (a final one at the end), and draws nothing for a host that does not."""

from __future__ import annotations

import pytest

from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.host import RuntimeHooks
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.results.plots import render_training_curves
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.training.settings import TrainSettings

SETTINGS = dict(precision="fp32", device="cpu")


class PreviewHooks(RuntimeHooks):
    wants_previews = True

    def __init__(self):
        self.previews = []

    def progress(self, done, total, preview=None):
        if preview is not None:
            self.previews.append((done, total, preview))

    def training_preview(self, epochs, step_losses, title):
        return render_training_curves(epochs, step_losses, title)


def test_trainer_sends_live_curves_as_progress_previews(tiny_bert, encoded_reviews):
    train, val = encoded_reviews
    hooks = PreviewHooks()
    settings = TrainSettings(epochs=2, live_plot_interval_s=1e-6, log_every=2, **SETTINGS)
    train_classifier(build_classification_model(str(tiny_bert), 1), TextDataLoader(train, 8),
                     OptimizerSpec("AdamW", 1e-3), LossSpec("bce_with_logits"), settings,
                     TextDataLoader(val, 16, shuffle=False), hooks=hooks)
    assert len(hooks.previews) >= 3  # during the epochs, and a final one
    done, total, image = hooks.previews[-1]
    assert done == total and image.size == (640, 300)


def test_no_plot_is_drawn_for_hosts_without_previews(tiny_bert, encoded_reviews, monkeypatch):
    monkeypatch.setattr(RuntimeHooks, "training_preview", lambda *a, **k: pytest.fail("drew a plot nobody sees"))
    train = encoded_reviews[0]
    train_classifier(build_classification_model(str(tiny_bert), 1), TextDataLoader(train, 8),
                     OptimizerSpec("AdamW", 1e-3), LossSpec("bce_with_logits"),
                     TrainSettings(epochs=1, live_plot_interval_s=1e-6, log_every=1, **SETTINGS))
