"""Batches of token ids padded to their own longest member, optionally grouped by length.

Padding every review to 512 tokens wastes most of the compute on IMDB; padding each
batch to its longest member and grouping similar lengths into a batch removes
almost all of it. A batch without padding carries no attention mask at all, which
lets PyTorch's fused attention kernel take its fast path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from .errors import UserInputError
from .text_dataset import MODEL_INPUTS, EncodedTextDataset


def pad_batch(rows: list[dict], pad_token_id: int, pad_to_multiple_of: Optional[int] = None,
              drop_full_mask: bool = True) -> dict[str, torch.Tensor]:
    """Right-pad a list of tokenized rows into tensors; drop the mask when nothing is padded."""
    lengths = [len(row["input_ids"]) for row in rows]
    width = max(lengths)
    if pad_to_multiple_of:
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    batch: dict[str, torch.Tensor] = {}
    for key in MODEL_INPUTS:
        if key not in rows[0]:
            continue
        fill = pad_token_id if key == "input_ids" else 0
        array = np.full((len(rows), width), fill, dtype=np.int64)
        for i, row in enumerate(rows):
            array[i, : lengths[i]] = row[key]
        batch[key] = torch.from_numpy(array)
    if drop_full_mask and min(lengths) == width:
        batch.pop("attention_mask", None)
    elif "attention_mask" not in batch:
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, n in enumerate(lengths):
            mask[i, :n] = 1
        batch["attention_mask"] = torch.from_numpy(mask)
    batch["labels"] = torch.tensor([row["labels"] for row in rows])
    return batch


@dataclass
class TextDataLoader:
    """A recipe for batches, not a stateful iterator: each epoch's order depends only on
    (seed, epoch), so a queued workflow gives the same batches every time it runs."""

    dataset: EncodedTextDataset
    batch_size: int = 32
    shuffle: bool = True
    seed: int = 0
    group_by_length: bool = True
    drop_last: bool = False
    pad_to_multiple_of: Optional[int] = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UserInputError(f"batch_size {self.batch_size} must be at least 1; 16 or 32 suit fine-tuning")
        tokenizer = getattr(self.dataset.encoder, "tokenizer", None)
        pad_id = getattr(tokenizer, "pad_token_id", None)
        self.pad_token_id = int(pad_id) if pad_id is not None else 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _sampler(self, epoch: int, shuffle: bool):
        data = self.dataset.data
        if not shuffle:
            return SequentialSampler(data)
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        if self.group_by_length:
            from transformers.trainer_pt_utils import LengthGroupedSampler

            return LengthGroupedSampler(self.batch_size, lengths=self.dataset.lengths, generator=generator)
        return RandomSampler(data, generator=generator)

    def batches(self, epoch: int = 0, shuffle: Optional[bool] = None,
                pad_to_multiple_of: Optional[int] = None) -> Iterator[dict[str, torch.Tensor]]:
        shuffle = self.shuffle if shuffle is None else shuffle
        columns = [c for c in (*MODEL_INPUTS, "labels") if c in self.dataset.data.column_names]
        data = self.dataset.data.select_columns(columns)
        multiple = pad_to_multiple_of or self.pad_to_multiple_of
        loader = DataLoader(
            data,
            batch_sampler=BatchSampler(self._sampler(epoch, shuffle), self.batch_size, self.drop_last),
            collate_fn=lambda rows: pad_batch(rows, self.pad_token_id, multiple),
            num_workers=0,
        )
        yield from loader

    def real_tokens(self) -> int:
        return int(sum(self.dataset.lengths))
