"""Data files a user keeps locally: listing them for the dataset node and finding the one a name means.

Inside ComfyUI a bare name such as `reviews.csv` or `imdb/train.csv` is looked up in the input
folder (where the browser uploads go) and the `datasets` folder where ComfyUI has one; in the
headless runner, in the working directory. A name that reads as a file but is found nowhere gets
one message naming every folder searched and the closest name there; anything else is a hub id.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..errors import UserInputError
from ..local_paths import ANY_PATH, Folders, PathRules, check_plain_text, confine, find_local, not_found_error

# the `datasets` builder that reads each data file type (sources._load); a name ending so is never a hub id
FILE_BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet", ".txt": "text"}
DATA_FILE_SUFFIXES = tuple(FILE_BUILDERS)
SAVED_MARKERS = ("dataset_dict.json", "state.json")  # what save_to_disk writes at a folder's top
_MAX_DEPTH = 4
_MAX_LISTED = 5000
_MAX_FOLDERS = 2000  # folders visited per search folder: a huge working directory must not stall a list
ROLE = "dataset file or folder"
FIX = ("Pick a file from the node's list, upload one with its upload button, or give a hub dataset id such as "
       "stanfordnlp/imdb")


def working_directory() -> Folders:
    return (("the working directory", Path(os.getcwd())),)


def listing_depth(rules: PathRules) -> int:
    """How deep the file list looks: ComfyUI's input folder 4 levels; headless the working directory only 2
    (it can be a home folder, and the runner asks for the list on every check)."""
    return _MAX_DEPTH if rules.confined else 2


def is_saved_dataset(folder: Path) -> bool:
    return any((Path(folder) / marker).is_file() for marker in SAVED_MARKERS)


def _walk(root: Path, found: list[str], max_depth: int) -> None:
    for visited, (dirpath, dirnames, filenames) in enumerate(os.walk(root)):
        if visited >= _MAX_FOLDERS:
            return
        here = Path(dirpath)
        relative = here.relative_to(root)
        if here != root and is_saved_dataset(here):
            found.append(relative.as_posix())
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if len(relative.parts) >= max_depth - 1:
            dirnames[:] = []
        found.extend((relative / name).as_posix() for name in sorted(filenames)
                     if not name.startswith(".") and Path(name).suffix.lower() in DATA_FILE_SUFFIXES)
        if len(found) >= _MAX_LISTED:
            return


def list_data_files(folders: Folders, max_depth: int = _MAX_DEPTH) -> list[str]:
    """Relative names of the data files and save_to_disk folders under the folders, `max_depth` levels deep
    (1: the folder itself), the first folder's first where two hold the same name."""
    names: list[str] = []
    for _, folder in folders:
        if Path(folder).is_dir():
            found: list[str] = []
            _walk(Path(folder), found, max_depth)
            names.extend(name for name in found if name not in names)
    return sorted(names[:_MAX_LISTED], key=str.lower)


def reads_as_path(name: str) -> bool:
    """Absolute, ./ ../ ~, or a data file suffix: the user means a local file, never a hub id."""
    return (os.path.isabs(name) or name.startswith((".", "~"))
            or Path(name).suffix.lower() in DATA_FILE_SUFFIXES)


def resolve_dataset_name(name: Optional[str], folders: Folders, rules: PathRules = ANY_PATH) -> Optional[str]:
    """The local file or folder a name means (its real path where paths are confined), or the hub id
    unchanged; None stays None (a linked input, known at run time)."""
    if name is None:
        return None
    text = name.strip()
    check_plain_text(text, ROLE)
    if not text:
        raise UserInputError("dataset name is empty; give a hub dataset id such as stanfordnlp/imdb or a local file")
    if text.rstrip("/\\") in (".", ".."):
        raise UserInputError(f"dataset name '{text}' is a folder of the process (or the server), not a dataset; "
                             "give the path of a data file or of a folder that holds only data files, e.g. "
                             "reviews.csv, or a hub id such as stanfordnlp/imdb")
    found = find_local(text, folders)
    if found is not None:
        return str(confine(found, text, ROLE, rules))
    if reads_as_path(text):
        expanded = Path(os.path.expanduser(text))
        if expanded.is_absolute():  # searched only where it points; outside the allowed folders: say so first
            confine(expanded, text, ROLE, rules)
            folders = (("its folder", expanded.parent),)
        listed = list_data_files(folders, listing_depth(rules))
        raise not_found_error(text, ROLE, folders, listed, FIX)
    return text
