"""Folders saved by an earlier version keep working: every classifier folder in
tests/fixtures/saved_v1/ (written by the pre-redesign code: our linear head, Hugging Face's
head, and LoRA adapters) loads, predicts exactly the labels and, within 1e-5, the
probabilities recorded when it was saved, and resumes training from its saved state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.prediction import predict_texts
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.training.settings import TrainSettings

SAVED = Path(__file__).resolve().parents[1] / "fixtures" / "saved_v1"
EXPECTED = json.loads((SAVED / "expected_predictions.json").read_text())
FOLDERS = sorted(p.name for p in SAVED.iterdir() if (p / "classifier.json").is_file())


def test_every_saved_folder_has_recorded_predictions():
    assert FOLDERS == sorted(EXPECTED["predictions"]) == ["hf_head", "linear", "lora"]


@pytest.mark.parametrize("name", FOLDERS)
def test_saved_folder_loads_and_predicts_what_it_predicted_when_saved(name):
    model = load_classifier(SAVED / name)
    predictions = predict_texts(model, EXPECTED["texts"])
    expected = EXPECTED["predictions"][name]
    assert [p.label for p in predictions] == [row["label"] for row in expected]
    for p, row in zip(predictions, expected):
        assert p.probabilities.keys() == row["probabilities"].keys()
        assert p.probabilities == pytest.approx(row["probabilities"], abs=1e-5)


@pytest.mark.parametrize("name", FOLDERS)
def test_saved_folder_resumes_training_from_its_saved_state(name, reviews_csv):
    folder = SAVED / name
    manifest = json.loads((folder / "classifier.json").read_text())
    settings = json.loads((folder / "training_settings.json").read_text())
    model = load_classifier(folder)
    state = model.resume_state
    assert manifest["has_training_state"] and state is not None
    assert state.epochs_done == manifest["epochs_done"] == len(model.history)
    assert (model.lora is not None) == (name == "lora")
    saved_steps = {int(s["step"]) for s in state.optimizer["state"].values()}

    data = encode_text_dataset(str(reviews_csv), "train", "text", "label", build_token_encoder(str(folder), 64))
    loader = TextDataLoader(data, 16, seed=0)  # 48 rows: 3 optimizer steps per epoch
    optimizer = settings["optimizer"]
    spec = OptimizerSpec(optimizer["kind"], optimizer["lr"], optimizer["weight_decay"])
    result = train_classifier(model, loader, spec, LossSpec(settings["loss"]["kind"]),
                              TrainSettings(epochs=state.epochs_done + 1, device="cpu", precision="fp32", seed=0))
    assert [m.epoch for m in result.history] == [state.epochs_done + 1]  # the saved epochs are not trained again
    assert [h["epoch"] for h in result.model.history] == list(range(1, state.epochs_done + 2))
    resumed_steps = {int(s["step"]) for s in result.model.training_state.optimizer["state"].values()}
    assert resumed_steps == {step + len(loader) for step in saved_steps}  # the optimizer's state carried on
