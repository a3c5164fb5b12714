"""In a real ComfyUI 0.3.64 server and its frontend (headless Chromium):

- Pt Classify Texts' outputs are STRING/INT/FLOAT lists in /object_info and drive a core node once per
  text; the routing template (classify_and_route) runs with the core Compare deciding per text;
- ComfyUI-Pt-Wrapper's workflows open converted by the pack's JS (0 missing or red nodes, no "Some
  Nodes Are Missing" dialog, trust_remote_code off, the command-line converter's values). With its
  published examples where PT_WRAPPER_EXAMPLES names a copy of its examples/workflows folder (its
  licence forbids shipping them), else with workflows in its saved format written by the tests;
- next to a stand-in pack registering Pt-Wrapper's 16 shared ids, the clash warning appears as a
  toast with the right count."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comfy_client import PACK_NODES, ROOT, ComfyServer, comfy_run, harness_ready, set_up_harness  # noqa: E402

pytestmark = [pytest.mark.comfy, pytest.mark.skipif(harness_ready() is not None, reason=str(harness_ready()))]
needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium (apt-get install chromium)")

ROUTING = ROOT / "examples" / "workflows" / "classify_and_route.json"
# ComfyUI-Pt-Wrapper's node ids that this pack registers too (its __init__.py, 2025)
SHARED_IDS = ("HfTokenizerEncode", "PtDataLoader", "PtEvaluateClassificationModel", "PtPredictClassificationModel",
              "PtTrainFineTuneClassificationTransformerModel", "PtnBCEWithLogitsLoss", "PtnCrossEntropyLoss",
              "PtnHfFineTunedClassificationModel", "PtnMSELoss", "PtoAdam", "PtoAdamW",
              "PtoLrSchedulerCosineAnnealing", "PtoLrSchedulerReduceOnPlateau", "PtoLrSchedulerStep", "PtoSGD",
              "PtvHfDatasetWithTokenEncode")


def test_classify_texts_outputs_are_typed_lists_in_object_info(server):
    status, info = server.get("/object_info/PtClassifyTexts")
    spec = info["PtClassifyTexts"]
    assert status == 200 and spec["display_name"] == "Pt Classify Texts"
    assert spec["output"] == ["STRING", "INT", "FLOAT", "STRING", "STRING"]
    assert spec["output_is_list"] == [True, True, True, False, False]
    assert spec["output_name"][:3] == ["label", "class_index", "probability"]


def test_routing_template_decides_once_per_text_with_core_nodes(server, tiny, tmp_path):
    texts = ["good film", "bad film", "a good film"]
    done = server.run_workflow(ROUTING, tmp_path, {
        "Model name.value": str(tiny["model"]), "Train dataset.name": str(tiny["train"]),
        "Validation dataset.name": str(tiny["val"]), "Validation dataset.split": "train",
        "Pto AdamW.learning_rate": 0.005, "Train loader.batch_size": 8,
        "PtTrainTransformerClassificationModel.epochs": 4,
        "Classify texts.texts": "\n".join(texts), "Is it positive?.string_b": "1"})
    assert done.returncode == 0 and "RESULT: PASS" in done.stdout, done.stdout[-5000:]
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["status"]["status_str"] == "success"
    nodes = {n["id"]: n for n in json.loads(ROUTING.read_text())["nodes"]}
    by_title = {nodes[int(nid)].get("title"): out for nid, out in history["outputs"].items()}
    verdicts = by_title["Positive? (one per text)"]["text"]
    probabilities = by_title["Probability (one per text)"]["text"]
    assert len(verdicts) == len(probabilities) == len(texts), "one run of each core node per text"
    labels = [line.split(" ")[0] for line in by_title["Classify texts"]["text"][0].splitlines()]
    assert len(labels) == len(texts) and set(labels) <= {"0", "1"}
    assert [v.lower() for v in verdicts] == [str(label == "1").lower() for label in labels], (labels, verdicts)
    assert all(0.5 <= float(p) <= 1 for p in probabilities)


def _pt_wrapper_workflows(folder: Path) -> list[Path]:
    """Their published examples where a copy is at hand, else workflows in their saved format."""
    originals = os.environ.get("PT_WRAPPER_EXAMPLES")
    if originals:
        return [Path(originals) / name for name in ("distilbert_classification.json",
                                                    "distilbert_classification_2.json")]
    from helpers.pt_wrapper import imdb_classification

    paths = []
    for name, fine_tune in (("distilbert_classification.json", False), ("distilbert_classification_2.json", True)):
        graph = imdb_classification("distilbert-base-uncased", "imdb", "imdb", fine_tune=fine_tune, learning_rate=5e-5)
        paths.append(folder / name)
        paths[-1].write_text(json.dumps(graph.to_json()))
    return paths


def _open_in_browser(server_url: str, workflows: list[Path], workdir: Path) -> dict:
    done = subprocess.run([sys.executable, "-B", str(Path(__file__).with_name("ui_open_check.py")),
                           "--server-url", server_url, "--workdir", str(workdir),
                           *[arg for path in workflows for arg in ("--workflow", str(path))]],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((workdir / "report.json").read_text())


def _converter_values(workflow: dict) -> dict[int, dict]:
    """{node id: {widget: value}} of the command-line converter's result."""
    from hf_text_finetune.runner.cli import node_classes
    from hf_text_finetune.runner.pt_wrapper import convert_workflow
    from hf_text_finetune.runner.workflow_format import has_control_widget, widget_inputs

    converted, _ = convert_workflow(workflow, node_classes())
    values = {}
    for node in converted["nodes"]:
        if node["type"] not in node_classes():
            continue
        names = []
        for name, spec in widget_inputs(node_classes()[node["type"]]):
            names += [name, "control_after_generate"] if has_control_widget(name, spec) else [name]
        values[node["id"]] = dict(zip(names, node["widgets_values"]))
    return values


