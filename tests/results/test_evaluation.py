"""Pt Evaluate Classification Model: JSON metrics, accuracy, F1 and a confusion-matrix image
that agree with the trainer's validation numbers, on a loader or a dataset, with the preview
saved to ComfyUI's temp folder; labels the model never saw, or label names that do not fit
its outputs, are refused; text-labelled multi-class and multi-label data evaluate by name."""

from __future__ import annotations

import json
import sys
import types

import pytest
import torch
from helpers.data import write_csv, write_multilabel_jsonl, write_topics_csv
from helpers.models import ARCHITECTURES, same_state, state_snapshot

from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.results.evaluation import evaluate_classifier
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.training.settings import TrainSettings
from hf_text_finetune.nodes.data_nodes import HfTokenizerEncode, PtDataLoader, PtvHfDatasetWithTokenEncode
from hf_text_finetune.nodes.eval_nodes import PtEvaluateClassificationModel
from hf_text_finetune.nodes.loss_nodes import PtnBCEWithLogitsLoss, PtnCrossEntropyLoss
from hf_text_finetune.nodes.model_nodes import PtnHfFineTunedClassificationModel
from hf_text_finetune.nodes.optim_nodes import PtoAdamW
from hf_text_finetune.nodes.train_nodes import (PtTrainFineTuneClassificationTransformerModel,
                                                PtTrainTransformerClassificationModel)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")  # 0/0 ratios are 0


def test_evaluate_node_outputs_json_accuracy_f1_and_a_confusion_image(trained_bert, encoded_reviews):
    model, val = trained_bert.model, encoded_reviews[1]
    before = state_snapshot(model.network)
    loader = TextDataLoader(val, 16, shuffle=False)
    output = PtEvaluateClassificationModel().evaluate(model, loader, device="cpu", precision="fp32")
    metrics_json, accuracy, f1, image, ece, reliability = output["result"][:6]
    metrics = json.loads(metrics_json)
    assert ece == metrics["extra"]["calibration"]["ece"] and 0 <= ece <= 1 and reliability.shape[-1] == 3
    assert metrics["task"] == "binary" and metrics["count"] == len(val)
    assert {"accuracy", "precision", "recall", "f1", "roc_auc", "loss", "confusion"} <= set(metrics)
    assert accuracy == metrics["accuracy"] and f1 == metrics["f1"]
    assert sum(map(sum, metrics["confusion"])) == len(val)
    assert image.dtype == torch.float32 and image.ndim == 4 and image.shape[0] == 1 and image.shape[-1] == 3
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0 and float(image.std()) > 0
    assert output["ui"]["images"] == []  # outside ComfyUI nothing is written
    assert "accuracy" in output["ui"]["text"][0]
    assert same_state(before, state_snapshot(model.network))  # the input is not changed


def test_evaluate_agrees_with_the_trainer_and_takes_a_dataset_too(trained_bert, encoded_reviews):
    val = encoded_reviews[1]
    from_loader = json.loads(PtEvaluateClassificationModel().evaluate(
        trained_bert.model, TextDataLoader(val, 16, shuffle=False), device="cpu", precision="fp32")["result"][0])
    from_dataset = json.loads(PtEvaluateClassificationModel().evaluate(
        trained_bert.model, val, batch_size=5, device="cpu", precision="fp32")["result"][0])
    assert from_loader["accuracy"] == pytest.approx(trained_bert.final.val_accuracy)
    assert from_loader["loss"] == pytest.approx(trained_bert.final.val_loss, rel=1e-5)
    assert from_dataset["accuracy"] == from_loader["accuracy"]
    assert from_dataset["loss"] == pytest.approx(from_loader["loss"], rel=1e-5)


def test_evaluate_node_preview_is_saved_to_comfyui_temp_folder(trained_bert, encoded_reviews, tmp_path,
                                                               monkeypatch):
    saved = []

    def get_save_image_path(prefix, folder, width, height):
        saved.append(prefix)
        return str(folder), prefix, 1, "", prefix

    fake = types.SimpleNamespace(get_temp_directory=lambda: str(tmp_path), get_save_image_path=get_save_image_path)
    monkeypatch.setitem(sys.modules, "folder_paths", fake)
    output = PtEvaluateClassificationModel().evaluate(trained_bert.model, encoded_reviews[1], device="cpu",
                                                      precision="fp32")
    (entry,) = output["ui"]["images"]
    assert entry["type"] == "temp" and (tmp_path / entry["filename"]).stat().st_size > 0
    assert saved[0].startswith("hf_text_finetune_confusion")


# --- labels the model does not know ----------------------------------------------------------------

