"""`run_workflow.py --convert-pt-wrapper IN OUT`: a ComfyUI-Pt-Wrapper fine-tuning workflow (its
saved format, written here by tests/helpers/pt_wrapper.py) becomes one of this pack's that runs
headless; widget values are mapped by name, its save/show/string nodes become ours and core
ones, and what cannot be converted is named in one clear error."""

from __future__ import annotations

import json
import os

import pytest
from helpers.checks import raises_with
from helpers.pt_wrapper import PtWrapperGraph, imdb_classification
from helpers.workflows import WORKFLOWS

from hf_text_finetune.nodes.comfy_services import OUTPUT_DIR_ENV
from hf_text_finetune.runner.cli import main, node_classes, run_file
from hf_text_finetune.runner.pt_wrapper import convert_workflow
from hf_text_finetune.runner.workflow_format import load_workflow, to_api_prompt


def _convert(tmp_path, graph: PtWrapperGraph, capsys=None):
    theirs, ours = tmp_path / "pt_wrapper.json", tmp_path / "converted.json"
    theirs.write_text(json.dumps(graph.to_json()))
    assert main(["--convert-pt-wrapper", str(theirs), str(ours)]) == 0
    return ours


def _by_type(prompt: dict, class_type: str) -> list[tuple[str, dict]]:
    return [(nid, node) for nid, node in prompt.items() if node["class_type"] == class_type]


def test_converted_guide_workflow_runs_headless_and_saves(tmp_path, monkeypatch, capsys, tiny_models, reviews_csv,
                                                          val_csv):
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "output"))
    ours = _convert(tmp_path, imdb_classification(str(tiny_models["distilbert"]), str(reviews_csv), str(val_csv)))
    said = capsys.readouterr().out
    assert f"-> {ours}" in said and "note: node 17: saves a folder output/distilbert_classification_00001" in said
    converted = load_workflow(ours)
    assert {n["type"] for n in converted["nodes"]} <= set(node_classes()) | {"MarkdownNote"}
    note = next(n for n in converted["nodes"] if n.get("title") == "Converted from Pt-Wrapper")
    assert "padding (max_length) dropped" in note["widgets_values"][0]

    prompt, result = run_file(str(ours))
    (trainer_id, trainer), = _by_type(prompt, "PtTrainTransformerClassificationModel")
    assert trainer["inputs"]["epochs"] == 4 and trainer["inputs"]["device"] == "cpu"  # use_gpu False
    model, metrics, val_accuracy, _, _ = result.outputs[trainer_id]
    assert val_accuracy >= 0.8, metrics
    assert len([line for line in metrics.splitlines() if line.startswith("epoch ")]) == 4
    (save_id, _), = _by_type(prompt, "PtSaveClassificationModel")
    folder = result.outputs[save_id][0]
    assert os.path.basename(folder) == "distilbert_classification_00001" and os.path.isdir(folder)
    (preview_id, _), = _by_type(prompt, "PreviewAny")
    assert result.ui[preview_id]["text"][0] == folder, "their show-text node shows the saved folder"
    assert model.model_name == str(tiny_models["distilbert"])


def test_widget_values_map_by_name_not_position(tiny_models, reviews_csv, val_csv):
    graph = imdb_classification("bert-base-uncased", "imdb", "imdb", epochs=3, fine_tune=True, lora=True)
    tokenizer = next(n for n in graph.nodes if n["type"] == "HfTokenizerEncode")
    tokenizer["widgets_values"] = ["", False, "longest", False, 64]  # their order: ..., truncation, max_length
    trainer = next(n for n in graph.nodes if n["type"] == "PtTrainFineTuneClassificationTransformerModel")
    trainer["widgets_values"] = [3, 1, True, True, 2, True, True]  # early stopping after 2 rounds, best model
    converted, notes = convert_workflow(graph.to_json(), node_classes())
    prompt = to_api_prompt(converted, node_classes())
    mapped = {k: prompt["30"]["inputs"][k] for k in ("max_length", "truncation", "trust_remote_code")}
    assert mapped == {"max_length": 64, "truncation": False, "trust_remote_code": False}
    assert {k: prompt["21"]["inputs"][k] for k in ("name", "split", "text_field", "label_field", "strip_html",
                                                   "encode_return_dict")} == {
        "name": "imdb", "split": "train", "text_field": "text", "label_field": "label", "strip_html": True,
        "encode_return_dict": True}
    assert (prompt["7"]["inputs"]["batch_size"], prompt["7"]["inputs"]["shuffle"]) == (8, True)
    assert prompt["29"]["inputs"]["learning_rate"] == 0.01 and "model" not in prompt["29"]["inputs"]
    model = prompt["32"]["inputs"]
    assert (model["pooling"], model["dropout"], model["num_outputs"]) == ("mean", 0, 1)
    (lora_id, lora), = _by_type(prompt, "PtnLoraAdapter")
    assert (lora["inputs"]["r"], lora["inputs"]["alpha"], lora["inputs"]["model"]) == (4, 8.0, ["32", 0])
    ours = prompt["38"]["inputs"]
    assert prompt["38"]["class_type"] == "PtTrainFineTuneClassificationTransformerModel"
    assert {k: ours[k] for k in ("epochs", "freeze_pretrained_module_epochs", "device", "early_stopping_patience",
                                 "restore_best_weights")} == {
        "epochs": 3, "freeze_pretrained_module_epochs": 1, "device": "auto", "early_stopping_patience": 2,
        "restore_best_weights": True}
    assert ours["model"] == [lora_id, 0] and ours["val_loader"] == ["12", 0]
    assert not any("padding" in n for n in notes), "padding off: nothing dropped"
    assert any("Ptn LoRA Adapter node" in n for n in notes)


