"""What `run_workflow.py` prints: on a terminal a tqdm bar (epoch, step, loss, time left) on
stderr; to a pipe or file the log lines instead; either way a plain summary at the end (each
output node's text, what was saved, the wall time), never the results as WARNING lines."""

from __future__ import annotations

import os
import pty
import struct
import subprocess
import sys
import threading


import pytest
from helpers.workflows import ROOT, WORKFLOWS

ENV = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")


def _command(tiny_models, reviews_csv, val_csv, output) -> list[str]:
    sets = [f"Model name.value={tiny_models['distilbert']}", f"Train dataset.name={reviews_csv}",
            f"Validation dataset.name={val_csv}", "Validation dataset.split=train", "Train loader.batch_size=4",
            "PtTrainTransformerClassificationModel.epochs=2", "PtTrainTransformerClassificationModel.precision=fp32"]
    command = [sys.executable, str(ROOT / "run_workflow.py"), str(WORKFLOWS / "save_load_predict.json")]
    for assignment in sets:
        command += ["--set", assignment]
    return command


def _summary_of(stdout: str, output) -> str:
    assert "results:" in stdout, stdout[-3000:]
    end = stdout[stdout.index("results:"):]
    assert "Pt Train Transformer Classification Model (node 11):" in end
    assert "epoch 2/2 [full]: train loss" in end and "Metrics (node 12): as node 11" in end
    assert f"saved:\n  {output}{os.sep}imdb_distilbert_00001 (Save model, node 13)" in end
    assert "(checkpoints)" in end and end.rstrip().splitlines()[-1].startswith("workflow finished in ")
    return end


def test_piped_output_has_log_lines_and_a_plain_summary(tiny_models, reviews_csv, val_csv, tmp_path):
    env = dict(ENV, HF_TEXT_FINETUNE_OUTPUT_DIR=str(tmp_path))
    done = subprocess.run(_command(tiny_models, reviews_csv, val_csv, tmp_path), capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = done.stdout[:done.stdout.index("results:")]
    assert " INFO progress " in log and "train loss" in log and "s left" in log
    assert " INFO epoch 1/2 [full]: train loss" in log
    _summary_of(done.stdout, tmp_path)
    assert "WARNING" not in done.stdout
    assert "step/s" not in done.stderr and "s/step" not in done.stderr, "no bar outside a terminal"


@pytest.mark.skipif(os.name != "posix", reason="needs a pseudo-terminal")
def test_on_a_terminal_a_progress_bar_replaces_the_progress_lines(tiny_models, reviews_csv, val_csv, tmp_path):
    import fcntl
    import termios

    env = dict(ENV, HF_TEXT_FINETUNE_OUTPUT_DIR=str(tmp_path))
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a 120-column terminal
    process = subprocess.Popen(_command(tiny_models, reviews_csv, val_csv, tmp_path), stdout=subprocess.PIPE,
                               stderr=follower, text=True, env=env)
    os.close(follower)
    terminal: list[bytes] = []

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed its end
                return
            if not chunk:
                return
            terminal.append(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    stdout, _ = process.communicate(timeout=600)
    reader.join(timeout=10)
    os.close(leader)
    shown = b"".join(terminal).decode(errors="replace")
    assert process.returncode == 0, stdout[-2000:] + shown[-2000:]
    assert "\r" in shown, "a bar redraws in place"
    assert "epoch 2/2" in shown and "loss=" in shown and ("step/s" in shown or "s/step" in shown)
    assert "26/26 [" in shown, "steps done of the run's total: 2 x (12 train + 1 validation batches)"
    assert "epoch 1/2 [full]: train loss" in shown, "each finished epoch is written above the bar"
    assert " INFO progress " not in stdout and "running node" not in stdout
    _summary_of(stdout, tmp_path)
