"""A local model folder that cannot work is refused with what is wrong in that folder and the fix:
never a near-empty tokenizer that maps every word to [UNK], never a hub message for a local
problem, never a question on stdin about running the folder's code."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers.nodes import encode_node, model_node, validate_node

from hf_text_finetune.modules.errors import UserInputError

HUB_WORDING = ("is not a local folder", "it is not a local folder", "Traceback", "SafetensorError", "weights_only")


def _refused(call, *parts):
    with pytest.raises(UserInputError) as caught:
        call()
    message = str(caught.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    for wording in HUB_WORDING:
        assert wording not in message, f"{wording!r} in {message!r}"
    return message


def _copy(tiny_bert, tmp_path, name, keep):
    folder = tmp_path / name
    folder.mkdir()
    for file_name in keep:
        shutil.copy(tiny_bert / file_name, folder / file_name)
    return folder


def test_folder_without_tokenizer_files_is_refused(tiny_bert, tmp_path):
    folder = _copy(tiny_bert, tmp_path, "no_tokenizer", ["config.json", "model.safetensors"])
    _refused(lambda: encode_node(folder), str(folder), "no tokenizer files", "tokenizer.save_pretrained")


def test_folder_with_only_a_tokenizer_config_is_refused(tiny_bert, tmp_path):
    folder = _copy(tiny_bert, tmp_path, "config_only", ["config.json", "model.safetensors", "tokenizer_config.json"])
    _refused(lambda: encode_node(folder), str(folder), "no tokenizer files")


def test_tokenizer_with_an_empty_vocabulary_is_refused(tiny_bert, tmp_path):
    folder = _copy(tiny_bert, tmp_path, "empty_vocab", ["config.json", "model.safetensors"])
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")
    _refused(lambda: encode_node(folder), str(folder), "knows only", "vocabulary files are missing or empty")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_weights_name_the_file(damage, tiny_bert, tmp_path):
    folder = tmp_path / f"damaged_{damage}"
    shutil.copytree(tiny_bert, folder)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes({"truncated": data[: len(data) // 3], "garbage": b"\x00not safetensors" * 50,
                         "empty": b""}[damage])
    _refused(lambda: model_node(folder), str(folder), "model.safetensors", "damaged or incomplete",
             "download the folder again")


def test_folder_without_weights_says_so(tiny_bert, tmp_path):
    folder = tmp_path / "no_weights"
    shutil.copytree(tiny_bert, folder)
    (folder / "model.safetensors").unlink()
    _refused(lambda: model_node(folder), str(folder), "has no weights file", "model.safetensors")


def test_damaged_config_is_named(tiny_bert, tmp_path):
    folder = tmp_path / "bad_config"
    shutil.copytree(tiny_bert, folder)
    (folder / "config.json").write_text('{"model_type": "bert", "hidden_size": ')
    _refused(lambda: encode_node(folder), "config.json", str(folder), "damaged", "save_pretrained")
    _refused(lambda: model_node(folder), "config.json", "damaged")


@pytest.mark.parametrize("file_name", ["config.json", "model.safetensors"])
def test_a_file_given_where_a_folder_is_wanted(file_name, tiny_bert):
    path = tiny_bert / file_name
    message = validate_node("HfTokenizerEncode", model_name=str(path), max_length=0)
    assert isinstance(message, str) and "is a file" in message and str(tiny_bert) in message
    _refused(lambda: encode_node(path), str(path), "is a file", "give the folder that holds it")
    _refused(lambda: model_node(path), "is a file")


def test_a_data_file_given_as_model_name(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\ngood,1\n")
    _refused(lambda: encode_node(path), str(path), "is a file", "a model is a folder")


@pytest.mark.parametrize("use", ["tokenizer", "model"])
def test_remote_code_is_refused_naming_the_option(use, tiny_bert, tmp_path):
    folder = tmp_path / f"remote_{use}"
    shutil.copytree(tiny_bert, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="my-custom-bert", auto_map={"AutoConfig": "configuration_my.MyConfig",
                                                        "AutoModel": "modeling_my.MyModel"})
    (folder / "config.json").write_text(json.dumps(config))
    call = (lambda: encode_node(folder)) if use == "tokenizer" else (lambda: model_node(folder))
    _refused(call, str(folder), "needs its own Python code", "trust_remote_code", "HF_TEXT_FINETUNE_TRUST_REMOTE_CODE",
             "only for a repository you trust")


def test_a_folder_whose_auto_map_names_a_native_model_type_loads_without_remote_code(tiny_bert, tmp_path):
    """Some repositories ship code for a model transformers now has built in: its own class loads them."""
    folder = tmp_path / "native_with_auto_map"
    shutil.copytree(tiny_bert, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_my.MyModel"}
    (folder / "config.json").write_text(json.dumps(config))
    assert model_node(folder).num_outputs == 1


def test_a_healthy_folder_still_loads(tiny_bert):
    encode = encode_node(tiny_bert)
    assert len(encode.tokenizer) > 100
    assert model_node(tiny_bert).num_outputs == 1
