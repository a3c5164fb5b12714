"""SIGTERM (a reclaimed cloud instance, Slurm, `docker stop`, torchrun's agent) ends a run cleanly.

The headless runner installs the handler for its lifetime (`stop_on_sigterm`). While a
training runs (`training_scope`), the handler only records the request: the loop stops
after the batch under way, at a clean point, where the usual Cancel path writes a
checkpoint (under torchrun every rank agrees first, so all stop after the same batch and
rank 0 writes). Outside training nothing is in memory that a checkpoint would keep, so
the handler stops at once, and a second SIGTERM always does. Either way `Terminated`
propagates, and the runner exits with 143 (128 + SIGTERM) and one line saying what was kept.

Inside a ComfyUI server nothing is installed: nodes run in a worker thread (Python lets
only the main thread set handlers) and the server's own shutdown stays as it is; the
end-of-epoch and every-N-minutes checkpoints are what a killed server leaves to resume.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from typing import Iterator

log = logging.getLogger(__name__)

EXIT_CODE = 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM asked the process to end (a BaseException, like KeyboardInterrupt: nothing may swallow it)."""


_state = {"installed": False, "requested": False, "training": 0}


def _on_sigterm(signum, frame) -> None:
    if _state["requested"] or not _state["training"]:
        raise Terminated("stopped by SIGTERM")
    _state["requested"] = True
    log.warning("SIGTERM received: finishing the batch under way, writing a checkpoint, then stopping")


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM raises `Terminated` at a clean point while this is open (main thread only; else nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    _state.update(installed=True, requested=False)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _state.update(installed=False, requested=False)


@contextlib.contextmanager
def training_scope() -> Iterator[None]:
    """While training runs, a SIGTERM waits for the end of the batch under way."""
    _state["training"] += 1
    try:
        yield
    finally:
        _state["training"] -= 1


def watching() -> bool:
    """True when a handler is installed (the same on every rank: they run the same entry point)."""
    return _state["installed"]


def requested() -> bool:
    return _state["requested"]
