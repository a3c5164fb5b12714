"""Local data files and base models the ComfyUI way, and every local path a prompt gives confined, in a real
ComfyUI 0.3.64 server through its HTTP API (issue 17).

Two servers share one input folder (--input-directory) and ComfyUI's models/hf_text_encoders, where a
tiny model is placed for this module: `confined` is started without HF_TEXT_FINETUNE_EXTRA_PATHS (it reads
only ComfyUI's own folders) and without HF_TEXT_FINETUNE_TRUST_REMOTE_CODE; `allowed` with both (the extra
folder is the pytest temp root, where the things "outside" lie). Prompts are the seed workflow converted
as the frontend does, or three-node API prompts ending in core's Preview Any.

    python -m pytest tests/integration/test_comfy_local_files.py -q
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comfy_client import (COMFY_DIR, EXTRA_PATHS_ENV, REMOTE_CODE_ENV, ROOT, ComfyServer,  # noqa: E402
                          harness_ready, metrics_from_text, set_up_harness, trainer_text)

pytestmark = [pytest.mark.comfy, pytest.mark.skipif(harness_ready() is not None, reason=str(harness_ready()))]

SEED = ROOT / "examples" / "workflows" / "distilbert_classification.json"
TRAINER = "11"
NO_FILE, NO_MODEL, NO_SAVED = "(none: use name)", "(none: use model_name)", "(none: use path)"
OUTSIDE = ("outside the folders this ComfyUI server reads from", EXTRA_PATHS_ENV, "restart ComfyUI")


@pytest.fixture(scope="module")
def places(tmp_path_factory, tiny):
    """The shared input folder (a csv already in it, a symlink out of it), the module's model folder in
    ComfyUI's models/hf_text_encoders (one that needs its own code beside it), and the things outside."""
    from helpers.models import build_tiny_model

    root = tmp_path_factory.mktemp("local_files")
    inputs, outside = root / "comfy_input", root / "outside"
    inputs.mkdir()
    outside.mkdir()
    shutil.copy(tiny["train"], inputs / "my_reviews_train.csv")
    shutil.copy(tiny["train"], outside / "secret.csv")
    os.symlink(outside / "secret.csv", inputs / "link.csv")
    shutil.copytree(tiny["model"], outside / "model")
    shutil.copytree(ROOT / "tests" / "fixtures" / "saved_v1" / "linear", outside / "saved")
    encoders = COMFY_DIR / "models" / "hf_text_encoders"
    name = f"tiny-bert-{uuid.uuid4().hex[:8]}"
    build_tiny_model("distilbert", encoders / name)
    config = json.loads((encoders / name / "config.json").read_text())
    config.update(model_type="neobert", auto_map={"AutoConfig": "model.NeoBERTConfig", "AutoModel": "model.NeoBERT"})
    (encoders / f"{name}-remote").mkdir()
    (encoders / f"{name}-remote" / "config.json").write_text(json.dumps(config))
    yield {"input": inputs, "outside": outside, "model": name, "remote": f"{name}-remote"}
    for folder in (name, f"{name}-remote"):  # only what this module put there
        shutil.rmtree(encoders / folder, ignore_errors=True)


def _server(tmp_path_factory, places, name: str, env: dict) -> ComfyServer:
    set_up_harness()
    return ComfyServer(tmp_path_factory.mktemp(name), env=env,
                       server_args=f"--input-directory {places['input']}").start()


@pytest.fixture(scope="module")
def confined(tmp_path_factory, places):
    server = _server(tmp_path_factory, places, "confined_server", {EXTRA_PATHS_ENV: "", REMOTE_CODE_ENV: ""})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def allowed(tmp_path_factory, places):
    server = _server(tmp_path_factory, places, "allowed_server", {REMOTE_CODE_ENV: "1"})  # extra: pytest temp root
    yield server
    server.stop()


def dataset_prompt(name: str, model: str, file: str = NO_FILE) -> dict:
    return {"1": {"class_type": "HfTokenizerEncode", "inputs": {"model_name": model, "max_length": 64,
                                                                "truncation": True}},
            "2": {"class_type": "PtvHfDatasetWithTokenEncode",
                  "inputs": {"name": name, "split": "train", "text_field": "text", "label_field": "label",
                             "encode": ["1", 0], "encode_return_dict": True, "strip_html": True, "file": file}},
            "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}}}


def model_prompt(model: str, trust_remote_code: bool = False) -> dict:
    return {"1": {"class_type": "PtnHfFineTunedClassificationModel",
                  "inputs": {"model_name": model, "num_outputs": 1, "pooling": "cls", "dropout": 0.1,
                             "trust_remote_code": trust_remote_code}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}


def load_prompt(path: str, saved_model: str = NO_SAVED) -> dict:
    return {"1": {"class_type": "PtLoadClassificationModel", "inputs": {"saved_model": saved_model, "path": path}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 1]}}}


def outcome(events) -> tuple[str, str]:
    kind, data = events[-1][1], events[-1][2]
    return kind, json.dumps(data)


# --- upload, lists, the seed workflow on them ---------------------------------------------------------------------