@needs_chromium
def test_pt_wrapper_workflows_open_converted_with_trust_remote_code_off(server, tmp_path):
    workflows = _pt_wrapper_workflows(tmp_path)
    report = _open_in_browser(server.url, workflows, tmp_path / "browser")
    assert [w["name"] for w in report["workflows"]] == [p.name for p in workflows]
    for path, seen in zip(workflows, report["workflows"]):
        assert not seen["errors"] and not seen["dialogs"], seen  # no "Some Nodes Are Missing"
        bad = [(n["id"], n["type"]) for n in seen["nodes"] if not n["registered"] or n["has_errors"]]
        assert bad == [], f"{path.name}: missing or red nodes {bad}"
        assert any("converted a ComfyUI-Pt-Wrapper workflow" in t for t in seen["toasts"]), seen["toasts"]
        expected = _converter_values(json.loads(path.read_text()))
        nodes = {n["id"]: n for n in seen["nodes"]}
        for node_id, values in expected.items():
            shown = nodes[node_id]["widgets"]
            for name, value in values.items():
                if name in shown and name != "control_after_generate":
                    assert shown[name] == pytest.approx(value) if isinstance(value, float) else shown[name] == value, \
                        (path.name, node_id, name, shown[name], value)
        trust = [n["widgets"]["trust_remote_code"] for n in seen["nodes"] if "trust_remote_code" in n["widgets"]]
        assert trust == [False, False], trust
        model = next(n for n in seen["nodes"] if n["type"] == "PtnHfFineTunedClassificationModel")
        assert model["widgets"]["pooling"] == "mean" and model["widgets"]["num_outputs"] == 1
    ours = report["templates"][ROOT.name]
    assert ours[0] == "distilbert_classification" and ours[1:] == sorted(ours[1:]), "the seed template first"


STAND_IN = '''
def _node(node_id):
    class StandIn:
        CATEGORY = "stand-in"
        RETURN_TYPES = ("STRING",)
        FUNCTION = "run"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"value": ("INT", {"default": 1})}}

        def run(self, value):
            return (str(value),)

    StandIn.__name__ = node_id
    return StandIn


NODE_CLASS_MAPPINGS = {node_id: _node(node_id) for node_id in %r}
'''


@pytest.fixture(scope="module")
def server_beside_stand_in(tmp_path_factory):
    set_up_harness()
    stand_in = tmp_path_factory.mktemp("stand_in") / "ComfyUI-Pt-Wrapper"
    stand_in.mkdir()
    (stand_in / "__init__.py").write_text(STAND_IN % (SHARED_IDS,))
    workdir = tmp_path_factory.mktemp("comfy_clash_toast")
    comfy = ComfyServer(workdir)
    started = comfy_run("--ext", str(ROOT), "--ext", str(stand_in), "--expect-nodes", ",".join(PACK_NODES),
                        "--keep-server", "--workdir", str(workdir), timeout=300)
    import re

    found = re.search(r"server left running: (\S+) \(pid (\d+)\)", started.stdout + started.stderr)
    assert found, started.stdout[-3000:] + started.stderr[-3000:]
    comfy.url, comfy.pid = found.group(1), int(found.group(2))
    yield comfy
    comfy.stop()


@needs_chromium
def test_the_clash_warning_reaches_the_browser_once_with_the_right_count(server_beside_stand_in, tmp_path):
    status, reply = server_beside_stand_in.get("/hf_text_finetune/clashes")
    assert status == 200 and [c["count"] for c in reply["clashes"]] == [len(SHARED_IDS)]
    report = _open_in_browser(server_beside_stand_in.url, [], tmp_path / "browser")
    toasts = [t for t in report["startup_toasts"] if "registers" in t]
    assert len(toasts) == 1, report["startup_toasts"]
    assert f"'ComfyUI-Pt-Wrapper' registers {len(SHARED_IDS)} of the same node ids" in toasts[0]
    assert "--convert-pt-wrapper" in toasts[0] and ".disabled" in toasts[0]
