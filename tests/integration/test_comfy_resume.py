"""Cancel, a killed server and resume, inside a real ComfyUI server (issue 8).

The tiny-data training workflow runs once uninterrupted (the reference). Queued again as a fresh run,
it is cancelled (POST /interrupt, as the Cancel button does) inside its second epoch: the trainer
writes a checkpoint of the last finished batch under the server's output folder, and re-queueing with
`resume latest` finishes the run with the reference's weights and metrics. Tolerance: within 1e-6 after
a mid-epoch resume (tests/training measure no difference on CPU, fp32), bit-identical after an
epoch-boundary resume, which is what a server killed mid-epoch leaves: SIGKILL writes nothing, so the
restarted server resumes from the last epoch's checkpoint.

ComfyUI caches node outputs by their inputs: queueing the reference prompt unchanged would only
replay its cached result. The fresh run therefore changes `keep_checkpoints` (not part of the run's
identity, so the checkpoints land in the same run folder), and the resume run changes `resume`; an
interrupted node has no cached output, so it always runs again.

    flock /tmp/comfy.lock python -m pytest tests/integration/test_comfy_resume.py -q
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comfy_client import ComfyServer, harness_ready, metrics_from_text, set_up_harness  # noqa: E402
from test_comfy_server import TRAINER, WF1, events_of, offline, queue, shown_text  # noqa: E402

from hf_text_finetune.modules.training import checkpoints as checkpoint_files  # noqa: E402

pytestmark = [pytest.mark.comfy, pytest.mark.skipif(harness_ready() is not None, reason=str(harness_ready()))]

ROWS, BATCH, EPOCHS = 240, 8, 3
STEPS_PER_EPOCH = ROWS // BATCH + 1  # training batches and the one validation batch (24 rows, batch 32)
MID_EPOCH_TOLERANCE = 1e-6
FINAL = checkpoint_files.checkpoint_name(EPOCHS, 0)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    from helpers.data import write_reviews_csv
    from helpers.models import build_tiny_model

    root = tmp_path_factory.mktemp("comfy_resume")
    return {"model": build_tiny_model("distilbert", root / "distilbert"),
            "train": write_reviews_csv(root / "train.csv", rows=ROWS, seed=3),
            "val": write_reviews_csv(root / "val.csv", rows=24, seed=1)}



def settings(data, **trainer) -> dict[str, object]:
    extra = {f"{TRAINER}.{name}": value for name, value in trainer.items()}
    return offline(data, **{"Train loader.batch_size": BATCH, f"{TRAINER}.epochs": EPOCHS, **extra})


def run_folders(output: Path) -> list[Path]:
    root = output / checkpoint_files.CHECKPOINTS_DIR
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def checkpoints(run: Path) -> list[str]:
    return [p.name for p in checkpoint_files.checkpoints_in(run)]


def trainer_steps(events) -> list[int]:
    return [d["value"] for d in events_of(events, "progress") if d.get("node") == TRAINER]


def cancel_inside_epoch_two(server: ComfyServer, at: dict, action=None):
    """An event listener that presses Cancel (or runs `action`) at the 5th training batch of epoch 2."""
    def listen(kind, data, now):
        if kind == "progress" and data.get("node") == TRAINER and data["value"] >= STEPS_PER_EPOCH + 5 and not at:
            at.update(value=data["value"], time=now)
            (action or server.interrupt)()
    return listen


def assert_same_run(final: Path, reference: Path, tolerance: float) -> float:
    """The final checkpoint's weights and per-epoch history against the reference's; the max difference."""
    got, want = checkpoint_files.read_checkpoint(final), checkpoint_files.read_checkpoint(reference)
    assert set(got.weights) == set(want.weights)
    error = max(float((got.weights[k] - want.weights[k]).abs().max()) for k in want.weights)
    for key, value in want.weights.items():
        torch.testing.assert_close(got.weights[key], value, rtol=tolerance, atol=tolerance)
    keys = ("epoch", "train_loss", "val_loss", "val_accuracy", "train_accuracy")
    history = [[m[k] for k in keys] for m in got.state["history"]]
    expected = [[m[k] for k in keys] for m in want.state["history"]]
    assert [h[0] for h in history] == [1, 2, 3]
    for row, wanted in zip(history, expected):
        assert row == pytest.approx(wanted, rel=tolerance, abs=tolerance)
    return error


@pytest.fixture(scope="module")
def reference(server, data, tmp_path_factory) -> dict:
    """The run never stopped: its metrics text, progress and final checkpoint (copied away, since a
    later fresh run of the same settings replaces the run folder's checkpoints)."""
    keep = tmp_path_factory.mktemp("reference")
    _, events = queue(server, WF1, settings(data), keep)
    assert events[-1][1] == "execution_success", events[-1]
    (run,) = run_folders(server.workdir / "output")
    assert checkpoints(run)[-1] == FINAL
    shutil.copytree(run / FINAL, keep / FINAL)
    return {"text": shown_text(events, TRAINER), "steps": trainer_steps(events), "final": keep / FINAL,
            "run_name": run.name}


def test_cancel_in_comfyui_writes_a_checkpoint_and_resume_latest_finishes_like_the_uninterrupted_run(
        server, data, reference, tmp_path):
    reference_metrics = metrics_from_text(reference["text"])
    assert [m[0] for m in reference_metrics] == [1, 2, 3]
    assert max(reference["steps"]) == EPOCHS * STEPS_PER_EPOCH

    at: dict = {}
    _, cancelled = queue(server, WF1, settings(data, keep_checkpoints=3), tmp_path / "fresh",
                         cancel_inside_epoch_two(server, at))
    assert cancelled[-1][1] == "execution_interrupted" and cancelled[-1][2]["node_id"] == TRAINER
    (run,) = run_folders(server.workdir / "output")
    assert run.name == reference["run_name"]  # the same workflow settings find the same run folder
    written = checkpoints(run)
    # the fresh run replaced the reference's checkpoints: its epoch 1, then the Cancel's, inside epoch 2
    assert written[0] == checkpoint_files.checkpoint_name(1, 0) and len(written) == 2, written
    epochs_done, batches_done = checkpoint_files.position_of(run / written[1])
    assert epochs_done == 1 and 5 <= batches_done < ROWS // BATCH, written
    manifest = checkpoint_files.read_checkpoint(run / written[1]).manifest
    assert manifest["reason"] == "cancel or error"
    assert not [p for p in run.iterdir() if p.name.startswith(checkpoint_files.TEMP_PREFIX)]

    _, resumed = queue(server, WF1, settings(data, keep_checkpoints=3, resume="latest"), tmp_path / "resumed")
    assert resumed[-1][1] == "execution_success", resumed[-1]
    executed = [d["node"] for d in events_of(resumed, "executing") if d.get("node")]
    assert TRAINER in executed
    # it carried on: the progress bar counts only what was left of the run
    assert max(trainer_steps(resumed)) == EPOCHS * STEPS_PER_EPOCH - (STEPS_PER_EPOCH + batches_done)
    assert metrics_from_text(shown_text(resumed, TRAINER)) == reference_metrics
    assert checkpoints(run)[-1] == FINAL
    error = assert_same_run(run / FINAL, reference["final"], MID_EPOCH_TOLERANCE)
    print(f"cancel after epoch 1 + {batches_done} batches, resumed: max weight difference {error:.1e}")


def test_a_server_killed_mid_run_and_restarted_resumes_from_the_last_epoch_bit_identical(
        data, reference, tmp_path):
    set_up_harness()
    workdir = tmp_path / "server"
    first = ComfyServer(workdir).start()

    class Killed(Exception):
        pass

    def kill():
        os.kill(first.pid, signal.SIGKILL)  # a crash: no Cancel, no checkpoint of the batch in flight
        raise Killed()

    at: dict = {}
    try:
        with pytest.raises(Killed):
            queue(first, WF1, settings(data), tmp_path / "killed", cancel_inside_epoch_two(first, at, kill))
    finally:
        first.stop()
    (run,) = run_folders(workdir / "output")
    assert checkpoints(run) == [checkpoint_files.checkpoint_name(1, 0)]

    restarted = ComfyServer(workdir).start()  # the same output folder, as a restarted server has
    try:
        _, resumed = queue(restarted, WF1, settings(data, resume="latest"), tmp_path / "resumed")
    finally:
        restarted.stop()
    assert resumed[-1][1] == "execution_success", resumed[-1]
    assert max(trainer_steps(resumed)) == (EPOCHS - 1) * STEPS_PER_EPOCH
    assert metrics_from_text(shown_text(resumed, TRAINER)) == metrics_from_text(reference["text"])
    assert run_folders(workdir / "output") == [run] and checkpoints(run)[-1] == FINAL
    assert assert_same_run(run / FINAL, reference["final"], 0.0) == 0.0
