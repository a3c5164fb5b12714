"""Regression (one score per text, such as STS-B's 0-5 similarity): the MSE Loss node (MSE, or Huber with
its delta) learns float labels with one output; float labels with a classification loss, class labels
with a regression loss, several outputs and early stopping on val_accuracy are refused with the loss or
setting that fits; the epoch lines show validation MAE and Pearson instead of accuracy, and early stopping
on val_loss works."""

from __future__ import annotations

import pytest
import torch
from helpers.checks import raises_with, refused
from helpers.data import write_csv, write_pairs_csv
from helpers.nodes import run_node, validate_node

from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.model.classifier import REGRESSION
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.training.settings import TrainSettings


def mse_node(kind: str = "mse", huber_delta: float = 1.0, reduction: str = "mean"):
    return run_node("PtnMSELoss", reduction=reduction, kind=kind, huber_delta=huber_delta)[0]


@pytest.fixture(scope="module")
def scores(tmp_path_factory, encoder):
    """40 STS-B-shaped pairs with fractional scores 0.2-4.8, tokenized as pairs."""
    path = write_pairs_csv(tmp_path_factory.mktemp("sts") / "sts.csv", rows=40, scores=True)
    return encode_text_dataset(str(path), "train", ("sentence1", "sentence2"), "label", encoder)


def _train(model, data, loss, epochs=1, val=None, **settings):
    return train_classifier(model, TextDataLoader(data, 8, seed=0), OptimizerSpec("AdamW", 1e-2), loss,
                            TrainSettings(epochs=epochs, device="cpu", precision="fp32", **settings),
                            TextDataLoader(val, 8, shuffle=False) if val is not None else None)


def test_the_loss_node_builds_mse_or_huber_with_its_delta():
    scores, labels = torch.tensor([[1.0], [4.0]]), torch.tensor([1.5, 1.0])
    mse, huber = mse_node(), mse_node("huber", 1.0)
    assert mse.is_regression and huber.is_regression and not mse.is_binary
    assert float(mse.build(torch.device("cpu"))(*mse.targets(labels, scores))) == pytest.approx((0.25 + 9) / 2)
    expected = (0.5 * 0.25 + (3.0 - 0.5)) / 2  # squared below delta 1, linear above
    assert float(huber.build(torch.device("cpu"))(*huber.targets(labels, scores))) == pytest.approx(expected)
    refused(validate_node("PtnMSELoss", huber_delta=0.0), "huber_delta 0.0", "above 0")
    assert validate_node("PtnMSELoss", huber_delta=0.5) is True


def test_float_labels_are_scores_the_dataset_node_keeps(scores):
    low, high = scores.score_range
    assert scores.fractional_labels and 0 < low < 1 and 4 < high < 5
    assert all(isinstance(v, float) for v in scores.data["labels"])


def test_a_regression_model_learns_the_scores_with_one_output(tiny_bert, scores):
    result = _train(build_classification_model(str(tiny_bert), 1, seed=0), scores, mse_node(), epochs=6, val=scores)
    first, last = result.history[0], result.history[-1]
    assert last.val_loss < first.val_loss and last.val_pearson > 0.5
    assert last.val_accuracy is None and last.train_accuracy is None
    assert "val MAE" in last.line(6) and "val Pearson" in last.line(6) and "accuracy" not in last.line(6)
    assert result.model.problem_type == REGRESSION and result.model.output_kind == "regression"
    assert result.model.text_pairs and result.model.label_names is None


def test_float_labels_with_a_classification_loss_are_refused_naming_the_regression_loss(tiny_bert, scores):
    for outputs, loss in ((1, LossSpec("bce_with_logits")), (2, LossSpec("cross_entropy"))):
        model = build_classification_model(str(tiny_bert), outputs, seed=0)
        raises_with(lambda: _train(model, scores, loss), "float scores", "Ptn MSE Loss", "num_outputs 1")


def test_class_labels_with_a_regression_loss_are_refused_naming_the_classification_losses(tiny_bert, tmp_path,
                                                                                         topics):
    ints = encode_text_dataset(str(write_csv(tmp_path / "ints.csv", [("a wonderful film", 1), ("a bad film", 0)])),
                               "train", "text", "label", build_token_encoder(str(tiny_bert)))
    model = build_classification_model(str(tiny_bert), 1, seed=0)
    raises_with(lambda: _train(model, ints, mse_node()), "class labels", "Ptn Cross Entropy Loss",
                "Ptn BCE With Logits Loss", "as floats")
    raises_with(lambda: _train(model, topics, mse_node("huber")), "['meh', 'neg', 'pos']", "HUBER",
                "num_outputs 3")


def test_regression_needs_one_output(tiny_bert, scores):
    model = build_classification_model(str(tiny_bert), 2, seed=0)
    raises_with(lambda: _train(model, scores, mse_node()), "one output", "num_outputs to 1")


def test_whole_number_float_labels_serve_both_classes_and_scores(tiny_bert, tmp_path):
    path = write_csv(tmp_path / "whole.csv", [("a wonderful film", 1.0), ("a terrible film", 0.0)] * 4)
    data = encode_text_dataset(str(path), "train", "text", "label", build_token_encoder(str(tiny_bert)))
    assert not data.fractional_labels and data.score_range == (0.0, 1.0) and data.label_values == [0, 1]
    _train(build_classification_model(str(tiny_bert), 1, seed=0), data, LossSpec("bce_with_logits"))
    _train(build_classification_model(str(tiny_bert), 1, seed=0), data, mse_node())


def test_early_stopping_goes_by_val_loss_not_val_accuracy(tiny_bert, scores):
    model = build_classification_model(str(tiny_bert), 1, seed=0)
    raises_with(lambda: _train(model, scores, mse_node(), epochs=2, val=scores, early_stopping_patience=1,
                               early_stopping_metric="val_accuracy"),
                "val_accuracy does not exist for regression", "val_loss")
    result = train_classifier(model, TextDataLoader(scores, 8, seed=0), OptimizerSpec("AdamW", 0.05), mse_node(),
                              TrainSettings(epochs=6, device="cpu", precision="fp32", early_stopping_patience=1,
                                            restore_best_weights=True),
                              TextDataLoader(scores, 8, shuffle=False))
    assert result.best_epoch is not None and any("val_loss" in note for note in result.notes)
    assert result.final.val_loss == min(m.val_loss for m in result.history)


def test_the_frozen_phase_learns_scores_too(tiny_bert, scores):
    result = _train(build_classification_model(str(tiny_bert), 1, seed=0), scores, mse_node(), epochs=2, val=scores,
                    freeze_pretrained_module_epochs=1)
    frozen = result.history[0]
    assert frozen.phase == "frozen" and frozen.val_accuracy is None and frozen.val_mae is not None
    assert "[frozen]" in frozen.line(2) and "val Pearson" in frozen.line(2)


def test_a_validation_split_of_scores_is_random_and_keeps_them_scores(scores):
    from hf_text_finetune.modules.data.splits import split_train_validation

    train, val = split_train_validation(scores, 0.25, seed=0)
    assert len(train) == 30 and len(val) == 10
    assert train.fractional_labels and val.fractional_labels and val.label_values == []
    assert val.score_range == (min(val.data["labels"]), max(val.data["labels"]))


def test_training_curves_show_pearson_for_regression(tiny_bert, scores):
    model = _train(build_classification_model(str(tiny_bert), 1, seed=0), scores, mse_node(), epochs=2,
                   val=scores).model
    (curves,) = run_node("PtPlotTrainingCurves", model=model)
    assert tuple(curves.shape) == (1, 300, 640, 3)
