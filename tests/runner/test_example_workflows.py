"""The example workflows: one source of truth for ComfyUI's template browser, only this pack's
and core nodes, the two IMDB trainers as the guide describes them, and every shipped workflow
(the IMDB trainers, predict, save/load/predict, LoRA, multi-class) run end to end through the
headless runner on a tiny local model and local csv files."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from helpers.data import write_topics_csv
from helpers.workflows import ROOT, node_output, run_example, tiny_overrides

from hf_text_finetune import NODE_CLASS_MAPPINGS
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.prediction import predict_texts
from hf_text_finetune.nodes.comfy_services import OUTPUT_DIR_ENV
from hf_text_finetune.runner.cli import node_classes, run_file
from hf_text_finetune.runner.core_nodes import CORE_NODES
from hf_text_finetune.runner.executor import Executor
from hf_text_finetune.runner.workflow_format import load_workflow, to_api_prompt

SOURCE, TEMPLATES = ROOT / "examples" / "workflows", ROOT / "example_workflows"
PLAIN, FREEZING = "distilbert_classification.json", "distilbert_classification_2.json"
TRAINERS = {PLAIN: "PtTrainTransformerClassificationModel",
            FREEZING: "PtTrainFineTuneClassificationTransformerModel"}
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}


def test_template_folder_holds_identical_copies_of_the_source_workflows():
    """examples/workflows is the source; example_workflows (ComfyUI's template browser) must match it.
    Fix a failure with: python scripts/build_example_workflows.py"""
    source = sorted(p.name for p in SOURCE.glob("*.json"))
    assert {PLAIN, FREEZING} <= set(source)
    assert sorted(p.name for p in TEMPLATES.glob("*.json")) == source
    for name in source:
        assert (TEMPLATES / name).read_bytes() == (SOURCE / name).read_bytes(), name


@pytest.mark.parametrize("path", sorted(SOURCE.glob("*.json")), ids=lambda p: p.name)
def test_every_workflow_node_is_this_packs_or_a_comfyui_core_node(path):
    data = json.loads(path.read_text())
    kinds = {node["type"] for node in data["nodes"]}
    unknown = kinds - set(NODE_CLASS_MAPPINGS) - set(CORE_NODES) - FRONTEND_ONLY
    assert not unknown, f"{path.name} uses node types that are neither this pack's nor core: {unknown}"
    for node in data["nodes"]:  # UI format as the frontend saves it
        assert {"id", "type", "pos", "size", "inputs", "outputs", "widgets_values", "mode"} <= set(node)
    assert data["links"] and "version" in data


@pytest.fixture(scope="module")
def shipped():
    classes = node_classes()
    return {name: to_api_prompt(load_workflow(SOURCE / name), classes) for name in (PLAIN, FREEZING)}


def _only(prompt, class_type, title=None):
    found = [(nid, n) for nid, n in prompt.items()
             if n["class_type"] == class_type and (title is None or n["_meta"]["title"] == title)]
    assert len(found) == 1, (class_type, title, found)
    return found[0]


@pytest.mark.parametrize("name", [PLAIN, FREEZING])
def test_workflows_are_the_guides_imdb_distilbert_pipeline(shipped, name):
    prompt = shipped[name]
    name_id, name_node = _only(prompt, "PrimitiveString", "Model name")
    assert name_node["inputs"]["value"] == "distilbert-base-uncased"
    for class_type in ("HfTokenizerEncode", "PtnHfFineTunedClassificationModel"):
        assert _only(prompt, class_type)[1]["inputs"]["model_name"] == [name_id, 0], "model name given once"
    splits = {}
    for title in ("Train dataset", "Validation dataset"):
        inputs = _only(prompt, "PtvHfDatasetWithTokenEncode", title)[1]["inputs"]
        assert inputs["name"] in ("stanfordnlp/imdb", "imdb")
        splits[title] = inputs["split"]
    assert splits == {"Train dataset": "train", "Validation dataset": "test"}
    optimizer = _only(prompt, "PtoAdamW")[1]["inputs"]  # the recipe that learns on small data too
    assert (optimizer["learning_rate"], optimizer["head_learning_rate"]) == (1e-4, 3e-3)
    assert _only(prompt, "PtDataLoader", "Train loader")[1]["inputs"]["batch_size"] == 16
    assert _only(prompt, "PtDataLoader", "Validation loader")[1]["inputs"]["batch_size"] == 32
    trainer = _only(prompt, TRAINERS[name])[1]["inputs"]
    if name == PLAIN:
        assert trainer["epochs"] == 2
    else:
        assert trainer["epochs"] == 4 and trainer["freeze_pretrained_module_epochs"] == 1
    assert _only(prompt, "PtnBCEWithLogitsLoss") and _only(prompt, "PreviewAny")


def overrides(model_folder, train_csv, val_csv, *extra):
    """Offline stand-ins: the tiny model and local csv files (one 'train' split each)."""
    return [f"Model name.value={model_folder}", f"Train dataset.name={train_csv}",
            f"Validation dataset.name={val_csv}", "Validation dataset.split=train",
            "Train loader.batch_size=8", "Validation loader.batch_size=8",
            "Pto AdamW.learning_rate=0.01", *extra]  # a random-init tiny encoder needs a higher rate


def _trainer_outputs(prompt, result, name):
    nid = _only(prompt, TRAINERS[name])[0]
    return nid, result.outputs[nid]


def _without_timing(metrics: str) -> str:
    return re.sub(r"\([\d.]+ s, [\d.]+ samples/s\)", "", metrics)


@pytest.mark.parametrize("name, extra", [(PLAIN, [f"{TRAINERS[PLAIN]}.epochs=4"]), (FREEZING, [])],
                         ids=["plain", "freezing"])
def test_example_workflow_runs_end_to_end_headless(name, extra, tiny_models, reviews_csv, val_csv):
    executor = Executor(node_classes())
    args = overrides(tiny_models["distilbert"], reviews_csv, val_csv, *extra)
    prompt, result = run_file(str(SOURCE / name), args, executor=executor)
    trainer_id, (model, metrics, val_accuracy, val_loss, train_loss) = _trainer_outputs(prompt, result, name)
    assert val_accuracy >= 0.8, metrics
    epoch_lines = [line for line in metrics.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 4 and epoch_lines[-1].startswith("epoch 4/4 [full]")
    if name == FREEZING:
        assert epoch_lines[0].startswith("epoch 1/4 [frozen]")
    assert f"val accuracy {val_accuracy:.2%}" in epoch_lines[-1]
    preview_id = _only(prompt, "PreviewAny")[0]
    assert result.ui[preview_id]["text"][0] == metrics, "the Metrics preview shows the trainer's text"
    assert result.ui[trainer_id]["text"] == [metrics]
    assert model.model_name == str(tiny_models["distilbert"])

    # queue it again: ComfyUI's cache hands the same node outputs by reference; metrics must not change
    _, again = run_file(str(SOURCE / name), args, executor=executor)
    assert trainer_id in again.executed and preview_id in again.executed
    assert set(again.cached) == set(prompt) - {trainer_id, preview_id}, "unchanged nodes come from the cache"
    again_outputs = again.outputs[trainer_id]
    assert again_outputs[2:] == (val_accuracy, val_loss, train_loss)
    assert _without_timing(again_outputs[1]) == _without_timing(metrics)
    assert again_outputs[0] is not model


# --- the predict, save/load, LoRA and multi-class examples -------------------------------------------

def _pipeline_scores(folder, texts) -> list[dict[str, float]]:
    """What transformers' own pipeline says of the texts, with a saved folder."""
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(folder), device="cpu")
    return [{row["label"]: row["score"] for row in rows} for rows in classify(texts, top_k=None)]


