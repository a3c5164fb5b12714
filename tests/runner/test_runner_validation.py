"""The headless runner refuses what ComfyUI refuses at queue time (types, min/max, list values), and
more that only a command line meets (misspelt input names, files that are not workflows), each with
exit status 2 and one line; Ctrl-C ends with "cancelled" and exit status 130, without a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.runner import cli
from hf_text_finetune.runner.cli import main, node_classes
from hf_text_finetune.runner.executor import Executor, apply_override
from hf_text_finetune.runner.workflow_format import load_workflow, to_api_prompt

ROOT = Path(__file__).resolve().parents[2]
PLAIN = ROOT / "examples" / "workflows" / "distilbert_classification.json"
TRAINER = "PtTrainTransformerClassificationModel"


def _prompt():
    return to_api_prompt(load_workflow(PLAIN), node_classes())


def _refused(overrides, *parts):
    prompt = _prompt()
    with pytest.raises(UserInputError) as caught:
        for assignment in overrides:
            apply_override(prompt, assignment, node_classes())
        Executor(node_classes()).validate(prompt)
    message = str(caught.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    assert "Traceback" not in message
    return message


# (override, parts of the message): the value, the cause and what to give instead
BAD_VALUES = [
    ("Train loader.batch_size=abc", ["batch_size 'abc'", "not a whole number (INT)", "batch_size=32"]),
    ("Train loader.batch_size=8.5", ["batch_size 8.5", "not a whole number"]),
    ("Train loader.batch_size=true", ["batch_size True", "not a whole number"]),
    ("Train loader.batch_size=5000", ["batch_size 5000", "bigger than its maximum 4096", "use 1 to 4096"]),
    (f"{TRAINER}.epochs=abc", ["epochs 'abc'", "not a whole number"]),
    ("Pto AdamW.learning_rate=fast", ["learning_rate 'fast'", "not a number (FLOAT)"]),
    ("Pto AdamW.learning_rate=11", ["learning_rate 11.0", "bigger than its maximum 10.0"]),
    ("Pto AdamW.beta1=[0.9]", ["beta1 [0.9]", "not a number"]),
    ("Pto AdamW.amsgrad=maybe", ["amsgrad 'maybe'", "not true or false (BOOLEAN)"]),
    ("Train loader.shuffle=2", ["shuffle 2", "not true or false"]),
    ("Train dataset.strip_html=yes please", ["strip_html 'yes please'", "not true or false"]),
    ("Train dataset.split={\"a\": 1}", ["split {'a': 1}", "not text (STRING)"]),
    (f"{TRAINER}.device=gpu", ["device 'gpu'", "is not one of", "cuda"]),
    (f"{TRAINER}.precision=fp8", ["precision 'fp8'", "is not one of"]),
    ("Ptn Hf Fine Tuned Classification Model.pooling=average", ["pooling 'average' is unknown", "'auto', 'cls'"]),
    ("PtoLrSchedulerWarmup.schedule=linera", ["schedule 'linera'", "did you mean linear?"]),
    ("Train loader.seed=-1", ["seed -1", "smaller than its minimum 0"]),
]


@pytest.mark.parametrize("override, parts", BAD_VALUES, ids=[case[0] for case in BAD_VALUES])
def test_bad_widget_values_are_refused_as_comfyui_refuses_them(override, parts):
    _refused([override], "the workflow did not pass validation", *parts)


UNKNOWN_NAMES = [
    ("Train loader.batch_sise=8", ["no input 'batch_sise'", "did you mean batch_size?"]),
    (f"{TRAINER}.epoch=2", ["no input 'epoch'", "did you mean epochs"]),
    ("Pto AdamW.lr=0.01", ["no input 'lr'", "Its inputs:", "learning_rate"]),
    ("Model name.valu=x", ["no input 'valu'", "did you mean value?"]),
]


@pytest.mark.parametrize("override, parts", UNKNOWN_NAMES, ids=[case[0] for case in UNKNOWN_NAMES])
def test_unknown_input_names_are_refused_with_the_closest_names(override, parts):
    _refused([override], f"override '{override}'", *parts)


def test_values_are_converted_as_comfyui_converts_them():
    prompt = _prompt()
    for assignment in ('Train loader.batch_size="16"', "Pto AdamW.learning_rate=1", 'Train loader.shuffle="false"'):
        apply_override(prompt, assignment, node_classes())
    Executor(node_classes()).validate(prompt)
    loader = next(n for n in prompt.values() if n["_meta"]["title"] == "Train loader")["inputs"]
    assert loader["batch_size"] == 16 and loader["shuffle"] is False


def test_the_nodes_own_checks_keep_their_words():
    """As in ComfyUI, an input the node checks itself (VALIDATE_INPUTS) skips the generic min/max check."""
    _refused(["Train loader.batch_size=0"], "batch_size 0 must be at least 1")


def test_one_bad_value_is_one_line():
    message = _refused(["Train loader.batch_size=abc"])
    assert "\n" not in message


@pytest.mark.parametrize("content, parts", [
    ("[1, 2, 3]", ["holds a JSON list", "not a workflow object"]),
    ('"a string"', ["holds a JSON str"]),
    ("42", ["holds a JSON int"]),
    ('{"1": {"inputs": {}}}', ["node 1 has no class_type", "Export (API)"]),
    ('{"1": "PtDataLoader"}', ["node 1 has no class_type"]),
    ("{not json", ["is not valid JSON", "save the workflow again"]),
], ids=["list", "string", "number", "node-without-class_type", "node-not-an-object", "not-json"])
def test_files_that_are_not_workflows_are_refused(content, parts, tmp_path, caplog):
    path = tmp_path / "workflow.json"
    path.write_text(content)
    assert main([str(path), "--quiet"]) == 2
    for part in parts:
        assert part in caplog.text
    assert "Traceback" not in caplog.text


def test_bad_input_exits_2_with_a_message_and_no_traceback(caplog):
    assert main([str(PLAIN), "--set", "Train loader.batch_size=abc", "--quiet"]) == 2
    assert "batch_size 'abc'" in caplog.text and "Traceback" not in caplog.text


def test_ctrl_c_in_process_ends_cancelled_with_130(monkeypatch, caplog):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_file", interrupted)
    assert main([str(PLAIN), "--quiet"]) == 130
    assert "cancelled" in caplog.text and "Traceback" not in caplog.text


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")
def test_ctrl_c_on_the_command_line_prints_cancelled_and_exits_130(tiny_models, reviews_csv, tmp_path):
    """A real Ctrl-C (SIGINT) while the workflow runs: one line, exit 130, no traceback."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1")
    overrides = [f"Model name.value={tiny_models['distilbert']}", f"Train dataset.name={reviews_csv}",
                 f"Validation dataset.name={reviews_csv}", "Validation dataset.split=train", f"{TRAINER}.epochs=200"]
    command = [sys.executable, str(ROOT / "run_workflow.py"), str(PLAIN)]
    for assignment in overrides:
        command += ["--set", assignment]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    output = []
    deadline = time.time() + 120
    for line in process.stdout:
        output.append(line)
        if "running node 11" in line or time.time() > deadline:
            break
    time.sleep(1.0)  # inside the trainer
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=120)
    text = "".join(output) + rest
    assert process.returncode == 130, text[-2000:]
    assert "cancelled" in text and "Traceback" not in text
