"""The pack inside a real ComfyUI server, used the way ComfyUI users use it.

Runs wherever the shared harness (../shared/comfy) is beside the checkout: it bundles a ComfyUI
0.3.64 snapshot, so CI runs these tests too; skipped only where the harness is absent. One server serves the whole
module (start ~10 s); each workflow run on the tiny local model takes a few seconds. Every
shipped example workflow runs here with offline stand-ins (tiny local model, local csv files):
the two IMDB trainers, and the predict, save/load/predict, LoRA and multi-class ones,
checked on the values their nodes show (history.json) and on the files they save.

    python -m pytest tests/integration -m comfy -q
"""

from __future__ import annotations

import json
import math
import re
import shutil
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comfy_client import (HARNESS, PACK_NODES, ROOT, ComfyServer, harness_ready, metrics_from_text,  # noqa: E402
                          trainer_text)

pytestmark = [pytest.mark.comfy, pytest.mark.skipif(harness_ready() is not None, reason=str(harness_ready()))]

WORKFLOWS = ROOT / "examples" / "workflows"
WF1 = WORKFLOWS / "distilbert_classification.json"
WF2 = WORKFLOWS / "distilbert_classification_2.json"
SHIPPED = sorted(WORKFLOWS.glob("*.json"))
TRAINER, METRICS_PREVIEW, MODEL_NODE = "11", "12", "7"
TERMINAL = ("execution_success", "execution_error", "execution_interrupted")




def offline(tiny: dict[str, Path], **extra) -> dict[str, object]:
    """Point both example workflows at the tiny local model and data (nothing from the hub)."""
    return {"Model name.value": str(tiny["model"]), "Train dataset.name": str(tiny["train"]),
            "Validation dataset.name": str(tiny["val"]), "Validation dataset.split": "train", **extra}


def learnable(tiny: dict[str, Path], **extra) -> dict[str, object]:
    """Settings under which the tiny model learns the tiny reviews in 4 epochs (96-100% on
    every tiny tokenizer tried; `tokenizers` training is not bit-reproducible across builds)."""
    return offline(tiny, **{"Pto AdamW.learning_rate": 0.005, "Train loader.batch_size": 8, **extra})


def queue(server: ComfyServer, workflow: Path, settings: dict, workdir: Path, on_event=None):
    prompt = server.convert(workflow, workdir / "prompt_api.json", settings)
    events = server.queue(prompt, on_event)
    return prompt, events


def events_of(events, kind: str) -> list[dict]:
    return [data for _, k, data in events if k == kind]


def shown_text(events, node: str) -> str:
    return "\n".join(t for d in events_of(events, "executed") if d["node"] == node for t in d["output"]["text"])


def test_pack_imports_registers_every_node_and_ships_its_frontend_and_templates(server):
    assert "IMPORT FAILED" not in server.start_output
    for node in PACK_NODES:
        assert f"expected node {node}: registered" in server.start_output
    link_name = ROOT.name
    _, extensions = server.get("/extensions")
    assert f"/extensions/{link_name}/show_node_text.js" in extensions
    _, templates = server.get("/api/workflow_templates")
    assert {p.stem for p in SHIPPED} <= set(templates[link_name])
    assert len(SHIPPED) >= 6  # the two IMDB trainers and the four issue-4 workflows
    status, _ = server.get(f"/api/workflow_templates/{link_name}/distilbert_classification.json")
    assert status == 200


def test_template_browser_gets_each_templates_jpeg_thumbnail(server):
    """The frontend's template browser asks for /api/workflow_templates/<pack>/<name>.jpg."""
    for path in SHIPPED:
        url = f"{server.url}/api/workflow_templates/{ROOT.name}/{path.stem}.jpg"
        with urllib.request.urlopen(url, timeout=30) as answer:
            assert answer.headers["Content-Type"] == "image/jpeg", path.stem
            assert answer.read() == (ROOT / "example_workflows" / f"{path.stem}.jpg").read_bytes()


