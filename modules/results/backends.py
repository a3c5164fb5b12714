"""Which backend runs a classifier's inference: PyTorch or ONNX Runtime, at fp32/bf16 or int8.

`backend` torch runs the network (an int8 copy made once for precision int8); onnxruntime runs its ONNX
export on the CPU: the saved folder's `onnx/` when it was exported from these very weights, else an
export made once into the cache folder. `auto` measures both on the first batch where an export is at
hand and keeps the faster one for that model (without an export, or off the CPU, it is torch). The int8
ONNX model is made once beside the fp32 file and reused; nothing is rebuilt per call.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import torch

from ..errors import UserInputError
from ..model.classifier import TextClassifier
from ..model.inference import Batch, Forward, ready_network, torch_forward
from ..precision import Precision, check_inference_precision, choose_precision
from .onnx_export import export_classifier_onnx, quantize_int8
from .onnx_session import (FP32_FILE, INT8_FILE, ONNX_FOLDER, network_digest, onnxruntime_available, open_session,
                           read_info, require_onnxruntime, session_forward)
from .quantized import quantized_network

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime")
CACHE_ENV = "HF_TEXT_FINETUNE_ONNX_CACHE"
_CHOICES: "weakref.WeakKeyDictionary[torch.nn.Module, dict]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Runtime:
    """How inference computes: `precision` (auto, fp32, bf16, fp16, int8) on `backend` (auto, torch,
    onnxruntime). Predict and Evaluate take one where they once took a precision name (which still works:
    a name alone means that precision on torch)."""

    precision: str = "auto"
    backend: str = "torch"

    @classmethod
    def of(cls, choice: "str | Runtime | None") -> "Runtime":
        if isinstance(choice, Runtime):
            return choice
        return cls((choice or "auto").lower())

    def with_precision(self, precision: str) -> "Runtime":
        return replace(self, precision=precision)


def check_backend(backend: Optional[str], device: Optional[str | torch.device] = None,
                  precision: Optional[str] = None) -> None:
    """A known backend that can run where asked (None: linked, known at run time)."""
    if backend is None:
        return
    if backend not in BACKENDS:
        raise UserInputError(f"backend '{backend}' is unknown; use one of {list(BACKENDS)}")
    if backend != "onnxruntime":
        return
    kind = device.type if isinstance(device, torch.device) else (device or "auto").strip().lower().split(":")[0]
    if kind not in ("cpu", "auto"):
        raise UserInputError(f"backend 'onnxruntime' runs on the CPU here, not on device '{kind}'; set device to cpu "
                             "or choose backend torch")
    if (precision or "auto").lower() in ("bf16", "fp16"):
        raise UserInputError(f"backend 'onnxruntime' runs fp32 or int8, not precision '{precision}'; choose "
                             "precision auto, fp32 or int8, or backend torch")
    require_onnxruntime()


def cache_root() -> Path:
    """Where exports of classifiers that have none of their own are kept (one folder per weights digest)."""
    default = Path.home() / ".cache" / "hf-text-finetune" / "onnx"
    return Path(os.environ.get(CACHE_ENV) or default)


def _export_folders(own: Path, digest: str) -> list[Path]:
    return ([own] if own.is_dir() else []) + [cache_root() / digest / ONNX_FOLDER]


def onnx_model_file(model: TextClassifier, int8: bool, export_if_missing: bool) -> Optional[Path]:
    """The ONNX file of these very weights (fp32, or int8 made from it once), exporting into the cache when
    there is none and `export_if_missing`; else None."""
    own = Path(model.model_name) / ONNX_FOLDER
    if not export_if_missing and not own.is_dir() and not cache_root().is_dir():
        return None  # no export can be at hand: the weights need no fingerprint
    digest = network_digest(model.network)
    found = next((f for f in _export_folders(own, digest)
                  if (f / FP32_FILE).is_file() and (read_info(f) or {}).get("weights_digest") == digest), None)
    if found is None:
        if not export_if_missing:
            return None
        log.info("exporting %s to ONNX once (cached in %s)", model.model_name, cache_root() / digest)
        found = export_classifier_onnx(model, cache_root() / digest).folder
    if not int8:
        return found / FP32_FILE
    for folder in (found, cache_root() / digest / ONNX_FOLDER):
        if (folder / INT8_FILE).is_file():
            return folder / INT8_FILE
    target = found if os.access(found, os.W_OK) else cache_root() / digest / ONNX_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    log.info("quantizing %s to int8 once (%s)", found / FP32_FILE, target / INT8_FILE)
    quantize_int8(found / FP32_FILE, target / INT8_FILE)
    return target / INT8_FILE


def _torch(model: TextClassifier, precision: str, device: torch.device) -> Forward:
    if precision == "int8":
        return torch_forward(quantized_network(model.network), torch.device("cpu"), Precision("fp32", "cpu"),
                             "torch int8")
    chosen = choose_precision(precision, device)
    return torch_forward(ready_network(model.network, device), device, chosen, f"torch {chosen.name}")


def _onnx(model: TextClassifier, precision: str, export_if_missing: bool) -> Optional[Forward]:
    path = onnx_model_file(model, precision == "int8", export_if_missing)
    if path is None:
        return None
    return session_forward(open_session(path), f"onnxruntime {'int8' if precision == 'int8' else 'fp32'}")


def _seconds(forward: Forward, batch: Batch) -> float:
    start = time.perf_counter()
    forward(batch)
    return time.perf_counter() - start


def _fastest(candidates: list[Forward], probe: Batch) -> Forward:
    """The candidate with the shortest time on `probe` (each run once to warm up, then twice, interleaved)."""
    for forward in candidates:
        forward(probe)
    times = {f.name: min(_seconds(f, probe) for _ in range(2)) for f in candidates}
    best = min(candidates, key=lambda f: times[f.name])
    log.info("backend auto: %s on this host (%s on a batch of %d texts)", best.name,
             ", ".join(f"{name} {t * 1000:.1f} ms" for name, t in times.items()), len(probe["input_ids"]))
    return best


def inference_forward(model: TextClassifier, runtime: Runtime, device: torch.device,
                      probe: Optional[Batch] = None) -> Forward:
    """The forward pass that runs `model`'s inference: backend torch, onnxruntime, or auto (the faster of the
    two on `probe`, measured once per model, precision and device)."""
    precision, backend = (runtime.precision or "auto").lower(), runtime.backend
    check_inference_precision(precision, device)
    check_backend(backend, device, precision if backend == "onnxruntime" else None)
    if backend == "torch":
        return _torch(model, precision, device)
    if backend == "onnxruntime":
        return _onnx(model, precision, export_if_missing=True)
    # precision auto: PyTorch's choice (bf16 where native) against ONNX Runtime's fp32; bf16/fp16 asked for: PyTorch
    if device.type != "cpu" or precision in ("bf16", "fp16") or probe is None or not onnxruntime_available():
        return _torch(model, precision, device)
    onnx = _onnx(model, precision, export_if_missing=False)
    if onnx is None:
        return _torch(model, precision, device)
    known = _CHOICES.setdefault(model.network, {})
    key = (precision, str(device))
    if key not in known:
        best = _fastest([_torch(model, precision, device), onnx], probe)
        known[key] = best.name
        return best  # the timed one: building torch's again would copy the network once more
    return onnx if known[key] == onnx.name else _torch(model, precision, device)
