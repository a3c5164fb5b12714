"""The headless runner: `python run_workflow.py WORKFLOW --set NODE.input=value`, the UI -> API
conversion and an executor that behaves like ComfyUI's (validation, inference mode, caching)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from helpers.checks import raises_with
from helpers.data import write_reviews_csv
from helpers.workflows import ROOT

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.runner.cli import main, node_classes, run_file
from hf_text_finetune.runner.executor import Executor, ValidationFailed, apply_override
from hf_text_finetune.runner.workflow_format import load_workflow, to_api_prompt

PLAIN = ROOT / "examples" / "workflows" / "distilbert_classification.json"
FREEZING = ROOT / "examples" / "workflows" / "distilbert_classification_2.json"
TRAINER = "PtTrainTransformerClassificationModel"


def _offline(tiny_models, reviews_csv, val_csv, *extra):
    return [f"Model name.value={tiny_models['distilbert']}", f"Train dataset.name={reviews_csv}",
            f"Validation dataset.name={val_csv}", "Validation dataset.split=train", "Train loader.batch_size=8",
            "Validation loader.batch_size=8", "Pto AdamW.learning_rate=0.01", f"{TRAINER}.epochs=1", *extra]


def _cli_args(overrides):
    return [arg for assignment in overrides for arg in ("--set", assignment)]


# --- The command -------------------------------------------------------------------------------------

def test_command_line_runs_a_workflow_and_prints_the_metrics(tiny_models, reviews_csv, val_csv):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1")
    completed = subprocess.run(
        [sys.executable, str(ROOT / "run_workflow.py"), str(PLAIN),
         *_cli_args(_offline(tiny_models, reviews_csv, val_csv))],
        capture_output=True, text=True, env=env, timeout=300, cwd=str(ROOT.parent))
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "epoch 1/1 [full]" in completed.stdout and "val accuracy" in completed.stdout
    assert "workflow finished" in completed.stdout


def test_main_reports_bad_input_without_a_traceback(tiny_models, reviews_csv, val_csv, caplog):
    overrides = _offline(tiny_models, reviews_csv, val_csv, "Pto AdamW.learning_rate=0")
    assert main([str(PLAIN), *_cli_args(overrides), "--quiet"]) == 2
    assert "learning_rate 0" in caplog.text and "Traceback" not in caplog.text
    assert main([str(ROOT / "no_such_workflow.json")]) == 2
    assert "no_such_workflow.json' does not exist" in caplog.text


def test_api_format_file_runs_like_the_ui_format(tiny_models, reviews_csv, val_csv, tmp_path):
    overrides = _offline(tiny_models, reviews_csv, val_csv)
    prompt, ui_result = run_file(str(PLAIN), overrides)
    api_file = tmp_path / "api.json"
    api_file.write_text(json.dumps(prompt))
    _, api_result = run_file(str(api_file))
    trainer = next(nid for nid, n in prompt.items() if n["class_type"] == TRAINER)
    assert api_result.outputs[trainer][2:] == ui_result.outputs[trainer][2:]


def _queue(path, *overrides):
    """Executor.validate on an example workflow with overrides, as a queue press would."""
    classes = node_classes()
    prompt = to_api_prompt(load_workflow(path), classes)
    for assignment in overrides:
        apply_override(prompt, assignment)
    Executor(classes).validate(prompt)


def test_bad_values_in_a_workflow_are_refused_before_anything_runs():
    with pytest.raises(ValidationFailed) as caught:
        _queue(FREEZING, "Pto AdamW.learning_rate=0", "Train loader.batch_size=0",
               "PtTrainFineTuneClassificationTransformerModel.freeze_pretrained_module_epochs=4")
    message = str(caught.value)
    for part in ("learning_rate 0", "batch_size 0", "freeze_pretrained_module_epochs 4 must be less than epochs 4"):
        assert part in message
    with pytest.raises(ValidationFailed, match="'./no/such/reviews.csv' was not found in the working directory"):
        _queue(PLAIN, "Train dataset.name=./no/such/reviews.csv")
    _queue(PLAIN)  # the workflows as shipped pass


def test_unknown_model_folder_in_a_workflow_run_is_named(tmp_path, reviews_csv):
    missing = str(tmp_path / "missing-model")
    raises_with(lambda: run_file(str(PLAIN), [f"Model name.value={missing}", f"Train dataset.name={reviews_csv}",
                                              f"Validation dataset.name={reviews_csv}"]),
                missing, "does not exist")


# --- Overrides ---------------------------------------------------------------------------------------

@pytest.fixture
def prompt():
    return to_api_prompt(load_workflow(PLAIN), node_classes())


def test_overrides_find_nodes_by_id_title_class_or_display_name(prompt):
    adamw = next(nid for nid, n in prompt.items() if n["class_type"] == "PtoAdamW")
    apply_override(prompt, f"{adamw}.weight_decay=0.5")
    apply_override(prompt, "PtoAdamW.amsgrad=true")
    apply_override(prompt, "Pto AdamW.learning_rate=2e-5")
    apply_override(prompt, "Train loader.seed=7")
    apply_override(prompt, "Train dataset.name=my file.csv")
    inputs = prompt[adamw]["inputs"]
    assert inputs["weight_decay"] == 0.5 and inputs["amsgrad"] is True and inputs["learning_rate"] == 2e-5
    train_loader = next(n for n in prompt.values() if n["_meta"]["title"] == "Train loader")
    assert train_loader["inputs"]["seed"] == 7
    assert next(n for n in prompt.values() if n["_meta"]["title"] == "Train dataset")["inputs"]["name"] == "my file.csv"


def test_ambiguous_or_unknown_override_targets_are_clear_errors(prompt):
    with pytest.raises(UserInputError, match="matches nodes"):
        apply_override(prompt, "PtvHfDatasetWithTokenEncode.name=x.csv")
    with pytest.raises(UserInputError, match="no node has id, title or type 'Optimiser'.*Train dataset"):
        apply_override(prompt, "Optimiser.learning_rate=1")
    with pytest.raises(UserInputError, match="NODE.input=value"):
        apply_override(prompt, "learning_rate=1")


# --- UI -> API conversion --------------------------------------------------------------------------

def test_ui_widget_values_map_to_inputs_skipping_control_after_generate(prompt):
    loader = next(n for n in prompt.values() if n["_meta"]["title"] == "Train loader")["inputs"]
    assert loader["batch_size"] == 16 and loader["shuffle"] is True and loader["seed"] == 0
    assert loader["group_by_length"] is True, "the 'fixed' control value after seed is not an input"
    trainer = next(n for n in prompt.values() if n["class_type"] == TRAINER)["inputs"]
    assert trainer["epochs"] == 2 and trainer["seed"] == 0 and trainer["device"] == "auto"
    assert trainer["model"][1] == 0 and isinstance(trainer["model"][0], str), "links become [node id, slot]"


def test_muted_and_bypassed_nodes_are_left_out(tmp_path):
    data = load_workflow(PLAIN)
    scheduler = next(n for n in data["nodes"] if n["type"] == "PtoLrSchedulerWarmup")
    scheduler["mode"] = 4  # bypassed: its consumer gets nothing on that input
    preview = next(n for n in data["nodes"] if n["type"] == "PreviewAny")
    preview["mode"] = 2  # muted
    converted = to_api_prompt(data, node_classes())
    assert str(scheduler["id"]) not in converted and str(preview["id"]) not in converted
    trainer = next(n for n in converted.values() if n["class_type"] == TRAINER)
    assert "lr_scheduler" not in trainer["inputs"]


def test_unknown_node_type_in_a_workflow_is_a_clear_error():
    data = load_workflow(PLAIN)
    data["nodes"][0]["type"] = "SomeOtherPackNode"
    with pytest.raises(UserInputError, match="SomeOtherPackNode"):
        to_api_prompt(data, node_classes())


# --- The executor behaves like ComfyUI's --------------------------------------------------------------

class Probe:
    """A test node recording how the executor calls it."""

    calls: list = []
    validated: list = []
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"min": 0})}}

    @classmethod
    def VALIDATE_INPUTS(cls, value=None):
        cls.validated.append(value)
        return True if value is None or value >= 0 else f"value {value} must be at least 0"

    def run(self, value):
        Probe.calls.append((value, torch.is_inference_mode_enabled()))
        return (value + 1,)


class ProbeOutput(Probe):
    OUTPUT_NODE = True
    RETURN_TYPES = ()

    def run(self, value):
        Probe.calls.append(("output", value))
        return {"ui": {"text": [str(value)]}, "result": ()}


@pytest.fixture
def executor():
    Probe.calls, Probe.validated = [], []
    return Executor({"Probe": Probe, "ProbeOutput": ProbeOutput})


def test_executor_runs_nodes_in_inference_mode_and_validates_links_as_none(executor):
    prompt = {"1": {"class_type": "Probe", "inputs": {"value": 1}},
              "2": {"class_type": "ProbeOutput", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "Probe", "inputs": {"value": 5}}}  # feeds no output: never runs
    result = executor.run(prompt)
    assert Probe.calls == [(1, True), ("output", 2)]
    assert sorted(Probe.validated, key=str) == [1, 5, None]
    assert result.ui["2"] == {"text": ["2"]} and "3" not in result.outputs
    Probe.calls.clear()
    again = executor.run(prompt)
    assert again.cached == ["1"] and Probe.calls == [("output", 2)], "outputs re-run, unchanged nodes cached"
    prompt["1"]["inputs"]["value"] = 2
    executor.run(prompt)
    assert Probe.calls[-2:] == [(2, True), ("output", 3)], "a changed input re-runs the node and its consumers"


def test_executor_refuses_invalid_workflows_before_running(executor):
    with pytest.raises(ValidationFailed, match="value -1 must be at least 0"):
        executor.run({"1": {"class_type": "ProbeOutput", "inputs": {"value": -1}}})
    with pytest.raises(ValidationFailed, match="required input missing"):
        executor.run({"1": {"class_type": "ProbeOutput", "inputs": {}}})
    with pytest.raises(ValidationFailed, match="unknown node type 'Nope'"):
        executor.run({"1": {"class_type": "Nope", "inputs": {}}})
    with pytest.raises(ValidationFailed, match="no output node"):
        executor.run({"1": {"class_type": "Probe", "inputs": {"value": 1}}})
    with pytest.raises(ValidationFailed, match="cycle"):
        executor.run({"1": {"class_type": "Probe", "inputs": {"value": ["3", 0]}},
                      "3": {"class_type": "Probe", "inputs": {"value": ["1", 0]}},
                      "2": {"class_type": "ProbeOutput", "inputs": {"value": ["1", 0]}}})
    assert Probe.calls == []


def test_a_data_file_edited_between_runs_is_read_again(tiny_models, val_csv, tmp_path):
    """ComfyUI asks IS_CHANGED before reusing a cached node; the headless executor must too."""
    train_csv = write_reviews_csv(tmp_path / "train.csv", rows=16, seed=0)
    executor = Executor(node_classes())
    args = _offline(tiny_models, train_csv, val_csv)
    prompt, first = run_file(str(PLAIN), args, executor=executor)
    dataset_id = next(nid for nid, n in prompt.items() if n["_meta"]["title"] == "Train dataset")
    assert len(first.outputs[dataset_id][0]) == 16
    _, unchanged = run_file(str(PLAIN), args, executor=executor)
    assert dataset_id in unchanged.cached
    write_reviews_csv(train_csv, rows=24, seed=0)
    os.utime(train_csv, ns=(os.stat(train_csv).st_atime_ns, os.stat(train_csv).st_mtime_ns + 10**9))
    _, edited = run_file(str(PLAIN), args, executor=executor)
    assert dataset_id in edited.executed and len(edited.outputs[dataset_id][0]) == 24
