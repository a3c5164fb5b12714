"""Save a trained classifier as a self-describing folder, and load it back.

Folder layout (all written with the libraries' own savers):
  config.json, model.safetensors   transformers model (LoRA adapters merged in),
                                   label names in id2label / label2id
  tokenizer files                  tokenizer.save_pretrained
  head.safetensors                 our linear head (head_type linear only)
  adapter/                         PEFT LoRA adapters (LoRA models only)
  classifier.json                  what the Load node needs: head type, labels, pooling, max length,
                                   truncation and sliding windows (what Predict repeats)
  training_settings.json           optimizer, loss, schedule and trainer settings
  metrics_history.json             metrics per epoch
  training_state.pt                optimizer/scheduler state and epoch count (optional, to resume)
  README.md                        model card

Saving goes to a hidden temporary folder beside the target and is renamed into place
at the end, so a failure never leaves a half-written model folder. The free space is
checked first; a disk that fills or refuses the write anyway (read-only, quota) is one
message with the cause, the folder and the size, and the model in memory stays usable.
"""

from __future__ import annotations

import copy
import datetime
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from ..disk_space import (NotEnoughSpaceError, check_free_space, free_bytes, megabytes, tensor_bytes,
                          write_failure_cause)
from ..errors import UserInputError
from ..model.classifier import TextClassifier
from ..model.lora import merged_encoder, save_adapter
from ..model.network import HF_HEAD, LINEAR_HEAD
from ..model.weight_dtype import weight_dtype_of
from .model_card import model_card
from .saved_folder import (COUNTER_DIGITS, FORMAT, FORMAT_VERSION, HEAD_FILE, HISTORY_FILE, MANIFEST_FILE,
                           SETTINGS_FILE, STATE_FILE, save_parent)

log = logging.getLogger(__name__)


@dataclass
class SavedClassifier:
    folder: Path
    manifest: dict
    notes: list[str] = field(default_factory=list)


def _next_counter(parent: Path, stem: str) -> int:
    pattern = re.compile(rf"^{re.escape(stem)}_(\d+)$")
    found = [int(m.group(1)) for p in parent.iterdir() if (m := pattern.match(p.name))] if parent.is_dir() else []
    return max(found, default=0) + 1


def _label_config(config: Any, names: list[str], kind: str, calibration: Optional[dict] = None) -> Any:
    """A copy of `config` with label names and the problem type transformers' pipeline reads (and the
    calibration, for readers of config.json: its temperature is already in the weights)."""
    config = copy.deepcopy(config)
    if calibration is not None:
        config.calibration = calibration
    id2label = {0: names[1]} if kind == "binary" else dict(enumerate(names))
    config.id2label = id2label
    config.label2id = {name: i for i, name in id2label.items()}
    # one sigmoid per output: pipeline applies sigmoid, and HF's own loss is BCE; regression: raw scores, MSE
    config.problem_type = {"multi_class": "single_label_classification",
                           "regression": "regression"}.get(kind, "multi_label_classification")
    return config


def _clean_transformers_model(model: TextClassifier) -> torch.nn.Module:
    """The transformers model to save: the encoder (linear head) or the whole HF classifier,
    with LoRA adapters merged into a copy; without LoRA the network's own (nothing changes it)."""
    network = model.network
    if model.lora is None:
        return network.hf_model if model.head_type == HF_HEAD else network.encoder
    encoder = merged_encoder(network)
    if model.head_type != HF_HEAD:
        return encoder
    with torch.inference_mode(False), torch.no_grad():
        hf_model = copy.copy(network.hf_model)  # shallow: shares the head layers, gets its own module table
        hf_model._modules = dict(network.hf_model._modules)
        hf_model._modules[hf_model.base_model_prefix] = encoder
    return hf_model


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _versions() -> dict[str, str]:
    import transformers

    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import peft

        versions["peft"] = peft.__version__
    except ImportError:
        pass
    return versions


