"""Issue 4, evaluation and curves: metrics as scikit-learn computes them, the Evaluate
node's outputs and preview, the training-curve plot node, and the live plot that a
trainer hands to ComfyUI's progress bar."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
import torch
from sklearn import metrics as sk

from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.results.metrics import classification_report
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.results.plots import render_training_curves
from hf_text_finetune.modules.host import RuntimeHooks
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.settings import TrainSettings
from hf_text_finetune.nodes import comfy_services
from hf_text_finetune.nodes.eval_nodes import PtEvaluateClassificationModel, PtPlotTrainingCurves

SETTINGS = dict(precision="fp32", device="cpu")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")  # 0/0 ratios are 0


def _random(seed, *shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _labels(seed, high, *shape):
    return torch.randint(0, high, shape, generator=torch.Generator().manual_seed(seed))


def test_binary_single_logit_metrics_match_scikit_learn():
    logits, labels = _random(0, 80, 1), _labels(1, 2, 80)
    report = classification_report(logits, labels)
    predicted = (torch.sigmoid(logits[:, 0]) > 0.5).long().numpy()
    assert report.task == "binary"
    assert report.accuracy == pytest.approx(sk.accuracy_score(labels, predicted))
    assert report.precision == pytest.approx(sk.precision_score(labels, predicted))
    assert report.recall == pytest.approx(sk.recall_score(labels, predicted))
    assert report.f1 == pytest.approx(sk.f1_score(labels, predicted))
    assert report.roc_auc == pytest.approx(sk.roc_auc_score(labels, logits[:, 0]))
    assert report.confusion == sk.confusion_matrix(labels, predicted).tolist()


def test_binary_threshold_moves_the_decision():
    logits, labels = _random(2, 60, 1), _labels(3, 2, 60)
    report = classification_report(logits, labels, threshold=0.7)
    predicted = (torch.sigmoid(logits[:, 0]) > 0.7).long().numpy()
    assert report.f1 == pytest.approx(sk.f1_score(labels, predicted))
    assert report.roc_auc == pytest.approx(sk.roc_auc_score(labels, logits[:, 0]))  # threshold-free


def test_two_class_softmax_is_binary_with_roc_auc():
    logits, labels = _random(4, 50, 2), _labels(5, 2, 50)
    report = classification_report(logits, labels)
    probabilities = torch.softmax(logits, dim=1)[:, 1]
    assert report.task == "binary"
    assert report.f1 == pytest.approx(sk.f1_score(labels, logits.argmax(1)))
    assert report.roc_auc == pytest.approx(sk.roc_auc_score(labels, probabilities))


def test_multi_class_metrics_are_macro_averages_as_in_scikit_learn():
    logits, labels = _random(6, 90, 4), _labels(7, 3, 90)  # class 3 is never a label, sometimes predicted
    report = classification_report(logits, labels)
    predicted = logits.argmax(1).numpy()
    assert report.task == "multiclass" and report.roc_auc is None
    assert report.accuracy == pytest.approx(sk.accuracy_score(labels, predicted))
    assert report.precision == pytest.approx(sk.precision_score(labels, predicted, average="macro", zero_division=0))
    assert report.recall == pytest.approx(sk.recall_score(labels, predicted, average="macro", zero_division=0))
    assert report.f1 == pytest.approx(sk.f1_score(labels, predicted, average="macro", zero_division=0))
    assert report.confusion == sk.confusion_matrix(labels, predicted, labels=range(4)).tolist()


def test_multi_label_metrics_use_exact_match_and_micro_macro_f1():
    logits, labels = _random(8, 70, 5), _labels(9, 2, 70, 5)
    labels[:, 4] = 0  # a label nobody has
    report = classification_report(logits, labels, threshold=0.6)
    predicted = (torch.sigmoid(logits) > 0.6).long().numpy()
    assert report.task == "multilabel"
    assert report.accuracy == pytest.approx(sk.accuracy_score(labels, predicted))
    assert report.f1_micro == pytest.approx(sk.f1_score(labels, predicted, average="micro", zero_division=0))
    assert report.f1_macro == pytest.approx(sk.f1_score(labels, predicted, average="macro", zero_division=0))
    assert report.precision == pytest.approx(sk.precision_score(labels, predicted, average="micro", zero_division=0))
    assert report.confusion == sk.multilabel_confusion_matrix(labels, predicted).tolist()


def test_roc_auc_handles_ties_and_is_absent_for_one_class():
    scores = torch.tensor([[0.1], [0.5], [0.5], [0.5], [0.9], [0.5]])
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    assert classification_report(scores, labels).roc_auc == pytest.approx(sk.roc_auc_score(labels, scores[:, 0]))
    assert classification_report(scores, torch.ones(6, dtype=torch.long)).roc_auc is None


@pytest.mark.parametrize("threshold", [0.0, 1.0, 1.5])
def test_threshold_outside_zero_one_is_refused(threshold):
    with pytest.raises(UserInputError, match=f"threshold {threshold} must be between 0 and 1"):
        classification_report(_random(0, 4, 1), _labels(0, 2, 4), threshold=threshold)
    assert "between 0 and 1" in PtEvaluateClassificationModel.VALIDATE_INPUTS(threshold=threshold)


@pytest.fixture(scope="module")
def reviews(tiny_bert, reviews_csv, val_csv):
    encoder = build_token_encoder(str(tiny_bert))
    train = encode_text_dataset(str(reviews_csv), "train", "text", "label", encoder)
    val = encode_text_dataset(str(val_csv), "train", "text", "label", encoder)
    return train, val


@pytest.fixture(scope="module")
def trained(tiny_bert, reviews):
    train, val = reviews
    model = build_classification_model(str(tiny_bert), 1)
    return train_classifier(model, TextDataLoader(train, 8), OptimizerSpec("AdamW", 1e-3), LossSpec("bce_with_logits"),
                            TrainSettings(epochs=2, **SETTINGS), TextDataLoader(val, 16, shuffle=False))


def test_evaluate_node_outputs_json_accuracy_f1_and_a_confusion_image(trained, reviews):
    model, val = trained.model, reviews[1]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loader = TextDataLoader(val, 16, shuffle=False)
    output = PtEvaluateClassificationModel().evaluate(model, loader, device="cpu", precision="fp32")
    metrics_json, accuracy, f1, image = output["result"]
    metrics = json.loads(metrics_json)
    assert metrics["task"] == "binary" and metrics["count"] == len(val)
    assert {"accuracy", "precision", "recall", "f1", "roc_auc", "loss", "confusion"} <= set(metrics)
    assert accuracy == metrics["accuracy"] and f1 == metrics["f1"]
    assert sum(map(sum, metrics["confusion"])) == len(val)
    assert image.dtype == torch.float32 and image.ndim == 4 and image.shape[0] == 1 and image.shape[-1] == 3
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0 and float(image.std()) > 0
    assert output["ui"]["images"] == []  # outside ComfyUI nothing is written
    assert "accuracy" in output["ui"]["text"][0]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the input is not changed


def test_evaluate_agrees_with_the_trainer_and_takes_a_dataset_too(trained, reviews):
    val = reviews[1]
    from_loader = json.loads(PtEvaluateClassificationModel().evaluate(
        trained.model, TextDataLoader(val, 16, shuffle=False), device="cpu", precision="fp32")["result"][0])
    from_dataset = json.loads(PtEvaluateClassificationModel().evaluate(
        trained.model, val, batch_size=5, device="cpu", precision="fp32")["result"][0])
    assert from_loader["accuracy"] == pytest.approx(trained.final.val_accuracy)
    assert from_loader["loss"] == pytest.approx(trained.final.val_loss, rel=1e-5)
    assert from_dataset["accuracy"] == from_loader["accuracy"]
    assert from_dataset["loss"] == pytest.approx(from_loader["loss"], rel=1e-5)


def test_evaluate_node_preview_is_saved_to_comfyui_temp_folder(trained, reviews, tmp_path, monkeypatch):
    saved = []

    def get_save_image_path(prefix, folder, width, height):
        saved.append(prefix)
        return str(folder), prefix, 1, "", prefix

    fake = types.SimpleNamespace(get_temp_directory=lambda: str(tmp_path), get_save_image_path=get_save_image_path)
    monkeypatch.setitem(sys.modules, "folder_paths", fake)
    output = PtEvaluateClassificationModel().evaluate(trained.model, reviews[1], device="cpu", precision="fp32")
    (entry,) = output["ui"]["images"]
    assert entry["type"] == "temp" and (tmp_path / entry["filename"]).stat().st_size > 0
    assert saved[0].startswith("hf_text_finetune_confusion")


def test_plot_node_draws_the_training_history(trained):
    output = PtPlotTrainingCurves().plot(trained.model)
    (image,) = output["result"]
    assert tuple(image.shape) == (1, 320, 800, 3)
    assert float(image.std()) > 0


def test_plot_node_refuses_a_model_without_history(tiny_bert):
    with pytest.raises(UserInputError, match="no training history"):
        PtPlotTrainingCurves().plot(build_classification_model(str(tiny_bert), 1))


@pytest.mark.parametrize("history", [
    [{"epoch": 1, "train_loss": float("nan"), "val_loss": float("inf"), "val_accuracy": None}],
    [{"epoch": e, "train_loss": 0.5, "val_loss": 0.5, "val_accuracy": 0.5} for e in (1, 2, 3)],
    [],
])
def test_curves_survive_nan_flat_and_empty_series(history):
    image = render_training_curves(history, step_losses=[(0.5, float("nan"))])
    assert image.size == (800, 320)
    assert np.asarray(image).std() > 0


class PreviewHooks(RuntimeHooks):
    wants_previews = True

    def __init__(self):
        self.previews = []

    def progress(self, done, total, preview=None):
        if preview is not None:
            self.previews.append((done, total, preview))

    def training_preview(self, epochs, step_losses, title):
        return render_training_curves(epochs, step_losses, title)


def test_trainer_sends_live_curves_as_progress_previews(tiny_bert, reviews):
    train, val = reviews
    hooks = PreviewHooks()
    settings = TrainSettings(epochs=2, live_plot_interval_s=1e-6, log_every=2, **SETTINGS)
    train_classifier(build_classification_model(str(tiny_bert), 1), TextDataLoader(train, 8),
                     OptimizerSpec("AdamW", 1e-3), LossSpec("bce_with_logits"), settings,
                     TextDataLoader(val, 16, shuffle=False), hooks=hooks)
    assert len(hooks.previews) >= 3  # during the epochs, and a final one
    done, total, image = hooks.previews[-1]
    assert done == total and image.size == (800, 320)


def test_no_plot_is_drawn_for_hosts_without_previews(tiny_bert, reviews, monkeypatch):
    from hf_text_finetune.modules.host import RuntimeHooks as Hooks

    monkeypatch.setattr(Hooks, "training_preview", lambda *a, **k: pytest.fail("drew a plot nobody sees"))
    train = reviews[0]
    train_classifier(build_classification_model(str(tiny_bert), 1), TextDataLoader(train, 8),
                     OptimizerSpec("AdamW", 1e-3), LossSpec("bce_with_logits"),
                     TrainSettings(epochs=1, live_plot_interval_s=1e-6, log_every=1, **SETTINGS))


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
