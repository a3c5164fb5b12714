"""Saved folders that went wrong: a damaged training_state.pt gets this pack's message (never torch's
advice to use weights_only=False) and blocks only a resume; killed saves leave no .partial folder for
long; a save prefix the file system cannot hold is refused at queue time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
import torch
from helpers.nodes import Pipeline, validate_node

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.results import saving
from hf_text_finetune.modules.results.saving import remove_stale_partials, save_classifier
from hf_text_finetune.nodes.io_nodes import PtLoadClassificationModel, PtSaveClassificationModel

SAVE_NODE = "PtSaveClassificationModel"


@pytest.fixture(scope="module")
def saved(tiny_models, reviews_csv, tmp_path_factory):
    """A trained tiny classifier saved with its training state."""
    model = Pipeline(tiny_models["bert"], reviews_csv).train(epochs=1)[0]
    return save_classifier(model, tmp_path_factory.mktemp("out"), "tiny", include_training_state=True).folder


def _damaged_copy(saved, tmp_path, content):
    folder = tmp_path / "damaged"
    shutil.copytree(saved, folder)
    state = folder / "training_state.pt"
    full = state.read_bytes()
    state.write_bytes(content(full))
    return folder


def _load(folder, restore):
    with torch.inference_mode():
        return PtLoadClassificationModel().load("", path=str(folder), restore_training_state=restore)[0]


DAMAGES = {
    "truncated": lambda full: full[: len(full) // 2],
    "garbage": lambda full: b"not a torch file" * 20,
    "empty": lambda full: b"",
    "pickled-object": None,  # a plain pickle with an object torch's safe loader refuses
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_state_file_has_the_packs_message(damage, saved, tmp_path):
    if damage == "pickled-object":
        import pickle

        content = lambda full: pickle.dumps(subprocess.Popen, protocol=2)  # noqa: E731
    else:
        content = DAMAGES[damage]
    folder = _damaged_copy(saved, tmp_path, content)
    with pytest.raises(UserInputError) as caught:
        _load(folder, restore=True)
    message = str(caught.value)
    for part in ("training_state.pt", "cannot be read", "turn restore_training_state off", "delete the file"):
        assert part in message
    assert "weights_only" not in message and "pickle" not in message.lower()


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_weights_load_with_resume_off_even_if_the_state_is_damaged(damage, saved, tmp_path, caplog):
    folder = _damaged_copy(saved, tmp_path, DAMAGES[damage])
    model = _load(folder, restore=False)
    reference = _load(saved, restore=False)
    assert model.training_state is None and model.resume_state is None
    for a, b in zip(model.network.state_dict().values(), reference.network.state_dict().values()):
        assert torch.equal(a, b)
    assert any("ignored, since restore_training_state is off" in r.getMessage() for r in caplog.records)
    assert not any("weights_only" in r.getMessage() for r in caplog.records)


# --- .partial folders of killed saves --------------------------------------------------------------------

def _partial(parent, name):
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"half")
    return folder


def test_stale_partial_folders_are_removed_by_the_next_save(saved, tmp_path):
    parent = tmp_path / "out"
    old = _partial(parent, ".tiny-0123456789ab.partial")  # the earlier naming, without its writer
    long_ago = time.time() - 2 * saving.STALE_PARTIAL_SECONDS
    os.utime(old, (long_ago, long_ago))
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = _partial(parent, f".tiny-{saving._HOST}-{finished.stdout.strip()}-0123456789ab.partial")
    alive = _partial(parent, f".tiny-{saving._HOST}-{os.getppid()}-0123456789ab.partial")
    mine = _partial(parent, f".tiny-{saving._HOST}-{os.getpid()}-0123456789ab.partial")
    recent = _partial(parent, ".tiny-fedcba987654.partial")
    other_host = _partial(parent, ".tiny-zzzzzz-1-0123456789ab.partial")
    model = _load(saved, restore=False)
    target = save_classifier(model, parent, "tiny").folder
    assert not old.exists() and not dead.exists()
    assert alive.exists() and mine.exists() and recent.exists() and other_host.exists()
    assert target.is_dir() and not any(p.name.endswith(".partial") for p in parent.iterdir()
                                       if p not in (alive, mine, recent, other_host))


def test_remove_stale_partials_leaves_other_folders_alone(tmp_path):
    keep = [_partial(tmp_path, name) for name in ("tiny_00001", ".hidden", "a.partial", ".x-notahex.partial")]
    for folder in keep:
        os.utime(folder, (0, 0))
    assert remove_stale_partials(tmp_path) == []
    assert all(folder.exists() for folder in keep)


# --- Save prefixes the file system cannot hold -------------------------------------------------------------

@pytest.mark.parametrize("prefix, shown", [
    ("x" * 300, "300 bytes"), ("runs/" + "y" * 220, "220 bytes"), ("z" * 256 + "/model", "256 bytes"),
    ("\u00e9" * 120, "240 bytes"),
], ids=["long-name", "long-last-part", "long-subfolder", "long-in-utf8"])
def test_save_prefix_too_long_for_the_file_system_is_refused_at_queue_time(prefix, shown):
    message = validate_node(SAVE_NODE, filename_prefix=prefix)
    assert isinstance(message, str)
    for part in ("filename_prefix", "too long for a folder name", shown, "use a shorter name"):
        assert part in message


def test_a_long_prefix_that_fits_is_accepted():
    assert validate_node(SAVE_NODE, filename_prefix="runs/" + "a" * 200) is True


def test_save_node_refuses_a_too_long_prefix_before_writing(saved, tmp_path, monkeypatch):
    from hf_text_finetune.nodes.comfy_services import OUTPUT_DIR_ENV

    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "out"))
    model = _load(saved, restore=False)
    with pytest.raises(UserInputError, match="too long"):
        with torch.inference_mode():
            PtSaveClassificationModel().save(model, "n" * 300)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
