"""Shared widget definitions and queue-time checks for the node classes."""

from __future__ import annotations

from typing import Any, Callable

from ..modules.errors import UserInputError

CATEGORY_ROOT = "HF Text Fine-Tune"


def category(part: str) -> str:
    return f"{CATEGORY_ROOT}/{part}"


def learning_rate(default: float, tooltip: str) -> tuple[str, dict[str, Any]]:
    """ComfyUI rounds floats to `step`: a tiny step and no rounding keep 2e-5 as 2e-5."""
    return ("FLOAT", {"default": default, "min": 0.0, "max": 10.0, "step": 1e-6, "round": False,
                      "tooltip": tooltip})


def seed(tooltip: str) -> tuple[str, dict[str, Any]]:
    return ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF, "control_after_generate": True, "tooltip": tooltip})


def validation(*checks: Callable[[], None]) -> Any:
    """Run checks; ComfyUI wants True or the error text (shown at queue time, no traceback)."""
    for check in checks:
        try:
            check()
        except UserInputError as exc:
            return str(exc)
    return True


def at_least(name: str, value: Any, minimum: float, hint: str = "") -> Callable[[], None]:
    def check() -> None:
        if value is not None and value < minimum:
            raise UserInputError(f"{name} {value} must be at least {minimum}{'; ' + hint if hint else ''}")

    return check


def within(name: str, value: Any, low: float, high: float) -> Callable[[], None]:
    def check() -> None:
        if value is not None and not low <= value <= high:
            raise UserInputError(f"{name} {value} must be between {low} and {high}")

    return check
