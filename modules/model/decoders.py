"""What decoder (causal) language models need to work as classifiers.

A decoder's token sees only the tokens before it, so the one vector that has read the whole
text is the LAST real token's: Hugging Face's `*ForSequenceClassification` decoders (Qwen2/3,
Llama, Gemma 1-3, Mistral, Phi-3, GPT-2, ...) read the rightmost token that is not the pad
token, which needs `config.pad_token_id`. Their configs rarely carry it (Qwen2's tokenizer has
a pad token, its config none; Llama and GPT-2 tokenizers have none), and transformers then
stops at the first batch of two. So the pad token comes from the tokenizer, or its
end-of-text token where it has none, and is written on both, which a saved folder keeps.

The pack's own linear head is not offered for decoders: its saved folder would load in
`transformers.pipeline` with a new, random head (there is no class for it), while Hugging
Face's head gives the same probabilities there as Predict.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from ..errors import UserInputError
from ..pretrained import ensure_pad_token
from .network import LINEAR_HEAD

log = logging.getLogger(__name__)


def is_decoder(config: Any) -> bool:
    """A causal language model: transformers has a causal-LM class for its type and no masked-LM one
    (ELECTRA, XLM-RoBERTa or CamemBERT have both and are encoders), or the config says it is a decoder."""
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    if getattr(config, "is_encoder_decoder", False):
        return False
    model_type = getattr(config, "model_type", "")
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return True
    return bool(getattr(config, "is_decoder", False))


def decoder_linear_head_refused(name: str, config: Any) -> UserInputError:
    return UserInputError(
        f"model '{name}' is a decoder ({getattr(config, 'model_type', '?')}), and the linear head is not offered "
        "for decoders: its saved folder would load in transformers.pipeline with a new, random head. Set head to "
        "hf_sequence_classification on the model node (it reads the last real token, and its saved folder gives "
        "Predict's probabilities in pipeline)"
    )


def check_decoder_choices(name: str, config: Any, pooling: Optional[str], head_type: Optional[str]) -> None:
    """A decoder classifies from its last real token with Hugging Face's head; `cls` reads a token that has
    seen only itself (such a model stays at chance), the linear head would not survive `pipeline`."""
    if not is_decoder(config):
        return
    if pooling in ("cls", "pooler"):
        reason = ("the first token of a causal model has seen only itself, so the classifier cannot learn"
                  if pooling == "cls" else "decoders have no pooler layer")
        raise UserInputError(
            f"pooling '{pooling}' does not work on model '{name}', a decoder ({config.model_type}): {reason}. Set "
            "pooling to auto (the last real token, the one that has read the whole text)"
        )
    if head_type == LINEAR_HEAD:
        raise decoder_linear_head_refused(name, config)


def pad_token_id_for(name: str, tokenizer: Any) -> int:
    """The tokenizer's pad token id, set from its end-of-text token where it has none."""
    ensure_pad_token(tokenizer)
    pad_id = getattr(tokenizer, "pad_token_id", None)
    if pad_id is None:
        raise UserInputError(
            f"the tokenizer of decoder model '{name}' has neither a pad token nor an end-of-text token, so batches "
            "cannot mark where a text ends; use a model folder whose tokenizer defines one (pad_token or eos_token "
            "in tokenizer_config.json)"
        )
    return int(pad_id)


def prepare_decoder_config(name: str, config: Any, tokenizer: Any) -> None:
    """Set the pad token id (which the head uses to find the last real token) and turn the generation
    cache off (a classifier never generates; the cache would only hold memory during training)."""
    pad_id = pad_token_id_for(name, tokenizer)
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    for target in {id(config): config, id(text_config): text_config}.values():
        if getattr(target, "pad_token_id", None) != pad_id:
            log.info("%s: pad_token_id %s set to the tokenizer's %d", name, getattr(target, "pad_token_id", None),
                     pad_id)
            target.pad_token_id = pad_id
        if hasattr(target, "use_cache"):
            target.use_cache = False


def decoder_pad_mismatch(config: Any, tokenizer: Any) -> Optional[str]:
    """Why the tokenizer that pads the batches does not fit a decoder classifier (None: it fits)."""
    if tokenizer is None or not is_decoder(config):
        return None
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    ours, theirs = getattr(text_config, "pad_token_id", None), getattr(tokenizer, "pad_token_id", None)
    if theirs is None or ours == theirs:
        return None
    return (f"the tokenizer pads with token {theirs} but the decoder classifier looks for pad token {ours} to find "
            "each text's last real token; encode the texts with the model's own tokenizer")
