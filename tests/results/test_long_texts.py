"""A classifier trained on sliding windows or head+tail: evaluation counts texts, Predict gives one
prediction per text read as in training, and the settings survive save and load (and the card says so)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers.data import write_csv

from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.data.truncation import Truncation
from hf_text_finetune.modules.data.windows import Windows
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.results.evaluation import evaluate_classifier
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.prediction import predict_logits, predict_texts
from hf_text_finetune.modules.results.saving import save_classifier
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.training.settings import TrainSettings

LONG_GOOD = " ".join(["great acting and a moving story"] * 600)  # about 3,000 tokens
LONG_BAD = " ".join(["boring plot and wooden acting"] * 40)
ROWS = [(LONG_GOOD, 1), ("a terrible film", 0), (LONG_BAD, 0), ("a wonderful film", 1), ("dull and stupid", 0),
        ("brilliant and funny", 1)]
WINDOWS = Windows(size=48, stride=24, combine="mean")


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("long") / "long.csv", ROWS * 2)


def _train(model_folder, data, head="hf_sequence_classification", **encoding):
    encoder = build_token_encoder(str(model_folder), 0, **encoding)
    dataset = encode_text_dataset(str(data), "train", "text", "label", encoder)
    model = build_classification_model(str(model_folder), 1, head_type=head, seed=0)
    result = train_classifier(model, TextDataLoader(dataset, 8), OptimizerSpec("AdamW", 1e-3),
                              LossSpec("bce_with_logits"), TrainSettings(epochs=1, precision="fp32", device="cpu"))
    return result.model, dataset


@pytest.fixture(scope="module")
def windowed_model(tiny_bert, long_csv):
    return _train(tiny_bert, long_csv, windows=WINDOWS)


def test_a_3000_token_text_gives_exactly_one_prediction(windowed_model):
    model, _ = windowed_model
    assert model.windows == WINDOWS
    predictions = predict_texts(model, [LONG_GOOD, "a wonderful film"])
    assert len(predictions) == 2
    logits = predict_logits(model, [LONG_GOOD])
    assert logits.shape == (1, 1)


def test_the_prediction_of_a_long_text_is_the_mean_of_its_windows(windowed_model):
    model, _ = windowed_model
    encoder = build_token_encoder(model.model_name, 0, windows=WINDOWS)
    encoded = encoder([LONG_GOOD])
    assert len(encoded["input_ids"]) > 5
    with torch.no_grad():
        rows = model.tokenizer.pad({"input_ids": encoded["input_ids"]}, return_tensors="pt")
        windows = model.network(input_ids=rows["input_ids"], attention_mask=rows["attention_mask"])
    assert torch.allclose(predict_logits(model, [LONG_GOOD]), windows.mean(dim=0, keepdim=True), atol=1e-5)
    as_max = dataclasses.replace(model, windows=dataclasses.replace(WINDOWS, combine="max"))
    assert torch.allclose(predict_logits(as_max, [LONG_GOOD]), windows.max(dim=0, keepdim=True).values, atol=1e-5)


def test_evaluation_counts_each_text_once(windowed_model):
    model, dataset = windowed_model
    assert len(dataset) > 2 * dataset.text_count
    report = evaluate_classifier(model, dataset, device="cpu", precision="fp32")
    assert report.count == len(ROWS) * 2
    assert sum(map(sum, report.confusion)) == len(ROWS) * 2
    by_text = predict_texts(model, [text for text, _ in ROWS * 2])  # Predict and Evaluate agree text by text
    hits = sum((p.label == str(label)) for p, (_, label) in zip(by_text, ROWS * 2))
    assert report.accuracy == pytest.approx(hits / (len(ROWS) * 2))


def test_validation_during_training_counts_texts(tiny_bert, long_csv, windowed_model):
    model, dataset = windowed_model
    result = train_classifier(model, TextDataLoader(dataset, 8), OptimizerSpec("AdamW", 1e-3),
                              LossSpec("bce_with_logits"), TrainSettings(epochs=1, precision="fp32", device="cpu"),
                              TextDataLoader(dataset, 16, shuffle=False))
    report = evaluate_classifier(result.model, dataset, device="cpu", precision="fp32")
    assert result.history[-1].val_accuracy == pytest.approx(report.accuracy)


def test_window_settings_survive_save_and_load_and_the_card_says_pipeline_does_not_split(windowed_model, tmp_path):
    model, _ = windowed_model
    saved = save_classifier(model, tmp_path, "windows")
    assert saved.manifest["windows"] == WINDOWS.to_dict()
    loaded = load_classifier(saved.folder)
    assert loaded.windows == WINDOWS and loaded.truncation_rule == model.truncation_rule
    assert torch.allclose(predict_logits(loaded, [LONG_GOOD, "a terrible film"]),
                          predict_logits(model, [LONG_GOOD, "a terrible film"]), atol=1e-5)
    card = (saved.folder / "README.md").read_text()
    assert "sliding windows of 48 tokens" in card and "does NOT split texts into windows" in card
    assert "predict_texts" in card
    assert "windows of 48 tokens" in loaded.describe()


def test_head_tail_survives_save_and_load_and_predict_cuts_the_same_way(tiny_bert, long_csv, tmp_path):
    model, dataset = _train(tiny_bert, long_csv, head="linear", truncation_rule=Truncation("head+tail", 0.4))
    loaded = load_classifier(save_classifier(model, tmp_path, "headtail").folder)
    assert loaded.truncation_rule == Truncation("head+tail", 0.4) and not loaded.windows.enabled
    logits = predict_logits(loaded, [text for text, _ in ROWS * 2])
    report = evaluate_classifier(loaded, dataset, device="cpu", precision="fp32", threshold=0.5)
    predicted = (logits.squeeze(-1) > 0).long()
    labels = torch.tensor([label for _, label in ROWS * 2])
    assert report.accuracy == pytest.approx(float((predicted == labels).float().mean()))


def test_the_card_of_a_tail_model_shows_the_pipeline_call_that_repeats_it(tiny_bert, long_csv, tmp_path):
    model, _ = _train(tiny_bert, long_csv, truncation_rule=Truncation("tail"))
    card = (save_classifier(model, tmp_path, "tail").folder / "README.md").read_text()
    assert 'truncation_side="left"' in card and f"max_length={model.max_length}" in card


def test_folders_saved_before_these_settings_load_with_head_truncation_and_no_windows():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "fixtures" / "saved_v1" / "hf_head"
    loaded = load_classifier(folder)
    assert loaded.truncation_rule == Truncation() and loaded.windows == Windows()


def test_frozen_epochs_validate_on_texts_too(windowed_model):
    model, dataset = windowed_model
    fresh = build_classification_model(model.model_name, 1, head_type="linear", seed=0)
    result = train_classifier(fresh, TextDataLoader(dataset, 8), OptimizerSpec("AdamW", 1e-3),
                              LossSpec("bce_with_logits"),
                              TrainSettings(epochs=2, freeze_pretrained_module_epochs=1, precision="fp32", device="cpu"),
                              TextDataLoader(dataset, 16, shuffle=False))
    texts = dataset.text_count
    for epoch in result.history:  # accuracies are multiples of 1/texts: texts counted, not windows
        assert round(epoch.val_accuracy * texts, 6) == round(epoch.val_accuracy * texts)
