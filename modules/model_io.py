"""Save a trained classifier as a self-describing folder, and load it back.

Folder layout (all written with the libraries' own savers):
  config.json, model.safetensors   transformers model (LoRA adapters merged in),
                                   label names in id2label / label2id
  tokenizer files                  tokenizer.save_pretrained
  head.safetensors                 our linear head (head_type linear only)
  adapter/                         PEFT LoRA adapters (LoRA models only)
  classifier.json                  what the Load node needs: head type, labels, pooling, max length
  training_settings.json           optimizer, loss, schedule and trainer settings
  metrics_history.json             metrics per epoch
  training_state.pt                optimizer/scheduler state and epoch count (optional, to resume)
  README.md                        model card

Saving goes to a hidden temporary folder beside the target and is renamed into place
at the end, so a failure never leaves a half-written model folder.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from .classification_model import HfEncoderClassifier
from .errors import UserInputError
from .model_card import model_card
from .predict import label_names_for, output_kind
from .resume import TrainingState

log = logging.getLogger(__name__)

FORMAT = "hf-text-finetune-classifier"
FORMAT_VERSION = 1
MANIFEST_FILE = "classifier.json"
HEAD_FILE = "head.safetensors"
STATE_FILE = "training_state.pt"
SETTINGS_FILE = "training_settings.json"
HISTORY_FILE = "metrics_history.json"
_COUNTER_DIGITS = 5
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass
class SavedClassifier:
    folder: Path
    manifest: dict
    notes: list[str] = field(default_factory=list)


# --- where to save -----------------------------------------------------------------------------------------------


def split_prefix(prefix: str) -> tuple[list[str], str]:
    """'runs/imdb' -> (['runs'], 'imdb'). Refuses anything that could leave the output directory."""
    text = (prefix or "").strip()
    if not text:
        raise UserInputError("filename_prefix is empty; give a name such as text_classifier or runs/imdb")
    if os.path.isabs(text) or text.startswith(("/", "\\", "~")) or _WINDOWS_DRIVE.match(text):
        raise UserInputError(
            f"filename_prefix '{prefix}' is an absolute path; models are saved inside the output directory, so give "
            "a relative name such as text_classifier or runs/imdb"
        )
    parts = re.split(r"[\\/]+", text)
    if any(part in ("..", ".") for part in parts):
        raise UserInputError(
            f"filename_prefix '{prefix}' contains '..' or '.', which could leave the output directory; use plain "
            "folder names such as runs/imdb"
        )
    if not parts[-1]:
        raise UserInputError(f"filename_prefix '{prefix}' ends with a separator; end it with a name, e.g. runs/imdb")
    bad = [part for part in parts if any(ord(c) < 32 for c in part) or any(c in part for c in '<>:"|?*')]
    if bad:
        raise UserInputError(f"filename_prefix '{prefix}' has characters not allowed in folder names in {bad}")
    return parts[:-1], parts[-1]


def save_parent(output_dir: Path, prefix: str) -> tuple[Path, str]:
    """The folder that will hold `<stem>_00001`, checked to stay inside `output_dir` (symlinks included)."""
    subfolders, stem = split_prefix(prefix)
    root = Path(output_dir).expanduser().resolve()
    parent = root.joinpath(*subfolders).resolve()
    if parent != root and root not in parent.parents:
        raise UserInputError(f"filename_prefix '{prefix}' leads outside the output directory {root}; use a plain name")
    return parent, stem


def _next_counter(parent: Path, stem: str) -> int:
    pattern = re.compile(rf"^{re.escape(stem)}_(\d+)$")
    found = [int(m.group(1)) for p in parent.iterdir() if (m := pattern.match(p.name))] if parent.is_dir() else []
    return max(found, default=0) + 1


# --- saving ------------------------------------------------------------------------------------------------------


def _label_config(config: Any, names: list[str], kind: str) -> Any:
    """A copy of `config` with label names and the problem type transformers' pipeline reads."""
    config = copy.deepcopy(config)
    id2label = {0: names[1]} if kind == "binary" else dict(enumerate(names))
    config.id2label = id2label
    config.label2id = {name: i for i, name in id2label.items()}
    # one sigmoid per output: pipeline applies sigmoid, and HF's own loss is BCE
    config.problem_type = "single_label_classification" if kind == "multi_class" else "multi_label_classification"
    return config


def _clean_transformers_model(model: HfEncoderClassifier) -> torch.nn.Module:
    """The transformers model to save: the encoder (linear head) or the whole HF classifier,
    with LoRA adapters merged into a copy; without LoRA the model itself (nothing changes it)."""
    from .lora import has_lora, merged_encoder

    if not has_lora(model):
        return model.hf_model if model.head_type == "hf_sequence_classification" else model.encoder
    encoder = merged_encoder(model)
    if model.head_type != "hf_sequence_classification":
        return encoder
    with torch.inference_mode(False), torch.no_grad():
        hf_model = copy.copy(model.hf_model)  # shallow: shares the head layers, gets its own module table
        hf_model._modules = dict(model.hf_model._modules)
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