FAST = TrainSettings(epochs=1, precision="fp32", device="cpu")


def test_evaluation_labels_the_model_never_saw_are_an_error(tmp_path, tiny_bert, encoder, topics):
    model = train_classifier(build_classification_model(str(tiny_bert), 3), TextDataLoader(topics, 8),
                             OptimizerSpec("AdamW", 1e-3), LossSpec("cross_entropy"), FAST).model
    assert model.label_names == ["meh", "neg", "pos"]
    other = encode_text_dataset(str(write_topics_csv(tmp_path / "other.csv", rows=4, labels=("pos", "ugly"))),
                                "train", "text", "label", encoder)
    with pytest.raises(UserInputError, match=r"labels \['ugly'\].*never saw"):
        evaluate_classifier(model, other, device="cpu", precision="fp32")
    too_big = encode_text_dataset(str(write_csv(tmp_path / "ints.csv", [("a wonderful film", 5),
                                                                         ("a terrible film", 0)])),
                                  "train", "text", "label", encoder)
    with pytest.raises(UserInputError, match=r"labels \[5\] .*outside the model's 3 outputs"):
        evaluate_classifier(model, too_big, device="cpu", precision="fp32")


def test_label_names_that_do_not_match_the_outputs_are_an_error(tiny_bert, topics):
    model = build_classification_model(str(tiny_bert), 3)
    model.label_names = ["neg", "pos"]
    with pytest.raises(UserInputError, match=r"3 outputs but 2 label names"):
        evaluate_classifier(model, topics, device="cpu", precision="fp32")


# --- through the nodes, as a workflow runs them ---------------------------------------------------------

def _node_pipeline(model_folder, data_path, label_field, outputs, loss, epochs=1, trainer=None, **trainer_kw):
    encode = HfTokenizerEncode().build(str(model_folder), 0, True)[0]
    data = PtvHfDatasetWithTokenEncode().load(str(data_path), "train", "text", label_field, encode, True, True)[0]
    loader = PtDataLoader().build(data, 8, True, 0, True)[0]
    val_loader = PtDataLoader().build(data, 16, False, 0, False)[0]
    model = PtnHfFineTunedClassificationModel().build(str(model_folder), outputs, "cls", 0.1)[0]
    optimizer = PtoAdamW().build(1e-3, 0.9, 0.999, 0.0, False)[0]
    trainer = trainer or PtTrainTransformerClassificationModel()
    output = trainer.train(model, loader, optimizer, loss, epochs, 0, val_loader=val_loader, device="cpu",
                           precision="fp32", **trainer_kw)
    return output, val_loader


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_text_labelled_multi_class_data_trains_and_evaluates_for_every_architecture(arch, tiny_models, tmp_path):
    path = write_topics_csv(tmp_path / "topics.csv", rows=24)
    loss = PtnCrossEntropyLoss().build("mean", 0.0, "")[0]
    output, val_loader = _node_pipeline(tiny_models[arch], path, "label", 3, loss)
    model = output["result"][0]
    assert model.label_names == ["meh", "neg", "pos"]
    assert model.problem_type == "single_label_classification"
    evaluated = PtEvaluateClassificationModel().evaluate(model, val_loader, device="cpu", precision="fp32")
    metrics_json, accuracy, _, image, _, _ = evaluated["result"][:6]
    metrics = json.loads(metrics_json)
    assert metrics["task"] == "multiclass" and metrics["label_names"] == ["meh", "neg", "pos"]
    assert accuracy == pytest.approx(output["result"][2])  # the trainer's validation accuracy, same data
    assert image.shape[0] == 1 and image.shape[-1] == 3


def test_multi_label_training_reports_per_label_metrics(tmp_path, tiny_bert):
    path = write_multilabel_jsonl(tmp_path / "multi.jsonl", rows=28)
    loss = PtnBCEWithLogitsLoss().build("mean", 1.0)[0]
    output, val_loader = _node_pipeline(tiny_bert, path, "labels", 3, loss, epochs=2,
                                        trainer=PtTrainFineTuneClassificationTransformerModel(),
                                        freeze_pretrained_module_epochs=1)
    model = output["result"][0]
    assert model.problem_type == "multi_label_classification"
    report = json.loads(PtEvaluateClassificationModel().evaluate(model, val_loader, threshold=0.4,
                                                                 device="cpu", precision="fp32")["result"][0])
    assert report["task"] == "multilabel" and report["threshold"] == 0.4
    assert [row["label"] for row in report["per_class"]] == ["meh", "neg", "pos"]
    assert {"f1_micro", "f1_macro", "accuracy"} <= set(report)
    assert len(report["confusion"]) == 3  # one 2x2 table per label
