"""GPU memory: how much a run needs, and what to tell the user when it does not fit.

Before training on a GPU the host frees only what the run needs (ComfyUI keeps its other
models when there is room) instead of unloading everything; the estimate is weights,
gradients and optimizer state at 4 bytes a value, plus the activations autograd keeps
(per layer about 34*s*b*h + 5*a*s^2*b values for sequence s, batch b, hidden h, heads a,
after Korthikanti et al. 2022), far fewer with gradient checkpointing. An out-of-memory
error stops the run with the fixes named, never the raw CUDA text.
"""

from __future__ import annotations

import gc
import logging
from typing import Any, Optional

import torch

from ..errors import UserInputError
from ..model.network import ClassifierNetwork, is_adapter_weight
from ..node_names import MODEL_NODE, NODE_NAMES

log = logging.getLogger(__name__)

OPTIMIZER_VALUES = {"adamw": 2, "adam": 2, "sgd": 1, "rmsprop": 1, "adagrad": 1}  # state values per weight


class DeviceOutOfMemoryError(UserInputError):
    """Training ran out of accelerator memory; the message names the fixes."""


DeviceOutOfMemoryError.__module__ = "hf_text_finetune"


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeError MPS raises."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _config_value(config, *names: str, default: int = 0) -> int:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return default


def training_bytes(network: ClassifierNetwork, optimizer_kind: str, batch_size: int, max_tokens: int,
                   gradient_checkpointing: bool = False, activation_bytes: int = 2) -> int:
    """Bytes a training run will hold on the device (an estimate, meant to be generous): every weight in its own
    dtype (bf16 pretrained weights take 2 bytes), and an fp32 gradient and optimizer state for each weight that
    trains (with LoRA, the adapters and the head)."""
    weights = sum(p.numel() * p.element_size() for p in network.parameters())
    trained = sum(p.numel() for p in network.parameters())
    if network.has_adapters:  # LoRA: the pretrained weights stay frozen, all else trains
        trained -= sum(p.numel() for name, p in network.encoder.named_parameters() if not is_adapter_weight(name))
    states = 1 + OPTIMIZER_VALUES.get(optimizer_kind.lower(), 2)  # gradients, optimizer state
    config = getattr(getattr(network, "encoder", None), "config", None)
    hidden = _config_value(config, "hidden_size", "dim", default=768)
    layers = _config_value(config, "num_hidden_layers", "n_layers", default=12)
    heads = _config_value(config, "num_attention_heads", "n_heads", default=12)
    s, b = max_tokens, batch_size
    per_layer = 34 * s * b * hidden + 5 * heads * s * s * b
    if gradient_checkpointing:  # the layer inputs, plus one layer recomputed at a time
        activations = layers * s * b * hidden + per_layer
    else:
        activations = layers * per_layer
    return int(weights + trained * 4 * states + activations * activation_bytes)


def out_of_memory_message(device: torch.device, batch_size: int, max_tokens: int, where: str,
                          gradient_checkpointing: bool, checkpoint_note: str, has_lora: bool = False,
                          offer_bf16_weights: bool = False) -> str:
    """The fixes, cheapest first; for a model too big to fine-tune whole, LoRA and gradient checkpointing, and
    for a decoder in fp32 on a GPU that computes bf16, its weights in bf16."""
    fixes = [f"a smaller batch_size on the data loader (now {batch_size}) with gradient_accumulation_steps to keep "
             "the effective batch",
             f"a smaller max_length on the tokenizer node (the longest batch has {max_tokens} tokens)"]
    if not gradient_checkpointing:
        fixes.append("gradient_checkpointing on the trainer (about a third slower, far less memory)")
    if not has_lora:
        fixes.append(f"LoRA: a {NODE_NAMES['PtnLoraAdapter']} between the model node and the trainer (only the "
                     "adapters and the head keep gradients and optimizer state, so a model too big to fine-tune "
                     "whole fits; docs/models.md)")
    if offer_bf16_weights:
        fixes.append(f"weight_dtype bf16 on {MODEL_NODE} (the decoder's pretrained weights in half the memory; it "
                     "then trains with LoRA; docs/models.md)")
    fixes.append("fast_attention on the model node")
    return (f"training ran out of {device} memory at {where}. Try " + "; ".join(fixes)
            + f". The memory was freed and your input model is unchanged.{checkpoint_note}")


def free_after_failure(device: Optional[torch.device]) -> None:
    """Give the memory of a failed run back so the host keeps working."""
    gc.collect()
    if device is not None and device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device is not None and device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def _checkpointing_switch(encoder: Optional[torch.nn.Module], action: str) -> Optional[Any]:
    """The encoder's `activation_checkpointing_<action>` (transformers' newer name, which warns about nothing), else
    its `gradient_checkpointing_<action>`; None where it has neither."""
    if encoder is None:
        return None
    return getattr(encoder, f"activation_checkpointing_{action}", None) or \
        getattr(encoder, f"gradient_checkpointing_{action}", None)


def set_gradient_checkpointing(network: torch.nn.Module, on: bool) -> None:
    """The encoder's own gradient checkpointing (non-reentrant: works with frozen inputs, LoRA, DDP)."""
    encoder = getattr(network, "encoder", None)
    if not on:
        disable = _checkpointing_switch(encoder, "disable")
        if disable is not None:
            disable()
        return
    enable = _checkpointing_switch(encoder, "enable")
    if enable is None or not getattr(encoder, "supports_gradient_checkpointing", True):
        base = encoder.get_base_model() if hasattr(encoder, "get_base_model") else encoder  # under LoRA: the model
        raise UserInputError(f"gradient_checkpointing: the encoder {type(base).__name__} does not support it; "
                             "turn gradient_checkpointing off (LoRA or a smaller batch_size also save memory)")
    non_reentrant = {"use_reentrant": False}
    if enable.__name__.startswith("activation"):
        enable(activation_checkpointing_kwargs=non_reentrant)
    else:
        enable(gradient_checkpointing_kwargs=non_reentrant)
