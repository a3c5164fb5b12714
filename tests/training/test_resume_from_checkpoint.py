"""Resume from a checkpoint: at an epoch boundary the run ends bit-identical to one never stopped
(CPU, fp32); after a Cancel inside an epoch it ends within 1e-6 of it (measured: identical);
checkpoints that do not fit, are damaged, missing, elsewhere or cannot be written are handled."""

from __future__ import annotations

import errno
import os
import shutil

import pytest
import torch
from helpers.checkpoints import CancelAt, Cancelled, losses, train, use_output, weights
from helpers.models import same_state

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.training import checkpoints as checkpoint_files

STEPS = 6 + 3  # training batches (48 rows, batch 8) and validation batches (24 rows) of one epoch


def _run_folder(root):
    folders = list((root / checkpoint_files.CHECKPOINTS_DIR).iterdir())
    assert len(folders) == 1, folders
    return folders[0]


@pytest.fixture
def uninterrupted(pipelines, tmp_path_factory, monkeypatch):
    """3 epochs never stopped, every epoch's checkpoint kept."""
    root = tmp_path_factory.mktemp("uninterrupted")
    use_output(monkeypatch, root)
    model = train(pipelines["bert"], epochs=3, keep_checkpoints=3, keep_finished_checkpoints=True)[0]
    monkeypatch.undo()
    return model, _run_folder(root)


def test_resuming_at_an_epoch_boundary_is_bit_identical(pipelines, uninterrupted, tmp_path, monkeypatch):
    reference, folder = uninterrupted
    use_output(monkeypatch, tmp_path)
    resumed = train(pipelines["bert"], epochs=3, resume=str(folder / "epoch-0001-batch-000000"))[0]
    assert same_state(weights(resumed), weights(reference))
    assert losses(resumed) == losses(reference)


def test_cancel_inside_an_epoch_then_requeue_with_resume_latest_finishes_the_run(pipelines, uninterrupted,
                                                                               tmp_path, monkeypatch):
    reference, _ = uninterrupted
    use_output(monkeypatch, tmp_path, CancelAt(STEPS + 4))  # the 4th batch of epoch 2
    with pytest.raises(Cancelled):
        train(pipelines["bert"], epochs=3)
    written = [p.name for p in checkpoint_files.checkpoints_in(_run_folder(tmp_path))]
    assert written == ["epoch-0001-batch-000000", "epoch-0001-batch-000004"]
    use_output(monkeypatch, tmp_path, CancelAt())
    resumed = train(pipelines["bert"], epochs=3, resume="latest")[0]
    for key, value in weights(reference).items():
        torch.testing.assert_close(weights(resumed)[key], value, rtol=1e-6, atol=1e-6)
    for got, want in zip(losses(resumed), losses(reference)):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-6)


def test_an_epoch_continued_from_a_checkpoint_reports_its_own_rate_and_time(pipelines, uninterrupted, tmp_path,
                                                                           monkeypatch):
    """The warmup schedule changes the rate every step: the epoch's rate is the one it started with, not the
    rate at the resume point; its time adds the part before the stop; the divergence guard keeps its start."""
    reference, folder = uninterrupted
    use_output(monkeypatch, tmp_path, CancelAt(STEPS + 4))
    with pytest.raises(Cancelled):
        train(pipelines["bert"], epochs=3)
    stopped = checkpoint_files.read_checkpoint(_run_folder(tmp_path) / "epoch-0001-batch-000004").state
    start = checkpoint_files.read_checkpoint(folder / "epoch-0001-batch-000000").state["divergence_start"]
    assert stopped["divergence_start"] == start and start > 0
    assert stopped["position"]["seconds"] > 0 and stopped["position"]["learning_rate"] > 0
    use_output(monkeypatch, tmp_path, CancelAt())
    resumed = train(pipelines["bert"], epochs=3, resume="latest")[0]
    epoch = {m["epoch"]: m for m in resumed.history}[2]
    want = {m["epoch"]: m for m in reference.history}[2]
    assert epoch["learning_rate"] == want["learning_rate"] == stopped["position"]["learning_rate"]
    assert epoch["seconds"] > stopped["position"]["seconds"]
    assert epoch["samples_per_second"] == pytest.approx(48 / epoch["seconds"])


def test_cancel_during_gradient_accumulation_keeps_the_waiting_gradients(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path / "a")
    reference = train(pipelines["bert"], epochs=2, gradient_accumulation_steps=4)[0]
    use_output(monkeypatch, tmp_path / "b", CancelAt(STEPS + 3))  # mid-accumulation in epoch 2
    with pytest.raises(Cancelled):
        train(pipelines["bert"], epochs=2, gradient_accumulation_steps=4)
    use_output(monkeypatch, tmp_path / "b")
    resumed = train(pipelines["bert"], epochs=2, gradient_accumulation_steps=4, resume="latest")[0]
    for key, value in weights(reference).items():
        torch.testing.assert_close(weights(resumed)[key], value, rtol=1e-6, atol=1e-6)


