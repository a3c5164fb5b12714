"""Sliding windows: a long text read as overlapping windows, their predictions combined.

Truncation throws tokens away; windows keep them all. In training every window is a
sample carrying its text's label; in evaluation and prediction the logits of a text's
windows are combined (mean by default, or max) into one prediction, so metrics count
texts, not windows. A windowed dataset keeps a `text_id` column for that grouping.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import torch

from ..errors import UserInputError

COMBINES = ("mean", "max")
TEXT_ID = "text_id"  # the column naming the text each window came from


def check_window_settings(window: Optional[int], stride: Optional[int], max_windows: Optional[int] = 0,
                          combine: Optional[str] = "mean") -> None:
    """What can be checked without the tokenizer (None: linked, known at run time)."""
    if window is not None and window < 0:
        raise UserInputError(f"window {window} is negative; use 0 for no windows, or e.g. 512 tokens per window")
    if stride is not None and stride < 0:
        raise UserInputError(f"stride {stride} is negative; use 0 for half the window, or a number of tokens")
    if window and stride is not None and stride >= window:
        raise UserInputError(
            f"stride {stride} is not smaller than window {window}: windows would not overlap and tokens between "
            f"them would be skipped; use a stride below the window, e.g. {max(window // 2, 1)}, or 0 for half the "
            "window"
        )
    if max_windows is not None and max_windows < 0:
        raise UserInputError(f"max_windows {max_windows} is negative; use 0 for all windows of a text, or e.g. 4")
    if combine is not None and combine not in COMBINES:
        raise UserInputError(f"window_combine '{combine}' is not one of {list(COMBINES)}; mean averages the "
                             "windows' logits, max takes the largest")


def check_window_fits(window: int, stride: int, max_length: int, special: int, model_name: str) -> None:
    """A window must fit the model's input length and hold text besides the special tokens; the
    stride must not jump over text."""
    if window > max_length:
        raise UserInputError(
            f"window {window} is longer than max_length {max_length} of model '{model_name}' (its longest input, "
            f"special tokens included); use a window of at most {max_length}, or 0 for no windows"
        )
    room = window - special
    if room < 1:
        raise UserInputError(
            f"window {window} leaves no room for text: the tokenizer of model '{model_name}' adds {special} special "
            f"tokens to every window; use at least {special + 1} (256 to 512 suit reviews)"
        )
    if stride > room:
        raise UserInputError(
            f"stride {stride} is larger than the {room} text tokens of a window ({window} minus {special} special "
            f"tokens), so tokens between windows would be skipped; use a stride of at most {room}, or 0 for half"
        )


@dataclass(frozen=True)
class Windows:
    """`size` tokens per window with the special tokens (0: no windows), windows starting `stride`
    text tokens apart (0: half a window), at most `max_windows` per text (0: all), combined by `combine`."""

    size: int = 0
    stride: int = 0
    max_windows: int = 0
    combine: str = "mean"

    def __post_init__(self) -> None:
        check_window_settings(self.size, self.stride, self.max_windows, self.combine)

    @property
    def enabled(self) -> bool:
        return self.size > 0

    def step(self, room: int) -> int:
        return self.stride or max(room // 2, 1)

    def split(self, ids: Sequence[int], room: int) -> list[list[int]]:
        """The windows of one text's ids, `room` tokens each; the last one ends at the text's end."""
        ids = list(ids)
        if len(ids) <= room:
            return [ids]
        starts = list(range(0, len(ids) - room, self.step(room))) + [len(ids) - room]
        if self.max_windows:
            starts = starts[:self.max_windows]
        return [ids[start:start + room] for start in starts]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Optional[dict]) -> "Windows":
        """A saved setting; a folder saved before windows existed has none."""
        data = data or {}
        return cls(int(data.get("size", 0)), int(data.get("stride", 0)), int(data.get("max_windows", 0)),
                   str(data.get("combine", "mean")))

    def describe(self) -> str:
        stride = self.stride or "half a window"
        most = f", at most {self.max_windows} per text" if self.max_windows else ""
        return f"windows of {self.size} tokens, stride {stride}{most}, {self.combine} of the logits"


def combine_window_logits(logits: torch.Tensor, text_ids: torch.Tensor,
                          combine: str = "mean") -> tuple[torch.Tensor, torch.Tensor]:
    """(one row of logits per text, in text-id order; the first window row of each text).
    `combine` mean averages a text's window logits, max takes each output's largest."""
    texts, inverse = torch.unique(text_ids, sorted=True, return_inverse=True)
    width = logits.shape[-1]
    index = inverse.unsqueeze(-1).expand(-1, width)
    logits = logits.float()
    if combine == "max":
        combined = torch.full((len(texts), width), float("-inf")).scatter_reduce(0, index, logits, "amax")
    else:
        sums = torch.zeros((len(texts), width)).index_add_(0, inverse, logits)
        counts = torch.bincount(inverse, minlength=len(texts)).clamp(min=1).unsqueeze(-1)
        combined = sums / counts
    rows = torch.arange(len(text_ids))
    first = torch.full((len(texts),), len(text_ids), dtype=torch.long).scatter_reduce(0, inverse, rows, "amin")
    return combined, first
