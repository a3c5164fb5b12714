"""Early stopping: training ends after `patience` epochs without improvement in the chosen
metric's direction, the best epoch's weights can be restored (and the node's outputs then
describe them), both trainer nodes offer it, and it needs a validation loader."""

from __future__ import annotations

import pytest
import torch

from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.results.evaluation import evaluate_classifier
from hf_text_finetune.modules.training.early_stopping import EarlyStopping
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.training.settings import TrainSettings
from hf_text_finetune.nodes.train_nodes import (PtTrainFineTuneClassificationTransformerModel,
                                                PtTrainTransformerClassificationModel)

SETTINGS = dict(precision="fp32", device="cpu")
NEVER_IMPROVES = 1e9  # a min_delta no epoch can beat: the first epoch stays the best


@pytest.fixture(scope="module")
def reviews(encoder, reviews_csv, val_csv):
    return (encode_text_dataset(str(reviews_csv), "train", "text", "label", encoder),
            encode_text_dataset(str(val_csv), "train", "text", "label", encoder))


def _train(model_folder, data, val=None, loss=None, epochs=3, outputs=1, **settings):
    model = build_classification_model(str(model_folder), outputs)
    return train_classifier(model, TextDataLoader(data, 8), OptimizerSpec("AdamW", 1e-3),
                            loss or LossSpec("bce_with_logits"), TrainSettings(epochs=epochs, **SETTINGS, **settings),
                            TextDataLoader(val, 16, shuffle=False) if val is not None else None)


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
    model = torch.nn.Linear(2, 1)  # the tracker works on any network
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
