"""Local files and models as the nodes see them, inside a (stand-in) ComfyUI and in the headless runner.

Inside ComfyUI: data files are listed from the input folder (subfolders, save_to_disk folders) and
the `datasets` folder where ComfyUI has one, base models from every hf_text_encoders folder; a bare
name resolves there; every local path a prompt gives must resolve inside ComfyUI's folders or those
the owner listed in HF_TEXT_FINETUNE_EXTRA_PATHS; remote code needs HF_TEXT_FINETUNE_TRUST_REMOTE_CODE.
Headless: any path and the trust_remote_code widget work as before.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers.checks import raises_with
from helpers.comfy_fakes import fake_folder_paths, install
from helpers.nodes import node_class, run_node, validate_node

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.nodes import comfy_services, local_sources
from hf_text_finetune.nodes.local_sources import NO_FILE, NO_MODEL

OUTSIDE = ("outside the folders this ComfyUI server reads from", "HF_TEXT_FINETUNE_EXTRA_PATHS", "restart ComfyUI")
DATASET, TOKENIZER, MODEL = "PtvHfDatasetWithTokenEncode", "HfTokenizerEncode", "PtnHfFineTunedClassificationModel"
CHECK = "PtDataCheck"


@pytest.fixture
def comfy(tmp_path, monkeypatch, tiny_bert, reviews_csv):
    """A stand-in ComfyUI under tmp_path/comfy: a csv in input/, one in input/imdb/, a save_to_disk folder,
    a model in models/hf_text_encoders, and things outside it to reach for."""
    base = tmp_path / "comfy"
    for folder in ("input/imdb", "output", "temp", "models/hf_text_encoders"):
        (base / folder).mkdir(parents=True)
    shutil.copy(reviews_csv, base / "input" / "my_reviews_train.csv")
    shutil.copy(reviews_csv, base / "input" / "imdb" / "val.csv")
    import datasets

    datasets.Dataset.from_dict({"text": ["good", "bad"], "label": [1, 0]}).save_to_disk(str(base / "input" / "saved"))
    shutil.copytree(tiny_bert, base / "models" / "hf_text_encoders" / "tiny-bert")
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(reviews_csv, outside / "secret.csv")
    shutil.copytree(tiny_bert, outside / "model")
    install(monkeypatch, folder_paths=fake_folder_paths(base))
    monkeypatch.setattr(comfy_services, "EXTRA_ROOTS", ())
    monkeypatch.setattr(comfy_services, "REMOTE_CODE_ALLOWED", False)
    return base, outside


def _widget(node_id: str, name: str):
    return node_class(node_id).INPUT_TYPES()["optional"][name]


# --- lists ---------------------------------------------------------------------------------------------------

def test_data_files_are_listed_from_input_with_subfolders_and_saved_folders(comfy):
    choices, options = _widget(DATASET, "file")
    assert choices == [NO_FILE, "imdb/val.csv", "my_reviews_train.csv", "saved"]
    assert options["default"] == NO_FILE and options[local_sources.UPLOAD_OPTION] is True


def test_comfyuis_datasets_folder_is_listed_where_comfyui_has_one(comfy, monkeypatch, reviews_csv):
    base, _ = comfy
    (base / "datasets").mkdir()
    shutil.copy(reviews_csv, base / "datasets" / "shared.tsv")
    assert "shared.tsv" not in _widget(DATASET, "file")[0]  # ComfyUI 0.3.64 has no datasets folder type
    import sys

    sys.modules["folder_paths"].folder_names_and_paths["datasets"] = ([str(base / "datasets")], set())
    assert "shared.tsv" in _widget(DATASET, "file")[0]
    assert local_sources.dataset_source("shared.tsv") == str((base / "datasets" / "shared.tsv").resolve())


def test_base_models_are_listed_from_every_hf_text_encoders_folder(comfy, tmp_path, monkeypatch, tiny_bert):
    base, _ = comfy
    extra = tmp_path / "yaml_models"
    shutil.copytree(tiny_bert, extra / "org" / "bert")
    install(monkeypatch, folder_paths=fake_folder_paths(base, {"hf_text_encoders": [extra]}))  # extra_model_paths
    for node_id in (TOKENIZER, MODEL):
        assert _widget(node_id, "local_model")[0] == [NO_MODEL, "org/bert", "tiny-bert"]
    assert str(base / "models" / "hf_text_encoders") in sys_folder_paths().get_folder_paths("hf_text_encoders")


def sys_folder_paths():
    import sys

    return sys.modules["folder_paths"]


# --- names resolve in ComfyUI's folders ----------------------------------------------------------------------------

def test_a_bare_name_resolves_in_input_and_hub_ids_stay_as_they_are(comfy):
    base, _ = comfy
    assert local_sources.dataset_source("my_reviews_train.csv") == str(base.resolve() / "input/my_reviews_train.csv")
    assert local_sources.dataset_source("stanfordnlp/imdb") == "stanfordnlp/imdb"
    assert local_sources.dataset_source("stanfordnlp/imdb", "imdb/val.csv") == str(base.resolve() / "input/imdb/val.csv")
    assert validate_node(DATASET, name="my_reviews_train.csv") is True


def test_a_name_found_nowhere_gets_one_message_with_the_folders_and_the_closest_name(comfy):
    base, _ = comfy
    message = validate_node(DATASET, name="my_reviewz_train.csv", split="train", text_field="text")
    assert message.count("was not found") == 1
    for part in ("'my_reviewz_train.csv'", f"input ({base / 'input'})", "closest there is 'my_reviews_train.csv'",
                 "upload", "stanfordnlp/imdb"):
        assert part in message, message


def test_the_seed_workflows_one_name_feeds_tokenizer_and_model_from_the_models_folder(comfy):
    base, _ = comfy
    folder = str((base / "models" / "hf_text_encoders" / "tiny-bert").resolve())
    assert local_sources.model_source("tiny-bert") == folder
    assert local_sources.model_source("distilbert-base-uncased", "tiny-bert") == folder  # the list wins
    assert local_sources.model_source("distilbert-base-uncased") == "distilbert-base-uncased"
    encode = node_class(TOKENIZER)().build("tiny-bert", 0, True)[0]
    model = node_class(MODEL)().build("tiny-bert", 1, "cls", 0.1)[0]
    assert encode.model_name == model.model_name == folder
    raises_with(lambda: local_sources.model_source("x", "gone"), "'gone' was not found in models/hf_text_encoders")


# --- confinement -----------------------------------------------------------------------------------------------

def _outside_cases(base: Path, outside: Path) -> dict[str, str]:
    os.symlink(outside / "secret.csv", base / "input" / "link.csv")
    return {"absolute": str(outside / "secret.csv"), "dotdot": "../../outside/secret.csv",
            "home": "~/hf_text_finetune_no_such_file.csv", "symlink": "link.csv"}


def test_every_way_out_of_comfyuis_folders_is_refused_at_queue_time_and_at_run_time(comfy):
    base, outside = comfy
    for case, name in _outside_cases(base, outside).items():
        message = validate_node(DATASET, name=name)
        assert isinstance(message, str) and all(part in message for part in OUTSIDE), (case, message)
        assert f"input ({base / 'input'})" in message and f"output ({base / 'output'})" in message
        raises_with(lambda: node_class(DATASET)().load(name, "train", "text", "label", None, True, True), *OUTSIDE)
    raises_with(lambda: local_sources.dataset_source("x", "../../outside/secret.csv"), *OUTSIDE)  # a forged list value


def test_the_data_check_is_confined_like_the_dataset_node(comfy):
    base, outside = comfy
    check = node_class(CHECK)
    for case, name in _outside_cases(base, outside).items():
        for inputs in ({"name": name}, {"name": "my_reviews_train.csv", "validation_name": name}):
            message = validate_node(CHECK, **inputs)
            assert isinstance(message, str) and all(part in message for part in OUTSIDE), (case, inputs, message)
            raises_with(lambda: check().check(None, split="train", text_field="text", label_field="label",
                                              validation_split="train", **inputs), *OUTSIDE)


def test_the_data_check_finds_a_bare_name_in_the_input_folder(comfy):
    assert validate_node(CHECK, name="my_reviews_train.csv", validation_name="imdb/val.csv") is True
    encode = node_class(TOKENIZER)().build("tiny-bert", 0, True)[0]
    _, data = run_node(CHECK, encode=encode, name="my_reviews_train.csv", split="train", text_field="text",
                       label_field="label", validation_split="train", validation_name="imdb/val.csv")
    report = json.loads(data)
    assert sum(report["train"]["class_counts"].values()) == 48, report["train"]


def test_the_model_nodes_queue_check_reads_the_picked_local_model(comfy):
    assert validate_node(MODEL, model_name="", local_model="tiny-bert") is True  # the list's choice wins
    assert "model_name is empty" in validate_node(MODEL, model_name="", local_model=NO_MODEL)
    assert "'gone' was not found in models/hf_text_encoders" in validate_node(MODEL, model_name="x", local_model="gone")


def test_a_nul_byte_is_refused(comfy):
    assert "NUL byte" in validate_node(DATASET, name="my_reviews_train.csv\x00.txt")
    assert "NUL byte" in validate_node(MODEL, model_name="tiny-bert\x00")


def test_model_load_and_resume_folders_outside_are_refused(comfy, tmp_path):
    base, outside = comfy
    for node_id in (TOKENIZER, MODEL):
        assert all(part in validate_node(node_id, model_name=str(outside / "model")) for part in OUTSIDE)
    load = node_class("PtLoadClassificationModel")
    assert all(part in load.VALIDATE_INPUTS(saved_model=NO_FILE, path=str(outside)) for part in OUTSIDE)
    assert all(part in load.VALIDATE_INPUTS(saved_model="output/../../outside", path="") for part in OUTSIDE)
    trainer = node_class("PtTrainTransformerClassificationModel")
    assert all(part in trainer.VALIDATE_INPUTS(resume=str(outside)) for part in OUTSIDE)
    assert trainer.VALIDATE_INPUTS(resume="latest") is True
    (base / "output" / "checkpoint").mkdir()
    assert trainer.VALIDATE_INPUTS(resume=str(base / "output" / "checkpoint")) is True


def test_the_owners_variable_allows_more_folders(comfy, monkeypatch):
    base, outside = comfy
    cases = _outside_cases(base, outside)
    monkeypatch.setattr(comfy_services, "EXTRA_ROOTS", (outside,))
    for case in ("absolute", "dotdot", "symlink"):
        assert validate_node(DATASET, name=cases[case]) is True, case
    assert local_sources.dataset_source(cases["symlink"]) == str((outside / "secret.csv").resolve())
    assert validate_node(MODEL, model_name=str(outside / "model")) is True
    assert node_class("PtLoadClassificationModel").VALIDATE_INPUTS(saved_model=NO_FILE, path=str(outside)) is True
    assert node_class("PtTrainTransformerClassificationModel").VALIDATE_INPUTS(resume=str(outside)) is True


# --- remote code -------------------------------------------------------------------------------------------------

def _remote_code_folder(tiny_bert, folder: Path) -> Path:
    shutil.copytree(tiny_bert, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="neobert", auto_map={"AutoConfig": "model.NeoBERTConfig",
                                                 "AutoModel": "model.NeoBERT"})
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_trust_remote_code_needs_the_owners_variable_inside_comfyui(comfy, monkeypatch):
    message = validate_node(MODEL, model_name="tiny-bert", trust_remote_code=True)
    for part in ("trust_remote_code is on for model 'tiny-bert'", "HF_TEXT_FINETUNE_TRUST_REMOTE_CODE=1",
                 "run the model repository's own Python code"):
        assert part in message, message
    raises_with(lambda: node_class(TOKENIZER)().build("tiny-bert", 0, True, True), "HF_TEXT_FINETUNE_TRUST_REMOTE_CODE")
    monkeypatch.setattr(comfy_services, "REMOTE_CODE_ALLOWED", True)
    assert validate_node(MODEL, model_name="tiny-bert", trust_remote_code=True) is True


def test_a_model_that_needs_its_own_code_is_refused_before_any_code_naming_both_ways_to_allow_it(comfy, tiny_bert):
    base, _ = comfy
    _remote_code_folder(tiny_bert, base / "models" / "hf_text_encoders" / "euro")
    message = validate_node(MODEL, model_name="euro", trust_remote_code=False)
    for part in ("needs its own Python code", "AutoConfig, AutoModel", "turn the node's trust_remote_code option on",
                 "HF_TEXT_FINETUNE_TRUST_REMOTE_CODE=1"):
        assert part in message, message
    raises_with(lambda: node_class(TOKENIZER)().build("euro", 0, True), "needs its own Python code")


# --- headless: the user's own process ------------------------------------------------------------------------

def test_headless_any_path_and_the_widget_keep_working(tmp_path, reviews_csv, tiny_bert):
    assert comfy_services.path_rules().confined is False
    assert local_sources.dataset_source(str(reviews_csv)) == str(reviews_csv)
    assert validate_node(DATASET, name=str(reviews_csv)) is True
    assert validate_node(MODEL, model_name=str(tiny_bert), trust_remote_code=True) is True
    assert local_sources.resume_source(str(tmp_path)) == str(tmp_path)
    with pytest.raises(UserInputError, match="was not found in the working directory"):
        local_sources.dataset_source("no_such_reviews.csv")


def test_the_closest_name_is_found_by_file_name_too_and_nested_allowed_folders_are_named_once(tmp_path):
    from hf_text_finetune.modules.local_paths import PathRules, not_found_error, outermost

    message = str(not_found_error("val.cvs", "dataset file or folder", (("input", tmp_path),),
                                  ["imdb/val.csv", "train.csv"], "Fix."))
    assert "the closest there is 'imdb/val.csv'" in message and message.endswith("Fix.")
    folders = (("models", tmp_path), ("models/hf_text_encoders", tmp_path / "hf"), ("input", tmp_path.parent / "in"))
    assert [label for label, _ in outermost(folders)] == ["models", "input"]
    assert PathRules(allowed=outermost(folders)).allowed_text() == f"models ({tmp_path}); input ({tmp_path.parent / 'in'})"
