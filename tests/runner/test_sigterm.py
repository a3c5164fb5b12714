"""SIGTERM to the headless runner (a reclaimed cloud instance, Slurm, `docker stop`): the batch under way
finishes, a checkpoint of that point is written, the process exits with 143 and one line saying where
the checkpoint is, within a few seconds; `resume latest` then ends bit-identical to a run never stopped.
The runner runs as a real process (run_workflow.py) on the tiny model; each progress step is slowed
in the child so the signal lands inside the first epoch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hf_text_finetune.modules.training import checkpoints as checkpoint_files

ROOT = Path(__file__).resolve().parents[2]
TRAINER = "PtTrainTransformerClassificationModel"
pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGTERM is a POSIX signal")

CHILD = """
import sys, time, pathlib
sys.path.insert(0, {root!r})
import run_workflow
run_workflow.load_pack()
from hf_text_finetune.nodes import comfy_services
delay, marker = float(sys.argv.pop(1)), pathlib.Path(sys.argv.pop(1))
original = comfy_services.HeadlessHooks.progress
def slow(self, done, total, preview=None):
    original(self, done, total, preview)
    marker.with_suffix(".tmp").write_text(str(done))
    marker.with_suffix(".tmp").replace(marker)  # whole, never read half-written
    time.sleep(delay)
comfy_services.HeadlessHooks.progress = slow
from hf_text_finetune.runner.cli import main
sys.exit(main())
"""


def _command(tmp_path, tiny_bert, reviews_csv, val_csv, delay, *extra):
    child = tmp_path / "child.py"
    child.write_text(CHILD.format(root=str(ROOT)))
    settings = {"Model name.value": tiny_bert, "Train dataset.name": reviews_csv, "Validation dataset.name": val_csv,
                "Validation dataset.split": "train", "Train loader.batch_size": 8, "Validation loader.batch_size": 8,
                f"{TRAINER}.epochs": 2, f"{TRAINER}.precision": "fp32", f"{TRAINER}.device": "cpu", **dict(extra)}
    return [sys.executable, str(child), str(delay), str(tmp_path / "steps"),
            str(ROOT / "examples" / "workflows" / "distilbert_classification.json"),
            *[arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]]


def _env(out):
    return {**os.environ, "HF_TEXT_FINETUNE_OUTPUT_DIR": str(out), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
            "OMP_NUM_THREADS": "1"}


def _final_checkpoint(out):
    (run,) = (out / checkpoint_files.CHECKPOINTS_DIR).iterdir()
    return checkpoint_files.read_checkpoint(checkpoint_files.checkpoints_in(run)[-1])


def test_sigterm_writes_a_checkpoint_exits_143_and_resume_latest_is_bit_identical(tiny_bert, reviews_csv, val_csv,
                                                                                   tmp_path):
    files = (tiny_bert, reviews_csv, val_csv)
    reference = subprocess.run(_command(tmp_path, *files, 0), env=_env(tmp_path / "ref"), capture_output=True,
                               text=True, timeout=600)
    assert reference.returncode == 0, reference.stdout + reference.stderr
    out = tmp_path / "stopped"
    (tmp_path / "steps").unlink()  # the reference run's count
    process = subprocess.Popen(_command(tmp_path, *files, 0.3), env=_env(out), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    marker, deadline = tmp_path / "steps", time.monotonic() + 300
    while not (marker.is_file() and marker.read_text() and int(marker.read_text()) >= 3):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.05)
    signalled = time.time()
    process.send_signal(signal.SIGTERM)
    log = process.communicate(timeout=120)[0]
    stopped = _final_checkpoint(out)
    written = (stopped.folder / "checkpoint.json").stat().st_mtime - signalled
    print(f"headless SIGTERM: checkpoint on disk {written:.2f} s after the signal, process gone after "
          f"{time.time() - signalled:.2f} s (the rest is the interpreter's shutdown, as after any run)")
    assert process.returncode == 143, log
    assert written < 5 and "Traceback" not in log, log
    assert "stopped by SIGTERM after epoch 1" in log and "resume latest" in log, log
    assert stopped.manifest["reason"] == "SIGTERM" and stopped.position[0] == 0 and stopped.position[1] >= 3
    resumed = subprocess.run(_command(tmp_path, *files, 0, (f"{TRAINER}.resume", "latest")), env=_env(out),
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    want, got = _final_checkpoint(tmp_path / "ref"), _final_checkpoint(out)
    assert got.position == want.position == (2, 0)
    assert all(torch.equal(got.weights[k], want.weights[k]) for k in want.weights)
    losses = [[(m["train_loss"], m["val_loss"]) for m in c.state["history"]] for c in (got, want)]
    assert losses[0] == losses[1]
    first = [c.state["history"][0] for c in (got, want)]
    assert first[0]["learning_rate"] == first[1]["learning_rate"], "the epoch's rate, not the rate at the resume point"


def test_sigterm_before_training_starts_exits_at_once_without_a_traceback(tiny_bert, reviews_csv, val_csv, tmp_path):
    """Outside training there is nothing to save: the runner stops at once, still with 143 and no traceback."""
    child = tmp_path / "child.py"
    child.write_text("import sys, os, signal\nsys.path.insert(0, %r)\nimport run_workflow\nrun_workflow.load_pack()\n"
                     "from hf_text_finetune.runner import cli\n"
                     "cli.run_file = lambda *a, **k: os.kill(os.getpid(), signal.SIGTERM)\n"
                     "sys.exit(cli.main(['workflow.json']))\n" % str(ROOT))
    done = subprocess.run([sys.executable, str(child)], env=_env(tmp_path), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 143, done.stdout + done.stderr
    assert "stopped by SIGTERM" in done.stdout + done.stderr and "Traceback" not in done.stderr
