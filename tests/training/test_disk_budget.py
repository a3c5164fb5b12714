"""The disk budget: a run that ends normally keeps only its final checkpoint, and none once a Save node
saved its model; keep_finished_checkpoints keeps them; a cancelled run keeps what resumes it; the Save
node removes only the checkpoints this pack wrote for that run; the node's text says what one takes."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from helpers.checkpoints import CancelAt, Cancelled, train, use_output
from helpers.nodes import run_node

from hf_text_finetune.modules.training import checkpoints as checkpoint_files
from hf_text_finetune.nodes import comfy_services


def _runs(root):
    folder = root / checkpoint_files.CHECKPOINTS_DIR
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _save(model):
    return run_node("PtSaveClassificationModel", model=model, filename_prefix="budget")[0]


def test_ten_runs_in_a_row_leave_at_most_one_checkpoint_each_and_none_when_saved(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path)
    saved = []
    for seed in range(10):  # ten queued experiments, each its own run folder
        model, metrics = train(pipelines["bert"], epochs=2, seed=seed)[:2]
        if seed % 2:
            saved.append(_save(model))
    runs = _runs(tmp_path)
    assert len(runs) == 5, "the five saved runs' folders are gone"
    for run in runs:
        assert [p.name for p in checkpoint_files.checkpoints_in(run)] == ["epoch-0002-batch-000000"]
    assert len(saved) == 5 and all((tmp_path / folder).is_dir() for folder in saved), "saved folders stay"
    assert re.search(r"\(last: epoch-0002-batch-000000, \d+ kB each; a Save node that saves this model removes them\)",
                     metrics), metrics


def test_keep_finished_checkpoints_keeps_the_last_ones_even_after_a_save(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path)
    model = train(pipelines["bert"], epochs=3, keep_finished_checkpoints=True)[0]
    _save(model)
    (run,) = _runs(tmp_path)
    assert [p.name for p in checkpoint_files.checkpoints_in(run)] == ["epoch-0002-batch-000000",
                                                                       "epoch-0003-batch-000000"]


def test_a_cancelled_run_keeps_what_resumes_it(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path, CancelAt(9 + 4))  # inside epoch 2
    with pytest.raises(Cancelled):
        train(pipelines["bert"], epochs=3)
    (run,) = _runs(tmp_path)
    assert [p.name for p in checkpoint_files.checkpoints_in(run)] == ["epoch-0001-batch-000000",
                                                                       "epoch-0001-batch-000004"]


def test_the_save_node_removes_only_what_the_run_wrote(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path)
    model = train(pipelines["bert"], epochs=1)[0]
    (run,) = _runs(tmp_path)
    mine = run / "my_notes.txt"
    mine.write_text("a user's file")
    other = run / "epoch-0009-batch-000000"  # a checkpoint of another run copied in by hand
    shutil.copytree(run / "epoch-0001-batch-000000", other)
    manifest = json.loads((other / "checkpoint.json").read_text())
    (other / "checkpoint.json").write_text(json.dumps({**manifest, "run": "someone-else"}))
    _save(model)
    assert sorted(p.name for p in run.iterdir()) == ["epoch-0009-batch-000000", "my_notes.txt"]
    user_folder = tmp_path / "uploads" / "epoch-0001-batch-000000"
    shutil.copytree(other, user_folder)
    assert checkpoint_files.remove_finished_run(str(user_folder.parent)) == [], "only run folders of the pack"
    assert user_folder.is_dir()


def test_a_model_trained_without_checkpoints_saves_without_removing_anything(pipelines, tmp_path, monkeypatch):
    monkeypatch.setenv(comfy_services.OUTPUT_DIR_ENV, str(tmp_path))
    use_output(monkeypatch, tmp_path)
    model = train(pipelines["bert"], epochs=1, checkpoint_every_epoch=False)[0]
    assert model.checkpoint_run is None
    assert (tmp_path / _save(model)).is_dir()
