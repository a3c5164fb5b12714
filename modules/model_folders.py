"""What can be wrong with a local model folder, said in terms of its files.

transformers explains a local problem as a hub problem ("not a local folder and not a
valid model identifier"), loads a folder without tokenizer files as a tokenizer of five
special tokens (every word becomes [UNK], training ends at chance and reports success),
and asks on stdin before running a folder's own code. These checks run first and name
the folder, the file and the fix.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional

from .errors import UserInputError
from .local_paths import REMOTE_CODE_ENV

log = logging.getLogger(__name__)

# Files from which a tokenizer's vocabulary can be read (fast tokenizer, WordPiece, BPE, SentencePiece).
VOCAB_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
               "tokenizer.model", "sentencepiece.model", "spm.model", "vocab.model", "source.spm", "bpe.codes")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack")
_MIN_WORDS = 10  # a tokenizer that knows fewer ordinary tokens than this cannot read text
REMOTE_CODE_OPTION = "trust_remote_code"


def file_instead_of_folder(name: str, path: Path) -> UserInputError:
    hint = f" (its folder '{path.parent}' holds config.json)" if (path.parent / "config.json").is_file() else ""
    return UserInputError(
        f"model_name '{name}' is a file, but a model is a folder (config.json, weights and tokenizer files); "
        f"give the folder that holds it{hint}"
    )


def _config_data(folder: Path) -> dict:
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserInputError(
            f"config.json in model folder '{folder}' is damaged (not valid JSON: {exc}); copy or download the "
            "folder again, or write it again with save_pretrained"
        ) from None
    if not isinstance(data, dict):
        raise UserInputError(f"config.json in model folder '{folder}' is not a JSON object; write it again with "
                             "save_pretrained")
    return data


def check_remote_code(folder: Path, trust_remote_code: bool) -> None:
    """A folder whose config maps to its own code (auto_map) and names no model type transformers knows
    loads only when remote code is allowed: refused here, before transformers imports anything. With a
    known model type transformers uses its own class and the folder's code is not run."""
    if trust_remote_code:
        return
    data = _config_data(folder)
    auto_map = data.get("auto_map")
    if not auto_map:
        return
    from transformers import CONFIG_MAPPING

    if data.get("model_type") in CONFIG_MAPPING:
        log.info("model folder %s maps to its own code (auto_map), which is not run: transformers' own %s "
                 "class loads it", folder, data.get("model_type"))
        return
    raise remote_code_refused(str(folder), sorted(auto_map)[:3])


def remote_code_refused(name: str, classes: Optional[list] = None) -> UserInputError:
    shown = f" ({', '.join(classes)} in config.json's auto_map)" if classes else ""
    return UserInputError(
        f"model '{name}' needs its own Python code{shown}: transformers has no built-in class for it. That code "
        f"runs with your rights (files, network), so this pack runs it only when allowed: in the headless runner "
        f"turn the node's {REMOTE_CODE_OPTION} option on; inside a ComfyUI server its owner must first start "
        f"ComfyUI with {REMOTE_CODE_ENV}=1, then turn {REMOTE_CODE_OPTION} on. Allow it only for a repository you "
        "trust, or choose a model that transformers supports natively"
    )


def check_tokenizer_files(folder: Path) -> None:
    present = [name for name in VOCAB_FILES if (folder / name).is_file()]
    if not present:
        raise UserInputError(
            f"model folder '{folder}' has no tokenizer files (none of tokenizer.json, vocab.txt, vocab.json + "
            "merges.txt, spiece.model, ...); without them every word would be unknown. Save the tokenizer into "
            "the folder (tokenizer.save_pretrained(folder)) or copy its files from the model it was made from"
        )


def check_tokenizer_vocabulary(tokenizer: Any, name: str) -> None:
    """Refuse a tokenizer that knows (almost) nothing but its special tokens."""
    try:
        vocabulary = set(tokenizer.get_vocab())
    except (AttributeError, NotImplementedError):
        return
    words = vocabulary - set(getattr(tokenizer, "all_special_tokens", []))
    if len(words) < _MIN_WORDS:
        raise UserInputError(
            f"the tokenizer of model '{name}' knows only {len(vocabulary)} tokens ({len(words)} besides special "
            "tokens such as [CLS]); its vocabulary files are missing or empty. Save the real tokenizer into the "
            "folder, or copy its files from the model it was made from"
        )


def weight_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.name != "training_state.pt"
                  and not p.name.startswith(("head.", "adapter")))


def short_detail(exc: BaseException, limit: int = 200) -> str:
    """The first line of an error, cut at a word boundary (never mid-word) when long."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " ..."


def read_json(path: Optional[Path], default: Any = None) -> Any:
    """An optional JSON file's content (a saved run's history, a pooling config, an export's info), or `default`
    when it is absent or unreadable: losing such a file must not stop the work; a damaged one is logged."""
    if path is None or not Path(path).is_file():
        return default
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:  # ValueError: invalid JSON or not UTF-8
        log.warning("%s could not be read as JSON (%s); ignored", path, short_detail(exc))
        return default


def local_load_failed(kind: str, folder: Path, exc: Exception) -> UserInputError:
    """The local reason a folder's config, tokenizer or weights did not load."""
    detail = short_detail(exc)
    if "trust_remote_code" in str(exc):
        return remote_code_refused(str(folder))
    if kind == "model weights":
        files = weight_files(folder)
        if not files:
            return UserInputError(
                f"model folder '{folder}' has no weights file (model.safetensors or pytorch_model.bin); copy the "
                "whole folder again, or write it with save_pretrained"
            )
        return UserInputError(
            f"the weights in model folder '{folder}' ({', '.join(files)}) could not be read: the file is damaged "
            f"or incomplete ({detail}). Copy or download the folder again, or write it again with save_pretrained"
        )
    return UserInputError(
        f"the {kind} in model folder '{folder}' could not be read ({detail}); check that the folder was written "
        "by save_pretrained and copied whole, or write it again"
    )
