"""ONNX Runtime as an inference backend: the optional import, sessions on an exported classifier, and the
forward pass the one batched routine (model/inference.py) runs.

onnxruntime is an optional extra: without it every ONNX feature says so in one line and the torch
backend goes on. An exported file that ONNX Runtime cannot read is reported with the fix (export again).
Sessions are opened once per file and kept while the process runs.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import weakref
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from ..errors import UserInputError
from ..model.inference import Batch, Forward
from ..model_folders import read_json, short_detail
from ..node_names import EXPORT_NODE

log = logging.getLogger(__name__)

ONNX_FOLDER = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
INFO_FILE = "export.json"
_DIGESTS: "weakref.WeakKeyDictionary[torch.nn.Module, str]" = weakref.WeakKeyDictionary()


def export_hint() -> str:
    return f"export it again with the {EXPORT_NODE} node (or scripts/export_onnx.py)"


def require_onnxruntime(purpose: str = "backend onnxruntime") -> Any:
    """The onnxruntime module, or one clear error: it is an optional extra."""
    try:
        import onnxruntime
    except ImportError:
        raise UserInputError(f"{purpose} needs the optional package onnxruntime, which is not installed; install it "
                             "with `pip install onnxruntime onnx onnxscript`, or use backend torch") from None
    return onnxruntime


def onnxruntime_available() -> bool:
    try:
        require_onnxruntime()
    except UserInputError:
        return False
    return True


def network_digest(network: torch.nn.Module) -> str:
    """A fingerprint of the network's weights (computed once per network): an export on disk is reused only
    for the weights it was made from."""
    known = _DIGESTS.get(network)
    if known is None:
        digest = hashlib.blake2b(digest_size=16)
        for name, tensor in sorted(network.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        known = _DIGESTS[network] = digest.hexdigest()
    return known


def read_info(folder: Path) -> Optional[dict]:
    """onnx/export.json of an export folder, or None when there is none or it is unreadable."""
    return read_json(Path(folder) / INFO_FILE)


def _thread_count() -> int:
    return max(1, torch.get_num_threads())


@functools.lru_cache(maxsize=16)
def _cached_session(path: str, stamp: int, threads: int) -> Any:
    ort = require_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # idle ONNX Runtime threads would spin and take the cores from PyTorch and everything else in the process
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime raises its own Fail/InvalidProtobuf/InvalidGraph types
        raise UserInputError(f"ONNX Runtime cannot read '{path}' ({short_detail(exc)}): the file is damaged or incomplete; "
                             f"{export_hint()}") from None


def open_session(path: Path) -> Any:
    """An ONNX Runtime CPU session on `path`, opened once per file version (its modification time) and thread
    count; a missing or damaged file is a clear error offering the re-export."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"there is no ONNX model at '{path}'; {export_hint()}")
    return _cached_session(str(path), os.stat(path).st_mtime_ns, _thread_count())


def _filled(batch: Batch, key: str, ids: np.ndarray) -> np.ndarray:
    """A batch's input, or what it stands for when left out: no attention mask = nothing padded (ones), no
    token type ids = one text (zeros)."""
    if key in batch:
        return np.ascontiguousarray(batch[key].numpy(), dtype=np.int64)
    return np.ones_like(ids) if key == "attention_mask" else np.zeros_like(ids)


def session_forward(session: Any, name: str = "onnxruntime") -> Forward:
    """ONNX Runtime's forward on the CPU: the session's inputs taken from the batch as int64 arrays."""
    wanted = [i.name for i in session.get_inputs()]

    def run(batch: Batch) -> torch.Tensor:
        ids = np.ascontiguousarray(batch["input_ids"].numpy(), dtype=np.int64)
        feeds = {k: ids if k == "input_ids" else _filled(batch, k, ids) for k in wanted}
        return torch.from_numpy(session.run(["logits"], feeds)[0]).float()

    return Forward(run, torch.device("cpu"), name)
