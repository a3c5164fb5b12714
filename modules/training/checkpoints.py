"""Checkpoint folders on disk: written atomically, one folder per run, the last few kept,
removed by a Save node once the run's model is saved (`remove_finished_run`).

A run's checkpoints live in `<output>/hf_text_finetune_checkpoints/<model>-<run id>/`,
where the run id is a hash of the workflow's settings (model, data, optimizer, loss,
schedule, seed; not the epoch count or the device), so queueing the same workflow
again finds them. Each checkpoint is a folder named by its position,
`epoch-0002-batch-000150` (2 epochs done, 150 batches of the third), holding
  checkpoint.json       what it is: position, run id, what it must fit (written last)
  weights.safetensors   the network's weights
  best.safetensors      the best epoch's weights (early stopping with restore_best_weights)
  state.pt              optimizer, scheduler, scaler, random generators, sums of the epoch
                        in progress (with its learning rate and time so far), the divergence
                        guard's start, early stopping, history, settings (plain types and
                        tensors: read with weights_only=True)
A checkpoint is written to a hidden temporary folder and renamed into place, so a crash
or a full disk never leaves a half-written checkpoint under a real name and never harms
the previous one; temporary folders a killed process left are removed by the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ..errors import UserInputError

log = logging.getLogger(__name__)

CHECKPOINTS_DIR = "hf_text_finetune_checkpoints"
FORMAT, FORMAT_VERSION = "hf_text_finetune_checkpoint", 1
MANIFEST, WEIGHTS, BEST_WEIGHTS, STATE = "checkpoint.json", "weights.safetensors", "best.safetensors", "state.pt"
TEMP_PREFIX = ".partial-"
NAME = re.compile(r"^epoch-(\d+)-batch-(\d+)$")


def run_id(parts: dict) -> str:
    """12 hex digits naming a run: the same workflow settings, the same id."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def checkpoint_name(epochs_done: int, batches_done: int) -> str:
    return f"epoch-{epochs_done:04d}-batch-{batches_done:06d}"


def position_of(folder: Path) -> Optional[tuple[int, int]]:
    match = NAME.match(folder.name)
    return (int(match[1]), int(match[2])) if match else None


def checkpoints_in(folder: Path) -> list[Path]:
    """Checkpoint folders in a run folder, oldest first (by position)."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and position_of(p) is not None]
    return sorted(found, key=position_of)


@dataclass
class Checkpoint:
    folder: Path
    manifest: dict
    state: dict
    weights: dict
    best_weights: Optional[dict] = None

    @property
    def position(self) -> tuple[int, int]:
        return int(self.manifest["epochs_done"]), int(self.manifest["batches_done"])


def _clone_for_file(tensors: dict) -> dict:
    """CPU, contiguous, unshared copies (safetensors refuses tied weights that share memory)."""
    return {k: v.detach().to("cpu").clone().contiguous() for k, v in tensors.items()}


def _write_files(temp: Path, manifest: dict, state: dict, weights: dict, best: Optional[dict]) -> None:
    from safetensors.torch import save_file

    save_file(_clone_for_file(weights), str(temp / WEIGHTS))
    if best is not None:
        save_file(_clone_for_file(best), str(temp / BEST_WEIGHTS))
    torch.save(state, temp / STATE)
    (temp / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str))  # last: marks it complete
    mode = temp.parent.stat().st_mode & 0o666  # safetensors writes private (0600) files
    for path in temp.iterdir():
        os.chmod(path, mode)


def read_checkpoint(folder: Path) -> Checkpoint:
    """A checkpoint folder read back; UserInputError saying what is wrong when it is damaged."""
    from safetensors.torch import load_file

    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{MANIFEST} is not a checkpoint description")
        if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
            raise ValueError("it was written by a newer version of this node pack; update the pack")
        state = torch.load(folder / STATE, map_location="cpu", weights_only=True)
        weights = load_file(str(folder / WEIGHTS))
        best = load_file(str(folder / BEST_WEIGHTS)) if (folder / BEST_WEIGHTS).is_file() else None
    except Exception as exc:  # missing file, truncated file, bad JSON, unpickling refused
        raise UserInputError(f"checkpoint '{folder}' is damaged or half-written ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from exc
    return Checkpoint(folder, manifest, state, weights, best)


class CheckpointFolder:
    """The folder of one run: write, list, prune. Never writes outside `root`."""

    def __init__(self, root: Path, run_name: str, keep: int = 2) -> None:
        if keep < 1:
            raise UserInputError(f"keep_checkpoints {keep} must be at least 1")
        self.root, self.keep = Path(root), keep
        self.folder = self.root / CHECKPOINTS_DIR / run_name
        self.replace_earlier = False  # set by a fresh run (resume off): its first write removes the old ones

    def remove_temporaries(self) -> None:
        """Half-written folders that a killed process left behind."""
        if not self.folder.is_dir():
            return
        for leftover in self.folder.glob(TEMP_PREFIX + "*"):
            log.info("removing %s, a checkpoint a stopped run did not finish", leftover)
            shutil.rmtree(leftover, ignore_errors=True)

    def checkpoints(self) -> list[Path]:
        return checkpoints_in(self.folder)

    def write(self, manifest: dict, state: dict, weights: dict, best: Optional[dict] = None) -> Path:
        """Write to a temporary folder, then rename into place; a failure leaves the old ones as they were."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / checkpoint_name(manifest["epochs_done"], manifest["batches_done"])
        temp = self.folder / f"{TEMP_PREFIX}{target.name}-{uuid.uuid4().hex[:8]}"
        temp.mkdir()
        try:
            _write_files(temp, manifest, state, weights, best)
            if target.exists():  # the same position again (a Cancel right after a checkpoint)
                shutil.rmtree(target)
            os.rename(temp, target)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        if self.replace_earlier:
            self.replace_earlier = False
            self.prune(protect=target, keep=0)
        return target

    def prune(self, protect: Optional[Path] = None, keep: Optional[int] = None) -> None:
        """Keep the last `keep` checkpoints (the folder's own number when None), and `protect` too."""
        keep = self.keep if keep is None else keep
        found = self.checkpoints()
        for old in found[:max(len(found) - keep, 0)]:
            if protect is None or old != protect:
                shutil.rmtree(old, ignore_errors=True)