def test_a_checkpoint_of_another_batch_size_is_refused_saying_what_differs(pipelines, uninterrupted, tmp_path,
                                                                          monkeypatch):
    from helpers.nodes import loader_node

    _, folder = uninterrupted
    use_output(monkeypatch, tmp_path)
    other = loader_node(pipelines["bert"].train_data, batch_size=4)
    with pytest.raises(UserInputError, match=r"batch_size: the checkpoint has 8, this run 4"):
        train(pipelines["bert"], epochs=3, train_loader=other, resume=str(folder))


def test_a_checkpoint_of_another_model_is_refused_saying_what_differs(pipelines, uninterrupted, tmp_path,
                                                                    monkeypatch):
    _, folder = uninterrupted
    use_output(monkeypatch, tmp_path)
    with pytest.raises(UserInputError, match=r"does not fit this run \(model: the checkpoint has '.*bert'"):
        train(pipelines["distilbert"], epochs=3, resume=str(folder))  # the DistilBERT workflow, its own data


def test_a_checkpoint_of_other_training_data_is_refused_saying_what_differs(pipelines, uninterrupted, tmp_path,
                                                                          monkeypatch):
    from helpers.nodes import loader_node

    _, folder = uninterrupted
    use_output(monkeypatch, tmp_path)
    other_rows = loader_node(pipelines["bert"].val_data, batch_size=8, shuffle=True, seed=0)
    with pytest.raises(UserInputError, match=r"does not fit this run \(data: the checkpoint has"):
        train(pipelines["bert"], epochs=3, train_loader=other_rows, resume=str(folder))


def test_a_checkpoint_of_another_optimizer_kind_is_refused(pipelines, uninterrupted, tmp_path, monkeypatch):
    from helpers.nodes import run_node

    _, folder = uninterrupted
    use_output(monkeypatch, tmp_path)
    sgd = run_node("PtoSGD", learning_rate=0.01, momentum=0.9, weight_decay=0.0, nesterov=False)[0] \
        if "PtoSGD" in __import__("hf_text_finetune").NODE_CLASS_MAPPINGS else None
    if sgd is None:
        pytest.skip("no SGD node")
    with pytest.raises(UserInputError, match=r"optimizer: the checkpoint has 'AdamW'"):
        train(pipelines["bert"], epochs=3, optimizer=sgd, resume=str(folder))


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(pipelines, uninterrupted, tmp_path, monkeypatch,
                                                                  caplog):
    reference, folder = uninterrupted
    copy = tmp_path / "elsewhere" / folder.name
    shutil.copytree(folder, copy)
    (copy / "epoch-0003-batch-000000" / "state.pt").write_bytes(b"half written")
    (copy / "epoch-0002-batch-000000" / "weights.safetensors").unlink()
    use_output(monkeypatch, tmp_path / "out")
    resumed = train(pipelines["bert"], epochs=3, resume=str(copy))[0]
    assert "damaged or half-written" in caplog.text
    assert same_state(weights(resumed), weights(reference)), "continued from epoch 1, the last readable one"


def test_damaged_checkpoints_with_none_readable_left_are_refused_clearly(pipelines, uninterrupted, tmp_path,
                                                                       monkeypatch):
    _, folder = uninterrupted
    copy = tmp_path / "elsewhere" / folder.name
    shutil.copytree(folder, copy)
    for checkpoint in checkpoint_files.checkpoints_in(copy):
        (checkpoint / "state.pt").write_bytes(b"half written")
    use_output(monkeypatch, tmp_path / "out")
    with pytest.raises(UserInputError, match=r"damaged or half-written.*No readable checkpoint is left: set resume off"):
        train(pipelines["bert"], epochs=3, resume=str(copy))


def test_a_folder_outside_the_output_folder_is_read_but_never_written(pipelines, uninterrupted, tmp_path,
                                                                      monkeypatch):
    _, folder = uninterrupted
    outside = tmp_path / "mine"
    shutil.copytree(folder, outside)
    before = sorted((str(p), p.stat().st_mtime_ns) for p in outside.rglob("*"))
    use_output(monkeypatch, tmp_path / "out")
    train(pipelines["bert"], epochs=3, resume=str(outside / "epoch-0002-batch-000000"))
    assert sorted((str(p), p.stat().st_mtime_ns) for p in outside.rglob("*")) == before
    assert checkpoint_files.checkpoints_in(_run_folder(tmp_path / "out")), "its own folder got the new ones"


