"""Data-parallel training with torchrun on CPU (2 gloo processes, tiny model, fp32, dropout 0):
the ranks end identical, 2 processes at batch b match 1 process at batch 2b within 1e-5, a
checkpoint moves between 1 and 2 processes, and too many processes for the data is refused.
`accelerate launch --multi_gpu --num_processes 2` starts the same processes through torchrun's
engine (on a CPU machine too, where they join with gloo) and trains bit-identically to torchrun."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hf_text_finetune.modules.training import checkpoints as checkpoint_files, tracking
from hf_text_finetune.modules.training.distributed import Processes, shard_batches

WORKER = Path(__file__).resolve().parents[1] / "helpers" / "distributed_worker.py"
# fp32: the only differences are the order of sums (all-reduce, each half padded to its own longest row);
# AdamW at lr 1e-2 magnifies them a little over 12 steps (measured: 1.7e-5 on the weights, losses closer).
TOLERANCE = 1e-5
WEIGHT_TOLERANCE = 1e-4
pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")


@pytest.fixture(scope="module")
def no_dropout_bert(tiny_bert, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bert_no_dropout")
    shutil.copytree(tiny_bert, folder, dirs_exist_ok=True)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _accelerate(processes):
    """`accelerate launch --multi_gpu` as the docs give it; no config file (HF_HOME is set per test), so
    every choice is on the command line. `--cpu` would start one plain process (its CPU multi-process
    mode needs mpirun), so --multi_gpu it is: accelerate hands it to torchrun's engine."""
    return [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch", "--multi_gpu", "--num_processes",
            str(processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", "0"]


def _launcher(name, processes):
    if name == "accelerate":
        return _accelerate(processes)
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_port",
            str(29_500 + os.getpid() % 1000)]


def _worker_args(out, data, batch, epochs=2, resume="off", checkpoints=None, patience=0, tracking="off"):
    model, train, val = data
    return [str(WORKER), "--model", str(model), "--train", str(train), "--val", str(val), "--out", str(out),
            "--batch", str(batch), "--epochs", str(epochs), "--resume", resume, "--patience", str(patience),
            "--checkpoints", str(checkpoints or Path(out) / "ckpt"), "--tracking", tracking]


def _launch(processes, out, data, batch, epochs=2, resume="off", checkpoints=None, launcher="torchrun", patience=0,
            tracking="off"):
    args = _worker_args(out, data, batch, epochs, resume, checkpoints, patience, tracking)
    if processes == 1:
        return _run([sys.executable, *args])
    isolated = {"HF_HOME": str(Path(out) / "hf")} if launcher == "accelerate" else {}
    return _run([*_launcher(launcher, processes), *args], **isolated)


def _run(command, **env):
    """Run a launcher (under accelerate, HF_HOME in the test's folder keeps a user's accelerate config out)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_TEXT_FINETUNE_TEST_THREADS": "1", **env}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    return done.returncode, done.stdout + done.stderr


def _weights(out, rank=0):
    return torch.load(Path(out) / f"rank{rank}.pt", weights_only=True)


def _close(a, b):
    return max(float((a[k] - b[k]).abs().max()) for k in a)


@pytest.fixture(scope="module")
def data(no_dropout_bert, reviews_csv, val_csv):
    return no_dropout_bert, reviews_csv, val_csv


@pytest.fixture(scope="module")
def two_processes(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("two")
    code, log = _launch(2, out, data, batch=4, tracking="tensorboard")
    assert code == 0, log
    return out


def test_shards_split_every_global_batch_and_drop_a_too_short_last_one():
    batches = [list(range(8)), list(range(8, 16)), [16]]
    first, second = (shard_batches(batches, Processes(2, r, r)) for r in (0, 1))
    assert first == [[0, 1, 2, 3], [8, 9, 10, 11]] and second == [[4, 5, 6, 7], [12, 13, 14, 15]]


def test_two_processes_end_with_identical_weights_and_metrics(two_processes):
    assert _close(_weights(two_processes, 0), _weights(two_processes, 1)) == 0.0
    histories = [json.loads((two_processes / f"history{r}.json").read_text()) for r in (0, 1)]
    assert [(m["train_loss"], m["val_loss"]) for m in histories[0]] == \
        [(m["train_loss"], m["val_loss"]) for m in histories[1]]


def test_two_processes_at_batch_b_match_one_process_at_batch_2b(two_processes, data, tmp_path):
    code, log = _launch(1, tmp_path, data, batch=8)
    assert code == 0, log
    error = _close(_weights(two_processes), _weights(tmp_path))
    print(f"2-process equivalence: max weight difference {error:.2e}")
    assert error < WEIGHT_TOLERANCE
    one = json.loads((tmp_path / "history0.json").read_text())
    two = json.loads((two_processes / "history0.json").read_text())
    print("2-process equivalence: max loss difference",
          max(abs(a[k] - b[k]) for a, b in zip(one, two) for k in ("train_loss", "val_loss")))
    for a, b in zip(one, two):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=TOLERANCE)
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=TOLERANCE)


def test_a_checkpoint_of_two_processes_resumes_in_one_and_back(two_processes, data, tmp_path):
    # the 2-process run's epoch-1 checkpoint continued in 1 process at the same global batch (8)...
    run = next((two_processes / "ckpt" / checkpoint_files.CHECKPOINTS_DIR).iterdir())
    first = run / "epoch-0001-batch-000000"
    assert json.loads((first / "checkpoint.json").read_text())["world_size"] == 2
    checkpoint_files.read_checkpoint(first)
    code, log = _launch(1, tmp_path / "one", data, batch=4, resume=str(first))
    assert code == 0, log  # per-process batch 4 is what fits; it runs at global batch 4 now
    # ...and a 1-process checkpoint continued by 2 processes
    code, log = _launch(1, tmp_path / "single", data, batch=4, epochs=1)
    assert code == 0, log
    single_run = next((tmp_path / "single" / "ckpt" / checkpoint_files.CHECKPOINTS_DIR).iterdir())
    code, log = _launch(2, tmp_path / "two", data, batch=4, resume=str(single_run))
    assert code == 0, log
    assert _close(_weights(tmp_path / "two", 0), _weights(tmp_path / "two", 1)) == 0.0
    history = json.loads((tmp_path / "two" / "history0.json").read_text())
    assert [m["epoch"] for m in history] == [1, 2]


def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reader = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    reader.Reload()
    return reader


def _trackio_logs(store) -> dict:
    """{run: its logged rows}, read by Trackio's own storage in a fresh process (it reads TRACKIO_DIR on import)."""
    script = ("import json, sys; from trackio.sqlite_storage import SQLiteStorage as S; "
              "print(json.dumps({r: S.get_logs('hf_text_finetune', r) for r in S.get_runs('hf_text_finetune')}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TRACKIO_DIR": str(store)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_processes_log_to_tensorboard_once_from_rank_0(two_processes):
    pytest.importorskip("tensorboard")
    (run,) = (two_processes / "ckpt" / tracking.LOGS_DIR).iterdir()
    assert len(list(run.glob("events.out.tfevents.*"))) == 1  # rank 1 wrote nothing
    reader = _events(run)
    batches = 6  # 48 rows at a global batch of 2 x 4
    assert [e.step for e in reader.Scalars("train/loss")] == list(range(1, 2 * batches + 1))  # every step
    history = json.loads((two_processes / "history0.json").read_text())
    assert [(e.step, e.value) for e in reader.Scalars("validation/loss")] == \
        [(m["epoch"] * batches, pytest.approx(m["val_loss"], rel=1e-6)) for m in history]
    (picture,) = reader.Images("validation/confusion_matrix")
    assert picture.step == 2 * batches
    counts = json.loads(reader.Tensors("validation/confusion_counts/text_summary")[0].tensor_proto.string_val[0])
    assert sum(map(sum, counts)) == 24  # both ranks' validation shards, summed


def test_trackio_under_two_processes_and_across_a_resume_holds_one_run_with_every_step_once(data, tmp_path):
    pytest.importorskip("trackio")
    code, log = _launch(2, tmp_path, data, batch=4, epochs=1, tracking="trackio")
    assert code == 0, log
    code, log = _launch(2, tmp_path, data, batch=4, epochs=2, resume="latest", tracking="trackio")
    assert code == 0, log
    store = tmp_path / "ckpt" / tracking.LOGS_DIR / "trackio"
    (rows,) = _trackio_logs(store).values()
    steps = sorted(row["step"] for row in rows if "train/loss" in row)
    assert steps == list(range(1, 13))  # every step once, across the resume
    assert sorted(row["step"] for row in rows if "validation/loss" in row) == [6, 12]
    # each of the two runs ended with the confusion matrix of its last epoch
    assert sorted(row["step"] for row in rows if "validation/confusion_matrix" in row) == [6, 12]
    for rank in (0, 1):
        assert json.loads((tmp_path / f"network{rank}.json").read_text()) == []  # nothing tried to go out


def test_the_ranks_take_the_same_early_stopping_decision_and_restore_the_same_best_epoch(data, tmp_path):
    code, log = _launch(2, tmp_path, data, batch=4, epochs=8, patience=1)
    assert code == 0, log  # a rank that stopped alone would leave the other waiting in an all-reduce
    histories = [json.loads((tmp_path / f"history{r}.json").read_text()) for r in (0, 1)]
    assert [m["epoch"] for m in histories[0]] == [m["epoch"] for m in histories[1]]
    assert len(histories[0]) < 8, "val_accuracy on the tiny data stops improving within a few epochs"
    assert _close(_weights(tmp_path, 0), _weights(tmp_path, 1)) == 0.0  # the same best epoch's weights
    (run,) = (tmp_path / "ckpt" / checkpoint_files.CHECKPOINTS_DIR).iterdir()
    assert any((c / checkpoint_files.BEST_WEIGHTS).is_file() for c in checkpoint_files.checkpoints_in(run))


def test_more_processes_than_batches_is_refused_clearly(data, tmp_path):
    code, log = _launch(2, tmp_path, data, batch=48)
    assert code != 0
    assert "torchrun started 2 processes, but the training data has only 1 batches" in log


# --- accelerate launch ------------------------------------------------------------------------------------

needs_accelerate = pytest.mark.skipif(importlib.util.find_spec("accelerate") is None,
                                      reason="accelerate not installed (requirements-dev.txt)")


@needs_accelerate
def test_accelerate_launch_multi_gpu_trains_exactly_like_torchrun(two_processes, data, tmp_path):
    code, log = _launch(2, tmp_path, data, batch=4, launcher="accelerate")
    assert code == 0, log
    assert _close(_weights(tmp_path, 0), _weights(tmp_path, 1)) == 0.0  # the ranks agree
    for rank in (0, 1):  # and are torchrun's, bit for bit
        assert _close(_weights(tmp_path, rank), _weights(two_processes, rank)) == 0.0
    metrics = [[{k: v for k, v in m.items() if k not in ("seconds", "samples_per_second")}
                for m in json.loads((out / "history0.json").read_text())] for out in (tmp_path, two_processes)]
    assert metrics[0] == metrics[1]


@pytest.mark.parametrize("launcher", ["torchrun", pytest.param("accelerate", marks=needs_accelerate)])
def test_a_workflow_file_trains_data_parallel_under_the_launcher_and_only_rank_0_writes(data, tmp_path, launcher):
    """`torchrun --nproc_per_node=2 run_workflow.py examples/workflows/distilbert_classification.json --set ...`
    and its accelerate form, as docs/long_runs.md gives them."""
    model, train, val = data
    root = Path(__file__).resolve().parents[2]
    settings = {"Model name.value": model, "Train dataset.name": train, "Validation dataset.name": val,
                "Validation dataset.split": "train", "Train loader.batch_size": 4, "Validation loader.batch_size": 8,
                "PtTrainTransformerClassificationModel.epochs": 2}
    command = [*_launcher(launcher, 2), str(root / "run_workflow.py"),
               str(root / "examples" / "workflows" / "distilbert_classification.json"),
               *[arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]]
    out = tmp_path / "output"
    code, log = _run(command, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
                     HF_TEXT_FINETUNE_OUTPUT_DIR=str(out))
    assert code == 0, log
    assert log.count("workflow finished") == 1  # rank 0 prints the result, rank 1 nothing
    assert "epoch 2/2 [full]" in log
    (run,) = (out / checkpoint_files.CHECKPOINTS_DIR).iterdir()  # one run folder, written by rank 0
    names = [p.name for p in checkpoint_files.checkpoints_in(run)]
    assert names == ["epoch-0002-batch-000000"], "a finished run keeps its final checkpoint only"
    assert json.loads((run / names[-1] / "checkpoint.json").read_text())["world_size"] == 2


def test_sigterm_to_torchrun_stops_every_rank_after_the_same_batch_and_resume_latest_is_bit_identical(
        two_processes, data, tmp_path):
    """torchrun's agent passes SIGTERM on to both workers (and kills them 30 s later): the ranks agree to stop
    after the same batch, rank 0 writes that batch's checkpoint, both exit cleanly; resume latest then ends
    bit-identical to the run never stopped (two_processes: the same 2 epochs at batch 4)."""
    out = tmp_path / "stopped"
    command = [*_launcher("torchrun", 2), *_worker_args(out, data, 4), "--step-delay", "0.3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_TEXT_FINETUNE_TEST_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    marker = out / "steps0"
    deadline = time.monotonic() + 300
    while not (marker.is_file() and marker.read_text() and int(marker.read_text()) >= 3):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.05)
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    log = process.communicate(timeout=60)[0]
    waited = time.monotonic() - signalled
    print(f"torchrun SIGTERM: all processes ended {waited:.1f} s after the signal")
    assert waited < 30, "within torchrun's 30 s before it kills the workers"
    assert log.count("Terminated: stopped by SIGTERM") == 2, log  # both ranks, no traceback of theirs
    assert "A checkpoint was written to" in log
    (run,) = (out / "ckpt" / checkpoint_files.CHECKPOINTS_DIR).iterdir()
    (stopped,) = checkpoint_files.checkpoints_in(run)
    manifest = json.loads((stopped / "checkpoint.json").read_text())
    assert manifest["reason"] == "SIGTERM" and manifest["world_size"] == 2 and manifest["batches_done"] >= 2
    code, log = _launch(2, out, data, batch=4, resume="latest")
    assert code == 0, log
    assert _close(_weights(out, 0), _weights(two_processes, 0)) == 0.0
    assert _close(_weights(out, 1), _weights(out, 0)) == 0.0
    resumed = json.loads((out / "history0.json").read_text())
    reference = json.loads((two_processes / "history0.json").read_text())
    assert [(m["train_loss"], m["val_loss"]) for m in resumed] == [(m["train_loss"], m["val_loss"]) for m in reference]