def test_an_uploaded_csv_is_listed_and_the_seed_trains_on_it_with_a_listed_model(confined, places, tiny, tmp_path):
    uploaded = confined.upload(tiny["train"], name="uploaded_reviews.csv")
    assert uploaded == {"name": "uploaded_reviews.csv", "subfolder": "", "type": "input"}
    assert confined.upload(tiny["val"], subfolder="reviews", name="val.csv")["subfolder"] == "reviews"
    _, info = confined.get("/object_info/PtvHfDatasetWithTokenEncode")
    files = info["PtvHfDatasetWithTokenEncode"]["input"]["optional"]["file"][0]
    assert {"uploaded_reviews.csv", "reviews/val.csv", "my_reviews_train.csv"} <= set(files) and files[0] == NO_FILE
    for node_id in ("HfTokenizerEncode", "PtnHfFineTunedClassificationModel"):
        _, info = confined.get(f"/object_info/{node_id}")
        assert places["model"] in info[node_id]["input"]["optional"]["local_model"][0]
    settings = {"Model name.value": places["model"], "Train dataset.name": "uploaded_reviews.csv",
                "Validation dataset.file": "reviews/val.csv", "Validation dataset.split": "train",
                f"{TRAINER}.epochs": 1, "Train loader.batch_size": 8}
    events = confined.queue(confined.convert(SEED, tmp_path / "prompt.json", settings))
    kind, text = outcome(events)
    assert kind == "execution_success", text[-3000:]
    _, history = confined.get("/history")
    entry = next(h for h in history.values() if h["status"].get("status_str") == "success"
                 and TRAINER in h["outputs"])
    assert metrics_from_text(trainer_text(entry, TRAINER))
    assert (places["input"] / "uploaded_reviews.csv").read_bytes() == tiny["train"].read_bytes()  # untouched


# --- refusals at queue time -------------------------------------------------------------------------------------

def _refusals(places, tiny) -> dict[str, tuple[dict, tuple[str, ...]]]:
    model, outside = places["model"], places["outside"]
    return {
        "absolute_path": (dataset_prompt(str(outside / "secret.csv"), model), OUTSIDE),
        "dotdot_out_of_input": (dataset_prompt("../outside/secret.csv", model), OUTSIDE),
        "home": (dataset_prompt("~/hf_text_finetune_reviews.csv", model), OUTSIDE),
        "symlink_inside_input": (dataset_prompt("link.csv", model), OUTSIDE),
        "nul_byte": (dataset_prompt("my_reviews_train.csv\x00.txt", model), ("NUL byte",)),
        "found_nowhere": (dataset_prompt("my_reviewz_train.csv", model),
                          (f"was not found in input ({places['input']})", "closest there is 'my_reviews_train.csv'")),
        "model_folder_outside": (dataset_prompt("my_reviews_train.csv", str(outside / "model")), OUTSIDE),
        "load_folder_outside": (load_prompt(str(outside / "saved")), OUTSIDE),
        "load_list_value_forged": (load_prompt("", "output/../../outside/saved"), OUTSIDE),
        "trust_remote_code": (model_prompt(model, True), (REMOTE_CODE_ENV + "=1", "run the model repository's own")),
        "config_needs_remote_code": (model_prompt(places["remote"]), ("needs its own Python code", REMOTE_CODE_ENV)),
    }


CASES = ["absolute_path", "dotdot_out_of_input", "home", "symlink_inside_input", "nul_byte", "found_nowhere",
         "model_folder_outside", "load_folder_outside", "load_list_value_forged", "trust_remote_code",
         "config_needs_remote_code"]


@pytest.mark.parametrize("case", CASES)
def test_a_prompt_reaching_outside_is_refused_at_queue_time_with_one_message(confined, places, tiny, case):
    prompt, parts = _refusals(places, tiny)[case]
    events = confined.queue(prompt)
    assert events[0][1] == "prompt_rejected", events
    answer = events[0][2]
    text = json.dumps(answer, ensure_ascii=False)
    for part in parts:
        assert part in text, text
    assert "Traceback" not in text and "traceback" not in text
    if prompt.get("2", {}).get("class_type") == "PtvHfDatasetWithTokenEncode" and "model_folder" not in case:
        assert len(answer["node_errors"]["2"]["errors"]) == 1  # once, not once per widget


def test_a_resume_folder_outside_is_refused_at_queue_time(confined, places, tmp_path):
    settings = {"Model name.value": places["model"], "Train dataset.name": "my_reviews_train.csv",
                "Validation dataset.name": "my_reviews_train.csv", f"{TRAINER}.resume": str(places["outside"])}
    events = confined.queue(confined.convert(SEED, tmp_path / "prompt.json", settings))
    assert events[0][1] == "prompt_rejected"
    assert all(part in json.dumps(events[0][2]) for part in OUTSIDE)


# --- the owner's variables: the same paths work --------------------------------------------------------------------

@pytest.mark.parametrize("case", ["absolute_path", "dotdot_out_of_input", "symlink_inside_input",
                                  "model_folder_outside", "load_folder_outside", "trust_remote_code"])
def test_with_the_owners_variables_the_same_paths_work(allowed, places, tiny, case):
    prompt, _ = _refusals(places, tiny)[case]
    kind, text = outcome(allowed.queue(prompt))
    assert kind == "execution_success", text[-3000:]


# --- the real frontend ----------------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("chromium") is None, reason="frontend check: no chromium (apt-get install chromium)")
def test_the_upload_button_in_the_real_frontend_uploads_a_csv_and_selects_it(confined, places, tiny, tmp_path):
    """docs/images/dataset_upload.png is this check's screenshot."""
    upload = tmp_path / f"browser_reviews_{uuid.uuid4().hex[:6]}.csv"
    shutil.copy(tiny["train"], upload)
    done = subprocess.run([sys.executable, "-B", str(Path(__file__).with_name("ui_upload_check.py")),
                           "--server-url", confined.url, "--workflow", str(SEED), "--node", "3", "--file", str(upload),
                           "--input-dir", str(places["input"]), "--workdir", str(tmp_path / "ui")],
                          capture_output=True, text=True, timeout=300)
    report = json.loads((tmp_path / "ui" / "report.json").read_text())
    assert done.returncode == 0, json.dumps(report.get("checks"))
