"""Checkpoints on a real small disk (tmpfs) and a read-only one: a checkpoint that cannot be written,
whatever the writer raises (safetensors' SafetensorError on the weights, torch.save's RuntimeError on the
state, OSError making the folder), is a warning naming the cause; training goes on to the last epoch,
the previous checkpoint stays whole, no temporary folder is left, and the node's text says it."""

from __future__ import annotations

import pytest
from helpers.checkpoints import train, use_output, weights
from helpers.models import same_state
from helpers.mounts import fill, leftovers, read_only, small_disk

from hf_text_finetune.modules.training import autosave
from hf_text_finetune.modules.training import checkpoints as checkpoint_files

EPOCHS = 3


def _run_folder(root):
    (run,) = (root / checkpoint_files.CHECKPOINTS_DIR).iterdir()
    return run


def _fill_before_write(monkeypatch, disk, call, leave):
    """The disk fills (another process) just before the `call`-th checkpoint, after the free-space check."""
    real, calls = checkpoint_files.CheckpointFolder.write, []

    def write(self, manifest, state, weights, best=None):
        calls.append(manifest)
        if len(calls) == call:
            fill(disk, leave)
        return real(self, manifest, state, weights, best)

    monkeypatch.setattr(checkpoint_files.CheckpointFolder, "write", write)
    monkeypatch.setattr(autosave, "check_free_space", lambda *args: None)


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")  # TensorBoard's thread too
@pytest.mark.parametrize("leave, writer", [(0, "weights.safetensors"), (200_000, "state.pt")],
                         ids=["fills-in-the-weights", "fills-in-the-state"])
def test_a_disk_that_fills_during_a_checkpoint_costs_no_epoch(pipelines, tmp_path, monkeypatch, caplog, leave,
                                                              writer):
    with small_disk(tmp_path / "disk", 8 * 1024) as disk:
        use_output(monkeypatch, disk)
        _fill_before_write(monkeypatch, disk, 2, leave)
        model, metrics = train(pipelines["bert"], epochs=EPOCHS)[:2]
        assert [m["epoch"] for m in model.history] == [1, 2, 3], "every epoch trained and returned"
        assert "checkpoint after 2 epochs + 0 batches not written (the disk is full (No space left on device)" \
            in metrics, metrics
        assert "the previous checkpoint epoch-0001-batch-000000 is intact: resume latest continues from it" in metrics
        run = _run_folder(disk)
        assert [p.name for p in checkpoint_files.checkpoints_in(run)] == ["epoch-0001-batch-000000"]
        checkpoint_files.read_checkpoint(run / "epoch-0001-batch-000000")  # whole
        assert not leftovers(disk), "no half-written folder"
        assert "Traceback" not in caplog.text
        monkeypatch.undo()
        use_output(monkeypatch, disk)
        (disk / "filler.bin").unlink()  # space freed: the kept checkpoint continues the run as the warning says
        resumed = train(pipelines["bert"], epochs=EPOCHS, resume="latest")[0]
        assert same_state(weights(resumed), weights(model))


def test_no_room_for_the_first_checkpoint_is_said_before_writing_and_training_goes_on(pipelines, tmp_path,
                                                                                      monkeypatch):
    with small_disk(tmp_path / "disk", 4 * 1024) as disk:  # below the checkpoint plus the 16 MB margin
        use_output(monkeypatch, disk)
        model, metrics = train(pipelines["bert"], epochs=2)[:2]
        assert len(model.history) == 2
        assert "not enough free space for a checkpoint in " in metrics and "it needs about " in metrics
        assert "are free" in metrics and "there is no earlier checkpoint of this run" in metrics
        assert not (disk / checkpoint_files.CHECKPOINTS_DIR).exists(), "nothing written, not even a folder"
        assert not leftovers(disk)


def test_a_read_only_output_folder_trains_every_epoch_and_says_why_nothing_was_kept(pipelines, tmp_path,
                                                                                     monkeypatch):
    with small_disk(tmp_path / "disk", 64 * 1024) as disk:
        read_only(disk)
        use_output(monkeypatch, disk)
        model, metrics = train(pipelines["bert"], epochs=2)[:2]
        assert len(model.history) == 2
        assert "checkpoint after 1 epochs + 0 batches not written (the file system is read-only" in metrics, metrics
        assert "training goes on" in metrics

