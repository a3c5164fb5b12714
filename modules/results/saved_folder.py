"""Where saved classifiers live and what a saved folder holds (see saving.py for the layout).

Saving goes inside an output directory only (`save_parent` refuses a prefix that leads out);
the Load node lists saved folders found under its roots.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import UserInputError
from ..local_paths import find_marked_folders

FORMAT = "hf-text-finetune-classifier"
FORMAT_VERSION = 1
MANIFEST_FILE = "classifier.json"
HEAD_FILE = "head.safetensors"
STATE_FILE = "training_state.pt"
SETTINGS_FILE = "training_settings.json"
HISTORY_FILE = "metrics_history.json"
COUNTER_DIGITS = 5
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


NAME_MAX = 255  # bytes in one file or folder name on common file systems (ext4, APFS, NTFS, ...)
SAVE_NAME_EXTRA = 48  # what saving adds to the last part: '_00001', or '.<name>-<host>-<pid>-<id>.partial'


def _check_name_lengths(prefix: str, parts: list[str]) -> None:
    """A name the file system cannot hold fails at queue time, not after training."""
    limits = [NAME_MAX] * (len(parts) - 1) + [NAME_MAX - SAVE_NAME_EXTRA]
    for part, limit in zip(parts, limits):
        size = len(part.encode("utf-8"))
        if size > limit:
            shown = part if len(part) <= 40 else part[:37] + "..."
            raise UserInputError(
                f"filename_prefix '{shown}' is too long for a folder name ({size} bytes; at most {limit} for this "
                f"part, as folder names hold {NAME_MAX} bytes and saving adds a counter); use a shorter name such as "
                "runs/imdb"
            )


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
    _check_name_lengths(prefix, parts)
    return parts[:-1], parts[-1]


def save_parent(output_dir: Path, prefix: str) -> tuple[Path, str]:
    """The folder that will hold `<stem>_00001`, checked to stay inside `output_dir` (symlinks included)."""
    subfolders, stem = split_prefix(prefix)
    root = Path(output_dir).expanduser().resolve()
    parent = root.joinpath(*subfolders).resolve()
    if parent != root and root not in parent.parents:
        raise UserInputError(f"filename_prefix '{prefix}' leads outside the output directory {root}; use a plain name")
    return parent, stem


def is_saved_classifier(folder: Path) -> bool:
    return (Path(folder) / MANIFEST_FILE).is_file()


def find_saved_classifiers(roots: dict[str, Path], max_depth: int = 3) -> list[str]:
    """'<root label>/<relative path>' for every saved classifier under the roots, newest names last."""
    return sorted(f"{label}/{name}" for label, root in roots.items()
                  for name in find_marked_folders(Path(root), is_saved_classifier, max_depth))


def resolve_saved_choice(choice: str, roots: dict[str, Path]) -> Path:
    """The folder behind a '<root label>/<relative path>' list entry."""
    label, _, rest = (choice or "").partition("/")
    if label not in roots or not rest:
        raise UserInputError(f"saved model '{choice}' is not in the list; refresh the node or give a path")
    return Path(roots[label]) / rest
