"""In a real ComfyUI server: the trainer's metrics reach the browser epoch by epoch while it trains
(one `hf-text-finetune.node-text` websocket message per epoch, before the run ends), and the
standard-library client examples/queue_training_job.py queues a training job over HTTP,
follows it, prints the trainer's text, and cancels a long one.

    flock /tmp/comfy.lock python -m pytest tests/integration/test_live_results_and_jobs.py -m comfy -q
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comfy_client import HARNESS, ROOT, harness_ready, trainer_text  # noqa: E402

pytestmark = [pytest.mark.comfy, pytest.mark.skipif(harness_ready() is not None, reason=str(harness_ready()))]

WF1 = ROOT / "examples" / "workflows" / "distilbert_classification.json"
CLIENT = ROOT / "examples" / "queue_training_job.py"
TRAINER = "11"
NODE_TEXT_EVENT = "hf-text-finetune.node-text"




def settings(tiny: dict[str, Path], **extra) -> dict[str, object]:
    return {"Model name.value": str(tiny["model"]), "Train dataset.name": str(tiny["train"]),
            "Validation dataset.name": str(tiny["val"]), "Validation dataset.split": "train",
            "Train loader.batch_size": 8, "PtTrainTransformerClassificationModel.precision": "fp32", **extra}


def test_trainer_text_reaches_the_browser_once_per_epoch_before_the_run_ends(server, tiny, tmp_path):
    prompt = server.convert(WF1, tmp_path / "prompt.json",
                            settings(tiny, **{"PtTrainTransformerClassificationModel.epochs": 3}))
    events = server.queue(prompt)
    kinds = [kind for _, kind, _ in events]
    assert kinds[-1] == "execution_success", events[-3:]
    # ComfyUI 0.3.64 has PromptServer.send_progress_text: the text comes as its binary progress-text frame
    assert not [kind for kind in kinds if kind == NODE_TEXT_EVENT], "not the pack's own event as well"
    live = [(when, data) for when, kind, data in events if kind == "progress_text"]
    assert len(live) == 3 and {data["node"] for _, data in live} == {TRAINER}, "one message per epoch"
    trainer_done = next(when for when, kind, data in events if kind == "executed" and data["node"] == TRAINER)
    assert all(when < trainer_done for when, _ in live), "the epochs arrive while the trainer runs"
    prompt_id = next(data["prompt_id"] for _, kind, data in events if kind == "execution_start")
    _, history = server.get(f"/history/{prompt_id}")
    final = trainer_text(history[prompt_id], TRAINER).splitlines()
    for epoch, (_, data) in enumerate(live, start=1):
        assert data["text"].splitlines() == final[:1 + epoch], "the final text, filled in one epoch at a time"


def _client(server, *args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CLIENT), *args, "--server", server.url], capture_output=True,
                          text=True, timeout=timeout)


def _sets(pairs: dict[str, object]) -> list[str]:
    return [arg for key, value in pairs.items() for arg in ("--set", f"{key}={value}")]


def test_example_client_queues_a_ui_workflow_follows_it_and_prints_the_result(server, tiny):
    done = _client(server, str(WF1), *_sets(settings(tiny, **{"PtTrainTransformerClassificationModel.epochs": 2})))
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "queued prompt " in out and f"running PtTrainTransformerClassificationModel (node {TRAINER})" in out
    assert f"(node {TRAINER}): step " in out, "progress events"
    live = [line for line in out.splitlines() if line.startswith("  ") and "]: train loss" in line]
    assert [line.split(": ", 1)[1].split(" [")[0] for line in live] == ["epoch 1/2", "epoch 2/2"]
    result = out[out.index(f"(node {TRAINER}):\ntrained on "):]
    assert "epoch 2/2 [full]: train loss" in result and out.rstrip().endswith(": success")


def test_example_client_cancels_a_long_job_after_the_given_time(server, tiny):
    long_run = settings(tiny, **{"Train dataset.name": str(tiny["long_train"]),
                                 "PtTrainTransformerClassificationModel.epochs": 50})
    done = _client(server, str(WF1), *_sets(long_run), "--cancel-after", "4", timeout=300)
    assert done.returncode == 130, done.stdout[-3000:] + done.stderr[-3000:]
    assert "cancel sent after 4 s (POST /interrupt)" in done.stdout
    assert done.stdout.rstrip().endswith(": interrupted")
    _, queue = server.get("/queue")
    assert queue["queue_running"] == [], "the server is free again"


def test_example_client_prints_why_the_server_refused_a_prompt(server, tiny):
    done = _client(server, str(WF1), *_sets(settings(tiny, **{"PtoAdamW.learning_rate": 0})), timeout=120)
    assert done.returncode == 2, done.stdout[-3000:]
    assert "refused: " in done.stdout and "learning_rate" in done.stdout


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium (apt-get install chromium)")
def test_frontend_trainer_box_fills_in_epoch_by_epoch(server, tiny, tmp_path):
    """Queued from the real frontend: the pack's JS puts each epoch's text in the trainer's box
    while it trains (sampled twice a second), with no console errors."""
    long_enough = settings(tiny, **{"Train dataset.name": str(tiny["mid_train"]),
                                    "Train loader.batch_size": 16,
                                    "PtTrainTransformerClassificationModel.epochs": 3})
    sets = [f"{key}={value}" for key, value in long_enough.items() if not key.startswith("PtTrain")]
    workflow = tmp_path / "three_epochs.json"
    data = json.loads(WF1.read_text())
    trainer = next(n for n in data["nodes"] if str(n["id"]) == TRAINER)
    trainer["widgets_values"][0], trainer["widgets_values"][4] = 3, "fp32"  # epochs, precision
    workflow.write_text(json.dumps(data))
    done = subprocess.run([sys.executable, "-B", str(Path(__file__).with_name("ui_queue_check.py")),
                           "--server-url", server.url, "--workflow", str(workflow), "--node", TRAINER, "--live",
                           "--workdir", str(tmp_path / "ui"), *[arg for s in sets for arg in ("--set", s)]],
                          capture_output=True, text=True, timeout=600)
    report = json.loads((tmp_path / "ui" / "report.json").read_text())
    assert done.returncode == 0, json.dumps({k: report.get(k) for k in ("checks", "live_values", "console")})
    assert any("epoch 1/3 [full]" in value and "epoch 2/3" not in value for value in report["live_values"])


def test_converted_pt_wrapper_workflow_runs_in_the_server_and_opens_in_the_frontend(server, tiny, tmp_path):
    """run_workflow.py --convert-pt-wrapper output: ComfyUI runs it, and the real frontend loads it with
    no missing or red nodes and the same prompt as the harness's converter."""
    from helpers.pt_wrapper import imdb_classification

    theirs, ours = tmp_path / "pt_wrapper.json", tmp_path / "converted.json"
    theirs.write_text(json.dumps(imdb_classification(str(tiny["model"]), str(tiny["train"]), str(tiny["val"]),
                                                     epochs=2).to_json()))
    converted = subprocess.run([sys.executable, str(ROOT / "run_workflow.py"), "--convert-pt-wrapper", str(theirs),
                                str(ours)], capture_output=True, text=True, timeout=300)
    assert converted.returncode == 0, converted.stderr[-2000:]
    events = server.queue(server.convert(ours, tmp_path / "prompt.json", {}))
    assert events[-1][1] == "execution_success", events[-3:]
    shown = [data["output"]["text"][0] for _, kind, data in events if kind == "executed" and data["node"] == "19"]
    assert shown and shown[0].endswith("distilbert_classification_00001"), "the show node shows the saved folder"
    if shutil.which("chromium") is None:
        pytest.skip("needs chromium for the frontend half")
    done = subprocess.run([sys.executable, "-B", str(HARNESS / "comfy_ui_check.py"), "--server-url", server.url,
                           "--workflow", str(ours), "--compare", "--no-screenshot", "--fail-on-js-errors",
                           "--workdir", str(tmp_path / "ui")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "no missing or red nodes" in done.stdout
    assert "converter vs frontend graphToPrompt: identical" in done.stdout
