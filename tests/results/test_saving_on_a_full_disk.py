"""The Save node on a real small disk (tmpfs) and a read-only one: one message with the cause, the
folder, the size needed and the fix; no folder (hidden or not) left behind; the trained model is
untouched, so saving it again after freeing space works and the folder loads."""

from __future__ import annotations

import pytest
from helpers.mounts import leftovers, read_only, resize, small_disk
from helpers.nodes import run_node

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.results import saving
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.nodes import comfy_services

SAVE = "PtSaveClassificationModel"


@pytest.fixture
def model(trained_bert):
    return trained_bert.model


def _save(model, **extra):
    return run_node(SAVE, model=model, filename_prefix="runs/imdb", **extra)[0]


def test_too_little_space_for_the_saved_folder_is_said_before_writing_then_saving_again_works(model, tmp_path,
                                                                                              monkeypatch):
    with small_disk(tmp_path / "disk", 4 * 1024) as disk:
        monkeypatch.setenv(comfy_services.OUTPUT_DIR_ENV, str(disk))
        with pytest.raises(UserInputError) as error:
            _save(model, save_training_state=True)
        message = str(error.value)
        assert f"not enough free space for the saved model in {disk / 'runs'}" in message
        assert "it needs about" in message and "are free" in message and "queue again" in message
        assert message.count("not enough free space") == 1, "one message"
        assert not leftovers(disk) and not any((disk / "runs").iterdir())
        resize(disk, 64 * 1024)  # space freed: the same model object saves now
        folder = _save(model, save_training_state=True)
        assert load_classifier(folder).num_outputs == model.num_outputs


def test_a_disk_that_fills_during_the_saved_folder_write_leaves_nothing_and_says_why(model, tmp_path, monkeypatch):
    """The free-space check passed (another process filled the disk afterwards): the write itself fails."""
    monkeypatch.setattr(saving, "check_free_space", lambda *args: None)
    with small_disk(tmp_path / "disk", 96) as disk:
        monkeypatch.setenv(comfy_services.OUTPUT_DIR_ENV, str(disk))
        with pytest.raises(UserInputError) as error:
            _save(model)
        message = str(error.value)
        assert f"could not save the model in {disk / 'runs'}: the disk is full (No space left on device)" in message
        assert "it needs about" in message and "Nothing was left behind" in message and ".partial" not in message
        assert not leftovers(disk) and not any((disk / "runs").iterdir())
        resize(disk, 64 * 1024)
        assert load_classifier(_save(model)).num_outputs == model.num_outputs


def test_a_read_only_output_folder_is_one_message_naming_it(model, tmp_path, monkeypatch):
    with small_disk(tmp_path / "disk", 64 * 1024) as disk:
        (disk / "runs").mkdir()
        read_only(disk)
        monkeypatch.setenv(comfy_services.OUTPUT_DIR_ENV, str(disk))
        with pytest.raises(UserInputError, match=r"could not save the model in .*runs: the file system is read-only "
                                                 r"\(Read-only file system\).*make the folder writable"):
            _save(model)
        assert not leftovers(disk)
