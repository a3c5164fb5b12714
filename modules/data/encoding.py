"""The encode function that the tokenizer node hands to the dataset node.

It wraps a Hugging Face tokenizer with the settings chosen on the node, pads
nothing (batches are padded to their own longest member by the data loader), and
carries a fingerprint so that tokenized datasets can be cached and reused.

Texts longer than max_length are cut by a `Truncation` (head, tail or head+tail,
truncation.py) or read as sliding `Windows` (windows.py): the text is tokenized once
without special tokens, its ids are cut or split by slicing, and the tokenizer's own
special tokens are put around each piece (`SpecialTokens`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Optional, Sequence

from ..errors import UserInputError
from ..pretrained import load_config, load_tokenizer, normalize_model_name, resolve_max_length
from .truncation import Truncation
from .windows import Windows, check_window_fits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpecialTokens:
    """The ids (and token type ids) a tokenizer puts before and after a single text, read off
    the tokenizer itself by encoding a probe with and without them (transformers 5 tokenizers
    have no `build_inputs_with_special_tokens`)."""

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]
    type_ids: Optional[tuple[int, int, int]] = None  # prefix, text, suffix token type (None: the model has none)

    @property
    def count(self) -> int:
        return len(self.prefix) + len(self.suffix)

    @classmethod
    def of(cls, tokenizer: Any) -> "SpecialTokens":
        probe = "a long text"
        full = tokenizer(probe, add_special_tokens=True)
        content = list(tokenizer(probe, add_special_tokens=False)["input_ids"])
        ids = list(full["input_ids"])
        starts = [i for i in range(len(ids) - len(content) + 1) if ids[i:i + len(content)] == content]
        if not content or not starts:
            raise UserInputError(
                f"the tokenizer {type(tokenizer).__name__} does not put its special tokens around a text in a way "
                "this pack can rebuild, so only truncation_mode head without windows works with it; choose head and "
                "window 0"
            )
        start, end = starts[0], starts[0] + len(content)
        types = full.get("token_type_ids")
        type_ids = None
        if types is not None:
            types = list(types)
            type_ids = (types[0] if start else 0, types[start], types[end] if end < len(ids) else 0)
        return cls(tuple(ids[:start]), tuple(ids[end:]), type_ids)

    def wrap(self, pieces: list[list[int]]) -> dict[str, list[list[int]]]:
        """input_ids, attention_mask (and token_type_ids) of each piece with the special tokens around it."""
        prefix, suffix = list(self.prefix), list(self.suffix)
        ids = [prefix + piece + suffix for piece in pieces]
        out = {"input_ids": ids, "attention_mask": [[1] * len(row) for row in ids]}
        if self.type_ids is not None:
            first, text, last = self.type_ids
            out["token_type_ids"] = [[first] * len(prefix) + [text] * len(piece) + [last] * len(suffix)
                                     for piece in pieces]
        return out


@dataclass
class TokenEncoder:
    """Callable: list of texts -> dict of token id lists (or an (ids, mask) tuple).

    With windows on, a text gives one row per window and the dict has a `text_index` list
    naming each row's text (its position in `texts`)."""

    model_name: str
    tokenizer: Any
    max_length: int
    truncation: bool = True
    fingerprint: str = field(default="")
    truncation_rule: Truncation = field(default_factory=Truncation)
    windows: Windows = field(default_factory=Windows)

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = tokenizer_fingerprint(self.tokenizer, self.max_length, self.truncation,
                                                     self.truncation_rule, self.windows)

    @property
    def cuts_itself(self) -> bool:
        """True when the ids are cut or split here rather than by the tokenizer's own (head) truncation."""
        return self.truncation and (not self.truncation_rule.is_default or self.windows.enabled)

    @cached_property
    def special_tokens(self) -> SpecialTokens:
        return SpecialTokens.of(self.tokenizer)

    def _cut_or_split(self, texts: list[str]) -> dict[str, list]:
        special = self.special_tokens
        content = self.tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False,
                                 return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        if not self.windows.enabled:
            return special.wrap([self.truncation_rule.cut(ids, self.max_length - special.count) for ids in content])
        room = self.windows.size - special.count
        pieces, owners = [], []
        for index, ids in enumerate(content):
            parts = self.windows.split(ids, room)
            pieces += parts
            owners += [index] * len(parts)
        return {**special.wrap(pieces), "text_index": owners}

    def __call__(self, texts: Sequence[str], return_dict: bool = True) -> Any:
        if self.cuts_itself:
            encoded = self._cut_or_split(list(texts))
        else:
            encoded = self.tokenizer(
                list(texts),
                truncation=self.truncation,
                max_length=self.max_length,
                padding=False,
                return_attention_mask=True,
            )
        if return_dict:
            return encoded
        return encoded["input_ids"], encoded["attention_mask"]

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    # --- pairs of texts (sentence-pair tasks such as MRPC): kept apart from single-text encoding ---

    def encode_pairs(self, texts: Sequence[str], pairs: Sequence[str]) -> Any:
        """Encode (text, pair) rows as one sequence each ([CLS] a [SEP] b [SEP]); too long a row
        loses tokens from the longer of its two texts first."""
        return self.tokenizer(list(texts), list(pairs), truncation="longest_first" if self.truncation else False,
                              max_length=self.max_length or None, padding=False, return_attention_mask=True)