def _manifest(model: TextClassifier, names: list[str], saved_state: bool, epochs_done: int) -> dict:
    """classifier.json: what the Load node needs to rebuild the classifier."""
    network = model.network
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "head_type": model.head_type,
        "problem_type": model.output_kind, "num_outputs": model.num_outputs,
        "label_names": list(model.label_names) if model.label_names else None, "output_labels": names,
        "pooling": model.pooling, "dropout": network.dropout if model.head_type == LINEAR_HEAD else None,
        "max_length": model.max_length, "base_model": model.base_model, "lora": model.lora,
        "text_pairs": model.text_pairs, "weight_dtype": weight_dtype_of(network),
        "truncation": model.truncation_rule.to_dict(), "windows": model.windows.to_dict(),
        "has_training_state": saved_state, "epochs_done": epochs_done, "calibration": model.calibration,
        "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    }


def _write_weights(model: TextClassifier, folder: Path, names: list[str]) -> None:
    """The transformers model, its label config, the tokenizer, our head and LoRA adapters."""
    from safetensors.torch import save_file

    transformers_model = _clean_transformers_model(model)
    transformers_model.save_pretrained(str(folder))
    _label_config(transformers_model.config, names, model.output_kind, model.calibration).save_pretrained(str(folder))
    model.tokenizer.save_pretrained(str(folder))
    if model.head_type == LINEAR_HEAD:
        head = {k: v.detach().to("cpu").contiguous() for k, v in model.network.head.state_dict().items()}
        save_file(head, str(folder / HEAD_FILE))
    if model.lora:
        save_adapter(model.network, folder)


def write_classifier_folder(model: TextClassifier, folder: Path, include_training_state: bool = False,
                            notes: Optional[list[str]] = None) -> dict:
    """Write every file of a saved classifier into an existing, empty `folder`; returns the manifest."""
    notes = notes if notes is not None else []
    model.require_tokenizer("read text once saved")
    names = model.output_labels()
    _write_weights(model, folder, names)
    state = model.training_state
    if include_training_state and state is None:
        notes.append("no training state to save (the model was not trained in this session or was loaded "
                     "without it); the folder can still be trained further, starting a new run")
    saved_state = include_training_state and state is not None
    if saved_state:
        torch.save(state.to_file_dict(), folder / STATE_FILE)
    history = list(model.history)
    manifest = _manifest(model, names, saved_state, state.epochs_done if state else len(history))
    _write_json(folder / MANIFEST_FILE, manifest)
    _write_json(folder / SETTINGS_FILE, model.training_settings or {})
    _write_json(folder / HISTORY_FILE, history)
    return manifest


STALE_PARTIAL_SECONDS = 3600
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
_PARTIAL = re.compile(r"^\..+?(?:-(?P<host>[0-9a-f]{6})-(?P<pid>\d+))?-[0-9a-f]{12}\.partial$")


def _writer_gone(host: str | None, pid: str | None) -> bool:
    """True when the save that wrote a .partial folder ran on this machine and its process has ended."""
    if host != _HOST or pid is None or os.name != "posix":  # os.kill(pid, 0) is not a probe on Windows
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False
    return False


def remove_stale_partials(parent: Path) -> list[Path]:
    """Remove the hidden folders of saves that were killed: their writer is gone, or they are over an hour old."""
    removed = []
    if not parent.is_dir():
        return removed
    now = time.time()
    for path in parent.iterdir():
        match = _PARTIAL.match(path.name)
        if not match or not path.is_dir():
            continue
        try:
            old = now - path.stat().st_mtime > STALE_PARTIAL_SECONDS
        except OSError:
            continue
        if (old or _writer_gone(match.group("host"), match.group("pid"))) and match.group("pid") != str(os.getpid()):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
            log.info("removed %s, left by a save that did not finish", path)
    return removed


