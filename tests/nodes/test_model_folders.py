"""Saved classifiers live in ComfyUI's output folder or in the `text_classifiers` models folder
that the pack registers with folder_paths (so extra_model_paths.yaml can add folders): the Load
node lists all of them, and the Save node writes to either (its last widget, save_to)."""

from __future__ import annotations

import pytest
from helpers.classifiers import ready_model
from helpers.comfy_fakes import fake_folder_paths, install

from hf_text_finetune.nodes import comfy_services
from hf_text_finetune.nodes.io_nodes import PtLoadClassificationModel, PtSaveClassificationModel


@pytest.fixture
def comfy_folders(tmp_path, monkeypatch):
    """ComfyUI's folder_paths with one extra text_classifiers folder from extra_model_paths.yaml."""
    extra = tmp_path / "shared_drive" / "classifiers"
    fake = fake_folder_paths(tmp_path / "ComfyUI", {"text_classifiers": [extra]})
    install(monkeypatch, folder_paths=fake)
    return fake, extra


def test_the_pack_registers_text_classifiers_under_comfyuis_models_folder_once(comfy_folders):
    fake, extra = comfy_folders
    comfy_services.register_model_folder()
    comfy_services.register_model_folder()
    default = f"{fake.models_dir}/text_classifiers"
    assert fake.get_folder_paths("text_classifiers") == [str(extra), default]


def test_save_to_is_the_last_widget_and_defaults_to_the_output_folder():
    optional = PtSaveClassificationModel.INPUT_TYPES()["optional"]
    assert list(optional)[-1] == "save_to"
    assert optional["save_to"][0] == ["output", "text_classifiers"] and optional["save_to"][1]["default"] == "output"


def test_save_writes_to_the_chosen_root_and_load_lists_every_root(tiny_bert, comfy_folders, tmp_path):
    fake, extra = comfy_folders
    model = ready_model(tiny_bert, 1, label_names=["neg", "pos"])
    kept = PtSaveClassificationModel().save(model, "imdb/kept", save_to="text_classifiers")["result"][0]
    tried = PtSaveClassificationModel().save(model, "imdb/tried")["result"][0]
    assert kept == str(extra / "imdb" / "kept_00001")  # the first text_classifiers folder
    assert tried == str(tmp_path / "ComfyUI" / "output" / "imdb" / "tried_00001")
    ready_model_folder = tmp_path / "ComfyUI" / "models" / "text_classifiers"
    (ready_model_folder / "old").parent.mkdir(parents=True)
    PtSaveClassificationModel().save(model, "old")  # into output; then move one into models/ by hand
    (tmp_path / "ComfyUI" / "output" / "old_00001").rename(ready_model_folder / "old_00001")

    choices = PtLoadClassificationModel.INPUT_TYPES()["required"]["saved_model"][0]
    assert {"output/imdb/tried_00001", "models/imdb/kept_00001", "models_2/old_00001"} <= set(choices)
    loaded, info = PtLoadClassificationModel().load("models_2/old_00001")
    assert loaded.label_names == ["neg", "pos"] and str(ready_model_folder / "old_00001") in info


def test_outside_comfyui_text_classifiers_is_the_models_dir_setting(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setenv(comfy_services.MODELS_DIR_ENV, str(tmp_path / "kept"))
    model = ready_model(tiny_bert, 1)
    folder = PtSaveClassificationModel().save(model, "run", save_to="text_classifiers")["result"][0]
    assert folder == str(tmp_path / "kept" / "run_00001")
    assert comfy_services.saved_model_roots()["models"] == tmp_path / "kept"
