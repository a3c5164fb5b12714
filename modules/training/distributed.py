"""Data-parallel training over several processes started by `torchrun` (or `accelerate launch`).

The launcher sets WORLD_SIZE, RANK and LOCAL_RANK; every process runs the same workflow.
Each epoch's length-grouped batches are drawn at the global batch size (the loader's
batch size times the number of processes) and every global batch is cut into one part
per process, so N processes at batch b see exactly the batches of one process at batch
N*b, and every rank has the same number of steps. `DistributedDataParallel` averages
the gradients; evaluation is sharded and its sums are all-reduced, so every rank sees
the same metrics and takes the same early-stopping decisions. Only rank 0 logs,
saves and writes checkpoints. Without the launcher's variables (a ComfyUI server, a
plain `python run_workflow.py`) nothing here does anything.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, fields, replace
from typing import Any, Optional

import numpy as np
import torch

from ..data.batching import TextDataLoader
from ..errors import UserInputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Processes:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_environment() -> Processes:
    """The process group torchrun describes; one process when its variables are absent."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        return Processes()
    return Processes(world, rank, local) if world > 1 else Processes()


def is_main_process() -> bool:
    """False on every rank but 0 of a torchrun job: those never write files or print results."""
    return from_environment().is_main


def device_for(processes: Processes, device: torch.device) -> torch.device:
    """Each process of a multi-GPU job uses its own GPU (LOCAL_RANK)."""
    if processes.active and device.type == "cuda":
        torch.cuda.set_device(processes.local_rank)
        return torch.device("cuda", processes.local_rank)
    return device


# Under NCCL, a gloo group over the same processes for yes/no decisions taken after every batch (checkpoint due,
# SIGTERM): its all-reduce runs on CPU tensors, so deciding never waits for the batch's GPU work to finish.
_DECISIONS: dict[str, Any] = {}


def start_process_group(processes: Processes, device: torch.device) -> None:
    """NCCL between GPUs, gloo between CPU processes; once per process."""
    if not processes.active or torch.distributed.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend=backend)
    if backend == "nccl":  # every rank creates it, in the same order: a collective call
        _DECISIONS["group"] = torch.distributed.new_group(backend="gloo")
    log.info("process %d of %d joined the %s process group", processes.rank, processes.world_size, backend)


def end_process_group() -> None:
    _DECISIONS.clear()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def wrap_for_training(network: torch.nn.Module, processes: Processes, device: torch.device) -> torch.nn.Module:
    """The module the training steps call: DDP around the network when there are several processes.
    `find_unused_parameters`: some encoders carry layers a head never uses (BERT's pooler)."""
    if not processes.active:
        return network
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(network, device_ids=ids, find_unused_parameters=True)


def check_enough_batches(loader: TextDataLoader, processes: Processes) -> None:
    if processes.active and len(loader) < processes.world_size:
        raise UserInputError(
            f"torchrun started {processes.world_size} processes, but the training data has only {len(loader)} "
            f"batches of batch_size {loader.batch_size}: every process needs at least one batch. Use "
            f"--nproc_per_node={max(len(loader), 1)} or fewer, a smaller batch_size, or more training rows"
        )


def global_loader(loader: TextDataLoader, processes: Processes) -> TextDataLoader:
    """The loader at the global batch size, whose batches the ranks share."""
    if not processes.active:
        return loader
    return replace(loader, batch_size=loader.batch_size * processes.world_size)


def shard_batches(batches: list[list[int]], processes: Processes) -> list[list[int]]:
    """This rank's part of every global batch. A last global batch with fewer rows than processes
    is dropped, the same on every rank, so every rank takes the same number of steps."""
    if not processes.active:
        return batches
    world = processes.world_size
    kept = [b for b in batches if len(b) >= world]
    if len(kept) < len(batches):
        log.info("dropped a last batch of %d rows: too few for %d processes", len(batches[-1]), world)
    return [np.array_split(np.asarray(b), world)[processes.rank].tolist() for b in kept]


def sum_across(values: list[torch.Tensor], processes: Processes) -> list[torch.Tensor]:
    """Element-wise sums over the ranks (float64 sums of losses, hits and row counts)."""
    if not processes.active:
        return values
    stacked = torch.stack([v.to(torch.float64).reshape(()) for v in values])
    if torch.distributed.get_backend() == "nccl":
        stacked = stacked.cuda()
    torch.distributed.all_reduce(stacked)
    return list(stacked.to(values[0].device).unbind())


def any_each_across(flags: tuple[bool, ...], processes: Processes) -> tuple[bool, ...]:
    """Each flag True on every rank when any rank says it (all ranks call this at the same step): one
    all-reduce for all of them."""
    if not processes.active:
        return tuple(flags)
    value = torch.tensor([float(flag) for flag in flags])  # on the CPU: no wait for the GPU (_DECISIONS)
    torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX, group=_DECISIONS.get("group"))
    return tuple(bool(v) for v in value.tolist())


def describe(processes: Processes, loader: TextDataLoader) -> Optional[str]:
    if not processes.active:
        return None
    return (f"data-parallel over {processes.world_size} processes: batch_size {loader.batch_size} per process, "
            f"{loader.batch_size * processes.world_size} per step")


@dataclass
class ShardedLoader(TextDataLoader):
    """One rank's share of an unshuffled pass (evaluation): every world_size-th batch."""

    rank: int = 0
    world_size: int = 1

    def __len__(self) -> int:
        return len(self.batch_indices(shuffle=False, by_length=True))

    def batch_indices(self, epoch: int = 0, shuffle: Optional[bool] = None,
                      by_length: bool = False) -> list[list[int]]:
        return super().batch_indices(epoch, shuffle, by_length)[self.rank::self.world_size]


def evaluation_shard(loader: TextDataLoader, processes: Processes) -> TextDataLoader:
    if not processes.active:
        return loader
    values = {f.name: getattr(loader, f.name) for f in fields(TextDataLoader)}
    return ShardedLoader(**values, rank=processes.rank, world_size=processes.world_size)