def resume_candidates(resume: str, own: CheckpointFolder) -> list[Path]:
    """Checkpoints to try, newest first: this run's own (latest), or those a path names (a checkpoint
    folder or a run folder; any path, read only)."""
    choice = (resume or "off").strip()
    if choice.lower() == "latest":
        found = own.checkpoints()
        if not found:
            raise UserInputError(
                f"resume latest: there is no checkpoint of this run in '{own.folder}' (the same workflow writes "
                "there at the end of every epoch); set resume off to start a new run, or give a checkpoint folder")
        return found[::-1]
    path = Path(os.path.expanduser(choice))
    if not path.is_dir():
        raise UserInputError(f"resume '{choice}' is neither off, latest nor an existing checkpoint folder; "
                             f"checkpoints of this workflow are in '{own.folder}'")
    if position_of(path) is not None or (path / MANIFEST).is_file():
        return [path] + [p for p in checkpoints_in(path.parent) if p != path][::-1]
    found = checkpoints_in(path)
    if not found:
        raise UserInputError(f"resume '{choice}': the folder holds no checkpoint (folders named "
                             "epoch-NNNN-batch-NNNNNN with a checkpoint.json)")
    return found[::-1]


def load_first_readable(candidates: list[Path]) -> Checkpoint:
    """The newest checkpoint that reads back; a damaged one is reported and the one before it used."""
    problems = []
    for folder in candidates:
        try:
            checkpoint = read_checkpoint(folder)
        except UserInputError as exc:
            problems.append(str(exc))
            log.warning("%s; trying the checkpoint before it", exc)
            continue
        if problems:
            log.warning("resuming from the earlier checkpoint %s", folder)
        return checkpoint
    raise UserInputError("; ".join(problems) + ". No readable checkpoint is left: set resume off to start again")


def remove_finished_run(run_folder: Optional[str]) -> list[Path]:
    """After a Save node saved a run's model: that run's checkpoints, and its folder when left empty.
    Only folders this pack wrote for that run (position name, checkpoint.json naming the run) go;
    anything else in the folder (a user's own files) stays."""
    if not run_folder:
        return []
    folder = Path(run_folder)
    if folder.parent.name != CHECKPOINTS_DIR:
        return []
    removed = []
    for path in checkpoints_in(folder):
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, ValueError):
            continue
        if manifest.get("format") == FORMAT and manifest.get("run") == folder.name:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty
    if removed:
        log.info("removed %d checkpoint(s) of the saved run in %s", len(removed), folder)
    return removed
