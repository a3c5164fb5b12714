"""Where a local name given on a node leads, and whether the process may read there.

Inside a ComfyUI server whoever can queue a prompt chooses its values, so every local path a
prompt gives must resolve (symlinks followed) inside the server's own folders; the headless
runner is the user's own process and reads wherever its user can. `PathRules` carries that
difference in: the node layer builds it from ComfyUI's folders (or none outside ComfyUI), and
the functions here apply it without knowing ComfyUI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .errors import UserInputError, closest_names

EXTRA_PATHS_ENV = "HF_TEXT_FINETUNE_EXTRA_PATHS"  # extra allowed root folders, os.pathsep-separated
REMOTE_CODE_ENV = "HF_TEXT_FINETUNE_TRUST_REMOTE_CODE"  # "1": the server's owner allows remote code
Folders = tuple[tuple[str, Path], ...]  # (label shown to users, folder)
_MAX_SHOWN = 6


@dataclass(frozen=True)
class PathRules:
    """`allowed`: the folders local paths must resolve into, or None where any path may be read
    (the headless runner). `remote_code`: whether trust_remote_code may be turned on at all."""

    allowed: Optional[Folders] = None
    remote_code: bool = True

    @property
    def confined(self) -> bool:
        return self.allowed is not None

    def allowed_text(self) -> str:
        return "; ".join(f"{label} ({folder})" for label, folder in self.allowed or ())


ANY_PATH = PathRules()  # the headless runner's rules: any path, remote code when the node allows it


def outermost(folders: Folders) -> Folders:
    """The folders minus those inside an earlier one (a models subfolder needs no line of its own)."""
    kept: list[tuple[str, Path]] = []
    for label, folder in folders:
        real = Path(os.path.realpath(folder))
        if not any(_inside(real, Path(os.path.realpath(other))) for _, other in kept):
            kept.append((label, folder))
    return tuple(kept)


def check_plain_text(value: str, role: str) -> None:
    """A NUL byte cannot be in a file name; some libraries would cut the name there."""
    if "\x00" in (value or ""):
        shown = value.replace("\x00", "\\0")
        raise UserInputError(f"{role} '{shown}' contains a NUL byte (\\0), which no file name can hold; "
                             "type the name again")


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def outside_error(given: str, role: str, rules: PathRules) -> UserInputError:
    return UserInputError(
        f"{role} '{given}' is outside the folders this ComfyUI server reads from: {rules.allowed_text()}. "
        "Put the file or folder into one of them (the dataset node's upload button puts a file into input), "
        f"or, as the server's owner, list more folders in the environment variable {EXTRA_PATHS_ENV} "
        f"(separated by '{os.pathsep}') and restart ComfyUI"
    )


def confine(path: Path, given: str, role: str, rules: PathRules) -> Path:
    """The path itself where anything may be read; else its real location, which must lie inside an
    allowed folder (after `..`, `~` and symlinks are followed)."""
    if not rules.confined:
        return path
    real = Path(os.path.realpath(path))
    if not any(_inside(real, Path(os.path.realpath(root))) for _, root in rules.allowed or ()):
        raise outside_error(given, role, rules)
    return real


def find_local(name: str, folders: Folders) -> Optional[Path]:
    """Where a name given on a node is on disk, or None: an absolute or `~` path as written; a relative
    name in each search folder in turn, then relative to the working directory (as before lists existed)."""
    expanded = Path(os.path.expanduser(name))
    if expanded.is_absolute():
        return expanded if os.path.lexists(expanded) else None
    for _, folder in folders:
        candidate = Path(folder) / name
        if os.path.lexists(candidate):
            return candidate
    return expanded if os.path.lexists(expanded) else None


def _closest(name: str, listed: list[str]) -> Optional[str]:
    """The listed name most like `name`, compared whole and then by file name (`imdb/val.csv` for `val.csv`)."""
    hint = closest_names(name, listed, limit=1)
    if hint:
        return hint[0]
    by_file_name = {os.path.basename(item): item for item in listed}
    hint = closest_names(os.path.basename(name), list(by_file_name), limit=1)
    return by_file_name[hint[0]] if hint else None


def not_found_error(name: str, role: str, folders: Folders, listed: list[str], fix: str) -> UserInputError:
    """One message: the name, every folder searched, and the closest name that is there."""
    searched = "; ".join(f"{label} ({folder})" for label, folder in folders) or "the working directory"
    closest = _closest(name, listed)
    if closest:
        there = f"; the closest there is '{closest}'"
    elif listed:
        more = " ..." if len(listed) > _MAX_SHOWN else ""
        there = f"; there are {', '.join(repr(x) for x in listed[:_MAX_SHOWN])}{more}"
    else:
        there = "; they hold no such files yet"
    return UserInputError(f"{role} '{name}' was not found in {searched}{there}. {fix}")


# --- base models: folders holding config.json under the pack's models folders ----------------------------------

def is_model_folder(folder: Path) -> bool:
    return (Path(folder) / "config.json").is_file()


def find_marked_folders(root: Path, is_marked: Callable[[Path], bool], max_depth: int,
                        follow_links: bool = False) -> list[str]:
    """Relative names of the folders under root that `is_marked` accepts, `max_depth` levels deep; a marked
    folder is not searched further (its own subfolders are its parts, not more choices)."""
    root = Path(root)
    found: list[str] = []
    if not root.is_dir():
        return found
    for dirpath, dirnames, _ in os.walk(root, followlinks=follow_links):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if here != root and is_marked(here):
            found.append(here.relative_to(root).as_posix())
            dirnames[:] = []
        elif len(here.relative_to(root).parts) >= max_depth:
            dirnames[:] = []
    return found


def list_model_folders(folders: Folders, max_depth: int = 2) -> list[str]:
    """Relative names ('my-bert', 'org/model') of every model folder under the search folders, sorted."""
    found: set[str] = set()
    for _, root in folders:
        found.update(find_marked_folders(Path(root), is_model_folder, max_depth, follow_links=True))
    return sorted(found)


# --- remote code ----------------------------------------------------------------------------------------------

def check_remote_code_allowed(trust_remote_code: Optional[bool], model: Optional[str], rules: PathRules) -> None:
    """Inside a server only its owner may allow a prompt to run a model repository's code."""
    if trust_remote_code and not rules.remote_code:
        raise UserInputError(
            f"trust_remote_code is on for model '{model or '?'}', but this ComfyUI server does not allow remote "
            "code: it would download and run the model repository's own Python code with the server's rights "
            "(files, network, other users' data). Turn trust_remote_code off and use a model transformers "
            f"supports natively, or, as the server's owner, start ComfyUI with {REMOTE_CODE_ENV}=1 to allow it"
        )