def test_predict_after_training_workflow_runs_headless(tiny_models, reviews_csv, val_csv):
    overrides = tiny_overrides(tiny_models["distilbert"], reviews_csv, val_csv) + ["Predict.texts=good film\nbad film"]
    prompt, result = run_example("predict_after_training.json", overrides)
    text, labels, structured = node_output(prompt, result, "Predict")
    rows = json.loads(structured)
    assert [r["text"] for r in rows] == ["good film", "bad film"]
    assert all(r["label"] in {"0", "1"} and 0 <= r["score"] <= 1 for r in rows)
    assert len(labels.splitlines()) == 2


def test_classify_and_route_workflow_decides_per_text_headless(tiny_models, reviews_csv, val_csv):
    """The runner maps nodes over list outputs as ComfyUI does: the core Compare runs once per text."""
    texts = ["good film", "bad film", "a good film"]
    overrides = tiny_overrides(tiny_models["distilbert"], reviews_csv, val_csv) + [
        "Classify texts.texts=" + "\n".join(texts), "Is it positive?.string_b=1"]
    prompt, result = run_example("classify_and_route.json", overrides)
    labels, indices, probabilities, text, _ = node_output(prompt, result, "Classify texts")
    assert len(labels) == len(indices) == len(probabilities) == 3 and len(text.splitlines()) == 3
    assert node_output(prompt, result, "Is it positive?") == ([label == "1" for label in labels],)
    shown = {prompt[nid]["_meta"]["title"]: result.ui[nid]["text"] for nid in result.ui}
    assert shown["Positive? (one per text)"] == [str(label == "1") for label in labels]
    assert shown["Probability (one per text)"] == [str(p) for p in probabilities]


