"""Pt Save / Pt Load Classification Model: the saved folder's files, labels and model card; a
round trip that predicts exactly what the trained model did; Hugging Face's `pipeline` on a
folder with its own head; atomic, counter-named saves inside the output directory only; and
load errors that name the folder and the fix."""

from __future__ import annotations

import json
import os

import dataclasses

import pytest
import torch
import yaml
from helpers.classifiers import TEXTS, ready_model, train_tiny
from helpers.data import write_topics_csv
from helpers.models import ARCHITECTURES

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.prediction import predict_logits, predict_texts
from hf_text_finetune.modules.results.saved_folder import split_prefix
from hf_text_finetune.modules.results.saving import save_classifier
from hf_text_finetune.nodes.comfy_services import OUTPUT_DIR_ENV
from hf_text_finetune.nodes.io_nodes import NO_CHOICE, PtLoadClassificationModel, PtSaveClassificationModel


@pytest.fixture
def output_dir(tmp_path, monkeypatch):
    """Outside ComfyUI the Save node writes to $HF_TEXT_FINETUNE_OUTPUT_DIR."""
    folder = tmp_path / "output"
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(folder))
    return folder


@pytest.fixture(scope="module")
def topics_csv(tmp_path_factory):
    return write_topics_csv(tmp_path_factory.mktemp("topics") / "topics.csv", rows=45)


def _pipeline_scores(folder, texts=TEXTS) -> list[dict[str, float]]:
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(folder), device="cpu")
    return [{row["label"]: row["score"] for row in rows} for rows in classify(texts, top_k=None)]


def _front_matter(readme: str) -> dict:
    """The model card's YAML metadata block."""
    assert readme.startswith("---\n")
    return yaml.safe_load(readme.split("---\n")[1])


# --- the saved folder --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_linear_head_round_trip_gives_identical_predictions(tiny_models, reviews_csv, val_csv, output_dir, arch):
    trained = train_tiny(tiny_models[arch], reviews_csv, epochs=1, val_data=val_csv).model
    with torch.inference_mode():
        folder = PtSaveClassificationModel().save(trained, "runs/tiny")["result"][0]
    assert os.path.dirname(folder) == str((output_dir / "runs").resolve())
    files = set(os.listdir(folder))
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "head.safetensors",
            "classifier.json", "training_settings.json", "metrics_history.json", "README.md"} <= files
    config = json.loads(open(os.path.join(folder, "config.json")).read())
    assert config["id2label"] == {"0": "1"} and config["label2id"] == {"1": 0}  # one logit: the positive label
    history = json.loads(open(os.path.join(folder, "metrics_history.json")).read())
    assert [h["epoch"] for h in history] == [1] and history[0]["val_accuracy"] is not None
    settings = json.loads(open(os.path.join(folder, "training_settings.json")).read())
    assert settings["optimizer"]["kind"] == "AdamW" and settings["train"]["epochs"] == 1
    card = open(os.path.join(folder, "README.md")).read()
    meta = _front_matter(card)
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "text-classification"
    assert "accuracy" in meta["metrics"]
    assert "Pt Load Classification Model" in card and "untrained" in card  # why pipeline is not for this head

    with torch.inference_mode():
        loaded, info = PtLoadClassificationModel().load(NO_CHOICE, folder)
    assert "outputs: 1" in info
    assert loaded.label_names == trained.label_names and loaded.max_length == trained.max_length
    assert torch.allclose(predict_logits(loaded, TEXTS), predict_logits(trained, TEXTS), atol=1e-6)
    assert loaded.history == trained.history


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_hf_head_folder_works_with_transformers_pipeline(tiny_models, topics_csv, output_dir, arch):
    trained = train_tiny(tiny_models[arch], topics_csv, head="hf_sequence_classification", num_outputs=3,
                         loss="cross_entropy", epochs=1).model
    saved = save_classifier(trained, output_dir, "hf")
    config = json.loads((saved.folder / "config.json").read_text())
    assert config["id2label"] == {"0": "meh", "1": "neg", "2": "pos"}
    assert config["problem_type"] == "single_label_classification"
    assert "transformers import pipeline" in (saved.folder / "README.md").read_text()
    ours = predict_texts(trained, TEXTS)
    theirs = _pipeline_scores(saved.folder)
    for p, scores in zip(ours, theirs):
        assert scores == pytest.approx(p.probabilities, abs=1e-5)
        assert max(scores, key=scores.get) == p.label
    reloaded = load_classifier(saved.folder)
    assert [p.probabilities for p in predict_texts(reloaded, TEXTS)] == pytest.approx(
        [p.probabilities for p in ours], abs=1e-6)


def test_hf_head_single_logit_pipeline_score_is_the_positive_probability(tiny_models, output_dir):
    model = ready_model(tiny_models["bert"], 1, head="hf_sequence_classification", label_names=["neg", "pos"])
    saved = save_classifier(model, output_dir, "binary")
    for p, scores in zip(predict_texts(model, TEXTS), _pipeline_scores(saved.folder)):
        assert list(scores) == ["pos"] and scores["pos"] == pytest.approx(p.probabilities["pos"], abs=1e-5)


