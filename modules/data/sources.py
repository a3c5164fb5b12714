"""Find a text dataset split wherever the user keeps it: the hub, a file or a saved folder.

Accepted `name` values: a hub id (`stanfordnlp/imdb`, `imdb`, `nyu-mll/glue` with
subset `sst2`), a local csv/tsv/json/jsonl/parquet/txt file, a folder written by
`save_to_disk`, or a folder of data files. `split` takes the `datasets` slice
syntax (`train[:2000]`, `test[10%:20%]`) everywhere, including saved folders.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Optional

from ..errors import UserInputError, closest_names
from .file_checks import check_data_file
from .local_files import FILE_BUILDERS, is_saved_dataset, resolve_dataset_name, working_directory

log = logging.getLogger(__name__)

_SPLIT_SPEC = re.compile(r"^[\w.\-]+(\[[^\]]*\])?(\s*\+\s*[\w.\-]+(\[[^\]]*\])?)*$")


def check_dataset_name(name: Optional[str]) -> Optional[str]:
    """A name must be given, and a name that reads as a path (absolute, ./ ../ ~/, or a data file
    suffix) must exist; anything else is a hub id, checked when loading (None: linked). Returns the
    local path found (from the working directory) or the hub id."""
    return resolve_dataset_name(name, working_directory())


def check_field_names(text_field: Optional[str], label_field: Optional[str]) -> None:
    """Both column names given (None: linked); whether the columns exist is known once loaded."""
    for role, value in (("text_field", text_field), ("label_field", label_field)):
        if value is not None and not value.strip():
            raise UserInputError(f"{role} is empty; give the name of a column of the dataset")


def check_split_spec(split: str) -> str:
    split = (split or "").strip()
    if not split:
        raise UserInputError("split is empty; give a split name such as train, test or train[:2000]")
    if not _SPLIT_SPEC.match(split):
        raise UserInputError(
            f"split '{split}' is not a split name or slice; examples: train, test, train[:2000], train[10%:20%]"
        )
    return split


def _split_base_names(split: str) -> list[str]:
    return [part.split("[")[0].strip() for part in split.split("+")]


def _unknown_split(name: str, split: str, available: list[str]) -> UserInputError:
    missing = [s for s in _split_base_names(split) if s not in available]
    shown = missing[0] if missing else split
    hint = closest_names(shown, available)
    extra = f" (did you mean {hint[0]}?)" if hint else ""
    return UserInputError(
        f"split '{shown}' was not found in dataset '{name}'; it has the splits {available}{extra}"
    )


def _split_names_from_error(message: str) -> list[str]:
    match = re.search(r"Should be one of \[(.*?)\]", message)
    if not match:
        return []
    return [s.strip().strip("'\"") for s in match.group(1).split(",") if s.strip()]


def _slice_saved(dataset_dict: Any, name: str, split: str) -> Any:
    """Apply `train[:100]`-style specs to a DatasetDict loaded with load_from_disk."""
    import datasets

    available = list(dataset_dict.keys())
    if any(base not in available for base in _split_base_names(split)):
        raise _unknown_split(name, split, available)
    instruction = datasets.ReadInstruction.from_spec(split)
    parts = []
    for absolute in instruction.to_absolute({k: len(v) for k, v in dataset_dict.items()}):
        parts.append(dataset_dict[absolute.splitname].select(range(absolute.from_, absolute.to)))
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def _load_saved_folder(path: Path, name: str, split: str) -> Any:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"train": loaded})
    return _slice_saved(loaded, name, split)


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    return exc


def _unreadable(name: str, exc: BaseException) -> UserInputError:
    cause = _root_cause(exc)
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return UserInputError(
        f"dataset '{name}' could not be read: {text[:300]}. Check that the file is a well-formed csv/tsv/json/jsonl/"
        "parquet file saved as UTF-8 whose rows all have the same columns (mixed types in one column, such as "
        "numbers and texts in a JSON field, also fail: quote them all as text)"
    )


def _load(path: Path, name: str, split: str, subset: Optional[str]) -> Any:
    import datasets

    if path.is_dir() and is_saved_dataset(path):
        return _load_saved_folder(path, name, split)
    if path.is_file():
        builder = FILE_BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise UserInputError(
                f"dataset file '{name}' has an unsupported type '{path.suffix}'; "
                f"use one of {sorted(FILE_BUILDERS)} or a folder written by save_to_disk"
            )
        check_data_file(path, name)
        extra = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
        return datasets.load_dataset(builder, data_files={"train": str(path)}, split=split, **extra)
    if path.is_dir():
        return datasets.load_dataset(str(path), subset, split=split)
    return datasets.load_dataset(name, subset, split=split)


def check_one_type_per_column(dataset: Any, name: str) -> Any:
    """A JSON column whose rows mix types (1 and "neg") loads as datasets' generic Json type, which every
    later step fails on; say which column and which types, with the fix."""
    for column, feature in getattr(dataset, "features", {}).items():
        if type(feature).__name__ != "Json":
            continue
        values = dataset[column]
        kinds = sorted({type(v).__name__ for v in values})
        examples = {type(v).__name__: v for v in values}
        shown = ", ".join(f"{examples[k]!r} ({k})" for k in kinds[:4])
        raise UserInputError(
            f"column '{column}' of dataset '{name}' mixes value types: {shown}; give every row the same type, e.g. "
            f"all label names in quotes (\"neg\", \"pos\") or all numbers (0, 1)"
        )
    return dataset


def _columns_differ(name: str, exc: BaseException) -> Optional[UserInputError]:
    """datasets' "Couldn't cast" for a folder whose files have different columns, in one sentence."""
    text = str(exc)
    columns = re.search(r"new columns \((\{.*?\})\) and \d+ missing columns \((\{.*?\})\)", text)
    if "must have the same columns" not in text and not columns:
        return None
    odd = re.search(r"using\s+(\S+?),", text)
    detail = (f": {Path(odd[1]).name if odd else 'one file'} has the columns {columns[1]} where the others have "
              f"{columns[2]}") if columns else ""
    return UserInputError(f"the data files in folder '{name}' do not all have the same columns{detail}; keep files of "
                          "one layout in the folder (rename the columns to match), or give a single file")


