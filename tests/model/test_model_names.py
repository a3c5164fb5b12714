"""The model_name of the tokenizer and model nodes: hub ids with or without a namespace reach
the hub unchanged, a local folder is used as it is, and a missing folder, a folder without
config.json or an unknown hub id is refused with the name and how to fix it."""

from __future__ import annotations

import pytest
import torch
from helpers.checks import raises_with, refused
from helpers.nodes import dataset_node, encode_node, loader_node, model_node, run_node, validate_node

from hf_text_finetune.modules.pretrained import normalize_model_name


@pytest.mark.parametrize("name", ["distilbert-base-uncased", "distilbert/distilbert-base-uncased",
                                  "FacebookAI/roberta-base", "sentence-transformers/all-MiniLM-L6-v2"])
def test_hub_ids_with_and_without_namespace_are_accepted(name):
    assert normalize_model_name(f"  {name} ") == name
    assert validate_node("HfTokenizerEncode", model_name=name, max_length=0) is True
    assert validate_node("PtnHfFineTunedClassificationModel", model_name=name, num_outputs=1, dropout=0.1) is True


def test_local_folder_is_used_as_is(tiny_bert):
    assert normalize_model_name(str(tiny_bert)) == str(tiny_bert)
    assert validate_node("HfTokenizerEncode", model_name=str(tiny_bert), max_length=0) is True
    assert encode_node(tiny_bert).model_name == str(tiny_bert)


@pytest.fixture
def fake_hub(monkeypatch, tiny_models):
    """Hub ids resolved to the tiny local folders (no network); records the ids asked for."""
    import transformers

    hub = {"distilbert/distilbert-base-uncased": str(tiny_models["distilbert"]),
           "distilbert-base-uncased": str(tiny_models["distilbert"])}
    asked: list[str] = []
    for auto in (transformers.AutoTokenizer, transformers.AutoConfig, transformers.AutoModel):
        original = auto.from_pretrained

        def from_pretrained(name, *args, _original=original, **kwargs):
            asked.append(name)
            return _original(hub.get(name, name), *args, **kwargs)

        monkeypatch.setattr(auto, "from_pretrained", staticmethod(from_pretrained))
    return asked


def test_namespaced_hub_id_reaches_the_hub_unchanged_for_tokenizer_and_model(fake_hub, reviews_csv):
    name = "distilbert/distilbert-base-uncased"
    encode = run_node("HfTokenizerEncode", model_name=name, max_length=0, truncation=True)[0]
    model = run_node("PtnHfFineTunedClassificationModel", model_name=name, num_outputs=1, pooling="cls",
                     dropout=0.1)[0]
    assert fake_hub.count(name) >= 3, "tokenizer, config and weights asked for by the namespaced id"
    assert "distilbert-base-uncased" not in fake_hub
    assert encode.model_name == model.model_name == name
    data = dataset_node(reviews_csv, encode)
    with torch.no_grad():
        batch = next(iter(loader_node(data, 4, shuffle=False).batches()))
        batch.pop("labels")
        assert model.network(**batch).shape == (4, 1)


# --- Unknown model id or folder ------------------------------------------------------------------

@pytest.mark.parametrize("node", ["HfTokenizerEncode", "PtnHfFineTunedClassificationModel"])
def test_missing_model_folder_is_refused_at_queue_time(node, tmp_path):
    missing = str(tmp_path / "no-such-model")
    refused(validate_node(node, model_name=missing, max_length=0, num_outputs=1, dropout=0.1),
            missing, "does not exist", "check the path")
    refused(validate_node(node, model_name="./models/my-bert", num_outputs=1, dropout=0.1),
            "./models/my-bert", "was not found", "hub id")
    refused(validate_node(node, model_name="bad name!", num_outputs=1, dropout=0.1),
            "'bad name!'", "distilbert-base-uncased")
    refused(validate_node(node, model_name="  ", num_outputs=1, dropout=0.1), "empty", "hub id")


def test_folder_without_config_is_refused(tmp_path):
    (tmp_path / "weights_only").mkdir()
    refused(validate_node("HfTokenizerEncode", model_name=str(tmp_path / "weights_only"), max_length=0),
            "weights_only", "config.json", "save_pretrained")


@pytest.mark.parametrize("name", ["no-such-org/no-such-model-xyz", "bert-base-uncasedd"])
def test_unknown_hub_id_fails_with_a_clear_message(name):
    raises_with(lambda: encode_node(name), f"'{name}'", "Check the spelling", "local folder")
    raises_with(lambda: model_node(name), f"'{name}'", "Check the spelling")
