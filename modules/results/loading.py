"""Load a saved classifier folder back into a `TextClassifier`, ready to predict, evaluate or train on."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from ..data.truncation import Truncation
from ..data.windows import Windows
from ..errors import UserInputError
from ..model.classifier import MULTI_LABEL, REGRESSION, SINGLE_LABEL, TextClassifier, TrainingState
from ..model.hf_head import HfSequenceNetwork, load_sequence_model
from ..model.linear_head import LinearHeadNetwork
from ..model.lora import restore_lora
from ..model.network import HF_HEAD, LINEAR_HEAD, ClassifierNetwork
from ..model.weight_dtype import use_weight_dtype, weight_torch_dtype
from ..model_folders import read_json, short_detail
from ..node_names import SAVE_NODE
from ..pretrained import load_config, load_encoder, load_tokenizer, normalize_model_name
from .saved_folder import (FORMAT, FORMAT_VERSION, HEAD_FILE, HISTORY_FILE, MANIFEST_FILE, SETTINGS_FILE,
                           STATE_FILE)

log = logging.getLogger(__name__)

_PROBLEM_TYPES = {"multi_label": MULTI_LABEL, "regression": REGRESSION}  # classifier.json's output kinds


def _read_manifest(folder: Path) -> dict:
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        if (folder / "config.json").is_file():
            hint = ("it looks like a plain Hugging Face model folder: use it as model_name on the model node to "
                    f"fine-tune it, or choose a folder written by the {SAVE_NODE} node")
        else:
            hint = f"choose a folder written by the {SAVE_NODE} node"
        raise UserInputError(f"'{folder}' is not a saved text classifier (it has no {MANIFEST_FILE}); {hint}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserInputError(f"'{manifest_path}' is not valid JSON ({exc}); save the model again") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UserInputError(f"'{manifest_path}' is not a saved text classifier's description; save the model again")
    version = manifest.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, (int, float, str)) or \
            not str(version).strip().isdigit():
        raise UserInputError(f"'{manifest_path}' has format_version {version!r}, which is not a whole number (this "
                             f"pack writes {FORMAT_VERSION}); the file was edited or damaged: save the model again, or "
                             f"set \"format_version\": {FORMAT_VERSION}")
    if int(version) > FORMAT_VERSION:
        raise UserInputError(
            f"'{folder}' was saved by a newer version of this node pack (format {manifest['format_version']}); "
            "update the pack to load it"
        )
    return manifest


def _linear_network(folder: Path, name: str, manifest: dict) -> LinearHeadNetwork:
    from safetensors.torch import load_file

    encoder = load_encoder(name, load_config(name))
    network = LinearHeadNetwork(encoder, int(manifest["num_outputs"]), manifest.get("pooling", "cls"),
                                float(manifest.get("dropout") or 0.0))
    head_path = folder / HEAD_FILE
    if not head_path.is_file():
        raise UserInputError(f"saved classifier '{folder}' has no {HEAD_FILE} (its linear head); save the model again")
    try:
        head = load_file(str(head_path))
    except Exception as exc:  # safetensors' SafetensorError: a truncated or overwritten file
        raise UserInputError(f"{head_path} (the linear head's weights) is damaged or incomplete "
                             f"({short_detail(exc)}); save the model again, or copy the whole folder again") from None
    try:
        network.head.load_state_dict(head)
    except RuntimeError as exc:
        raise UserInputError(f"{head_path} does not fit a head with {manifest['num_outputs']} outputs on this "
                             f"encoder ({str(exc).splitlines()[0]}); save the model again") from exc
    return network


def _network(folder: Path, name: str, manifest: dict) -> ClassifierNetwork:
    """The saved network, LoRA adapters put back; its size checked against the manifest."""
    head_type = manifest.get("head_type")
    with torch.inference_mode(False):
        if head_type == HF_HEAD:
            network = HfSequenceNetwork(load_sequence_model(name, load_config(name)))
        elif head_type == LINEAR_HEAD:
            network = _linear_network(folder, name, manifest)
        else:
            raise UserInputError(f"'{folder}' has head_type '{head_type}', which this version cannot load")
        if network.num_outputs != int(manifest["num_outputs"]):
            raise UserInputError(f"'{folder}': the weights have {network.num_outputs} outputs but {MANIFEST_FILE} "
                                 f"says {manifest['num_outputs']}; save the model again")
        if manifest.get("lora"):
            restore_lora(network, folder)
        # loaded in fp32 (bf16 values widen exactly), so the fp32 head keeps its saved values; then back to bf16
        use_weight_dtype(network, weight_torch_dtype(manifest.get("weight_dtype")))
    return network.eval()


def _training_state(folder: Path, needed: bool) -> TrainingState | None:
    """The saved optimizer/scheduler state; a damaged file blocks only a resume (`needed`), never the weights."""
    state_path = folder / STATE_FILE
    if not state_path.is_file():
        return None
    try:
        return TrainingState.from_file_dict(torch.load(state_path, map_location="cpu", weights_only=True))
    except Exception as exc:  # torch's own text for a damaged file advises weights_only=False: never shown
        cause = "it is not a training state this pack wrote" if "pickl" in type(exc).__name__.lower() else \
            "the file is damaged or incomplete"
        if needed:
            raise UserInputError(
                f"{state_path} cannot be read ({cause}), so training cannot resume from it; turn "
                "restore_training_state off to load the weights alone (training then starts a new run), or delete "
                "the file"
            ) from None
        log.warning("%s cannot be read (%s); ignored, since restore_training_state is off: the weights are loaded, "
                    "and training them starts a new run", state_path, cause)
        return None


def _saved_setting(kind: type, manifest: dict, key: str, folder: Path) -> Any:
    """A truncation or window setting of classifier.json; folders saved before they existed have the defaults."""
    try:
        return kind.from_dict(manifest.get(key))
    except (UserInputError, TypeError, ValueError, AttributeError) as exc:
        raise UserInputError(f"'{folder / MANIFEST_FILE}' has an unreadable '{key}' setting ({exc}); save the model "
                             "again") from None


def saved_folder(path: str | Path) -> Path:
    """The folder a path names, checked to exist."""
    if not str(path).strip():
        raise UserInputError("no saved model given: choose one from the list or give the folder's path")
    folder = Path(os.path.expanduser(str(path).strip()))
    if folder.is_file():
        raise UserInputError(f"'{path}' is a file, not a saved model folder; give the folder that holds it "
                             f"('{folder.parent}'), the one the Save node wrote")
    if not folder.is_dir():
        raise UserInputError(f"saved model folder '{path}' does not exist; check the path (folders the Save node "
                             "writes are listed on the Load node)")
    return folder


def load_classifier(path: str | Path, restore_training_state: bool = True) -> TextClassifier:
    """A saved classifier, ready to predict, evaluate or train further (resuming when its state is kept)."""
    folder = saved_folder(path)
    manifest = _read_manifest(folder)
    name = normalize_model_name(str(folder))
    network = _network(folder, name, manifest)
    model = TextClassifier(
        network=network, model_name=name, base_model_name=manifest.get("base_model") or name,
        tokenizer=load_tokenizer(name), max_length=manifest.get("max_length"), lora=manifest.get("lora") or None,
        truncation_rule=_saved_setting(Truncation, manifest, "truncation", folder),
        windows=_saved_setting(Windows, manifest, "windows", folder),
        problem_type=_PROBLEM_TYPES.get(manifest.get("problem_type"), SINGLE_LABEL),
        text_pairs=bool(manifest.get("text_pairs", False)),  # folders saved before pairs hold single texts
        calibration=manifest.get("calibration") or None,  # its temperature is in the saved weights already
        history=list(read_json(folder / HISTORY_FILE, [])),
        training_settings=read_json(folder / SETTINGS_FILE, {}))
    names = manifest.get("label_names")
    model.output_labels(names, f"label names in {folder / MANIFEST_FILE}")  # misfits fail here, not later
    model.label_names = list(names) if names else None  # None: integer labels, as when it was trained
    model.training_state = _training_state(folder, restore_training_state)
    model.resume_state = model.training_state if restore_training_state else None
    log.info("loaded %s classifier from %s (%d outputs)", model.head_type, folder, model.num_outputs)
    return model