def test_save_load_predict_workflow_runs_headless(tiny_models, reviews_csv, val_csv, tmp_path, monkeypatch):
    output_dir = tmp_path / "output"  # outside ComfyUI the Save node writes to $HF_TEXT_FINETUNE_OUTPUT_DIR
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(output_dir))
    # fp32: the folder must give the pipeline's numbers to 1e-5 (the node's default auto is bf16 where native)
    overrides = tiny_overrides(tiny_models["bert"], reviews_csv, val_csv) + ["Predict.precision=fp32"]
    prompt, result = run_example("save_load_predict.json", overrides)
    (folder,) = node_output(prompt, result, "Save model")
    assert os.path.dirname(folder) == str(output_dir.resolve())
    assert os.path.basename(folder) == "imdb_distilbert_00001"
    assert "resumes after epoch 2" in node_output(prompt, result, "Load model")[1]
    rows = json.loads(node_output(prompt, result, "Predict")[2])
    assert len(rows) == 3 and all(sum(r["probabilities"].values()) == pytest.approx(1.0) for r in rows)
    theirs = _pipeline_scores(folder, [r["text"] for r in rows])
    assert theirs == [pytest.approx(r["probabilities"], abs=1e-5) for r in rows]


def test_lora_workflow_runs_headless(tiny_models, reviews_csv, val_csv, tmp_path, monkeypatch):
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path))
    overrides = tiny_overrides(tiny_models["distilbert"], reviews_csv, val_csv) + ["Predict.precision=fp32"]  # to 1e-5
    prompt, result = run_example("lora_run.json", overrides)
    (folder,) = node_output(prompt, result, "Save model")
    loaded = load_classifier(folder)
    assert loaded.lora["r"] == 8 and loaded.lora["target_modules"] == ["q_lin", "v_lin"]
    rows = json.loads(node_output(prompt, result, "Predict")[2])
    for ours, row in zip(predict_texts(loaded, [r["text"] for r in rows]), rows):
        assert ours.probabilities == pytest.approx(row["probabilities"], abs=1e-5)


def test_multiclass_example_is_a_template_too():
    source = SOURCE / "ag_news_multiclass.json"
    assert (TEMPLATES / source.name).read_bytes() == source.read_bytes()
    types = {node["type"] for node in json.loads(source.read_text())["nodes"]}
    assert {"PtvTrainValidationSplit", "PtEvaluateClassificationModel", "PtPlotTrainingCurves",
            "PtnCrossEntropyLoss"} <= types
    model_node = next(node for node in json.loads(source.read_text())["nodes"]
                      if node["type"] == "PtnHfFineTunedClassificationModel")
    assert "hf_sequence_classification" in model_node["widgets_values"]


def _model_of(prompt, result, class_type):
    return next(result.outputs[nid][0] for nid, node in prompt.items() if node["class_type"] == class_type)


