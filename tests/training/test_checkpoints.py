"""Checkpoints: both trainers write one per epoch under the output folder (one folder per run, named
from the workflow's settings), with everything needed to continue, readable with weights_only=True;
the last K are kept plus the best epoch's; the node's text says where they are."""

from __future__ import annotations

import json

import pytest
import torch
from helpers.checkpoints import losses, train, use_output

from hf_text_finetune.modules.training import checkpoints as checkpoint_files
from hf_text_finetune.nodes import train_nodes

TRAINERS = [train_nodes.PtTrainTransformerClassificationModel,
            train_nodes.PtTrainFineTuneClassificationTransformerModel]
NEW_WIDGETS = ["checkpoint_every_epoch", "checkpoint_minutes", "keep_checkpoints", "resume", "gradient_checkpointing",
               "auto_batch_size", "keep_finished_checkpoints"]


def _runs(root):
    return sorted((root / checkpoint_files.CHECKPOINTS_DIR).iterdir())


@pytest.mark.parametrize("trainer", TRAINERS)
def test_new_trainer_widgets_come_last_so_saved_workflows_keep_their_order(trainer):
    optional = list(trainer.INPUT_TYPES()["optional"])
    assert optional[-len(NEW_WIDGETS) - 1:-1] == NEW_WIDGETS and optional[-1] == "tracking"  # issue 21's after them
    assert trainer.INPUT_TYPES()["optional"]["resume"][1]["default"] == "off"


def test_each_epoch_writes_a_complete_checkpoint_readable_with_weights_only(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path)
    model, metrics = train(pipelines["bert"], epochs=3, keep_finished_checkpoints=True)[:2]
    (run,) = _runs(tmp_path)
    assert run.name.startswith("bert-")
    assert f"checkpoints: {run}" in metrics, "the node's text shows where the checkpoints are"
    names = [p.name for p in checkpoint_files.checkpoints_in(run)]
    assert names == ["epoch-0002-batch-000000", "epoch-0003-batch-000000"], "the last 2 are kept"
    last = run / names[-1]
    manifest = json.loads((last / "checkpoint.json").read_text())
    assert manifest["epochs_done"] == 3 and manifest["fit"]["batch_size"] == 8 and manifest["world_size"] == 1
    state = torch.load(last / "state.pt", weights_only=True)
    assert set(state) >= {"optimizer", "scheduler", "scaler", "generators", "position", "early_stopping",
                          "history", "settings", "learning_rates"}
    assert set(state["generators"]) >= {"torch", "numpy", "python"}
    assert [m["epoch"] for m in state["history"]] == [1, 2, 3]
    checkpoint = checkpoint_files.read_checkpoint(last)
    for key, value in model.network.state_dict().items():
        assert torch.equal(checkpoint.weights[key], value)


def test_the_same_workflow_finds_the_same_run_folder_and_other_settings_another(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path)
    train(pipelines["bert"], epochs=1)
    train(pipelines["bert"], epochs=2)  # the epoch count is not part of the run's identity
    assert len(_runs(tmp_path)) == 1
    train(pipelines["bert"], epochs=1, seed=1)
    assert len(_runs(tmp_path)) == 2


def test_the_best_epoch_is_kept_beside_the_last_ones_when_early_stopping(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path)
    model = train(pipelines["bert"], epochs=5, keep_checkpoints=1, restore_best_weights=True,
                  early_stopping_metric="val_loss", keep_finished_checkpoints=True)[0]
    (run,) = _runs(tmp_path)
    best = min(model.history, key=lambda m: m["val_loss"])["epoch"]
    names = [p.name for p in checkpoint_files.checkpoints_in(run)]
    assert checkpoint_files.checkpoint_name(best, 0) in names and names[-1] == "epoch-0005-batch-000000"
    assert len(names) == (1 if best == 5 else 2)
    assert (run / names[-1] / "best.safetensors").is_file(), "the best weights travel with early stopping"


def test_checkpoints_every_n_minutes_inside_an_epoch(pipelines, tmp_path, monkeypatch):
    from hf_text_finetune.modules.training import autosave

    clock = iter(range(0, 10_000, 60))  # every read of the clock is a minute later
    monkeypatch.setattr(autosave.time, "monotonic", lambda: next(clock))
    use_output(monkeypatch, tmp_path)
    train(pipelines["bert"], epochs=1, checkpoint_minutes=1.0, checkpoint_every_epoch=False, keep_checkpoints=50)
    (run,) = _runs(tmp_path)
    names = [p.name for p in checkpoint_files.checkpoints_in(run)]
    assert names and all(n.startswith("epoch-0000-batch-") for n in names)


def test_the_fine_tune_trainer_checkpoints_after_its_frozen_phase_and_resumes_past_it(pipelines, tmp_path,
                                                                                      monkeypatch):
    from helpers.models import same_state

    use_output(monkeypatch, tmp_path / "a")
    trainer = "PtTrainFineTuneClassificationTransformerModel"
    reference = train(pipelines["bert"], epochs=3, trainer=trainer, freeze_pretrained_module_epochs=1,
                      keep_checkpoints=5, keep_finished_checkpoints=True)[0]
    (run,) = _runs(tmp_path / "a")
    assert [p.name for p in checkpoint_files.checkpoints_in(run)][0] == "epoch-0001-batch-000000"
    use_output(monkeypatch, tmp_path / "b")
    resumed = train(pipelines["bert"], epochs=3, trainer=trainer, freeze_pretrained_module_epochs=1,
                    resume=str(run / "epoch-0002-batch-000000"))[0]
    assert same_state(resumed.network.state_dict(), reference.network.state_dict())
    assert losses(resumed) == losses(reference)


def test_checkpoints_off_writes_none(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path)
    train(pipelines["bert"], epochs=1, checkpoint_every_epoch=False)
    assert not (tmp_path / checkpoint_files.CHECKPOINTS_DIR).exists() or not any(
        checkpoint_files.checkpoints_in(run) for run in _runs(tmp_path))


def test_bad_checkpoint_settings_are_refused_at_queue_time():
    node = train_nodes.PtTrainTransformerClassificationModel
    assert "keep_checkpoints 0" in node.VALIDATE_INPUTS(epochs=2, keep_checkpoints=0)
    assert "checkpoint_minutes -1" in node.VALIDATE_INPUTS(epochs=2, checkpoint_minutes=-1)
    assert "neither off, latest" in node.VALIDATE_INPUTS(epochs=2, resume="/no/such/folder")
    assert node.VALIDATE_INPUTS(epochs=2, resume="latest") is True