def test_saved_example_workflows_mean_what_the_guide_says(server, tmp_path):
    """UI -> API conversion against the real server's node specs: widget values land on the
    inputs they were saved for (seed widgets are followed by their control value)."""
    for workflow, trainer in ((WF1, {"epochs": 2}),
                              (WF2, {"epochs": 4, "freeze_pretrained_module_epochs": 1,
                                     "frozen_head_learning_rate": 0.001})):
        prompt = server.convert(workflow, tmp_path / f"{workflow.stem}.json", {})
        inputs = {nid: node["inputs"] for nid, node in prompt.items()}
        assert prompt["1"]["inputs"]["value"] == "distilbert-base-uncased"
        assert inputs["2"]["model_name"] == ["1", 0] and inputs[MODEL_NODE]["model_name"] == ["1", 0]
        assert {k: inputs["3"][k] for k in ("name", "split", "text_field", "label_field")} == {
            "name": "stanfordnlp/imdb", "split": "train", "text_field": "text", "label_field": "label"}
        assert (inputs["4"]["name"], inputs["4"]["split"]) == ("stanfordnlp/imdb", "test")
        assert (inputs["5"]["batch_size"], inputs["5"]["shuffle"], inputs["5"]["seed"]) == (16, True, 0)
        assert (inputs["6"]["batch_size"], inputs["6"]["shuffle"]) == (32, False)
        assert inputs[MODEL_NODE]["num_outputs"] == 1 and inputs[MODEL_NODE]["pooling"] == "auto"
        assert (inputs["8"]["learning_rate"], inputs["8"]["head_learning_rate"]) == (1e-4, 3e-3)
        assert {k: inputs[TRAINER][k] for k in trainer} == trainer
        assert (inputs[TRAINER]["seed"], inputs[TRAINER]["device"]) == (0, "auto")
        assert inputs[TRAINER]["max_grad_norm"] == 1.0


@pytest.mark.parametrize("workflow, extra, phases", [
    (WF1, {f"{TRAINER}.epochs": 4}, ["full"] * 4),
    (WF2, {f"{TRAINER}.frozen_head_learning_rate": 0.03}, ["frozen", "full", "full", "full"]),
], ids=["plain_trainer", "freezing_trainer"])
def test_example_workflow_trains_in_comfyui(server, tiny, tmp_path, workflow, extra, phases):
    epochs = len(phases)
    done = server.run_workflow(workflow, tmp_path, learnable(tiny, **extra))
    assert done.returncode == 0 and "RESULT: PASS" in done.stdout, done.stdout[-5000:]
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["status"]["status_str"] == "success"
    metrics = metrics_from_text(trainer_text(history, TRAINER))
    assert [m[0] for m in metrics] == list(range(1, epochs + 1))
    assert [m[1] for m in metrics] == phases
    assert metrics[-1][4] >= 75.0, trainer_text(history, TRAINER)  # learnable data: well above chance
    assert trainer_text(history, METRICS_PREVIEW) == trainer_text(history, TRAINER)


def test_progress_every_step_and_a_cached_model_is_reused_without_state_leak(server, tiny, tmp_path):
    _, first = queue(server, WF1, learnable(tiny, **{f"{TRAINER}.epochs": 3}), tmp_path / "a")
    assert first[-1][1] == "execution_success"
    steps = [d["value"] for d in events_of(first, "progress") if d["node"] == TRAINER]
    total = {d["max"] for d in events_of(first, "progress") if d["node"] == TRAINER}
    # 48 rows / batch 8 = 6 steps per epoch, 1 validation batch after each: the bar moves on every one
    # (a value may repeat when only the live-plot preview changes, but it never jumps or goes back)
    assert total == {21} and sorted(set(steps)) == list(range(1, 22)) and steps == sorted(steps)

    _, other = queue(server, WF1, learnable(tiny, **{f"{TRAINER}.epochs": 3, f"{TRAINER}.max_grad_norm": 0.5}),
                     tmp_path / "b")
    _, again = queue(server, WF1, learnable(tiny, **{f"{TRAINER}.epochs": 3}), tmp_path / "c")
    for run in (other, again):
        cached = [n for d in events_of(run, "execution_cached") for n in d["nodes"]]
        executed = [d["node"] for d in events_of(run, "executing") if d.get("node")]
        assert MODEL_NODE in cached and TRAINER in executed  # same model object, trained again
    assert metrics_from_text(shown_text(other, TRAINER)) != metrics_from_text(shown_text(first, TRAINER))
    assert metrics_from_text(shown_text(again, TRAINER)) == metrics_from_text(shown_text(first, TRAINER))


