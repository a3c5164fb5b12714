"""Batch size auto: on out of memory, halve the training batch size and start the run again.

The pattern of accelerate's `find_executable_batch_size`: try the loader's batch size; when the
device runs out of memory, free it (the trainer already does) and try half, down to 1. Each try is
a whole new run (a fresh copy of the model, the same seed), so the result is exactly that of a run
queued at the batch size that fits. The batch size is part of a run's identity, so each try has its
own checkpoint folder, and a retry starts afresh (resume off): the checkpoints asked for were of the
larger batch. One process only: under torchrun the rank that ran out would leave the others
waiting, so there the error stops the run as usual.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable

from ..data.batching import TextDataLoader
from .distributed import from_environment
from .gpu_memory import DeviceOutOfMemoryError
from .settings import TrainResult, TrainSettings

log = logging.getLogger(__name__)

TrainOnce = Callable[[TextDataLoader, TrainSettings], TrainResult]


def train_halving_batch_size(train_once: TrainOnce, train_loader: TextDataLoader,
                             settings: TrainSettings) -> TrainResult:
    """`train_once(loader, settings)`, again at half the batch size after each out-of-memory error
    when `settings.auto_batch_size` is on; the node's text says which sizes did not fit."""
    loader, too_big = train_loader, []
    while True:
        try:
            result = train_once(loader, settings)
        except DeviceOutOfMemoryError:
            if not settings.auto_batch_size or loader.batch_size <= 1 or from_environment().active:
                raise
            too_big.append(loader.batch_size)
            loader = replace(loader, batch_size=loader.batch_size // 2)
            settings = replace(settings, resume="off")
            log.warning("batch_size auto: out of memory at batch_size %d, starting again at %d",
                        too_big[-1], loader.batch_size)
            continue
        if too_big:
            result.notes.append(f"batch_size auto: {', '.join(map(str, too_big))} ran out of memory; "
                                f"trained at batch_size {loader.batch_size}")
        return result
