"""Ptn Lora Adapter: only the adapters and the head train, never the pretrained base; a saved
LoRA classifier reloads its adapters and head with identical predictions and trains on;
bad settings or target modules are refused with the layers there are."""

from __future__ import annotations

import json

import pytest
import torch
from helpers.classifiers import TEXTS, ready_model, train_tiny
from helpers.models import ARCHITECTURES

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.model.lora import LoraSettings, add_lora
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.prediction import predict_logits, predict_texts
from hf_text_finetune.modules.results.saving import save_classifier
from hf_text_finetune.nodes.lora_nodes import PtnLoraAdapter

DEFAULT_TARGETS = {"bert": ["query", "value"], "roberta": ["query", "value"], "distilbert": ["q_lin", "v_lin"],
                   "albert": ["query", "value"]}


def _split(model) -> tuple[dict, dict, dict]:
    """(adapter, frozen base, head) parameters of a classifier's network, cloned."""
    adapters, base = {}, {}
    for name, param in model.network.encoder.named_parameters():
        (adapters if "lora_" in name else base)[name] = param.detach().clone()
    head = {name: param.detach().clone() for name, param in model.network.head.named_parameters()}
    return adapters, base, head


def _changed(before: dict, after: dict) -> set[str]:
    return {name for name in before if not torch.equal(before[name], after[name])}


@pytest.mark.parametrize("head", ["linear", "hf_sequence_classification"])
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_training_changes_adapters_and_head_but_never_the_base(tiny_models, reviews_csv, arch, head):
    model = build_classification_model(str(tiny_models[arch]), 1, head_type=head)
    with torch.inference_mode():  # as the LoRA node runs in ComfyUI
        wrapped = PtnLoraAdapter().wrap(model, 4, 8.0, 0.0, "")[0]
    adapted = {name.rsplit(".", 1)[0] for name, _ in wrapped.network.encoder.named_modules()
               if name.endswith("lora_A")}
    assert adapted and {name.rsplit(".", 1)[-1] for name in adapted} == set(DEFAULT_TARGETS[arch])
    assert model.lora is None and not any("lora_" in n for n, _ in model.network.named_parameters())  # unchanged
    adapters, base, head_params = _split(wrapped)

    trained = train_tiny(tiny_models[arch], reviews_csv, model=wrapped, epochs=1, lr=1e-2).model
    adapters_after, base_after, head_after = _split(trained)
    assert _changed(adapters, adapters_after) == set(adapters)  # every adapter matrix learned
    assert _changed(base, base_after) == set()  # the pretrained weights did not move
    assert _changed(head_params, head_after) == set(head_params)
    trainable = {n for n, p in trained.network.named_parameters() if p.requires_grad}
    assert trainable == {n for n in trainable if "lora_" in n or not n.startswith(("encoder.", "hf_model." + arch))}


def test_frozen_phase_keeps_adapters_and_base_still_then_trains_adapters(tiny_models, reviews_csv):
    wrapped = add_lora(build_classification_model(str(tiny_models["bert"]), 1), LoraSettings(r=4))
    adapters, base, _ = _split(wrapped)
    result = train_tiny(tiny_models["bert"], reviews_csv, model=wrapped, epochs=2, freeze=1, lr=1e-2)
    adapters_after, base_after, _ = _split(result.model)
    assert [m.phase for m in result.history] == ["frozen", "full"]
    assert _changed(base, base_after) == set() and _changed(adapters, adapters_after) == set(adapters)


@pytest.mark.parametrize("arch", ["roberta", "albert"])
def test_saved_lora_model_reloads_adapters_and_head_with_identical_predictions(tiny_models, reviews_csv, tmp_path,
                                                                              arch):
    original = build_classification_model(str(tiny_models[arch]), 1)
    _, pretrained, _ = _split(original)
    trained = train_tiny(tiny_models[arch], reviews_csv, model=add_lora(original, LoraSettings(r=4)), epochs=1,
                         lr=1e-2).model
    saved = save_classifier(trained, tmp_path, "lora", include_training_state=True)
    assert (saved.folder / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((saved.folder / "classifier.json").read_text())["lora"]["r"] == 4
    assert "peft" in (saved.folder / "README.md").read_text()

    loaded = load_classifier(saved.folder)
    assert torch.allclose(predict_logits(loaded, TEXTS), predict_logits(trained, TEXTS), atol=1e-5)
    adapters, base, head = _split(trained)
    adapters_loaded, base_loaded, head_loaded = _split(loaded)
    assert adapters_loaded.keys() == adapters.keys()
    assert all(torch.equal(adapters[n], adapters_loaded[n]) for n in adapters)
    assert all(torch.equal(head[n], head_loaded[n]) for n in head)
    # the base weights are the pretrained ones again (adapters taken back out of the merged weights)
    plain = {n.removeprefix("base_model.model.").replace(".base_layer.", "."): v for n, v in base_loaded.items()}
    assert plain.keys() == pretrained.keys()
    assert all(torch.allclose(pretrained[n], plain[n], atol=1e-6) for n in pretrained)
    assert {n for n, p in loaded.network.encoder.named_parameters() if p.requires_grad} == set(adapters)
    # and training continues on the same adapters, with their optimizer state
    resumed = train_tiny(tiny_models[arch], reviews_csv, model=loaded, epochs=2, lr=1e-2)
    assert [m.epoch for m in resumed.history] == [2]
    assert _changed(base_loaded, _split(resumed.model)[1]) == set()


def test_lora_with_hf_head_saves_a_folder_pipeline_can_load(tiny_models, reviews_csv, tmp_path):
    from transformers import pipeline

    model = build_classification_model(str(tiny_models["distilbert"]), 2, head_type="hf_sequence_classification")
    trained = train_tiny(tiny_models["distilbert"], reviews_csv, model=add_lora(model, LoraSettings(r=4)),
                         loss="cross_entropy", epochs=1, lr=1e-2).model
    folder = save_classifier(trained, tmp_path, "hf_lora").folder
    theirs = pipeline("text-classification", model=str(folder), device="cpu")(TEXTS, top_k=None)
    for p, rows in zip(predict_texts(trained, TEXTS), theirs):
        assert {r["label"]: r["score"] for r in rows} == pytest.approx(p.probabilities, abs=1e-5)
    assert load_classifier(folder).lora["target_modules"] == ["q_lin", "v_lin"]


# --- bad input ---------------------------------------------------------------------------------------------------


def test_unknown_target_modules_list_the_layers_there_are(tiny_bert):
    model = ready_model(tiny_bert, 1)
    with pytest.raises(UserInputError, match=r"\['q_proj'\] are not linear layers.*choose from \[.*'query'"):
        add_lora(model, LoraSettings(target_modules=("q_proj",)))
    custom = add_lora(model, LoraSettings(r=2, target_modules=("query", "key", "value")))
    assert custom.lora["target_modules"] == ["query", "key", "value"]


def test_bad_lora_settings_are_refused(tiny_bert):
    model = ready_model(tiny_bert, 1)
    with pytest.raises(UserInputError, match="LoRA r 0 must be at least 1"):
        add_lora(model, LoraSettings(r=0))
    with pytest.raises(UserInputError, match="already has LoRA adapters"):
        add_lora(add_lora(model, LoraSettings(r=2)), LoraSettings(r=2))
    assert "r 0 must be at least 1" in PtnLoraAdapter.VALIDATE_INPUTS(r=0)
    assert "dropout" in PtnLoraAdapter.VALIDATE_INPUTS(dropout=0.95)
    assert PtnLoraAdapter.VALIDATE_INPUTS(r=8, alpha=16.0, dropout=0.1) is True
