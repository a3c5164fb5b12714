"""Build a new, untrained classifier on a pretrained encoder (the model node's work)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Union

import torch

from ..errors import UserInputError
from ..pretrained import load_config, load_encoder, load_tokenizer, normalize_model_name
from .classifier import TextClassifier
from .decoders import check_decoder_choices, is_decoder, prepare_decoder_config
from .hf_head import HfSequenceNetwork, load_sequence_model, set_classifier_dropout
from .linear_head import LinearHeadNetwork
from .network import HF_HEAD, LINEAR_HEAD, check_head_settings, check_head_type
from .pooling import AUTO, check_pooling_choice, resolve_pooling
from .weight_dtype import FP32, use_weight_dtype, weight_torch_dtype

_ATTENTION_DROPOUT_FIELDS = ("attention_probs_dropout_prob", "attention_dropout")
FAST_ATTENTION_CHOICES = ("auto", "on", "off")
_SPELLINGS = {"on": True, "true": True, "off": False, "false": False}


def resolve_fast_attention(choice: Union[bool, str]) -> bool:
    """Whether to drop attention dropout. `auto`: yes unless a CUDA GPU is present, whose fused
    attention kernels apply dropout themselves; on the CPU and Apple's MPS the fused kernel cannot,
    so training with dropout falls back to the slow math attention (docs/performance.md: the
    measured accuracy effect). Booleans are the widget's values before `auto` existed."""
    if isinstance(choice, bool):
        return choice
    text = str(choice).strip().lower()
    if text == "auto":
        return not torch.cuda.is_available()
    if text in _SPELLINGS:
        return _SPELLINGS[text]
    raise UserInputError(f"fast_attention '{choice}' is unknown; use one of {list(FAST_ATTENTION_CHOICES)}")


def without_attention_dropout(config) -> None:
    """Attention dropout 0: PyTorch's fused attention kernel then runs in training too."""
    for field in _ATTENTION_DROPOUT_FIELDS:
        if hasattr(config, field):
            setattr(config, field, 0.0)


def _hf_network(name: str, config, num_outputs: int, dropout: float, seed: int, trust_remote_code: bool,
                dtype: torch.dtype) -> HfSequenceNetwork:
    """Hugging Face's own head, its new weights drawn from a seeded global generator."""
    config.num_labels = num_outputs
    set_classifier_dropout(config, dropout)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return HfSequenceNetwork(load_sequence_model(name, config, trust_remote_code, dtype))


@dataclass(frozen=True)
class WeightLoading:
    """How the pretrained weights load: whether the model's own code may run (the node decides who may allow
    that) and their dtype (weight_dtype.py)."""

    trust_remote_code: bool = False
    weight_dtype: str = FP32


def build_classification_model(model_name: str, num_outputs: int = 1, pooling: str = AUTO,
                               dropout: float = 0.1, fast_attention: Union[bool, str] = False, seed: int = 0,
                               head_type: str = "linear", loading: WeightLoading = WeightLoading()) -> TextClassifier:
    """A pretrained encoder with a new head: ours (`linear`) or Hugging Face's (`hf_sequence_classification`).
    `pooling` auto: the model's own (pooling.py); decoders get their pad token set (decoders.py);
    `loading.weight_dtype` bf16: the pretrained weights in bf16, the head in fp32 (weight_dtype.py)."""
    check_head_type(head_type)
    dtype = weight_torch_dtype(loading.weight_dtype)
    trust_remote_code = loading.trust_remote_code
    check_head_settings(num_outputs, dropout)
    name = normalize_model_name(model_name)
    config = load_config(name, trust_remote_code)
    if head_type == HF_HEAD:  # the family's own head reads what it reads: nothing to resolve, only to refuse
        check_pooling_choice(pooling)
        check_decoder_choices(name, config, pooling, head_type)
    else:
        pooling = resolve_pooling(name, config, pooling, head_type)
    if is_decoder(config):
        prepare_decoder_config(name, config, load_tokenizer(name, trust_remote_code))
    if resolve_fast_attention(fast_attention):
        without_attention_dropout(config)
    if head_type == HF_HEAD:
        network = _hf_network(name, config, num_outputs, dropout, seed, trust_remote_code, dtype)
    else:
        encoder = load_encoder(name, config, trust_remote_code, dtype)
        network = LinearHeadNetwork(encoder, num_outputs, pooling, dropout, init_seed=seed)
    use_weight_dtype(network, dtype)
    return TextClassifier(network=network, model_name=name)


def check_model_choices(model_name: Optional[str], pooling: Optional[str], head_type: Optional[str]) -> None:
    """The queue-time part of the build's checks: the pooling value, and, for a local folder (its config is
    read, no weights), what a decoder refuses. Hub models are checked when the node runs."""
    check_pooling_choice(pooling)
    if model_name is None or pooling is None:  # linked: known at run time
        return
    name = normalize_model_name(model_name)
    if not os.path.isdir(name):
        return
    try:
        config = load_config(name)
    except UserInputError:  # e.g. remote code, which the run may allow: the run says what is wrong
        return
    check_decoder_choices(name, config, pooling, head_type or LINEAR_HEAD)