def _match_folder_permissions(folder: Path) -> None:
    """Some writers create private (0600) files; give every file the folder's own umask-based access."""
    dir_mode = folder.stat().st_mode & 0o777
    for path in folder.rglob("*"):
        os.chmod(path, dir_mode if path.is_dir() else dir_mode & 0o666)


def saved_size(model: TextClassifier, include_training_state: bool) -> int:
    """Bytes a saved folder of `model` takes, about: its weights, and the training state when kept."""
    size = tensor_bytes(model.network.state_dict())
    if include_training_state and model.training_state is not None:
        size += tensor_bytes(model.training_state.to_file_dict())
    return size


def _save_failure(exc: Exception, parent: Path, needed: int) -> UserInputError:
    """One message for a save the disk refused: cause, folder, size needed, fix."""
    if isinstance(exc, NotEnoughSpaceError):
        cause = str(exc)
    else:
        try:
            free = f", {megabytes(free_bytes(parent))} are free"
        except OSError:
            free = ""
        cause = (f"could not save the model in {parent}: {write_failure_cause(exc)} (it needs about "
                 f"{megabytes(needed)}{free})")
    return UserInputError(f"{cause}. Nothing was left behind. Free space (or make the folder writable), or choose "
                          "another save_to or filename_prefix, then queue again: the trained model is kept, so only "
                          "the Save node runs again")


def _make_parent(parent: Path, prefix: str) -> None:
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        raise UserInputError(f"filename_prefix '{prefix}' gives a path too long for the file system ({parent}); "
                             "use a shorter name such as runs/imdb") from None


def save_classifier(model: TextClassifier, output_dir: Path, prefix: str = "text_classifier",
                    include_training_state: bool = False) -> SavedClassifier:
    """Write `model` to `<output_dir>/<prefix>_<counter>` atomically; returns the folder and manifest.
    A full or read-only disk is one UserInputError and leaves no folder behind."""
    parent, stem = save_parent(output_dir, prefix)
    needed = saved_size(model, include_training_state)
    try:
        _make_parent(parent, prefix)
        remove_stale_partials(parent)
        check_free_space(parent, needed, "the saved model", "nothing was written")
        target, manifest, notes = _write_and_rename(model, parent, stem, include_training_state)
    except UserInputError as exc:
        if isinstance(exc, NotEnoughSpaceError):
            raise _save_failure(exc, parent, needed) from None
        raise
    except Exception as exc:  # OSError, SafetensorError, torch.save's RuntimeError: the disk refused
        raise _save_failure(exc, parent, needed) from exc
    for note in notes:
        log.warning("%s", note)
    log.info("saved the classifier to %s", target)
    return SavedClassifier(target, manifest, notes)


def _write_and_rename(model: TextClassifier, parent: Path, stem: str,
                      include_training_state: bool) -> tuple[Path, dict, list[str]]:
    """Every file into a hidden folder, then one rename to the first free `<stem>_<counter>`."""
    # hidden, never listed by the Load node; names its writer so that a later save can tell it is gone
    temp = parent / f".{stem}-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:12]}.partial"
    temp.mkdir()
    notes: list[str] = []
    try:
        with torch.inference_mode(False):
            manifest = write_classifier_folder(model, temp, include_training_state, notes)
        _match_folder_permissions(temp)
        history = json.loads((temp / HISTORY_FILE).read_text())
        counter = _next_counter(parent, stem)
        for _ in range(1000):  # another save may take a name between our check and rename
            target = parent / f"{stem}_{counter:0{COUNTER_DIGITS}d}"
            if not target.exists():
                (temp / "README.md").write_text(model_card(manifest, history, target.name, model.training_settings))
                try:
                    os.rename(temp, target)
                    return target, manifest, notes
                except OSError:
                    if not target.exists():
                        raise
            counter += 1
        raise UserInputError(f"could not find a free folder name for '{stem}' in {parent}")
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
