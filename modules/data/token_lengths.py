"""Every text's full token count (nothing cut), tokenized once and cached.

The data check needs the length a text has before `max_length` cuts it, which the
tokenized dataset no longer knows (its rows are already cut). Like the tokenized splits
(tokenized.py), the counts come from one batched `datasets.map` with a fingerprint of the
data, the tokenizer and the cleaning, so they are reused in this session (an in-process
cache) and across restarts for file-backed datasets (the `datasets` cache).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import numpy as np

from .encoding import tokenizer_fingerprint
from .text_cleaning import STRIP_HTML_VERSION, strip_html

_CACHE: "OrderedDict[str, np.ndarray]" = OrderedDict()
_CACHE_SIZE = 8
LENGTH_COLUMN = "content_tokens"


def _key(data: Any, tokenizer: Any, text_field: str, strip: bool) -> str:
    parts = ["token lengths", data._fingerprint, tokenizer_fingerprint(tokenizer, 0, False), text_field,
             f"{strip}{STRIP_HTML_VERSION if strip else ''}"]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _counter(tokenizer: Any, text_field: str, strip: bool):
    def count(batch: dict) -> dict:
        texts = ["" if t is None else str(t) for t in batch[text_field]]
        texts = [strip_html(t) if strip else t for t in texts]
        ids = tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False,
                        return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        return {LENGTH_COLUMN: [len(row) for row in ids]}

    return count


def content_token_lengths(data: Any, tokenizer: Any, text_field: str, strip: bool = True) -> np.ndarray:
    """Tokens of each row's text without special tokens and without any cut (an empty text: 0)."""
    key = _key(data, tokenizer, text_field, strip)
    cached = _CACHE.get(key)
    if cached is not None:
        _CACHE.move_to_end(key)
        return cached
    counted = data.select_columns([text_field]).map(
        _counter(tokenizer, text_field, strip), batched=True, batch_size=1000, remove_columns=[text_field],
        new_fingerprint=key, desc="Counting tokens")
    lengths = np.asarray(counted.with_format("numpy")[LENGTH_COLUMN], dtype=np.int64).reshape(-1)
    _CACHE[key] = lengths
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return lengths


def clear_cache() -> None:
    _CACHE.clear()