def test_multiclass_example_workflow_runs_headless_and_repeats(tmp_path, tiny_models):
    model = shutil.copytree(tiny_models["distilbert"], tmp_path / "model")
    train = write_topics_csv(tmp_path / "train.csv", rows=45, seed=0)
    test = write_topics_csv(tmp_path / "test.csv", rows=15, seed=1)
    overrides = [f"Model name.value={model}", f"Train dataset.name={train}", "Train dataset.split=train",
                 f"Test dataset.name={test}", "Test dataset.split=train",
                 "PtnHfFineTunedClassificationModel.num_outputs=3", "PtoAdamW.learning_rate=0.003",
                 "Train loader.batch_size=4", "PtTrainTransformerClassificationModel.device=cpu",
                 "PtTrainTransformerClassificationModel.precision=fp32", "Evaluate on test.device=cpu"]
    executor = Executor(node_classes())
    prompt, first = run_file(str(SOURCE / "ag_news_multiclass.json"), overrides, executor)
    evaluate = next(nid for nid, node in prompt.items() if node["class_type"] == "PtEvaluateClassificationModel")
    metrics = json.loads(first.outputs[evaluate][0])
    assert metrics["task"] == "multiclass" and metrics["label_names"] == ["meh", "neg", "pos"]
    assert _model_of(prompt, first, "PtTrainTransformerClassificationModel").head_type == "hf_sequence_classification"
    assert metrics["count"] == 15
    curves = next(nid for nid, node in prompt.items() if node["class_type"] == "PtPlotTrainingCurves")
    assert tuple(first.outputs[curves][0].shape) == (1, 300, 640, 3)
    history = _model_of(prompt, first, "PtTrainTransformerClassificationModel").history
    assert history[-1]["train_loss"] < history[0]["train_loss"]  # it learns
    _, second = run_file(str(SOURCE / "ag_news_multiclass.json"), overrides, executor)
    assert second.outputs[evaluate][0] == first.outputs[evaluate][0]  # queued again: same metrics, no state leak


# --- the GLUE pair examples: MRPC (pairs, two classes) and STS-B (pairs, regression) ------------------

def _glue_overrides(model, folder, epochs, *extra):
    """Offline stand-ins: the tiny model and a local folder in the GLUE subset's shape (same split names)."""
    return [f"Model name.value={model}", f"Train dataset.name={folder}", f"Validation dataset.name={folder}",
            "Train loader.batch_size=8", "Validation loader.batch_size=8", "PtoAdamW.learning_rate=0.01",
            f"PtTrainTransformerClassificationModel.epochs={epochs}",
            "PtTrainTransformerClassificationModel.device=cpu", "PtTrainTransformerClassificationModel.precision=fp32",
            "Evaluate.device=cpu", "Evaluate.precision=fp32", "Predict.device=cpu", "Predict.precision=fp32", *extra]


@pytest.mark.parametrize("name", ["text_pair_mrpc.json", "sts_regression.json"])
def test_glue_pair_examples_read_nyu_mll_glue_pairs(name):
    prompt = to_api_prompt(load_workflow(SOURCE / name), node_classes())
    for title, split in (("Train dataset", "train"), ("Validation dataset", "validation")):
        inputs = _only(prompt, "PtvHfDatasetWithTokenEncode", title)[1]["inputs"]
        assert (inputs["name"], inputs["split"], inputs["text_field"], inputs["text_pair_field"]) == \
            ("nyu-mll/glue", split, "sentence1", "sentence2")
        assert inputs["subset"] == ("mrpc" if name == "text_pair_mrpc.json" else "stsb")
    assert "\t" in _only(prompt, "PtPredictClassificationModel")[1]["inputs"]["texts"]
    assert (TEMPLATES / name).read_bytes() == (SOURCE / name).read_bytes()


def test_text_pair_mrpc_workflow_runs_headless(tmp_path, tiny_models, monkeypatch):
    from helpers.data import write_glue_pairs_folder

    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "output"))
    folder = write_glue_pairs_folder(tmp_path / "mrpc", "mrpc")
    prompt, result = run_file(str(SOURCE / "text_pair_mrpc.json"), _glue_overrides(tiny_models["bert"], folder, 10))
    metrics = json.loads(node_output(prompt, result, "Evaluate")[0])
    assert metrics["task"] == "binary" and metrics["count"] == 20
    assert metrics["label_names"] == ["not_equivalent", "equivalent"] and metrics["accuracy"] >= 0.7
    (saved,) = node_output(prompt, result, "Save model")
    rows = json.loads(node_output(prompt, result, "Predict")[2])
    assert len(rows) == 2 and all(r["text_pair"] for r in rows)
    theirs = _pipeline_scores(saved, [{"text": r["text"], "text_pair": r["text_pair"]} for r in rows])
    assert theirs == [pytest.approx(r["probabilities"], abs=1e-5) for r in rows]


