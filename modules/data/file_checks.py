"""Check a local data file before `datasets` reads it, so a bad file fails with its real cause.

`datasets` reports most damage as "An error occurred while generating the dataset", and
pandas reads an unbalanced quote as one long text that swallows the rows after it. Here
each csv/tsv/json/jsonl file is read once with Python's own parsers: an empty file, bytes
that are not UTF-8, a record with the wrong number of fields, a stray quote, a delimiter
other than the suffix's, truncated JSON and a bad JSON line are refused with the line and
the fix. The file's record start lines are kept (per path, size and mtime) so that later
messages can name rows by the line a user sees in an editor.
"""

from __future__ import annotations

import csv
import io
import json
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import UserInputError

_DELIMITERS = {".csv": ",", ".tsv": "\t"}
_DELIMITER_NAMES = {",": "commas", "\t": "tabs", ";": "semicolons", "|": "pipes"}
_SUFFIX_FOR = {",": ".csv", "\t": ".tsv"}
_LAYOUTS: dict[tuple, "FileLayout"] = {}


@dataclass(frozen=True)
class FileLayout:
    """Where each data row of a checked file starts (1-based file lines), for row messages."""

    path: str
    row_lines: array  # row i of the file's data starts at line row_lines[i]

    def line_of(self, row: int) -> Optional[int]:
        return int(self.row_lines[row]) if 0 <= row < len(self.row_lines) else None


def _read_text(path: Path, name: str) -> str:
    raw = path.read_bytes()
    if not raw.strip():
        raise UserInputError(
            f"dataset file '{name}' is empty ({len(raw)} bytes); give a file with a header and rows, e.g. text,label"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UserInputError(
            f"dataset file '{name}' is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); open it in an "
            "editor or spreadsheet and save it as UTF-8 (\"CSV UTF-8\" in Excel)"
        ) from None


def _other_delimiter(header: str, expected: str) -> Optional[str]:
    counts = {d: header.count(d) for d in _DELIMITER_NAMES if d != expected}
    best = max(counts, key=counts.get)
    return best if counts[best] else None


def _check_header(fields: list[str], first_line: str, name: str, suffix: str, expected: str) -> None:
    if len(fields) > 1:
        return
    other = _other_delimiter(first_line, expected)
    if other is None:
        return  # a one-column file: the missing label column is reported with the columns
    fix = (f"rename it to {_SUFFIX_FOR[other]}" if other in _SUFFIX_FOR
           else f"save it with {_DELIMITER_NAMES[expected]} as the separator")
    raise UserInputError(
        f"dataset file '{name}' looks separated by {_DELIMITER_NAMES[other]}, but {suffix} files are read with "
        f"{_DELIMITER_NAMES[expected]} (its header line is read as one column '{first_line[:60]}'); {fix}"
    )


def _check_delimited(text: str, name: str, suffix: str) -> array:
    delimiter = _DELIMITERS[suffix]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    starts = array("l")
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))  # a cell as long as the file is valid (Python's default: 128 KiB)
    try:
        header = next(reader)
        _check_header(header, text.splitlines()[0], name, suffix, delimiter)
        start = reader.line_num + 1
        for record in reader:
            if record and len(record) != len(header):
                raise UserInputError(
                    f"dataset file '{name}' line {start} has {len(record)} fields but the header has {len(header)} "
                    f"({', '.join(header)[:80]}); put quotes around texts that contain "
                    f"{_DELIMITER_NAMES[delimiter][:-1]}s, e.g. \"great, really\",1"
                )
            if record:
                starts.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise UserInputError(
            f"dataset file '{name}' has an unbalanced quote in the record starting at line {start} ({exc}); a text "
            "with quotes must be wrapped in quotes with each inner quote doubled, e.g. \"a \"\"great\"\" film\",1"
        ) from None
    finally:
        csv.field_size_limit(limit)
    return starts


def _json_error(name: str, exc: json.JSONDecodeError, line: Optional[int] = None, text: str = "") -> UserInputError:
    where = f"line {line}" if line is not None else f"line {exc.lineno} column {exc.colno}"
    truncated = line is None and exc.pos >= len(text.rstrip()) - 1
    cause = "it ends in the middle of the data (truncated?)" if truncated else exc.msg
    return UserInputError(
        f"dataset file '{name}' is not valid JSON at {where}: {cause}; fix that line, or write the file again "
        "(.jsonl: one JSON object per line; .json: a list of objects)"
    )


def _check_json_lines(text: str, name: str) -> array:
    starts = array("l")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _json_error(name, exc, number) from None
        if not isinstance(record, dict):
            raise UserInputError(
                f"dataset file '{name}' line {number} holds a JSON {type(record).__name__}, not an object; write "
                'one object per line, e.g. {"text": "a fine film", "label": 1}'
            )
        starts.append(number)
    return starts


def _check_json(text: str, name: str) -> array:
    try:
        json.loads(text)
        return array("l")
    except json.JSONDecodeError as exc:
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        try:
            one_line = isinstance(json.loads(first), dict)
        except json.JSONDecodeError:
            one_line = False
        if one_line:  # JSON lines in a .json file, as `datasets` accepts
            return _check_json_lines(text, name)
        raise _json_error(name, exc, text=text) from None


def check_data_file(path: Path, name: str) -> Optional[FileLayout]:
    """Refuse a damaged csv/tsv/json/jsonl file with its cause and line; other types pass unread."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".json", ".jsonl"):
        if path.stat().st_size == 0:
            raise UserInputError(f"dataset file '{name}' is empty (0 bytes); give a file that has rows")
        return None
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _LAYOUTS:
        return _LAYOUTS[key]
    text = _read_text(path, name)
    if suffix in _DELIMITERS:
        starts = _check_delimited(text, name, suffix)
    elif suffix == ".jsonl":
        starts = _check_json_lines(text, name)
    else:
        starts = _check_json(text, name)
    layout = FileLayout(key[0], starts)
    _LAYOUTS.clear()  # keep one file's line table at a time; it is only used right after loading
    _LAYOUTS[key] = layout
    return layout


def layout_for(name: str) -> Optional[FileLayout]:
    """The line table of the local file `name` checked last, if it is that file."""
    try:
        resolved = str(Path(name).expanduser().resolve())
    except OSError:
        return None
    return next((layout for key, layout in _LAYOUTS.items() if key[0] == resolved), None)
