"""The one batched inference routine: Predict, Evaluate, the classify node and the trainers' validation
pass all run their batches through `batched_logits`.

A backend is a `Forward`: a padded batch of token tensors in, float32 logits out. `torch_forward` is
PyTorch's (device, autocast precision); ONNX Runtime's lives in results/onnx_session.py. Batches come
longest first (rows of similar length share one, so little is computed on padding) and the caller puts
rows back in order. A network a node was given is never moved, switched to eval mode or changed:
`ready_network` hands back the network itself where it already fits, else a copy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional

import numpy as np
import torch
from torch import nn

from ..data.batching import pad_batch
from ..precision import Precision

Batch = dict[str, torch.Tensor]
LABELS = "labels"


@dataclass
class Forward:
    """One backend's forward pass: `run(batch)` gives float32 logits (on `device`) of a batch of token tensors
    (input_ids, attention_mask, token_type_ids where the model reads them). `name` says which backend ran."""

    run: Callable[[Batch], torch.Tensor]
    device: torch.device
    name: str

    def __call__(self, batch: Batch) -> torch.Tensor:
        return self.run(batch)


def ready_network(network: nn.Module, device: torch.device) -> nn.Module:
    """`network` ready for inference on `device` without changing it: itself when it is there and in eval mode,
    else an eval-mode copy there (the cached input keeps its device, mode and weights)."""
    home = next(network.parameters()).device
    if home == device and not network.training:
        return network
    with torch.inference_mode(False), torch.no_grad():
        return copy.deepcopy(network).eval().to(device)


def torch_forward(network: nn.Module, device: torch.device, precision: Precision, name: str = "torch") -> Forward:
    """PyTorch's forward on `device` under `precision`'s autocast; the caller made `network` ready."""

    def run(batch: Batch) -> torch.Tensor:
        inputs = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k != LABELS}
        with torch.no_grad(), precision.autocast():
            return network(**inputs).float()

    return Forward(run, device, name)


def length_sorted_batches(rows: list[dict], pad_id: int, batch_size: int) -> Iterator[tuple[list[int], Batch]]:
    """(row numbers, padded batch), longest rows first: rows of similar length share a batch."""
    order = np.argsort([-len(row["input_ids"]) for row in rows], kind="stable").tolist()
    for start in range(0, len(order), batch_size):
        chosen = order[start:start + batch_size]
        yield chosen, pad_batch([rows[i] for i in chosen], pad_id)


def batched_logits(forward: Forward, batches: Iterable[tuple[list[int], Batch]],
                   on_batch: Optional[Callable[[], None]] = None) -> Iterator[tuple[list[int], torch.Tensor, Batch]]:
    """(row numbers, logits, batch) for each batch; `on_batch` runs after each (progress, Cancel)."""
    for chosen, batch in batches:
        logits = forward(batch)
        yield chosen, logits, batch
        if on_batch is not None:
            on_batch()


def logits_in_order(forward: Forward, batches: Iterable[tuple[list[int], Batch]], count: int, outputs: int,
                    on_batch: Optional[Callable[[], None]] = None) -> torch.Tensor:
    """All rows' logits on the CPU, row i in place i."""
    logits = torch.zeros((count, outputs))
    for chosen, out, _ in batched_logits(forward, batches, on_batch):
        logits[chosen] = out.cpu()
    return logits
