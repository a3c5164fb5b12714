"""What the browser gets when it opens a workflow (runner/pt_wrapper_browser.py, asked by
web/js/pt_wrapper.js before any widget is applied): a Pt-Wrapper workflow comes back converted by
the very converter of `--convert-pt-wrapper`; one that cannot be converted comes back without the
shifted values (trust_remote_code is never set by one) with the reason and the command; this pack's
own workflows are left alone. With ComfyUI-Pt-Wrapper's real examples where a copy is at hand
(PT_WRAPPER_EXAMPLES = its examples/workflows folder; its licence forbids shipping them)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.pt_wrapper import imdb_classification

from hf_text_finetune.runner.cli import node_classes
from hf_text_finetune.runner.pt_wrapper import convert_workflow
from hf_text_finetune.runner.pt_wrapper_browser import browser_reply, their_node_types
from hf_text_finetune.runner.workflow_format import has_control_widget, widget_inputs

ROOT = Path(__file__).resolve().parents[2]
ORIGINALS = ("distilbert_classification.json", "distilbert_classification_2.json")


def _values_by_name(node: dict) -> dict:
    names = []
    for name, spec in widget_inputs(node_classes()[node["type"]]):
        names += [name, f"{name} control"] if has_control_widget(name, spec) else [name]
    return dict(zip(names, node["widgets_values"]))


def _trust_remote_code_values(workflow: dict) -> list:
    return [_values_by_name(n)["trust_remote_code"] for n in workflow["nodes"]
            if n["type"] in ("HfTokenizerEncode", "PtnHfFineTunedClassificationModel") and n.get("widgets_values")]


def _guide(**kwargs) -> dict:
    return imdb_classification("distilbert-base-uncased", "imdb", "imdb", **kwargs).to_json()


@pytest.mark.parametrize("path", sorted((ROOT / "example_workflows").glob("*.json")), ids=lambda p: p.name)
def test_the_packs_own_templates_are_left_alone(path):
    assert browser_reply(json.loads(path.read_text()), node_classes()) == {"pt_wrapper": False}


@pytest.mark.parametrize("kind", [{}, {"fine_tune": True}, {"lora": True}, {"local_files": True}])
def test_a_pt_wrapper_workflow_comes_back_as_the_command_line_converter_writes_it(kind):
    theirs = _guide(**kind)
    reply = browser_reply(theirs, node_classes())
    expected, notes = convert_workflow(theirs, node_classes())
    assert reply["pt_wrapper"] and reply["converted"]
    assert reply["workflow"] == expected and reply["notes"] == notes
    assert _trust_remote_code_values(reply["workflow"]) == [False, False]
    model = next(n for n in reply["workflow"]["nodes"] if n["type"] == "PtnHfFineTunedClassificationModel")
    assert _values_by_name(model)["pooling"] == "mean" and _values_by_name(model)["num_outputs"] == 1


def test_shared_ids_alone_are_recognised_by_their_widget_shape():
    theirs = _guide()
    shared = [n for n in theirs["nodes"] if n["type"] in node_classes()]
    kept = {n["id"] for n in shared}
    only_shared = dict(theirs, nodes=shared, links=[lk for lk in theirs["links"] if lk[1] in kept and lk[3] in kept])
    reply = browser_reply(only_shared, node_classes())
    assert reply["pt_wrapper"] and reply["converted"]
    assert _trust_remote_code_values(reply["workflow"]) == [False, False]


def test_an_unconvertible_one_opens_without_shifted_values_and_says_how_to_convert():
    theirs = _guide()
    theirs["nodes"].append({"id": 90, "type": "PtnLinear", "pos": [0, 0], "size": [200, 80], "inputs": [],
                            "outputs": [], "widgets_values": [4, 2, True]})
    reply = browser_reply(theirs, node_classes())
    assert reply["pt_wrapper"] and not reply["converted"]
    assert "PtnLinear" in reply["error"] and "--convert-pt-wrapper" in reply["command"]
    nodes = {n["id"]: n for n in reply["workflow"]["nodes"]}
    for shifted in (30, 32, 21, 24, 7, 12):  # tokenizer, model, datasets, loaders: their widgets in other orders
        assert "widgets_values" not in nodes[shifted], f"node {shifted}: no shifted value may be applied"
    assert nodes[29]["widgets_values"][0] == 0.01 and nodes[16]["widgets_values"] == ["mean"], "same order: kept"
    assert "30 (HfTokenizerEncode)" in reply["cleared"] and "32 (PtnHfFineTunedClassificationModel)" in reply["cleared"]
    assert theirs["nodes"][1].get("widgets_values"), "the caller's workflow is not changed"


def test_anything_else_is_not_pt_wrapper():
    for data in (None, [], {"nodes": "x"}, {"1": {"class_type": "PtDataLoader", "inputs": {}}}):
        assert browser_reply(data, node_classes()) == {"pt_wrapper": False}


def test_the_browsers_pre_check_lists_their_types_and_the_shared_ones():
    types = set(their_node_types())
    assert {"CDAStringCreate", "PtTrainClassificationTransformerModel", "PtSaveModel", "HfTokenizerEncode"} <= types


def _originals() -> list[Path]:
    folder = os.environ.get("PT_WRAPPER_EXAMPLES")
    return [Path(folder) / name for name in ORIGINALS] if folder else []


@pytest.mark.skipif(not _originals(), reason="set PT_WRAPPER_EXAMPLES to ComfyUI-Pt-Wrapper's examples/workflows")
@pytest.mark.parametrize("name", ORIGINALS)
def test_their_published_examples_convert_with_trust_remote_code_off(name):
    theirs = json.loads((Path(os.environ["PT_WRAPPER_EXAMPLES"]) / name).read_text())
    reply = browser_reply(theirs, node_classes())
    assert reply["pt_wrapper"] and reply["converted"]
    assert _trust_remote_code_values(reply["workflow"]) == [False, False]
    tokenizer = next(n for n in reply["workflow"]["nodes"] if n["type"] == "HfTokenizerEncode")
    assert _values_by_name(tokenizer)["max_length"] == 0