def test_cancel_stops_training_within_a_step_and_the_server_keeps_working(server, tiny, tmp_path):
    """The client sees progress late: the steps that ran while the interrupt request travelled (measured:
    its round trip over the time of a step) are allowed, plus the step in flight and one in delivery."""
    interrupted_at: dict = {}
    progress_times: list[float] = []

    def cancel_after_three_steps(kind, data, now):
        if kind != "progress" or data.get("node") != TRAINER or interrupted_at:
            return
        progress_times.append(now)
        if data["value"] >= 3:
            asked = time.perf_counter()
            server.interrupt()
            interrupted_at.update(value=data["value"], time=now, round_trip=time.perf_counter() - asked)

    long_run = offline(tiny, **{"Train dataset.name": str(tiny["long_train"]), "Train loader.batch_size": 32,
                                f"{TRAINER}.epochs": 3})
    _, events = queue(server, WF1, long_run, tmp_path / "long", cancel_after_three_steps)
    final_time, final_kind, final = events[-1]
    assert final_kind == "execution_interrupted" and final["node_id"] == TRAINER
    later_steps = [d["value"] for t, k, d in events if k == "progress" and t > interrupted_at["time"]]
    step_s = max((progress_times[-1] - progress_times[0]) / max(len(progress_times) - 1, 1), 1e-3)
    allowed = interrupted_at["value"] + 2 + math.ceil(interrupted_at["round_trip"] / step_s)
    assert max(later_steps, default=0) <= allowed, (interrupted_at, step_s, later_steps)
    assert final_time - interrupted_at["time"] < 30

    _, after = queue(server, WF1, offline(tiny, **{f"{TRAINER}.epochs": 1}), tmp_path / "after")
    assert after[-1][1] == "execution_success"
    assert metrics_from_text(shown_text(after, TRAINER))


@pytest.mark.parametrize("workflow, setting, message", [
    (WF2, {f"{TRAINER}.freeze_pretrained_module_epochs": 4},
     "freeze_pretrained_module_epochs 4 must be less than epochs 4"),
    (WF1, {"Pto AdamW.learning_rate": 0}, "learning_rate 0.0 must be above 0"),
    (WF1, {"Train loader.batch_size": 0}, "batch_size 0 must be at least 1"),
], ids=["freeze_not_below_epochs", "zero_learning_rate", "zero_batch_size"])
def test_bad_settings_are_refused_at_queue_time_with_our_message(server, tiny, tmp_path, workflow, setting, message):
    done = server.run_workflow(workflow, tmp_path, offline(tiny, **setting))
    assert done.returncode == 1
    assert "PROMPT REJECTED" in done.stdout and "custom_validation_failed" in done.stdout
    assert message in done.stdout
    assert "Traceback" not in done.stdout and "traceback (server side)" not in done.stdout
    assert not (tmp_path / "history.json").exists()  # nothing ran


# --- the issue-4 example workflows: predict, save/load, LoRA, multi-class evaluation -----------------------------

PREDICTION_LINE = re.compile(r"^(?P<label>.+?) \((?P<score>[\d.]+)\): (?P<text>.*)$")


def clear_reviews() -> tuple[list[str], list[str]]:
    """Phrases of the tiny reviews whose words belong to one side only, with the label a trained
    model gives them (right on every tiny tokenizer tried, probability 0.6-0.75 after 4 epochs)."""
    from helpers.data import NEGATIVE, POSITIVE

    return [POSITIVE[3], NEGATIVE[3], POSITIVE[1], NEGATIVE[1]], ["1", "0", "1", "0"]


def node_id(workflow: Path, name: str) -> str:
    """Id of the one node of a saved workflow with this title (or, untitled, this class)."""
    nodes = json.loads(workflow.read_text())["nodes"]
    ids = [str(n["id"]) for n in nodes if n.get("title") == name] or [str(n["id"]) for n in nodes if n["type"] == name]
    assert len(ids) == 1, f"{workflow.name}: no single node {name}"
    return ids[0]


