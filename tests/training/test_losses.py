"""The loss nodes: BCE with pos_weight and reduction, cross-entropy with label smoothing and
class weights; "auto" weights computed from the training labels as scikit-learn's balanced
weights (per label for multi-label data) train exactly like the same weights given by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers.data import write_multilabel_jsonl, write_topics_csv
from helpers.nodes import LEARNING_LR, Pipeline, adamw_node, bce_node, run_node, validate_node
from sklearn.utils.class_weight import compute_class_weight

from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.losses import LossSpec, resolve_auto_weights
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.training.settings import TrainSettings
from hf_text_finetune.nodes.loss_nodes import PtnBCEWithLogitsLoss, PtnCrossEntropyLoss


def _train(model_folder, data, loss=None, epochs=1, outputs=1):
    model = build_classification_model(str(model_folder), outputs)
    return train_classifier(model, TextDataLoader(data, 8), OptimizerSpec("AdamW", 1e-3),
                            loss or LossSpec("bce_with_logits"),
                            TrainSettings(epochs=epochs, precision="fp32", device="cpu"))


def test_bce_pos_weight_weighs_positive_samples():
    spec = bce_node(pos_weight=3.0)
    loss = spec.build(torch.device("cpu"))
    logits, labels = torch.zeros(2, 1), torch.tensor([1, 0])
    per_sample = torch.nn.functional.binary_cross_entropy_with_logits(torch.zeros(2), torch.tensor([1.0, 0.0]),
                                                                       reduction="none")
    assert float(loss(*spec.targets(labels, logits))) == pytest.approx(float((3 * per_sample[0] + per_sample[1]) / 2))
    plain = bce_node(pos_weight=1.0)
    assert plain.pos_weight is None
    summed = bce_node(reduction="sum")
    assert float(summed.build(torch.device("cpu"))(*summed.targets(labels, logits))) == pytest.approx(2 * math.log(2))


def test_bce_pos_weight_zero_is_refused_at_queue_time():
    message = validate_node("PtnBCEWithLogitsLoss", pos_weight=0.0)
    assert isinstance(message, str) and "pos_weight 0.0" in message and "above 0" in message


def test_cross_entropy_node_passes_smoothing_and_class_weights():
    spec = run_node("PtnCrossEntropyLoss", reduction="mean", label_smoothing=0.1, class_weights="1, 2.5, 1")[0]
    loss = spec.build(torch.device("cpu"))
    assert isinstance(loss, torch.nn.CrossEntropyLoss)
    assert loss.label_smoothing == 0.1 and loss.weight.tolist() == [1.0, 2.5, 1.0]
    message = validate_node("PtnCrossEntropyLoss", class_weights="1, heavy")
    assert isinstance(message, str) and "'1, heavy'" in message and "comma" in message


def test_cross_entropy_trains_a_three_class_model(tiny_models, three_class_csv):
    pipeline = Pipeline(tiny_models["distilbert"], three_class_csv, three_class_csv, num_outputs=3)
    loss = run_node("PtnCrossEntropyLoss", reduction="mean", label_smoothing=0.0, class_weights="")[0]
    model, metrics, val_accuracy, val_loss, train_loss = pipeline.train(loss=loss, epochs=3,
                                                                        optimizer=adamw_node(LEARNING_LR))
    assert model.num_outputs == 3 and 0.0 <= val_accuracy <= 1.0
    assert model.history[-1]["train_loss"] < model.history[0]["train_loss"]
    assert "epoch 3/3" in metrics


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