def test_sts_regression_workflow_runs_headless(tmp_path, tiny_models, monkeypatch):
    from helpers.data import write_glue_pairs_folder

    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "output"))
    folder = write_glue_pairs_folder(tmp_path / "stsb", "stsb")
    prompt, result = run_file(str(SOURCE / "sts_regression.json"), _glue_overrides(tiny_models["bert"], folder, 10))
    _, metrics_text, val_accuracy, _, _ = _only_outputs(prompt, result, "PtTrainTransformerClassificationModel")
    assert val_accuracy == -1.0 and "val Pearson" in metrics_text and "val accuracy" not in metrics_text
    history = _model_of(prompt, result, "PtTrainTransformerClassificationModel").history
    assert history[-1]["val_loss"] < history[0]["val_loss"]  # it learns (at least the scores' level)
    metrics = json.loads(node_output(prompt, result, "Evaluate")[0])
    assert metrics["task"] == "regression" and metrics["count"] == 20
    assert metrics["mse"] == pytest.approx(history[-1]["val_loss"], rel=1e-4), "Evaluate and the trainer agree"
    (saved,) = node_output(prompt, result, "Save model")
    assert json.loads((Path(saved) / "config.json").read_text())["problem_type"] == "regression"
    rows = json.loads(node_output(prompt, result, "Predict")[2])
    assert [r["label"] for r in rows] == ["score", "score"] and all(r["probabilities"] == {} for r in rows)
    theirs = _pipeline_scores(saved, [{"text": r["text"], "text_pair": r["text_pair"]} for r in rows])
    assert [t["score"] for t in theirs] == pytest.approx([r["score"] for r in rows], abs=1e-5)


def _only_outputs(prompt, result, class_type):
    return result.outputs[_only(prompt, class_type)[0]]


def test_long_reviews_head_tail_workflow_runs_headless(tiny_models, reviews_csv, val_csv, tmp_path, monkeypatch):
    from helpers.data import write_csv

    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path))
    long_val = write_csv(tmp_path / "long_val.csv", [(" ".join(["a wonderful film"] * 60) + " the end", 1),
                                                     (" ".join(["a terrible film"] * 60), 0), ("dull and stupid", 0)])
    overrides = tiny_overrides(tiny_models["bert"], reviews_csv, long_val) + [
        "HfTokenizerEncode.max_length=48", "PtTrainTransformerClassificationModel.device=cpu",
        "Evaluate on test.device=cpu", "Predict.precision=fp32"]  # compared with fp32 predict_texts below
    prompt, result = run_example("long_reviews_head_tail.json", overrides)
    encode = next(result.outputs[nid][0] for nid, node in prompt.items() if node["class_type"] == "HfTokenizerEncode")
    assert encode.truncation_rule.mode == "head+tail" and encode.truncation_rule.head_share == 0.25
    metrics = json.loads(node_output(prompt, result, "Evaluate on test")[0])
    assert metrics["count"] == 3
    (folder,) = node_output(prompt, result, "Save model")
    manifest = json.loads((Path(folder) / "classifier.json").read_text())
    assert manifest["truncation"] == {"mode": "head+tail", "head_share": 0.25}
    assert "does NOT keep head and tail" in (Path(folder) / "README.md").read_text()
    rows = json.loads(node_output(prompt, result, "Predict")[2])
    assert len(rows) == 4 and len(rows[0]["text"]) > 1000  # the long review is one prediction
    loaded = load_classifier(folder)
    assert loaded.truncation_rule.mode == "head+tail"
    for ours, row in zip(predict_texts(loaded, [r["text"] for r in rows]), rows):
        assert ours.probabilities == pytest.approx(row["probabilities"], abs=1e-5)
