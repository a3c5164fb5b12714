"""Free space before a big write, and what a failed write means, in words a user can act on.

Checkpoints and saved folders are hundreds of megabytes. Before writing one, the pack
compares the free space of the target file system with the size it is about to write
(`check_free_space`), so a full disk is reported with the folder, the size needed and the
space free, before anything is written. A write can still fail (another process filled
the disk meanwhile, a quota, a read-only mount): the writers raise different types for the
same cause (OSError, safetensors' SafetensorError, torch.save's RuntimeError "unexpected
pos" or "iostream error"), so `write_failure_cause` turns any of them into one cause.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Iterable

import torch

from .errors import UserInputError

MARGIN_BYTES = 16 * 2**20  # config, tokenizer and JSON files beside the tensors; file system overhead

_CAUSES = (  # (errno, words found in the messages of writers that do not raise OSError, cause)
    (errno.ENOSPC, ("no space left", "os error 28", "unexpected pos", "iostream error", "file write failed"),
     "the disk is full"),
    (errno.EROFS, ("read-only file system", "os error 30"), "the file system is read-only"),
    (errno.EDQUOT, ("quota exceeded", "os error 122"), "the disk quota is exceeded"),
    (errno.EACCES, ("permission denied", "os error 13"), "permission denied"),
    (errno.EPERM, ("operation not permitted", "os error 1)"), "the operation is not permitted"),
)


class NotEnoughSpaceError(UserInputError):
    """The target file system has less free space than the write needs (nothing was written)."""


def megabytes(size: int) -> str:
    return f"{size / 1e6:,.0f} MB" if size >= 1e6 else f"{size / 1e3:,.0f} kB"


def tensor_bytes(value) -> int:
    """Bytes of every tensor in a (nested) state: what saving it writes, give or take headers."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v) for v in value)
    return 0


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under `folder` (0 when it is gone)."""
    total = 0
    for path in Path(folder).rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total


def free_bytes(folder: Path) -> int:
    """Free space (for this user) of the file system that holds `folder` or its nearest existing parent."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def check_free_space(folder: Path, needed: int, what: str, fix: str) -> None:
    """Refuse a write of `needed` bytes (plus a margin) that does not fit in `folder`'s file system."""
    try:
        free = free_bytes(folder)
    except OSError:
        return  # cannot tell (e.g. a path we may not stat): the write itself reports the cause
    if needed + MARGIN_BYTES > free:
        raise NotEnoughSpaceError(f"not enough free space for {what} in {folder}: it needs about {megabytes(needed)} "
                                  f"(and {megabytes(MARGIN_BYTES)} to spare), {megabytes(free)} are free; {fix}")


def _messages(error: BaseException) -> Iterable[str]:
    seen = 0
    while error is not None and seen < 5:
        yield str(error).lower()
        error, seen = error.__cause__ or error.__context__, seen + 1


def write_failure_cause(error: BaseException) -> str:
    """One short cause for a failed write, whatever the writer raised ('the disk is full (...)')."""
    code = getattr(error, "errno", None)
    texts = list(_messages(error))
    for number, words, cause in _CAUSES:
        if code == number or any(word in text for text in texts for word in words):
            return f"{cause} ({os.strerror(number)})"
    detail = texts[0].splitlines()[0][:160] if texts and texts[0] else "no detail"
    return f"{type(error).__name__}: {detail}"