def run_example(server: ComfyServer, name: str, workdir: Path, settings: dict) -> tuple[Path, dict]:
    """Queue a shipped example workflow through the harness; it must finish. Returns it and history.json."""
    workflow = WORKFLOWS / name
    done = server.run_workflow(workflow, workdir, settings)
    assert done.returncode == 0 and "RESULT: PASS" in done.stdout, done.stdout[-5000:]
    history = json.loads((workdir / "history.json").read_text())
    assert history["status"]["status_str"] == "success"
    return workflow, history


def shown(history: dict, workflow: Path, name: str) -> str:
    """The text a node shows in the UI after the run (from history.json)."""
    return trainer_text(history, node_id(workflow, name))


def predictions_shown(text: str) -> list[tuple[str, float, str]]:
    """(label, probability of that label, text) per line of the Predict node's display."""
    rows = [PREDICTION_LINE.match(line) for line in text.splitlines()]
    assert rows and all(rows), text
    return [(m["label"], float(m["score"]), m["text"]) for m in rows]


def saved_folder(history: dict, workflow: Path, server: ComfyServer, prefix: str) -> Path:
    """The folder the Save node reports, which must be a new one in the server's output directory."""
    text = shown(history, workflow, "Save model")
    assert text.startswith("saved to "), text
    folder = Path(text.splitlines()[0][len("saved to "):])
    assert folder.resolve().parent == (server.workdir / "output").resolve()
    assert re.fullmatch(rf"{prefix}_\d{{5}}", folder.name) and folder.is_dir()
    return folder


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_predict_after_training_workflow_labels_new_texts_in_comfyui(server, tiny, tmp_path):
    texts, expected = clear_reviews()
    workflow, history = run_example(server, "predict_after_training.json", tmp_path, learnable(
        tiny, **{"PtTrainTransformerClassificationModel.epochs": 4, "Predict.texts": "\n".join(texts)}))
    metrics = metrics_from_text(shown(history, workflow, "PtTrainTransformerClassificationModel"))
    assert [m[:2] for m in metrics] == [(e, "full") for e in (1, 2, 3, 4)]
    assert shown(history, workflow, "Metrics") == shown(history, workflow, "PtTrainTransformerClassificationModel")
    rows = predictions_shown(shown(history, workflow, "Predict"))
    assert [r[2] for r in rows] == texts  # one line per text, in order
    assert [r[0] for r in rows] == expected, rows  # the trained model tells praise from complaint
    assert all(0.5 <= r[1] <= 1.0 for r in rows)  # the probability of the label it chose


def test_save_load_predict_workflow_saves_a_folder_transformers_loads_in_comfyui(server, tiny, tmp_path):
    from transformers import pipeline

    texts, _ = clear_reviews()
    workflow, history = run_example(server, "save_load_predict.json", tmp_path,
                                    learnable(tiny, **{"Predict.texts": "\n".join(texts), "Predict.precision": "fp32"}))
    folder = saved_folder(history, workflow, server, "imdb_distilbert")
    files = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "README.md", "tokenizer.json", "classifier.json",
            "training_settings.json", "metrics_history.json", "training_state.pt"} <= files  # state: the widget is on
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["DistilBertForSequenceClassification"]
    assert config["id2label"] == {"0": "0", "1": "1"}
    last_val_loss = metrics_from_text(shown(history, workflow, "PtTrainTransformerClassificationModel"))[-1][3]
    assert f"| val_loss | {last_val_loss:.4f} |" in (folder / "README.md").read_text()  # the model card's results
    removed = re.search(r"removed the run's checkpoints in (\S+) ", shown(history, workflow, "Save model"))
    assert removed and "hf_text_finetune_checkpoints" in removed[1] and not Path(removed[1]).exists()

    loaded = shown(history, workflow, "Loaded model").splitlines()
    assert loaded[0] == f"loaded {folder}"
    assert "head: hf_sequence_classification, outputs: 2 (integer labels)" in loaded
    assert "training resumes after epoch 2 with the saved optimizer state" in loaded

    rows = predictions_shown(shown(history, workflow, "Predict"))
    assert [r[2] for r in rows] == texts
    # what the server predicted after loading is what transformers computes from the saved folder
    theirs = pipeline("text-classification", model=str(folder), device="cpu")(texts, top_k=None)
    for (label, score, _), scores in zip(rows, theirs):
        assert {s["label"]: s["score"] for s in scores}[label] == pytest.approx(score, abs=1e-3)


