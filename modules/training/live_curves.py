"""The live loss/accuracy plot a trainer shows as its progress-bar preview.

Drawing costs a few hundred milliseconds, so the trainer only records numbers it
already has on the host (the windowed train loss at its logging steps, the metrics
of each finished epoch) and a picture is drawn at most every `interval_s` seconds,
and only for hosts that show previews (ComfyUI): the host draws it
(`RuntimeHooks.training_preview`), so training needs no plotting code.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Optional

from ..host import RuntimeHooks

log = logging.getLogger(__name__)


class LiveCurves:
    def __init__(self, hooks: RuntimeHooks, interval_s: float = 10.0, title: str = "") -> None:
        self.hooks = hooks
        self.enabled = hooks.wants_previews and interval_s > 0
        self.interval_s = interval_s
        self.title = title
        self.step_losses: list[tuple[float, float]] = []
        self.epochs: list[dict] = []
        self._last_draw = time.monotonic()
        self._pending = False

    def add_step_loss(self, epoch_position: float, loss: float) -> None:
        """Train loss over the last logging window, at a fractional epoch (1.5 = mid epoch 2)."""
        self.step_losses.append((epoch_position, loss))
        self._pending = True

    def add_epoch(self, metrics: dict) -> None:
        self.epochs.append(metrics)
        self._pending = True

    def preview(self, force: bool = False) -> Optional[Any]:
        """A fresh PIL image when new numbers came in and the interval has passed, else None."""
        if not self.enabled or not self._pending:
            return None
        now = time.monotonic()
        if not force and now - self._last_draw < self.interval_s:
            return None
        self._last_draw, self._pending = now, False
        try:
            return self.hooks.training_preview(self.epochs, self.step_losses, self.title)
        except Exception as exc:  # a preview must never stop training
            log.warning("live training plot disabled: %s", exc)
            self.enabled = False
            return None
