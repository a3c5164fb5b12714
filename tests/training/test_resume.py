"""Resuming training from a saved folder: with its training state, the next trainer continues
after the saved epoch with the optimizer's state and the schedule where they were; without
it (or when asked not to restore it), training starts a new run on the loaded weights;
epochs not beyond the saved ones, or another optimizer, are refused."""

from __future__ import annotations

import json

import pytest
from helpers.classifiers import train_tiny

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.saving import save_classifier


def _steps(model) -> set[int]:
    return {int(s["step"]) for s in model.training_state.optimizer["state"].values()}


def test_resume_restores_optimizer_state_and_epoch_count(tiny_models, reviews_csv, tmp_path):
    folder_model = tiny_models["distilbert"]
    first = train_tiny(folder_model, reviews_csv, epochs=1, scheduler="linear")
    batches = 3  # 48 rows, batch 16
    assert _steps(first.model) == {batches}
    with_state = save_classifier(first.model, tmp_path, "resume", include_training_state=True).folder
    assert json.loads((with_state / "classifier.json").read_text())["has_training_state"] is True

    resumed = train_tiny(folder_model, reviews_csv, model=load_classifier(with_state), epochs=2, scheduler="linear")
    assert [m.epoch for m in resumed.history] == [2]  # epoch 1 is not trained again
    assert [h["epoch"] for h in resumed.model.history] == [1, 2]
    assert _steps(resumed.model) == {2 * batches}  # Adam's step counts continued from the saved state
    # the linear schedule, now over 2 epochs, continues from step 3 of 6: half the optimizer node's rate
    assert resumed.history[0].learning_rate == pytest.approx(0.5e-3)

    fresh = train_tiny(folder_model, reviews_csv, model=load_classifier(with_state, restore_training_state=False),
                       epochs=2, scheduler="linear")
    assert [m.epoch for m in fresh.history] == [1, 2]  # a new run on the loaded weights
    assert fresh.history[0].learning_rate == pytest.approx(1e-3) and _steps(fresh.model) == {2 * batches}

    with pytest.raises(UserInputError, match="saved after 1 epochs.*set epochs above 1"):
        train_tiny(folder_model, reviews_csv, model=load_classifier(with_state), epochs=1)
    with pytest.raises(UserInputError, match="optimizer state is from AdamW.*SGD"):
        train_tiny(folder_model, reviews_csv, model=load_classifier(with_state), epochs=2, optimizer="SGD")


def test_without_saved_state_training_starts_a_new_run(tiny_models, reviews_csv, tmp_path):
    first = train_tiny(tiny_models["bert"], reviews_csv, epochs=1)
    folder = save_classifier(first.model, tmp_path, "nostate").folder
    assert not (folder / "training_state.pt").exists()
    again = train_tiny(tiny_models["bert"], reviews_csv, model=load_classifier(folder), epochs=1)
    assert [m.epoch for m in again.history] == [1]