def test_lora_workflow_trains_only_adapters_and_saves_them_in_comfyui(server, tiny, tmp_path):
    import torch
    from safetensors.torch import load_file

    from hf_text_finetune.modules.results.loading import load_classifier
    from hf_text_finetune.modules.results.prediction import predict_texts

    texts, _ = clear_reviews()
    workflow, history = run_example(server, "lora_run.json", tmp_path,
                                    offline(tiny, **{"Predict.texts": "\n".join(texts), "Predict.precision": "fp32"}))
    metrics = metrics_from_text(shown(history, workflow, "PtTrainTransformerClassificationModel"))
    assert [m[:2] for m in metrics] == [(1, "full"), (2, "full")]
    assert all(0 < m[2] < 5 and 0 < m[3] < 5 and 0 <= m[4] <= 100 for m in metrics)  # train/val loss, accuracy

    folder = saved_folder(history, workflow, server, "imdb_distilbert_lora")
    manifest = json.loads((folder / "classifier.json").read_text())
    assert {k: manifest["lora"][k] for k in ("r", "alpha", "target_modules")} == {
        "r": 8, "alpha": 16.0, "target_modules": ["q_lin", "v_lin"]}  # DistilBERT's attention, found by itself
    adapters = load_file(str(folder / "adapter" / "adapter_model.safetensors"))
    # PEFT starts every lora_B at zero: non-zero ones were trained
    assert sorted(k for k in adapters if k.endswith("lora_B.weight")) == [
        f"base_model.model.transformer.layer.{i}.attention.{m}.lora_B.weight"
        for i in (0, 1) for m in ("q_lin", "v_lin")]
    assert all(adapters[k].abs().max() > 0 for k in adapters if "lora_B" in k)

    # the saved weights are the untouched base plus the adapters' update (alpha / r) B A, nothing else
    base, merged = load_file(str(tiny["model"] / "model.safetensors")), load_file(str(folder / "model.safetensors"))
    assert set(base) == set(merged)
    for key, weight in base.items():
        found = re.fullmatch(r"transformer\.layer\.(\d)\.attention\.(q_lin|v_lin)\.weight", key)
        if found is None:
            assert torch.equal(merged[key], weight), f"{key} changed: LoRA must leave the base model alone"
            continue
        stem = f"base_model.model.transformer.layer.{found[1]}.attention.{found[2]}"
        update = adapters[f"{stem}.lora_B.weight"] @ adapters[f"{stem}.lora_A.weight"] * (16.0 / 8)
        assert torch.allclose(merged[key], weight + update, atol=1e-5), key

    rows = predictions_shown(shown(history, workflow, "Predict"))
    assert [r[2] for r in rows] == texts
    reloaded = predict_texts(load_classifier(folder), texts)  # adapters and head back from the folder
    for (label, score, _), ours in zip(rows, reloaded):
        assert ours.probabilities[label] == pytest.approx(score, abs=1e-3)