def write_classifier_folder(model: HfEncoderClassifier, folder: Path, include_training_state: bool = False,
                            notes: Optional[list[str]] = None) -> dict:
    """Write every file of a saved classifier into an existing, empty `folder`; returns the manifest."""
    from safetensors.torch import save_file

    from .lora import save_adapter

    notes = notes if notes is not None else []
    if getattr(model, "tokenizer", None) is None:
        raise UserInputError(
            "this model has no tokenizer attached, so a saved copy could not read text: save the model output of a "
            "trainer node (training attaches the tokenizer) or of the Pt Load Classification Model node"
        )
    kind = output_kind(model)
    names = label_names_for(model)
    transformers_model = _clean_transformers_model(model)
    transformers_model.save_pretrained(str(folder))
    _label_config(transformers_model.config, names, kind).save_pretrained(str(folder))
    model.tokenizer.save_pretrained(str(folder))
    if model.head_type != "hf_sequence_classification":
        head = {k: v.detach().to("cpu").contiguous() for k, v in model.head.state_dict().items()}
        save_file(head, str(folder / HEAD_FILE))
    if model.lora:
        save_adapter(model, folder)

    state: Optional[TrainingState] = getattr(model, "training_state", None)
    if include_training_state and state is None:
        notes.append("no training state to save (the model was not trained in this session or was loaded "
                     "without it); the folder can still be trained further, starting a new run")
    saved_state = include_training_state and state is not None
    if saved_state:
        torch.save(state.to_file_dict(), folder / STATE_FILE)
    history = list(getattr(model, "history", None) or [])
    dropout = model.head[0].p if model.head_type == "linear" and isinstance(model.head[0], torch.nn.Dropout) else None
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "head_type": model.head_type, "problem_type": kind,
        "num_outputs": model.num_outputs, "label_names": list(model.label_names) if model.label_names else None,
        "output_labels": names, "pooling": model.pooling, "dropout": dropout,
        "max_length": getattr(model, "max_length", None),
        "base_model": getattr(model, "base_model_name", None) or model.model_name,
        "lora": model.lora, "has_training_state": saved_state,
        "epochs_done": len(history) if not state else state.epochs_done,
        "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    }
    _write_json(folder / MANIFEST_FILE, manifest)
    _write_json(folder / SETTINGS_FILE, getattr(model, "training_settings", None) or {})
    _write_json(folder / HISTORY_FILE, history)
    return manifest


def _match_folder_permissions(folder: Path) -> None:
    """Some writers create private (0600) files; give every file the folder's own umask-based access."""
    dir_mode = folder.stat().st_mode & 0o777
    for path in folder.rglob("*"):
        os.chmod(path, dir_mode if path.is_dir() else dir_mode & 0o666)


def save_classifier(model: HfEncoderClassifier, output_dir: Path, prefix: str = "text_classifier",
                    include_training_state: bool = False) -> SavedClassifier:
    """Write `model` to `<output_dir>/<prefix>_<counter>` atomically; returns the folder and manifest."""
    parent, stem = save_parent(output_dir, prefix)
    parent.mkdir(parents=True, exist_ok=True)
    temp = parent / f".{stem}-{uuid.uuid4().hex[:12]}.partial"  # hidden, and never listed by the Load node
    temp.mkdir()
    notes: list[str] = []
    try:
        with torch.inference_mode(False):
            manifest = write_classifier_folder(model, temp, include_training_state, notes)
        _match_folder_permissions(temp)
        history = json.loads((temp / HISTORY_FILE).read_text())
        counter = _next_counter(parent, stem)
        for _ in range(1000):  # another save may take a name between our check and rename
            target = parent / f"{stem}_{counter:0{_COUNTER_DIGITS}d}"
            if not target.exists():
                (temp / "README.md").write_text(model_card(manifest, history, target.name))
                try:
                    os.rename(temp, target)
                    break
                except OSError:
                    if not target.exists():
                        raise
            counter += 1
        else:
            raise UserInputError(f"could not find a free folder name for '{stem}' in {parent}")
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    for note in notes:
        log.warning("%s", note)
    log.info("saved the classifier to %s", target)
    return SavedClassifier(target, manifest, notes)


# --- finding and loading -----------------------------------------------------------------------------------------


def is_saved_classifier(folder: Path) -> bool:
    return (Path(folder) / MANIFEST_FILE).is_file()


def find_saved_classifiers(roots: dict[str, Path], max_depth: int = 3) -> list[str]:
    """'<root label>/<relative path>' for every saved classifier under the roots, newest names last."""
    found = []
    for label, root in roots.items():
        root = Path(root)
        if not root.is_dir():
            continue
        for dirpath, dirnames, _ in os.walk(root):
            here = Path(dirpath)
            depth = len(here.relative_to(root).parts)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            if depth >= max_depth:
                dirnames[:] = []
            if here != root and is_saved_classifier(here):
                found.append(f"{label}/{here.relative_to(root).as_posix()}")
                dirnames[:] = []
    return sorted(found)