def tokenizer_fingerprint(tokenizer: Any, max_length: int, truncation: bool,
                          truncation_rule: Optional[Truncation] = None, windows: Optional[Windows] = None) -> str:
    """Same fingerprint <=> same token ids for the same text."""
    digest = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        digest.update(backend.to_str().encode("utf-8"))
    else:  # slow tokenizer: its vocabulary and class define it
        digest.update(type(tokenizer).__name__.encode())
        digest.update(repr(sorted(tokenizer.get_vocab().items())).encode("utf-8"))
    digest.update(f"|{max_length}|{truncation}".encode())
    if truncation and truncation_rule is not None and not truncation_rule.is_default:  # head: as before
        digest.update(f"|{truncation_rule.mode}|{truncation_rule.head_share!r}".encode())
    if truncation and windows is not None and windows.enabled:  # combine is left out: it changes no token
        digest.update(f"|windows {windows.size}|{windows.stride}|{windows.max_windows}".encode())
    return digest.hexdigest()[:32]


def check_room_for_text(max_length: int, tokenizer: Any, name: str) -> None:
    """The tokenizer adds special tokens ([CLS], [SEP]) to every text; max_length must leave room for text,
    or the tokenizer gives up truncating and long texts reach the model whole (a tensor-size crash)."""
    try:
        special = tokenizer.num_special_tokens_to_add(pair=False)
    except (AttributeError, NotImplementedError):
        return
    if max_length <= special:
        shown = [t for t in (getattr(tokenizer, "cls_token", None), getattr(tokenizer, "sep_token", None)) if t]
        tokens = f" ({', '.join(shown)})" if shown else ""
        raise UserInputError(
            f"max_length {max_length} leaves no room for text: the tokenizer of model '{name}' adds {special} special "
            f"tokens{tokens} to every text; use at least {special + 1} (128 to 512 suit reviews), or 0 for the "
            "model's maximum"
        )


def build_token_encoder(model_name: str, max_length: int = 0, truncation: bool = True,
                        trust_remote_code: bool = False, truncation_rule: Optional[Truncation] = None,
                        windows: Optional[Windows] = None) -> TokenEncoder:
    name = normalize_model_name(model_name)
    tokenizer = load_tokenizer(name, trust_remote_code)
    config = load_config(name, trust_remote_code)
    resolved = resolve_max_length(max_length, tokenizer, config, name)
    check_room_for_text(resolved, tokenizer, name)
    truncation_rule, windows = truncation_rule or Truncation(), windows or Windows()
    if not truncation:
        log.info("truncation is off: texts longer than %d tokens will make the model fail", resolved)
        if windows.enabled or not truncation_rule.is_default:
            log.warning("truncation is off, so truncation_mode and window are not used; turn truncation on")
    encoder = TokenEncoder(model_name=name, tokenizer=tokenizer, max_length=resolved, truncation=truncation,
                           truncation_rule=truncation_rule, windows=windows)
    if encoder.cuts_itself:
        special = encoder.special_tokens.count
        if windows.enabled:
            check_window_fits(windows.size, windows.stride, resolved, special, name)
    return encoder