def test_multiclass_workflow_trains_and_evaluates_on_a_test_set_in_comfyui(server, tiny, tmp_path):
    workflow, history = run_example(server, "ag_news_multiclass.json", tmp_path, {
        "Model name.value": str(tiny["model"]), "PtnHfFineTunedClassificationModel.num_outputs": 3,
        "Train dataset.name": str(tiny["topics_train"]), "Train dataset.split": "train",
        "Test dataset.name": str(tiny["topics_test"]), "Test dataset.split": "train",
        "Pto AdamW.learning_rate": 0.005, "Train loader.batch_size": 4,
        "PtTrainTransformerClassificationModel.epochs": 6})
    training = shown(history, workflow, "PtTrainTransformerClassificationModel")
    metrics = metrics_from_text(training)
    assert [m[:2] for m in metrics] == [(e, "full") for e in range(1, 7)]
    assert metrics[-1][2] < metrics[0][2]  # train loss falls
    assert all(m[3] is not None for m in metrics)  # validated every epoch on the split-off 10 %
    assert shown(history, workflow, "Training metrics") == training

    report = json.loads(shown(history, workflow, "Test metrics"))
    assert report["task"] == "multiclass" and report["count"] == 15 and report["average"] == "macro"
    assert report["label_names"] == ["meh", "neg", "pos"]  # text labels, sorted, names kept
    confusion = report["confusion"]
    assert [sum(row) for row in confusion] == [5, 5, 5] == [c["support"] for c in report["per_class"]]
    assert report["accuracy"] == pytest.approx(sum(confusion[i][i] for i in range(3)) / 15)
    assert report["f1_macro"] == pytest.approx(sum(c["f1"] for c in report["per_class"]) / 3)
    # well above the 1/3 of chance (at least two topics learnt on every tiny tokenizer tried after 6 epochs)
    assert report["accuracy"] >= 0.6, report

    evaluate = node_id(workflow, "Evaluate on test")
    summary = history["outputs"][evaluate]["text"][0].splitlines()
    assert summary[0] == "multiclass classification, 15 texts"
    assert f"accuracy: {report['accuracy']:.2%}" in summary
    (confusion_image,) = history["outputs"][evaluate]["images"]
    assert min(png_size(server.view(confusion_image))) > 100
    (curves_image,) = history["outputs"][node_id(workflow, "Training curves")]["images"]
    assert png_size(server.view(curves_image)) == (640, 300)


def glue_settings(tiny: dict[str, Path], task: str) -> dict[str, object]:
    """A GLUE pair workflow on the tiny model and the local folder of `task` (its split names unchanged)."""
    return {"Model name.value": str(tiny["model"]), "Train dataset.name": str(tiny[task]),
            "Validation dataset.name": str(tiny[task]), "Pto AdamW.learning_rate": 0.01,
            "Train loader.batch_size": 8, "Validation loader.batch_size": 8,
            "PtTrainTransformerClassificationModel.epochs": 10,
            "PtTrainTransformerClassificationModel.precision": "fp32", "Evaluate.precision": "fp32",
            "Predict.precision": "fp32"}  # compared with transformers' fp32 pipeline


def _pipeline_on_pairs(folder: Path, pairs: list[tuple[str, str]]) -> list[dict[str, float]]:
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(folder), device="cpu")
    return [{row["label"]: row["score"] for row in rows}
            for rows in classify([{"text": a, "text_pair": b} for a, b in pairs], top_k=None)]


def _predicted_pairs(workflow: Path) -> list[tuple[str, str]]:
    node = next(n for n in json.loads(workflow.read_text())["nodes"] if n["type"] == "PtPredictClassificationModel")
    return [tuple(line.split("\t")) for line in node["widgets_values"][0].splitlines()]


def test_text_pair_mrpc_workflow_trains_on_pairs_and_saves_a_pipeline_folder_in_comfyui(server, tiny, tmp_path):
    workflow, history = run_example(server, "text_pair_mrpc.json", tmp_path, glue_settings(tiny, "mrpc"))
    metrics = metrics_from_text(shown(history, workflow, "PtTrainTransformerClassificationModel"))
    assert len(metrics) == 10 and metrics[-1][2] < metrics[0][2]
    report = json.loads(shown(history, workflow, "Validation metrics"))
    assert report["task"] == "binary" and report["count"] == 20
    assert report["label_names"] == ["not_equivalent", "equivalent"]  # the ClassLabel names of the data
    folder = saved_folder(history, workflow, server, "mrpc_distilbert")
    assert json.loads((folder / "classifier.json").read_text())["text_pairs"] is True
    pairs = _predicted_pairs(workflow)
    rows = predictions_shown(shown(history, workflow, "Predict"))
    assert len(rows) == len(pairs) == 2 and all(" | " in r[2] for r in rows)
    for (label, score, _), theirs in zip(rows, _pipeline_on_pairs(folder, pairs)):
        assert theirs[label] == pytest.approx(score, abs=1e-3)


