"""The encode function that the tokenizer node hands to the dataset node.

It wraps a Hugging Face tokenizer with the settings chosen on the node, pads
nothing (batches are padded to their own longest member by the data loader), and
carries a fingerprint so that tokenized datasets can be cached and reused.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..errors import UserInputError
from ..pretrained import load_config, load_tokenizer, normalize_model_name, resolve_max_length

log = logging.getLogger(__name__)


@dataclass
class TokenEncoder:
    """Callable: list of texts -> dict of token id lists (or an (ids, mask) tuple)."""

    model_name: str
    tokenizer: Any
    max_length: int
    truncation: bool = True
    fingerprint: str = field(default="")

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = tokenizer_fingerprint(self.tokenizer, self.max_length, self.truncation)

    def __call__(self, texts: Sequence[str], return_dict: bool = True) -> Any:
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
                              max_length=self.max_length, padding=False, return_attention_mask=True)


def tokenizer_fingerprint(tokenizer: Any, max_length: int, truncation: bool) -> str:
    """Same fingerprint <=> same token ids for the same text."""
    digest = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        digest.update(backend.to_str().encode("utf-8"))
    else:  # slow tokenizer: its vocabulary and class define it
        digest.update(type(tokenizer).__name__.encode())
        digest.update(repr(sorted(tokenizer.get_vocab().items())).encode("utf-8"))
    digest.update(f"|{max_length}|{truncation}".encode())
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
                        trust_remote_code: bool = False) -> TokenEncoder:
    name = normalize_model_name(model_name)
    tokenizer = load_tokenizer(name, trust_remote_code)
    config = load_config(name, trust_remote_code)
    resolved = resolve_max_length(max_length, tokenizer, config, name)
    check_room_for_text(resolved, tokenizer, name)
    if not truncation:
        log.info("truncation is off: texts longer than %d tokens will make the model fail", resolved)
    return TokenEncoder(model_name=name, tokenizer=tokenizer, max_length=resolved, truncation=truncation)
