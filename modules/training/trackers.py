"""The two places a run's numbers can go: TensorBoard event files and a local Trackio store.

Both are optional packages. Each writer is opened through the library's own API
(`torch.utils.tensorboard.SummaryWriter`, `trackio.init`) with the run's settings as
hyperparameters, and offers the same three calls: scalars, an image, close. `open_writer` returns None (and says in one
line how to install the package) when the package is missing, so the run goes on without it.

Continuing a run (a checkpoint or a saved model's training state) writes into the same run:
TensorBoard's `purge_step` hides whatever an earlier process logged at or after the step
the continuation starts from (TensorBoard's reader drops those events), and Trackio, which
cannot delete logged rows, skips the steps it already holds.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

log = logging.getLogger(__name__)

TRACKIO_PROJECT = "hf_text_finetune"
TRACKIO_DIR_ENV = "TRACKIO_DIR"
INSTALL = {"tensorboard": "pip install tensorboard", "trackio": "pip install trackio"}


def hparam_value(value: Any) -> Any:
    """A setting as TensorBoard's hparams plugin accepts it: bool, number or text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return "none" if value is None else json.dumps(value, sort_keys=True, default=str)


def _tensorboard_thread_failure(previous: Callable[[Any], None]) -> Callable[[Any], None]:
    """A `threading.excepthook` that says in one line what TensorBoard's writer thread failed at (a full disk,
    usually) instead of Python's raw traceback. The thread keeps the error and TensorBoard raises it again at
    the run's next write, where Tracker turns tracking off and training goes on. Other threads: `previous`."""

    def hook(args: Any) -> None:
        if type(args.thread).__name__ == "_AsyncWriterThread" and isinstance(args.exc_value, OSError):
            log.warning("TensorBoard could not write its event file (%s); tracking stops, training goes on",
                        args.exc_value)
            return
        previous(args)

    hook.hf_text_finetune = True  # type: ignore[attr-defined]
    return hook


class TensorBoardWriter:
    """Event files in one folder per run; `first_step` > 0 continues the folder's run."""

    def __init__(self, folder: Path, continue_from: Optional[int], settings: dict[str, Any],
                 metrics: list[str]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        if not getattr(threading.excepthook, "hf_text_finetune", False):
            threading.excepthook = _tensorboard_thread_failure(threading.excepthook)
        self.where = folder
        self.writer = SummaryWriter(str(folder), purge_step=continue_from, flush_secs=30)
        if continue_from is None:
            self.hparams(settings, metrics)

    def scalars(self, values: dict[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def hparams(self, values: dict[str, Any], metrics: list[str]) -> None:
        """The settings in the HPARAMS tab (beside this run's scalars of the tags `metrics`), and as text."""
        from torch.utils.tensorboard.summary import hparams

        plain = {k: hparam_value(v) for k, v in values.items()}
        for summary in hparams(plain, {tag: 0.0 for tag in metrics}):
            self.writer.file_writer.add_summary(summary)
        table = "\n".join(f"| {k} | {v} |" for k, v in plain.items())
        self.writer.add_text("settings", "| setting | value |\n| --- | --- |\n" + table, 0)

    def image(self, tag: str, picture: Any, step: int, counts: Optional[list] = None) -> None:
        """A picture, with the numbers it shows (JSON) as text beside it."""
        self.writer.add_image(tag, np.asarray(picture.convert("RGB")), step, dataformats="HWC")
        if counts is not None:
            self.writer.add_text(tag.replace("matrix", "counts"), json.dumps(counts), step)

    def close(self) -> None:
        self.writer.close()


def trackio_folder(root: Path) -> Path:
    """Where Trackio stores: $TRACKIO_DIR when the user set it, else the output folder's logs/trackio.
    Trackio reads it once, when first imported, so it is set before that import."""
    if TRACKIO_DIR_ENV not in os.environ and "trackio" not in sys.modules:
        os.environ[TRACKIO_DIR_ENV] = str(root / "trackio")
    import trackio.utils

    return Path(trackio.utils.TRACKIO_DIR)


class TrackioWriter:
    """A run in the local Trackio project `hf_text_finetune` (no Space, no server: nothing leaves the machine)."""

    def __init__(self, root: Path, name: str, continue_from: Optional[int], settings: dict[str, Any]) -> None:
        folder = trackio_folder(root)
        self.where = f"{folder} (project {TRACKIO_PROJECT}, run {name})"
        import trackio

        self.trackio = trackio
        config = {k: hparam_value(v) for k, v in settings.items()}
        self.run = trackio.init(project=TRACKIO_PROJECT, name=name, config=config, space_id=None, server_url=None,
                                resume="never" if continue_from is None else "allow", embed=False,
                                auto_log_cpu=False, auto_log_gpu=False, capture_console=False)
        self.logged_through = -1 if continue_from is None else self._last_logged_step(name)

    @staticmethod
    def _last_logged_step(name: str) -> int:
        try:
            from trackio.sqlite_storage import SQLiteStorage

            last = SQLiteStorage.get_max_step_for_run(TRACKIO_PROJECT, name)
        except Exception as exc:  # an older or newer store: log everything rather than fail
            log.debug("trackio's last step unknown (%s)", exc)
            return -1
        return -1 if last is None else int(last)

    def scalars(self, values: dict[str, float], step: int) -> None:
        if step > self.logged_through:
            self.run.log(dict(values), step=step)

    def image(self, tag: str, picture: Any, step: int, counts: Optional[list] = None) -> None:
        caption = tag if counts is None else f"{tag}: {json.dumps(counts)}"
        self.run.log({tag: self.trackio.Image(picture, caption=caption)}, step=step)

    def close(self) -> None:
        self.run.finish()


def earlier_runs(kind: str, root: Path) -> list[str]:
    """Names of the runs already logged under `root` (none when the package is missing)."""
    if kind == "tensorboard":
        return [p.name for p in root.iterdir() if p.is_dir() and p.name != "trackio"] if root.is_dir() else []
    try:
        trackio_folder(root)
        from trackio.sqlite_storage import SQLiteStorage

        return [str(name) for name in SQLiteStorage.get_runs(TRACKIO_PROJECT)]
    except Exception as exc:  # missing (open_writer says so) or unreadable: no earlier run to continue
        log.debug("no earlier trackio runs read (%s)", exc)
        return []


def open_writer(kind: str, root: Path, name: str, continue_from: Optional[int], settings: dict[str, Any],
                metrics: list[str]) -> Optional[Any]:
    """The run's writer, or None with one line saying how to install a missing package. `continue_from`:
    the first step a continued run logs (None: a new run); `metrics`: the tags runs are compared by."""
    try:
        if kind == "tensorboard":
            return TensorBoardWriter(root / name, continue_from, settings, metrics)
        return TrackioWriter(root, name, continue_from, settings)
    except ImportError as exc:
        log.warning("tracking %s is off for this run: %s is not installed (%s); install it with `%s`",
                    kind, kind, exc.name or exc, INSTALL[kind])
    except Exception as exc:  # an unwritable folder, a damaged store: training goes on without logs
        log.warning("tracking %s is off for this run: its logs under %s could not be opened (%s)", kind, root, exc)
    return None
