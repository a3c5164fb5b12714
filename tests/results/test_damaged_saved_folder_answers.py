"""The Load node's last raw answers, made clear: a file given instead of a folder, a damaged
head.safetensors, and a classifier.json whose format_version is not a number."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from helpers.nodes import validate_node

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.saving import save_classifier

LOAD = "PtLoadClassificationModel"


@pytest.fixture(scope="module")
def saved(trained_bert, tmp_path_factory):
    return save_classifier(trained_bert.model, tmp_path_factory.mktemp("out"), "tiny").folder


@pytest.fixture
def copy(saved, tmp_path):
    return shutil.copytree(saved, tmp_path / "copy")


def test_a_file_instead_of_the_folder_names_the_folder_that_holds_it(saved):
    file = saved / "classifier.json"
    with pytest.raises(UserInputError, match=rf"is a file, not a saved model folder; give the folder that holds it "
                                             rf"\('{saved}'\)"):
        load_classifier(file)
    assert "is a file, not a saved model folder" in str(validate_node(LOAD, saved_model="(none: use path)",
                                                                       path=str(file)))


def test_a_damaged_head_file_is_named_with_the_fix(copy):
    head = copy / "head.safetensors"
    head.write_bytes(head.read_bytes()[:40])
    with pytest.raises(UserInputError, match=r"head.safetensors \(the linear head's weights\) is damaged or incomplete "
                                             r"\(.+\); save the model again"):
        load_classifier(copy)


@pytest.mark.parametrize("version", ["one", "1.5", None, [1]])
def test_a_format_version_that_is_not_a_whole_number_is_named(copy, version):
    manifest = json.loads((copy / "classifier.json").read_text())
    (copy / "classifier.json").write_text(json.dumps({**manifest, "format_version": version}))
    with pytest.raises(UserInputError, match=rf"has format_version {re.escape(repr(version))}, which is not a whole "
                                             r"number .*save the model again"):
        load_classifier(copy)