def test_resume_latest_without_a_checkpoint_says_where_it_looked(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path)
    with pytest.raises(UserInputError, match=r"no checkpoint of this run in .*hf_text_finetune_checkpoints"):
        train(pipelines["bert"], epochs=2, resume="latest")


def test_resuming_a_finished_run_asks_for_more_epochs(pipelines, uninterrupted, tmp_path, monkeypatch):
    _, folder = uninterrupted
    use_output(monkeypatch, tmp_path)
    with pytest.raises(UserInputError, match="finished run"):
        train(pipelines["bert"], epochs=3, resume=str(folder / "epoch-0003-batch-000000"))


def test_a_full_disk_leaves_the_previous_checkpoint_intact(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path)
    real_save, calls = checkpoint_files.torch.save, []

    def save(obj, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            with open(path, "wb") as handle:
                handle.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(checkpoint_files.torch, "save", save)
    metrics = train(pipelines["bert"], epochs=2)[1]
    monkeypatch.setattr(checkpoint_files.torch, "save", real_save)
    run = _run_folder(tmp_path)
    assert [p.name for p in checkpoint_files.checkpoints_in(run)] == ["epoch-0001-batch-000000"]
    assert not [p for p in run.iterdir() if p.name.startswith(".")], "no temporary folder left"
    assert "No space left on device" in metrics
    checkpoint_files.read_checkpoint(run / "epoch-0001-batch-000000")  # still whole


def test_temporary_folders_of_a_killed_run_are_removed_by_the_next(pipelines, uninterrupted, tmp_path,
                                                                   monkeypatch):
    use_output(monkeypatch, tmp_path)
    train(pipelines["bert"], epochs=1)
    run = _run_folder(tmp_path)
    leftover = run / (checkpoint_files.TEMP_PREFIX + "epoch-0001-batch-000003-dead")
    leftover.mkdir()
    (leftover / "state.pt").write_bytes(b"x")
    train(pipelines["bert"], epochs=1)
    assert not leftover.exists()
    assert os.listdir(run) == ["epoch-0001-batch-000000"]


def test_load_node_resume_also_restores_generators_scaler_and_early_stopping(pipelines, tmp_path, monkeypatch):
    from hf_text_finetune.modules.results.loading import load_classifier
    from hf_text_finetune.modules.results.saving import save_classifier

    use_output(monkeypatch, tmp_path)
    trained = train(pipelines["bert"], epochs=2, early_stopping_patience=3, checkpoint_every_epoch=False)[0]
    state = trained.training_state
    assert state.generators is not None and state.early_stopping["best_epoch"] is not None
    saved = save_classifier(trained, tmp_path / "saved", "clf", include_training_state=True)
    loaded = load_classifier(saved.folder)
    assert loaded.resume_state.early_stopping["best_epoch"] == state.early_stopping["best_epoch"]
    assert torch.equal(loaded.resume_state.generators["torch"], state.generators["torch"])
    continued, metrics = train(pipelines["bert"], epochs=3, model=loaded, early_stopping_patience=3,
                               checkpoint_every_epoch=False)[:2]
    assert [m["epoch"] for m in continued.history] == [1, 2, 3]
    assert "best val_loss" in metrics


@pytest.mark.parametrize("kind", ["linear", "hf_head", "lora"])
def test_folders_saved_before_the_new_state_fields_still_load_to_resume(kind):
    from pathlib import Path

    from hf_text_finetune.modules.results.loading import load_classifier

    folder = Path(__file__).resolve().parents[1] / "fixtures" / "saved_v1" / kind
    model = load_classifier(folder)
    assert model.resume_state is not None and model.resume_state.generators is None
    assert model.resume_state.scaler is None and model.resume_state.early_stopping is None


def test_a_checkpoint_written_before_the_epoch_rate_time_and_guard_start_were_kept_still_resumes(
        pipelines, uninterrupted, tmp_path, monkeypatch):
    reference, folder = uninterrupted
    old = shutil.copytree(folder / "epoch-0001-batch-000000", tmp_path / "old" / "epoch-0001-batch-000000")
    state = torch.load(old / "state.pt", weights_only=True)
    del state["divergence_start"]
    for key in ("learning_rate", "seconds", "all_processes"):
        del state["position"][key]
    torch.save(state, old / "state.pt")
    use_output(monkeypatch, tmp_path / "out")
    resumed = train(pipelines["bert"], epochs=3, resume=str(old))[0]
    assert same_state(weights(resumed), weights(reference))
    assert losses(resumed) == losses(reference)
