"""Mixed precision choice: bf16 autocast where the hardware computes bf16 natively,
fp16 with a gradient scaler on GPUs without bf16, fp32 otherwise. Inference also offers `int8`
on the CPU (checked here, done by modules/results/quantized.py).

Weights stay fp32 (autocast only changes the matmul inputs), so results match fp32
within rounding; `tests/training/test_speed_paths.py` holds that to a stated tolerance.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import ContextManager, Optional

import torch

from .errors import UserInputError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
INFERENCE_PRECISIONS = PRECISIONS + ("int8",)  # Predict and Evaluate: int8 quantizes a copy, no training


_NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bf16 matrix products natively (AVX512-BF16 or AMX), read from the
    CPU flags the kernel publishes. Elsewhere bf16 would be emulated (slower than fp32), so False."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return bool(_NATIVE_BF16_FLAGS & set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return False


@dataclass(frozen=True)
class Precision:
    name: str  # fp32, bf16 or fp16
    device_type: str

    @property
    def dtype(self) -> Optional[torch.dtype]:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    def autocast(self) -> ContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> Optional["torch.amp.GradScaler"]:
        if self.name == "fp16" and self.device_type == "cuda":
            return torch.amp.GradScaler("cuda")
        return None


def choose_precision(choice: str, device: torch.device) -> Precision:
    choice = (choice or "auto").lower()
    if choice not in PRECISIONS:
        raise UserInputError(f"precision '{choice}' is unknown; use one of {list(PRECISIONS)}")
    kind = device.type
    if choice == "auto":
        if kind == "cuda":
            choice = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        elif kind == "cpu":
            choice = "bf16" if cpu_has_native_bf16() else "fp32"
        else:
            choice = "fp32"
    if choice == "fp16" and kind == "cpu":
        raise UserInputError("precision 'fp16' needs a GPU; on the CPU use bf16 or fp32 (or auto)")
    if choice == "bf16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserInputError("precision 'bf16' is not supported by this GPU; use fp16 or auto")
    return Precision(choice, kind)


def check_inference_precision(choice: Optional[str], device: Optional[str | torch.device]) -> None:
    """int8 runs on the CPU only (PyTorch's quantized linear kernels are CPU kernels); `device` is the
    device widget's value or a resolved device, None or "auto" when not known yet."""
    if (choice or "auto").lower() not in INFERENCE_PRECISIONS:
        raise UserInputError(f"precision '{choice}' is unknown; use one of {list(INFERENCE_PRECISIONS)}")
    kind = device.type if isinstance(device, torch.device) else (device or "auto").strip().lower().split(":")[0]
    if (choice or "").lower() == "int8" and kind not in ("cpu", "auto"):
        raise UserInputError(f"precision 'int8' runs on the CPU only, not on device '{kind}'; set device to cpu, "
                             "or choose precision auto on a GPU")
