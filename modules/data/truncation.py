"""Which tokens of a too-long text are kept: its head, its tail, or both.

IMDB reviews often give their verdict at the end, which cutting to the first
`max_length` tokens throws away. Keeping the head and the tail (Sun et al. 2019, "How
to Fine-Tune BERT for Text Classification?": the first 128 plus the last 382 of 510
tokens) beats the head alone there. The cut applies to the text's own (content)
tokens, so `max_length` stays the model's input length with the special tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence

from ..errors import UserInputError

HEAD, TAIL, HEAD_TAIL = "head", "tail", "head+tail"
TRUNCATION_MODES = (HEAD, TAIL, HEAD_TAIL)
DEFAULT_HEAD_SHARE = 0.25  # Sun et al.: 128 of 510 tokens


def check_truncation_mode(mode: Optional[str]) -> None:
    """None: linked, known at run time."""
    if mode is not None and mode not in TRUNCATION_MODES:
        raise UserInputError(f"truncation_mode '{mode}' is not one of {list(TRUNCATION_MODES)}; use head (the "
                             "first tokens), tail (the last) or head+tail (both)")


def check_head_share(share: Optional[float]) -> None:
    """The head's share of the kept text tokens must leave some to the tail: strictly between 0 and 1."""
    if share is not None and not 0.0 < float(share) < 1.0:
        raise UserInputError(
            f"head_share {share} must be between 0 and 1 (exclusive): it is the share of the kept text tokens "
            f"taken from the start of the text, the rest from its end; use {DEFAULT_HEAD_SHARE} (the first quarter "
            "and the last three quarters), or truncation_mode head or tail to keep only one end"
        )


@dataclass(frozen=True)
class Truncation:
    """How a text longer than its room is cut: `mode` head, tail or head+tail, with `head_share`
    of the kept tokens from the start (head+tail only)."""

    mode: str = HEAD
    head_share: float = DEFAULT_HEAD_SHARE

    def __post_init__(self) -> None:
        check_truncation_mode(self.mode)
        check_head_share(self.head_share)

    @property
    def is_default(self) -> bool:
        return self.mode == HEAD

    def head_tokens(self, room: int) -> int:
        """Tokens taken from the start when `room` are kept: at least one from each end (room >= 2)."""
        if room < 2:
            return room
        return min(max(int(room * self.head_share + 0.5), 1), room - 1)

    def cut(self, ids: Sequence[int], room: int) -> list[int]:
        """The kept ids, in text order; a text that fits is kept whole. Slicing only (fast in a batched map)."""
        ids = list(ids)
        if len(ids) <= room:
            return ids
        if self.mode == HEAD:
            return ids[:room]
        if self.mode == TAIL:
            return ids[len(ids) - room:] if room else []
        head = self.head_tokens(room)
        return ids[:head] + ids[len(ids) - (room - head):]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Optional[dict]) -> "Truncation":
        """A saved setting; a folder saved before truncation modes existed cut the head."""
        data = data or {}
        return cls(str(data.get("mode", HEAD)), float(data.get("head_share", DEFAULT_HEAD_SHARE)))

    def describe(self) -> str:
        if self.mode == HEAD_TAIL:
            return f"head+tail (head share {self.head_share:g})"
        return self.mode
