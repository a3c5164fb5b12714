"""The services a long-running job needs from its host, with a no-op default.

ComfyUI provides a progress bar with previews, a Cancel button, a preferred device and
memory management; a plain Python process provides none of them. Modules call these
hooks and never import ComfyUI: the node layer passes its adapter (`nodes/comfy_services.py`).
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import torch

from .errors import UserInputError

log = logging.getLogger(__name__)


class RuntimeHooks:
    """Default hooks: no progress shown, never interrupted, the best local device, no previews."""

    wants_previews = False  # hosts that show progress-bar previews (ComfyUI) get the live training plot

    def progress(self, done: int, total: int, preview: Optional[Any] = None) -> None:
        """Called after every optimizer step; `preview` is an optional PIL image."""

    def training_update(self, epoch: int, epochs: int, train_loss: float) -> None:
        """The epoch's running train loss, each time the loop reads it back (every `log_every` steps):
        a console's progress bar shows it."""

    def epoch_finished(self, text: str) -> None:
        """After every epoch: the metrics text so far, as the trainer node shows it when it ends, so a
        host can fill in the node's text while it trains."""

    def check_interrupted(self) -> None:
        """Raise the host's interrupt exception when the user pressed Cancel."""

    def preferred_device(self) -> torch.device:
        return best_local_device()

    def prepare_for_training(self, device: torch.device, bytes_needed: int = 0) -> None:
        """Free memory held by the host's other models before a run: `bytes_needed` of it (0: all
        the host can spare)."""

    def training_preview(self, epochs: list[dict], step_losses: list[tuple[float, float]],
                         title: str) -> Optional[Any]:
        """A picture of the curves so far (a PIL image), for hosts with `wants_previews`."""
        return None


def best_local_device() -> torch.device:
    """CUDA, then Apple MPS, then CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


DEVICES = ("auto", "cpu", "cuda", "mps")


def check_device_name(choice: Optional[str]) -> Optional[torch.device]:
    """The device a widget value names (None for auto), or an error naming the value; at queue time too."""
    choice = (choice or "auto").strip().lower()
    if choice == "auto":
        return None
    try:
        return torch.device(choice)
    except RuntimeError as exc:
        raise UserInputError(
            f"device '{choice}' is not a device name; use auto, cpu, cuda, cuda:N or mps"
        ) from exc


def resolve_device(choice: str, hooks: RuntimeHooks) -> torch.device:
    """Turn a device widget value ('auto', 'cpu', 'cuda', 'cuda:1', 'mps') into a device."""
    choice = (choice or "auto").strip().lower()
    if choice == "auto":
        return hooks.preferred_device()
    device = check_device_name(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserInputError(f"device '{choice}' was chosen but this machine has no CUDA GPU; use auto or cpu")
    if device.type == "mps" and not best_local_device().type == "mps":
        raise UserInputError(f"device '{choice}' was chosen but MPS is not available here; use auto or cpu")
    return device
