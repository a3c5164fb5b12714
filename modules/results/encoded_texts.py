"""Texts as a classifier reads them: one tokenizer call cutting long texts (head, tail, head+tail) or splitting
them into windows, as recorded on the classifier; a pair model's pairs cut longest-first. Predict, the
classify node and the ONNX export's check all encode through here.
"""

from __future__ import annotations

from typing import Optional, Sequence

from ..data.batching import tokenizer_pad_id
from ..data.dataset import MODEL_INPUTS
from ..data.encoding import TokenEncoder
from ..model.classifier import TextClassifier


def model_max_length(model: TextClassifier) -> Optional[int]:
    max_length = model.max_length or getattr(model.tokenizer, "model_max_length", None)
    if max_length is not None and max_length >= 1_000_000:  # tokenizers say 1e30 when they know no limit
        return None
    return max_length


def encoded_rows(model: TextClassifier, texts: Sequence[str],
                 pairs: Optional[Sequence[str]] = None) -> tuple[list[dict], Optional[list[int]]]:
    """Each text as the model was trained to read it, all in one tokenizer call: cut (head, tail,
    head+tail) or split into windows, as recorded on the classifier; a pair model's pairs cut
    longest-first. (rows of token ids, the text of each row when windowed)."""
    max_length = model_max_length(model)
    encoder = TokenEncoder(model.model_name, model.tokenizer, max_length or 0, truncation=max_length is not None,
                           fingerprint="prediction (never cached)", truncation_rule=model.truncation_rule,
                           windows=model.windows)
    encoded = encoder.encode_pairs(list(texts), list(pairs)) if pairs is not None else encoder(list(texts))
    keys = [k for k in MODEL_INPUTS if k in encoded]
    rows = [{k: encoded[k][i] for k in keys} for i in range(len(encoded["input_ids"]))]
    return rows, encoded.get("text_index")


def pad_id(model: TextClassifier) -> int:
    """The token id batches are padded with: the training loader's rule (0 where the tokenizer names none)."""
    return tokenizer_pad_id(model.tokenizer)