def test_sts_regression_workflow_predicts_scores_in_comfyui(server, tiny, tmp_path):
    workflow, history = run_example(server, "sts_regression.json", tmp_path, glue_settings(tiny, "stsb"))
    training = shown(history, workflow, "PtTrainTransformerClassificationModel")
    assert "val MAE" in training and "val Pearson" in training and "val accuracy" not in training
    report = json.loads(shown(history, workflow, "Validation metrics"))
    assert report["task"] == "regression" and report["count"] == 20
    assert {"mse", "mae", "pearson", "spearman"} <= set(report)
    evaluate = node_id(workflow, "Evaluate")
    assert history["outputs"][evaluate]["text"][0].startswith("regression, 20 texts")
    (scatter,) = history["outputs"][evaluate]["images"]
    assert min(png_size(server.view(scatter))) > 100
    folder = saved_folder(history, workflow, server, "stsb_distilbert")
    assert json.loads((folder / "config.json").read_text())["problem_type"] == "regression"
    lines = shown(history, workflow, "Predict").splitlines()
    found = [re.match(r"^score (-?[\d.]+): ", line) for line in lines]
    assert len(found) == 2 and all(found), lines
    theirs = _pipeline_on_pairs(folder, _predicted_pairs(workflow))
    assert [t["score"] for t in theirs] == pytest.approx([float(m[1]) for m in found], abs=1e-3)


def test_long_reviews_head_tail_workflow_keeps_head_and_tail_in_comfyui(server, tiny, tmp_path):
    from helpers.data import write_csv

    long_val = write_csv(tmp_path / "long_val.csv", [(" ".join(["a wonderful film"] * 60) + " the end", 1),
                                                     (" ".join(["a terrible film"] * 60), 0), ("dull and stupid", 0)])
    workflow, history = run_example(server, "long_reviews_head_tail.json", tmp_path, learnable(tiny, **{
        "Validation dataset.name": str(long_val), "HfTokenizerEncode.max_length": 48}))
    report = json.loads(shown(history, workflow, "Test metrics"))
    assert report["count"] == 3  # one per review, whatever its length
    folder = saved_folder(history, workflow, server, "imdb_head_tail")
    manifest = json.loads((folder / "classifier.json").read_text())
    assert manifest["truncation"] == {"mode": "head+tail", "head_share": 0.25} and manifest["max_length"] == 48
    card = (folder / "README.md").read_text()
    assert "does NOT keep head and tail" in card and "predict_texts" in card
    rows = predictions_shown(shown(history, workflow, "Predict"))
    assert len(rows) == 4 and all(0.5 <= r[1] <= 1.0 for r in rows)  # the long review is one line


needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium (apt-get install chromium)")


@needs_chromium
def test_frontend_loads_every_shipped_workflow_with_the_converters_prompt(server, tmp_path):
    done = subprocess.run([sys.executable, "-B", str(HARNESS / "comfy_ui_check.py"), "--server-url", server.url,
                           *[arg for path in SHIPPED for arg in ("--workflow", str(path))], "--compare",
                           "--no-screenshot", "--fail-on-js-errors", "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:]
    assert done.stdout.count("no missing or red nodes") == len(SHIPPED)
    assert done.stdout.count("converter vs frontend graphToPrompt: identical") == len(SHIPPED)
    assert "HfTextFineTune.ShowNodeText" in done.stdout


@needs_chromium
def test_trainer_node_shows_its_metrics_after_a_run_queued_from_the_frontend(server, tiny, tmp_path):
    settings = [f"{key}={value}" for key, value in offline(tiny).items()]
    done = subprocess.run([sys.executable, "-B", str(Path(__file__).with_name("ui_queue_check.py")),
                           "--server-url", server.url, "--workflow", str(WF2), "--node", TRAINER,
                           "--workdir", str(tmp_path), *[arg for s in settings for arg in ("--set", s)]],
                          capture_output=True, text=True, timeout=600)
    report = json.loads((tmp_path / "report.json").read_text())
    assert done.returncode == 0, json.dumps(report["checks"])
    assert all(report["checks"].values())
    assert "epoch 4/4 [full]" in report["shown_on_node"]