def resolve_saved_choice(choice: str, roots: dict[str, Path]) -> Path:
    """The folder behind a '<root label>/<relative path>' list entry."""
    label, _, rest = (choice or "").partition("/")
    if label not in roots or not rest:
        raise UserInputError(f"saved model '{choice}' is not in the list; refresh the node or give a path")
    return Path(roots[label]) / rest


def _read_manifest(folder: Path) -> dict:
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        if (folder / "config.json").is_file():
            hint = ("it looks like a plain Hugging Face model folder: use it as model_name on the model node to "
                    "fine-tune it, or choose a folder written by the Pt Save Classification Model node")
        else:
            hint = "choose a folder written by the Pt Save Classification Model node"
        raise UserInputError(f"'{folder}' is not a saved text classifier (it has no {MANIFEST_FILE}); {hint}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserInputError(f"'{manifest_path}' is not valid JSON ({exc}); save the model again") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UserInputError(f"'{manifest_path}' is not a saved text classifier's description; save the model again")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise UserInputError(
            f"'{folder}' was saved by a newer version of this node pack (format {manifest['format_version']}); "
            "update the pack to load it"
        )
    return manifest


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text()) if path.is_file() else default
    except (json.JSONDecodeError, UnicodeDecodeError):
        log.warning("%s is not valid JSON; ignored", path)
        return default


def _load_linear(folder: Path, name: str, manifest: dict) -> HfEncoderClassifier:
    from safetensors.torch import load_file

    from .model_source import load_config, load_encoder

    encoder = load_encoder(name, load_config(name))
    model = HfEncoderClassifier(encoder, int(manifest["num_outputs"]), manifest.get("pooling", "cls"),
                                float(manifest.get("dropout") or 0.0), model_name=name)
    head_path = folder / HEAD_FILE
    if not head_path.is_file():
        raise UserInputError(f"saved classifier '{folder}' has no {HEAD_FILE} (its linear head); save the model again")
    try:
        model.head.load_state_dict(load_file(str(head_path)))
    except RuntimeError as exc:
        raise UserInputError(f"{head_path} does not fit a head with {manifest['num_outputs']} outputs on this "
                             f"encoder ({str(exc).splitlines()[0]}); save the model again") from exc
    return model


def load_classifier(path: str | Path, restore_training_state: bool = True) -> HfEncoderClassifier:
    """A saved classifier, ready to predict, evaluate or train further (resuming when its state is kept)."""
    from .hf_head import HEAD_TYPE, load_hf_sequence_classifier
    from .lora import restore_lora
    from .model_source import load_tokenizer, normalize_model_name

    folder = Path(os.path.expanduser(str(path).strip()))
    if not str(path).strip():
        raise UserInputError("no saved model given: choose one from the list or give the folder's path")
    if not folder.is_dir():
        raise UserInputError(f"saved model folder '{path}' does not exist; check the path (folders the Save node "
                             "writes are listed on the Load node)")
    manifest = _read_manifest(folder)
    name = normalize_model_name(str(folder))
    head_type = manifest.get("head_type")
    with torch.inference_mode(False):
        if head_type == HEAD_TYPE:
            model = load_hf_sequence_classifier(name)
        elif head_type == "linear":
            model = _load_linear(folder, name, manifest)
        else:
            raise UserInputError(f"'{folder}' has head_type '{head_type}', which this version cannot load")
        if model.num_outputs != int(manifest["num_outputs"]):
            raise UserInputError(f"'{folder}': the weights have {model.num_outputs} outputs but {MANIFEST_FILE} "
                                 f"says {manifest['num_outputs']}; save the model again")
        if manifest.get("lora"):
            restore_lora(model, folder, manifest["lora"])
    model.problem_type = ("multi_label_classification" if manifest.get("problem_type") == "multi_label"
                          else "single_label_classification")
    names = manifest.get("label_names")
    label_names_for(model, names, f"label names in {folder / MANIFEST_FILE}")  # misfits fail here, not later
    model.label_names = list(names) if names else None  # None: integer labels, as when it was trained
    model.tokenizer = load_tokenizer(name)
    model.max_length = manifest.get("max_length")
    model.base_model_name = manifest.get("base_model") or name
    model.history = list(_read_json(folder / HISTORY_FILE, []))
    model.training_settings = _read_json(folder / SETTINGS_FILE, {})
    model.eval()
    state_path = folder / STATE_FILE
    if state_path.is_file():
        state = TrainingState.from_file_dict(torch.load(state_path, map_location="cpu", weights_only=True))
        model.training_state = state
        model.resume_state = state if restore_training_state else None
    log.info("loaded %s classifier from %s (%d outputs)", head_type, folder, model.num_outputs)
    return model