def test_converted_lora_fine_tune_workflow_on_local_files_runs_headless(tmp_path, monkeypatch, tiny_models,
                                                                       reviews_csv, val_csv):
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "output"))
    graph = imdb_classification(str(tiny_models["distilbert"]), str(reviews_csv), str(val_csv), epochs=2,
                                fine_tune=True, lora=True, local_files=True)
    prompt, result = run_file(str(_convert(tmp_path, graph)))
    (trainer_id, _), = _by_type(prompt, "PtTrainFineTuneClassificationTransformerModel")
    model, metrics, *_ = result.outputs[trainer_id]
    assert metrics.splitlines()[1].startswith("epoch 1/2 [frozen]") and "epoch 2/2 [full]" in metrics
    assert model.lora["r"] == 4
    assert prompt["21"]["inputs"]["name"] == str(reviews_csv) and prompt["21"]["inputs"]["split"] == "train"


def test_trainer_loss_outputs_and_schedulers_are_rewired(tiny_models):
    graph = imdb_classification("distilbert-base-uncased", "imdb", "imdb")
    shown = graph.node("PtShowText", [""], 50)
    graph.link(27, 1, shown, "tens")  # their "train loss" output
    step = graph.node("PtoLrSchedulerStep", [3, 0.5], 51)
    graph.link(29, 0, step, "optimizer")
    graph.link(step, 0, 27, "scheduler")
    converted, _ = convert_workflow(graph.to_json(), node_classes())
    prompt = to_api_prompt(converted, node_classes())
    assert prompt["50"] == {"class_type": "PreviewAny", "inputs": {"source": ["27", 4]},
                            "_meta": {"title": "PreviewAny"}}  # our train_loss output
    assert prompt["51"]["inputs"] == {"step_size": 3, "gamma": 0.5}
    assert prompt["27"]["inputs"]["lr_scheduler"] == ["51", 0]
    links = {link[0]: link for link in converted["links"]}
    trainer = next(n for n in converted["nodes"] if n["id"] == 27)
    for slot, item in enumerate(trainer["inputs"]):  # the frontend reads the target slot from the link
        if item["link"] is not None:
            assert links[item["link"]][3:5] == [27, slot] and item["type"] == links[item["link"]][5]


def test_unknown_node_types_are_refused_naming_each_type_and_node(tmp_path, capsys):
    graph = imdb_classification("distilbert-base-uncased", "imdb", "imdb")
    graph.node("PtnLinear", [10, 2, True], 60)
    graph.node("PtnLinear", [2, 1, True], 61)
    graph.node("PtLoadModel", ["model.pkl"], 62)
    message = raises_with(lambda: convert_workflow(graph.to_json(), node_classes()),
                          "PtnLinear (nodes 60, 61)", "PtLoadModel (node 62)", "Pt Save Classification Model",
                          "no equivalent in HF Text Fine-Tune")
    assert "PtDataLoader" in message  # what it does convert
    theirs = tmp_path / "theirs.json"
    theirs.write_text(json.dumps(graph.to_json()))
    assert main(["--convert-pt-wrapper", str(theirs), str(tmp_path / "out.json")]) == 2
    assert "PtnLinear (nodes 60, 61)" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("what", ["ours", "api"])
def test_this_packs_workflows_and_api_prompts_are_refused(what):
    data = load_workflow(WORKFLOWS / "distilbert_classification.json")
    if what == "api":
        data = to_api_prompt(data, node_classes())
        raises_with(lambda: convert_workflow(data, node_classes()), "not API prompts", "Workflow > Save")
    else:
        raises_with(lambda: convert_workflow(data, node_classes()), "already in HF Text Fine-Tune's format")
