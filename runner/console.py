"""What the headless runner shows while it works and when it is done.

On a terminal (stderr is a tty): a tqdm bar of the training steps with the epoch, the running
train loss and the time left, and each finished epoch's line above it. Elsewhere (a log file,
CI, a pipe): the log lines (progress every 10% with loss and time left, one line per epoch).
At the end a plain summary: each output node's text, where things were saved, the wall time.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Optional, TextIO

from ..nodes.comfy_services import (add_progress_listener, add_status_listener, remove_progress_listener,
                                    remove_status_listener)

SAVE_NODES = ("PtSaveClassificationModel",)


class ConsoleProgress:
    """A context: while it is open, training progress reaches a tqdm bar (when `bar` is on)."""

    def __init__(self, bar: bool, stream: TextIO = sys.stderr) -> None:
        self.enabled, self.stream = bar, stream
        self.bar: Optional[Any] = None
        self._quieted: list[tuple[logging.Logger, int]] = []

    def __enter__(self) -> "ConsoleProgress":
        if self.enabled:
            add_progress_listener(self.on_progress)
            add_status_listener(self.on_status)
            self._quiet("hf_text_finetune.modules", "hf_text_finetune.nodes", "hf_text_finetune.runner.executor")
        return self

    def __exit__(self, *exc_info) -> None:
        if self.enabled:
            remove_progress_listener(self.on_progress)
            remove_status_listener(self.on_status)
            for logger, level in self._quieted:
                logger.setLevel(level)
        self._close()

    def _quiet(self, *names: str) -> None:
        """The per-step and per-10% info lines say what the bar shows; warnings still come through."""
        for name in names:
            logger = logging.getLogger(name)
            self._quieted.append((logger, logger.level))
            logger.setLevel(logging.WARNING)

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_progress(self, done: int, total: int, preview: Any = None) -> None:
        from tqdm.auto import tqdm

        if self.bar is None or self.bar.total != total or done < self.bar.n:  # a new trainer's run
            self._close()
            self.bar = tqdm(total=total, unit="step", file=self.stream, dynamic_ncols=True, desc="training")
        if done > self.bar.n:
            self.bar.update(done - self.bar.n)

    def on_status(self, status: dict) -> None:
        if self.bar is None:
            return
        if status["event"] == "loss":
            self.bar.set_description(f"epoch {status['epoch']}/{status['epochs']}", refresh=False)
            self.bar.set_postfix(loss=f"{status['train_loss']:.4f}")
        elif status["event"] == "epoch":
            self.bar.write(status["text"].splitlines()[-1], file=self.stream)


def summary(prompt: dict, result: Any, seconds: float) -> str:
    """The plain end of a run: each output node's text (a text shown twice only once), the
    folders saved (Save nodes, checkpoints), the wall time."""
    from .. import NODE_DISPLAY_NAME_MAPPINGS

    lines, shown, saved = ["results:"], {}, []
    for nid, ui in result.ui.items():
        kind = prompt[nid]["class_type"]
        title = prompt[nid].get("_meta", {}).get("title") or kind
        title = NODE_DISPLAY_NAME_MAPPINGS.get(title, title)
        for text in map(str, ui.get("text", [])):
            if text in shown:
                lines.append(f"{title} (node {nid}): as node {shown[text]}")
                continue
            shown[text] = nid
            lines += [f"{title} (node {nid}):"] + [f"  {line}" for line in text.splitlines()]
            saved += [line.split(":", 1)[1].split(" (")[0].strip() + " (checkpoints)"
                      for line in text.splitlines() if line.startswith("checkpoints: ")]
    saved = [f"{result.outputs[nid][0]} ({prompt[nid].get('_meta', {}).get('title', 'saved')}, node {nid})"
             for nid in result.executed if prompt[nid]["class_type"] in SAVE_NODES and result.outputs.get(nid)] + saved
    if saved:
        lines += ["saved:"] + [f"  {folder}" for folder in saved]
    lines.append(f"workflow finished in {seconds:.1f} s")
    return "\n".join(lines)
