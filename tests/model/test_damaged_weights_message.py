"""A damaged weights file is reported once, whole: the message did repeat itself inside its own
parentheses and was cut in the middle of a word."""

from __future__ import annotations

import shutil

import pytest

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.model_folders import short_detail


@pytest.mark.parametrize("damage", ["truncated", "bad-header"])
def test_a_damaged_weights_file_is_said_once_and_never_cut_mid_word(tiny_bert, tmp_path, damage):
    folder = shutil.copytree(tiny_bert, tmp_path / "model")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:len(data) // 2] if damage == "truncated" else b"\x08" + b"\0" * 7 + b"garbage!" + data[16:])
    with pytest.raises(UserInputError) as error:
        build_classification_model(str(folder), 2)
    message = str(error.value)
    assert message.count("could not be read") == 1, message
    assert message.startswith(f"the weights in model folder '{folder}' (model.safetensors) could not be read")
    assert "Error while deserializing header" in message and message.endswith("write it again with save_pretrained")


def test_a_long_detail_is_cut_at_a_word_boundary():
    detail = short_detail(ValueError("word " * 100), limit=42)
    assert detail.endswith(" ...") and all(part == "word" for part in detail[:-4].split())


@pytest.mark.parametrize("loader", ["encoder", "sequence"])
def test_a_hub_load_failure_is_explained_once(monkeypatch, loader):
    """load_pretrained already explains a hub failure; load_encoder and load_sequence_model catch
    ValueError (which UserInputError is) and must not wrap that explanation in itself."""
    import transformers

    from hf_text_finetune.modules.model.hf_head import load_sequence_model
    from hf_text_finetune.modules.pretrained import load_encoder

    def refuse(*args, **kwargs):
        raise OSError("no-such-org/no-such-model is not a valid model identifier")

    for auto in (transformers.AutoModel, transformers.AutoModelForSequenceClassification):
        monkeypatch.setattr(auto, "from_pretrained", refuse)
    load = load_encoder if loader == "encoder" else load_sequence_model
    with pytest.raises(UserInputError) as error:
        load("no-such-org/no-such-model", config=None)
    message = str(error.value)
    assert message.count("could not load") == 1, message