def load_split(name: str, split: str, subset: str = "") -> Any:
    """One split (or slice) of a dataset as a `datasets.Dataset`, with clear errors."""
    name = (name or "").strip()
    subset = (subset or "").strip() or None
    split = check_split_spec(split)
    path = Path(check_dataset_name(name))
    try:
        return check_one_type_per_column(_load(path, name, split, subset), name)
    except UserInputError:
        raise
    except ValueError as exc:
        message = str(exc)
        if "corresponds to no data" in message:  # an empty file, or a slice such as train[:0]
            raise UserInputError(
                f"dataset '{name}' split '{split}' is empty; choose a split or slice that has rows"
            ) from exc
        if "Unknown split" in message or "Bad split" in message:
            raise _unknown_split(name, split, _split_names_from_error(message)) from exc
        if "Config name is missing" in message or "BuilderConfig" in message:
            raise UserInputError(
                f"dataset '{name}' needs a subset (config) and '{subset or ''}' is not one of them: {message.splitlines()[0]}"
            ) from exc
        if path.is_file():
            raise _unreadable(name, exc) from exc
        raise UserInputError(f"dataset '{name}' (split '{split}') could not be loaded: {message.splitlines()[0]}") from exc
    except (FileNotFoundError, ConnectionError, OSError) as exc:
        if path.exists():
            raise _unreadable(name, exc) from exc
        raise UserInputError(
            f"dataset '{name}' was not found: it is not a local file or folder, and the Hugging Face hub did not "
            "provide it (unknown id, no network, or not cached). Check the spelling (e.g. stanfordnlp/imdb) or give "
            f"a local csv/json/parquet file. Details: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from exc
    except Exception as exc:  # datasets wraps parser errors as "An error occurred while generating the dataset"
        differ = _columns_differ(name, exc) if path.is_dir() else None
        if differ is not None:
            raise differ from exc
        if type(exc).__name__ in ("DatasetGenerationError", "ArrowInvalid", "ArrowTypeError", "ParserError"):
            raise _unreadable(name, exc) from exc
        raise
