"""What a checkpoint of the real MiniLM-L6 costs, and how fast SIGTERM stops the headless runner.

    python benchmarks/checkpoint_cost.py --rounds 2    (about 2 minutes a round on an idle 2-core machine)

Each round runs the example workflow headless (run_workflow.py, a separate process as a user would) on
the real MiniLM with 96 IMDB reviews (128 tokens, batch 16, fp32, CPU), twice: once to the end of its
epoch (the end-of-epoch checkpoint: size on disk, seconds to write), and once sent SIGTERM after its
second step (seconds from the signal to the checkpoint's log line, and to the process's exit, whose
code must be 143). Prints medians with min-max; the machine may be shared, so only the order of
magnitude is meant.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, minilm_folder

DEMO = Path.home() / ".cache" / "hf-text-finetune" / "demo" / "imdb_val_1000.csv"
WRITTEN = re.compile(r"checkpoint \((?P<reason>[^,]+), (?P<size>[\d,.]+ [kM]B)\) written to .* in (?P<s>[\d.]+) s")


def command() -> list[str]:
    trainer = "PtTrainTransformerClassificationModel"
    settings = {"Model name.value": minilm_folder(), "Train dataset.name": DEMO, "Train dataset.split": "train[:96]",
                "Validation dataset.name": DEMO, "Validation dataset.split": "train[96:128]",
                "Train loader.batch_size": 16, "Validation loader.batch_size": 32, "HfTokenizerEncode.max_length": 128,
                f"{trainer}.epochs": 1, f"{trainer}.precision": "fp32", f"{trainer}.device": "cpu"}
    return [sys.executable, str(ROOT / "run_workflow.py"),
            str(ROOT / "examples" / "workflows" / "distilbert_classification.json"),
            *[arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]]


def run(out: Path, stop_after_step: int = 0) -> dict:
    """One run; with `stop_after_step`, SIGTERM once the log shows that progress step."""
    env = {**os.environ, "HF_TEXT_FINETUNE_OUTPUT_DIR": str(out), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    process = subprocess.Popen(command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    signalled, found = None, {}
    for line in process.stdout:
        step = re.search(r"progress (\d+)/", line)
        if stop_after_step and signalled is None and step and int(step[1]) >= stop_after_step:
            process.send_signal(signal.SIGTERM)
            signalled = time.perf_counter()
        written = WRITTEN.search(line)
        if written:
            found.update(size=written["size"], write_s=float(written["s"]), reason=written["reason"])
            if signalled is not None:
                found["to_checkpoint_s"] = time.perf_counter() - signalled
    process.wait()
    if signalled is not None:
        found.update(to_exit_s=time.perf_counter() - signalled, code=process.returncode)
    return found


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    finished, stopped = [], []
    with tempfile.TemporaryDirectory() as folder:
        for number in range(args.rounds):
            finished.append(run(Path(folder) / f"full{number}"))
            stopped.append(run(Path(folder) / f"stopped{number}", stop_after_step=2))
            print(f"round {number + 1}: {finished[-1]} | {stopped[-1]}", flush=True)
    print(f"checkpoint of MiniLM-L6 (weights + AdamW state): {finished[0].get('size')}")
    print("write, end of epoch:", summary([r["write_s"] for r in finished]))
    print("write, on SIGTERM:", summary([r["write_s"] for r in stopped]))
    print("SIGTERM to checkpoint logged:", summary([r["to_checkpoint_s"] for r in stopped]))
    print("SIGTERM to process exit:", summary([r["to_exit_s"] for r in stopped]))
    print("exit codes:", sorted({r["code"] for r in stopped}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