def test_hf_head_multi_label_pipeline_uses_a_sigmoid_per_label(tiny_models, output_dir):
    model = ready_model(tiny_models["roberta"], 3, head="hf_sequence_classification", label_names=["a", "b", "c"],
                        problem_type="multi_label_classification")
    saved = save_classifier(model, output_dir, "multi")
    for p, scores in zip(predict_texts(model, TEXTS), _pipeline_scores(saved.folder)):
        assert scores == pytest.approx(p.probabilities, abs=1e-5)
    loaded = load_classifier(saved.folder)
    assert loaded.problem_type == "multi_label_classification"
    assert isinstance(predict_texts(loaded, TEXTS[:1])[0].label, list)


def test_counter_names_each_save_anew_and_no_partial_folder_remains(tiny_bert, output_dir):
    model = ready_model(tiny_bert, 1)
    first = save_classifier(model, output_dir, "run").folder
    second = save_classifier(model, output_dir, "run").folder
    assert (first.name, second.name) == ("run_00001", "run_00002")
    assert sorted(p.name for p in output_dir.iterdir()) == ["run_00001", "run_00002"]


def test_a_failed_save_leaves_no_folder_behind(tiny_bert, output_dir, monkeypatch):
    model = ready_model(tiny_bert, 1)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(model.tokenizer, "save_pretrained", broken)
    with pytest.raises(UserInputError, match="could not save the model in .*: OSError: disk full"):
        save_classifier(model, output_dir, "broken")
    assert list(output_dir.iterdir()) == []  # neither broken_00001 nor the hidden temporary folder


# --- the Load node -----------------------------------------------------------------------------------------------


def test_load_node_lists_saved_folders_and_loads_the_chosen_one(tiny_bert, output_dir):
    model = ready_model(tiny_bert, 1, label_names=["neg", "pos"])
    saved = save_classifier(model, output_dir, "listed/model")
    choices = PtLoadClassificationModel.INPUT_TYPES()["required"]["saved_model"][0]
    assert choices[0] == NO_CHOICE and "output/listed/model_00001" in choices
    assert PtLoadClassificationModel.VALIDATE_INPUTS(saved_model="output/listed/model_00001", path="") is True
    loaded, _ = PtLoadClassificationModel().load("output/listed/model_00001", "")
    assert loaded.label_names == ["neg", "pos"]
    assert str(saved.folder) in PtLoadClassificationModel.IS_CHANGED("output/listed/model_00001", "")


def test_load_errors_name_the_folder_and_the_fix(tiny_bert, output_dir, tmp_path):
    with pytest.raises(UserInputError, match="plain Hugging Face model folder.*model_name"):
        load_classifier(tiny_bert)
    with pytest.raises(UserInputError, match="does not exist"):
        load_classifier(tmp_path / "missing")
    verdict = PtLoadClassificationModel.VALIDATE_INPUTS(saved_model=NO_CHOICE, path=str(tmp_path / "missing"))
    assert "does not exist" in verdict
    assert "no saved model chosen" in PtLoadClassificationModel.VALIDATE_INPUTS(saved_model=NO_CHOICE, path="")
    assert PtLoadClassificationModel.VALIDATE_INPUTS(saved_model=NO_CHOICE, path=None) is True  # linked


def test_saved_label_names_that_do_not_match_the_outputs_are_refused(tiny_bert, output_dir):
    model = ready_model(tiny_bert, 3, label_names=["a", "b"])
    with pytest.raises(UserInputError, match="give 2 names, but the model has 3 outputs"):
        save_classifier(model, output_dir, "bad")
    folder = save_classifier(dataclasses.replace(model, label_names=["a", "b", "c"]), output_dir, "good").folder
    manifest = json.loads((folder / "classifier.json").read_text())
    manifest["label_names"] = ["a", "b", "c", "d"]
    (folder / "classifier.json").write_text(json.dumps(manifest))
    with pytest.raises(UserInputError, match="4 names, but the model has 3 outputs"):
        load_classifier(folder)


def test_save_without_tokenizer_is_refused(tiny_bert, output_dir):
    from hf_text_finetune.modules.model.build import build_classification_model

    with pytest.raises(UserInputError, match="no tokenizer attached"):
        save_classifier(build_classification_model(str(tiny_bert), 1), output_dir, "untrained")
    assert not output_dir.exists() or list(output_dir.iterdir()) == []


@pytest.mark.parametrize("prefix", ["../escape", "runs/../../escape", "/tmp/abs", "~/home", "C:\\models\\x",
                                    "runs/./x", ""])
def test_save_prefix_must_stay_inside_the_output_directory(tiny_bert, output_dir, prefix):
    assert PtSaveClassificationModel.VALIDATE_INPUTS(filename_prefix=prefix) is not True
    with pytest.raises(UserInputError, match="filename_prefix"):
        save_classifier(ready_model(tiny_bert, 1), output_dir, prefix)
    assert not output_dir.exists() or list(output_dir.iterdir()) == []


def test_symlinked_subfolder_cannot_lead_outside(tiny_bert, output_dir, tmp_path):
    output_dir.mkdir()
    (output_dir / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(UserInputError, match="outside the output directory"):
        save_classifier(ready_model(tiny_bert, 1), output_dir, "link/model")


def test_good_prefixes_split_into_subfolders_and_a_name():
    assert split_prefix("text_classifier") == ([], "text_classifier")
    assert split_prefix("runs\\imdb/best") == (["runs", "imdb"], "best")
