"""Issue 4, training options: early stopping and the best epoch's weights, a seeded
stratified validation split, class-imbalance weights from label counts, and the
multi-class example workflow run headless on tiny local models."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.training.early_stopping import EarlyStopping
from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.results.evaluation import evaluate_classifier
from hf_text_finetune.modules.training.losses import LossSpec, resolve_auto_weights
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.settings import TrainSettings
from hf_text_finetune.modules.data.splits import split_train_validation
from hf_text_finetune.nodes.data_split_nodes import PtvTrainValidationSplit
from hf_text_finetune.nodes.loss_nodes import PtnBCEWithLogitsLoss, PtnCrossEntropyLoss
from hf_text_finetune.nodes.train_nodes import (PtTrainFineTuneClassificationTransformerModel,
                                                PtTrainTransformerClassificationModel)
from hf_text_finetune.runner.cli import run_file
from hf_text_finetune.runner.executor import Executor
from issue4_data import write_imbalanced_csv, write_multilabel_jsonl, write_topics_csv

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = dict(precision="fp32", device="cpu")
NEVER_IMPROVES = 1e9  # a min_delta no epoch can beat: the first epoch stays the best


@pytest.fixture(scope="module")
def encoder(tiny_bert):
    return build_token_encoder(str(tiny_bert))


@pytest.fixture(scope="module")
def reviews(encoder, reviews_csv, val_csv):
    return (encode_text_dataset(str(reviews_csv), "train", "text", "label", encoder),
            encode_text_dataset(str(val_csv), "train", "text", "label", encoder))


def _train(model_folder, data, val=None, loss=None, epochs=3, outputs=1, **settings):
    model = build_classification_model(str(model_folder), outputs)
    return train_classifier(model, TextDataLoader(data, 8), OptimizerSpec("AdamW", 1e-3),
                            loss or LossSpec("bce_with_logits"), TrainSettings(epochs=epochs, **SETTINGS, **settings),
                            TextDataLoader(val, 16, shuffle=False) if val is not None else None)


# --- early stopping and the best epoch ---------------------------------------------------------------

def test_early_stopping_ends_training_after_patience_epochs_without_improvement(tiny_bert, reviews):
    result = _train(tiny_bert, *reviews, epochs=6, early_stopping_patience=2, early_stopping_min_delta=NEVER_IMPROVES)
    assert [m.epoch for m in result.history] == [1, 2, 3]
    assert "early stopping after epoch 3" in result.summary()
    assert "epoch 3/6" in result.summary()


def test_restore_best_weights_returns_the_best_epoch_not_the_last(tiny_bert, reviews):
    train, val = reviews
    result = _train(tiny_bert, train, val, epochs=2, restore_best_weights=True,
                    early_stopping_metric="val_accuracy", early_stopping_min_delta=NEVER_IMPROVES)
    assert len(result.history) == 2 and result.restored_epoch == 1
    report = evaluate_classifier(result.model, TextDataLoader(val, 16, shuffle=False), device="cpu", precision="fp32")
    first, last = result.history[0], result.history[-1]
    assert report.loss == pytest.approx(first.val_loss, rel=1e-5)
    assert report.loss != pytest.approx(last.val_loss, rel=1e-5)
    assert result.final is first  # the node's val_accuracy/val_loss outputs describe the returned model
    assert "restored its weights" in result.summary()


def test_early_stopping_and_best_weights_need_a_validation_loader(tiny_bert, reviews):
    with pytest.raises(UserInputError, match="early_stopping_patience needs a val_loader"):
        _train(tiny_bert, reviews[0], epochs=2, early_stopping_patience=1)
    with pytest.raises(UserInputError, match="restore_best_weights needs a val_loader"):
        _train(tiny_bert, reviews[0], epochs=2, restore_best_weights=True)


def test_early_stopping_compares_in_the_metric_direction_and_keeps_a_private_copy():
    model = torch.nn.Linear(2, 1)
    tracker = EarlyStopping("val_accuracy", patience=2, min_delta=0.01, restore_best=True)
    assert not tracker.update(1, 0.70, model)
    best = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    assert not tracker.update(2, 0.705, model)  # not better by more than min_delta
    assert tracker.update(3, float("nan"), model)  # NaN never improves: second bad epoch stops
    assert tracker.best_epoch == 1 and tracker.stopped_after == 3
    assert tracker.restore(model, last_epoch=3)
    assert torch.equal(model.weight, best)
    with pytest.raises(UserInputError, match="metric 'f1' is unknown"):
        EarlyStopping("f1")


def test_both_trainer_nodes_offer_early_stopping(tiny_bert, reviews):
    from hf_text_finetune.modules.training.optimizers import OptimizerSpec as Spec

    train, val = reviews
    for node in (PtTrainTransformerClassificationModel, PtTrainFineTuneClassificationTransformerModel):
        optional = node.INPUT_TYPES()["optional"]
        assert {"early_stopping_patience", "early_stopping_metric", "early_stopping_min_delta",
                "restore_best_weights"} <= set(optional)
    output = PtTrainFineTuneClassificationTransformerModel().train(
        build_classification_model(str(tiny_bert), 1), TextDataLoader(train, 8), Spec("AdamW", 1e-3),
        LossSpec("bce_with_logits"), 4, 0, val_loader=TextDataLoader(val, 16, shuffle=False),
        freeze_pretrained_module_epochs=1, early_stopping_patience=1, early_stopping_min_delta=NEVER_IMPROVES,
        restore_best_weights=True, **SETTINGS)
    model, text, val_accuracy, val_loss, _ = output["result"]
    assert [row["epoch"] for row in model.history] == [1, 2]  # the frozen epoch stays best; epoch 2 stops it
    assert val_loss == pytest.approx(model.history[0]["val_loss"])
    assert "restored its weights" in text


# --- validation split ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory, encoder):
    path = write_imbalanced_csv(tmp_path_factory.mktemp("imbalanced") / "skewed.csv", positives=12, negatives=36)
    return encode_text_dataset(str(path), "train", "text", "label", encoder)


def test_validation_split_is_stratified_disjoint_and_seeded(imbalanced):
    train, val = split_train_validation(imbalanced, 0.25, seed=3)
    train_labels, val_labels = np.array(train.data["labels"]), np.array(val.data["labels"])
    assert len(train) + len(val) == len(imbalanced) and len(val) == 12
    assert np.bincount(val_labels).tolist() == [9, 3]  # 25% of 36 negatives and of 12 positives
    assert np.bincount(train_labels).tolist() == [27, 9]
    rows = lambda part: Counter(map(tuple, part.data["input_ids"]))  # noqa: E731
    assert rows(train) + rows(val) == rows(imbalanced)  # together exactly the original rows, none twice
    again = split_train_validation(imbalanced, 0.25, seed=3)[1]
    other = split_train_validation(imbalanced, 0.25, seed=4)[1]
    assert again.data["input_ids"] == val.data["input_ids"]
    assert other.data["input_ids"] != val.data["input_ids"]
    assert train.fingerprint != val.fingerprint != imbalanced.fingerprint


def test_validation_split_keeps_a_rare_class_on_both_sides_and_its_names(tmp_path, encoder):
    path = write_topics_csv(tmp_path / "rare.csv", rows=22, labels=("pos",) * 10 + ("neg",) * 10 + ("meh",) * 2)
    data = encode_text_dataset(str(path), "train", "text", "label", encoder)
    train, val = PtvTrainValidationSplit().split(data, 0.1, 0, True)
    assert train.label_names == val.label_names == ["meh", "neg", "pos"]
    assert 0 in train.data["labels"] and 0 in val.data["labels"]


def test_validation_split_of_multi_label_data_is_random_but_seeded(tmp_path, encoder):
    data = encode_text_dataset(str(write_multilabel_jsonl(tmp_path / "m.jsonl", rows=20)), "train", "text",
                               "labels", encoder)
    train, val = split_train_validation(data, 0.2, seed=1)
    assert len(val) == 4 and len(train) == 16 and val.multi_label
    assert split_train_validation(data, 0.2, seed=1)[1].data["labels"] == val.data["labels"]


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_validation_fraction_must_leave_rows_on_both_sides(imbalanced, fraction):
    with pytest.raises(UserInputError, match="validation_fraction"):
        split_train_validation(imbalanced, fraction)
    assert "validation_fraction" in PtvTrainValidationSplit.VALIDATE_INPUTS(validation_fraction=fraction)


# --- class imbalance -------------------------------------------------------------------------------

def test_auto_pos_weight_is_negatives_over_positives(imbalanced):
    spec = PtnBCEWithLogitsLoss().build("mean", 1.0, auto_pos_weight=True)[0]
    assert spec.auto_weights
    resolved = resolve_auto_weights(spec, imbalanced, 1)
    assert resolved.pos_weight == pytest.approx(36 / 12) and not resolved.auto_weights


def test_auto_class_weights_are_scikit_learn_balanced_weights(tmp_path, encoder):
    path = write_topics_csv(tmp_path / "skew.csv", rows=21, labels=("pos",) * 4 + ("neg",) * 2 + ("meh",))
    data = encode_text_dataset(str(path), "train", "text", "label", encoder)
    spec = PtnCrossEntropyLoss().build("mean", 0.0, "auto")[0]
    resolved = resolve_auto_weights(spec, data, 3)
    labels = np.array(data.data["labels"])
    assert resolved.class_weights == pytest.approx(compute_class_weight("balanced", classes=np.arange(3), y=labels))


def test_auto_pos_weight_is_per_label_for_multi_label(tmp_path, encoder):
    data = encode_text_dataset(str(write_multilabel_jsonl(tmp_path / "m.jsonl", rows=30)), "train", "text",
                               "labels", encoder)
    labels = np.array(data.data["labels"])
    positives = labels.sum(axis=0)
    resolved = resolve_auto_weights(LossSpec("bce_with_logits", auto_weights=True), data, 3)
    assert resolved.pos_weight == pytest.approx(tuple((len(labels) - positives) / positives))


def test_training_with_auto_weights_equals_training_with_the_computed_weights(tiny_bert, imbalanced):
    auto = _train(tiny_bert, imbalanced, epochs=1, loss=LossSpec("bce_with_logits", auto_weights=True))
    manual = _train(tiny_bert, imbalanced, epochs=1, loss=LossSpec("bce_with_logits", pos_weight=3.0))
    unweighted = _train(tiny_bert, imbalanced, epochs=1)
    assert auto.final.train_loss == pytest.approx(manual.final.train_loss)
    assert auto.final.train_loss != pytest.approx(unweighted.final.train_loss)
    assert "pos_weight 3" in auto.summary()


def test_explicit_class_weights_must_match_the_outputs(tiny_bert, tmp_path, encoder):
    data = encode_text_dataset(str(write_topics_csv(tmp_path / "t.csv", rows=9)), "train", "text", "label", encoder)
    with pytest.raises(UserInputError, match=r"class_weights \[1.0, 2.0\] has 2 values but the model has 3"):
        _train(tiny_bert, data, epochs=1, outputs=3, loss=LossSpec("cross_entropy", class_weights=(1.0, 2.0)))


# --- the multi-class example workflow ----------------------------------------------------------------

def test_multiclass_example_is_a_template_too():
    source = ROOT / "examples" / "workflows" / "ag_news_multiclass.json"
    assert (ROOT / "example_workflows" / source.name).read_bytes() == source.read_bytes()
    types = {node["type"] for node in json.loads(source.read_text())["nodes"]}
    assert {"PtvTrainValidationSplit", "PtEvaluateClassificationModel", "PtPlotTrainingCurves",
            "PtnCrossEntropyLoss"} <= types
    model_node = next(node for node in json.loads(source.read_text())["nodes"]
                      if node["type"] == "PtnHfFineTunedClassificationModel")
    assert "hf_sequence_classification" in model_node["widgets_values"]


def model_of(prompt, result, class_type):
    return next(result.outputs[nid][0] for nid, node in prompt.items() if node["class_type"] == class_type)


def test_multiclass_example_workflow_runs_headless_and_repeats(tmp_path, tiny_models):
    model = shutil.copytree(tiny_models["distilbert"], tmp_path / "model")
    train = write_topics_csv(tmp_path / "train.csv", rows=45, seed=0)
    test = write_topics_csv(tmp_path / "test.csv", rows=15, seed=1)
    overrides = [f"Model name.value={model}", f"Train dataset.name={train}", "Train dataset.split=train",
                 f"Test dataset.name={test}", "Test dataset.split=train",
                 "PtnHfFineTunedClassificationModel.num_outputs=3", "PtoAdamW.learning_rate=0.003",
                 "Train loader.batch_size=4", "PtTrainTransformerClassificationModel.device=cpu",
                 "PtTrainTransformerClassificationModel.precision=fp32", "Evaluate on test.device=cpu"]
    executor = Executor(__import__("hf_text_finetune.runner.cli", fromlist=["node_classes"]).node_classes())
    prompt, first = run_file(str(ROOT / "examples" / "workflows" / "ag_news_multiclass.json"), overrides, executor)
    evaluate = next(nid for nid, node in prompt.items() if node["class_type"] == "PtEvaluateClassificationModel")
    metrics = json.loads(first.outputs[evaluate][0])
    assert metrics["task"] == "multiclass" and metrics["label_names"] == ["meh", "neg", "pos"]
    assert model_of(prompt, first, "PtTrainTransformerClassificationModel").head_type == "hf_sequence_classification"
    assert metrics["count"] == 15
    curves = next(nid for nid, node in prompt.items() if node["class_type"] == "PtPlotTrainingCurves")
    assert tuple(first.outputs[curves][0].shape) == (1, 320, 800, 3)
    history = model_of(prompt, first, "PtTrainTransformerClassificationModel").history
    assert history[-1]["train_loss"] < history[0]["train_loss"]  # it learns
    _, second = run_file(str(ROOT / "examples" / "workflows" / "ag_news_multiclass.json"), overrides, executor)
    assert second.outputs[evaluate][0] == first.outputs[evaluate][0]  # queued again: same metrics, no state leak
