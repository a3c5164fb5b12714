"""Widget specs that several nodes share, and the glue that turns module rules into queue-time checks.

A widget's name, order, default and range are what saved workflows store: each shared one is
written here once. Ranges that a rule in `modules/` also enforces come from that rule's
constants, so the widget and the check cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Callable

from ..modules.errors import UserInputError
from ..modules.host import DEVICES
from ..modules.model.network import MAX_DROPOUT
from ..modules.precision import PRECISIONS

CATEGORY_ROOT = "HF Text Fine-Tune"
Widget = tuple[Any, dict[str, Any]]

MODEL_NAME_TOOLTIP = ("Hugging Face hub id (distilbert-base-uncased, distilbert/distilbert-base-uncased, "
                      "roberta-base, ...) or a local folder written by save_pretrained. Use the same name "
                      "as on the model node.")


def category(part: str) -> str:
    return f"{CATEGORY_ROOT}/{part}"


def model_name() -> Widget:
    return ("STRING", {"default": "distilbert-base-uncased", "tooltip": MODEL_NAME_TOOLTIP})


def trust_remote_code() -> Widget:
    return ("BOOLEAN", {"default": False,
                        "tooltip": "Run code shipped with the model repository. Only for repositories you trust."})


def device() -> Widget:
    return (list(DEVICES), {"default": "auto", "tooltip": "auto = ComfyUI's device (GPU when there is one)."})


def precision(tooltip: str, choices: tuple[str, ...] = PRECISIONS) -> Widget:
    return (list(choices), {"default": "auto", "tooltip": tooltip})


BACKEND_TOOLTIP = ("auto = whichever of PyTorch and ONNX Runtime measures faster on this host for this model (timed "
                   "once on the first batch; it needs an ONNX export of these weights, made by Pt Export "
                   "Classification Model ONNX, else PyTorch runs). torch = PyTorch. onnxruntime (CPU, optional "
                   "package) = the ONNX export (made once into a cache folder when the model has none); with "
                   "precision int8 its int8 model, made once. Outputs equal PyTorch's within 1e-4 at fp32.")


def backend(tooltip: str = BACKEND_TOOLTIP) -> Widget:
    from ..modules.results.backends import BACKENDS

    return (list(BACKENDS), {"default": "auto", "tooltip": tooltip})


def seed(tooltip: str, control_after_generate: bool = True) -> Widget:
    """ComfyUI's seed widget; `control_after_generate` adds its randomize/increment menu."""
    options: dict[str, Any] = {"default": 0, "min": 0, "max": 0xFFFFFFFF}
    if control_after_generate:
        options["control_after_generate"] = True
    return ("INT", {**options, "tooltip": tooltip})


def learning_rate(default: float, tooltip: str) -> Widget:
    """ComfyUI rounds floats to `step`: a tiny step and no rounding keep 2e-5 as 2e-5."""
    return ("FLOAT", {"default": default, "min": 0.0, "max": 10.0, "step": 1e-6, "round": False,
                      "tooltip": tooltip})


def threshold(tooltip: str) -> Widget:
    return ("FLOAT", {"default": 0.5, "min": 0.01, "max": 0.99, "step": 0.01, "tooltip": tooltip})


def batch_size(tooltip: str) -> Widget:
    return ("INT", {"default": 32, "min": 1, "max": 4096, "tooltip": tooltip})


def dropout(tooltip: str) -> Widget:
    return ("FLOAT", {"default": 0.1, "min": 0.0, "max": MAX_DROPOUT, "step": 0.01, "tooltip": tooltip})


def validation(*checks: Callable[[], Any]) -> Any:
    """Run checks; ComfyUI wants True or the error text (shown at queue time, no traceback).

    A node's VALIDATE_INPUTS gets None for a linked input (its value is known only at run
    time): every module rule it calls skips None."""
    for check in checks:
        try:
            check()
        except UserInputError as exc:
            return str(exc)
    return True


def use_calibrated_threshold() -> Widget:
    return ("BOOLEAN", {"default": True,
                        "tooltip": "When the model was calibrated (Pt Calibrate Classification Model) with a "
                                   "threshold, use that threshold instead of the threshold widget. Off: the "
                                   "widget's threshold decides."})
