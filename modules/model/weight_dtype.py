"""Pretrained weights in bf16: half the memory, so a decoder too big for a GPU in fp32 fits and trains with LoRA.

A 1.5B decoder's weights take 6 GB in fp32 and 3 GB in bf16 (a 7B one 28 and 14). The model node's
`weight_dtype` bf16 loads the pretrained weights that way; what trains stays fp32: the LoRA adapters
(PEFT keeps them fp32 on a bf16 base) and the head. A weight stored in bf16 cannot take AdamW's updates
at fine-tuning learning rates: about 1e-5 of a weight per step, far below bf16's resolution of about 4e-3
of it, so most updates round away and the model barely moves. Hence the trainer refuses a bf16 model
without LoRA rather than train it silently badly.

The head reads bf16 hidden states; a forward pre-hook on each of its layers casts them to the head's fp32,
the same in training, in the frozen phase on cached features, and in inference. A saved folder keeps the
dtypes (bf16 encoder, fp32 head) and its manifest says `weight_dtype`, so Load restores them exactly.
"""

from __future__ import annotations

import logging
from typing import Optional

import torch
from torch import nn

from ..errors import UserInputError
from ..node_names import MODEL_NODE, NODE_NAMES
from ..precision import cpu_has_native_bf16
from .decoders import is_decoder
from .network import is_adapter_weight

log = logging.getLogger(__name__)

FP32, BF16 = "fp32", "bf16"
WEIGHT_DTYPES = (FP32, BF16)
_DTYPES = {FP32: torch.float32, BF16: torch.bfloat16}
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}


def weight_torch_dtype(choice: Optional[str]) -> torch.dtype:
    """The torch dtype a `weight_dtype` value names (None: fp32, as before the widget existed)."""
    text = (choice or FP32).strip().lower()
    if text not in _DTYPES:
        raise UserInputError(f"weight_dtype '{choice}' is unknown; use one of {list(WEIGHT_DTYPES)} (fp32 = full "
                             "precision; bf16 = half the memory, for large decoders trained with LoRA on a GPU)")
    return _DTYPES[text]


def weight_dtype_of(network: nn.Module) -> str:
    """fp32 or bf16: the dtype of the network's pretrained weights (read from its input embeddings)."""
    dtype = network.encoder.get_input_embeddings().weight.dtype
    return _NAMES.get(dtype, str(dtype).replace("torch.", ""))


def _inputs_in_weight_dtype(module: nn.Module, args: tuple) -> Optional[tuple]:
    """Forward pre-hook of a head layer: floating inputs in the layer's own dtype (bf16 hidden states -> fp32).
    Heads take their input positionally; a layer whose weights are no longer float (int8) is left alone."""
    weight = next(module.parameters(), None)
    if weight is None or not weight.is_floating_point():
        return None
    return tuple(a.to(weight.dtype) if torch.is_tensor(a) and a.is_floating_point() else a for a in args)


def _head_layers(network: nn.Module) -> list[nn.Module]:
    """The head's layers that hold weights: what the frozen phase, training and inference call."""
    return [child for child in network.head.children() if any(True for _ in child.parameters())]


def use_weight_dtype(network: nn.Module, dtype: torch.dtype) -> None:
    """Pretrained weights (not LoRA adapters) in `dtype`, in place; the head stays fp32 and reads its inputs in
    fp32. Buffers keep their dtype (rotary frequencies, for one, are computed in fp32 on purpose)."""
    with torch.no_grad():
        for name, param in network.encoder.named_parameters():
            if param.is_floating_point() and not is_adapter_weight(name) and param.dtype != dtype:
                param.data = param.data.to(dtype)
        if dtype == torch.float32:
            return
        for layer in _head_layers(network):
            layer.float()
            if _inputs_in_weight_dtype not in layer._forward_pre_hooks.values():
                layer.register_forward_pre_hook(_inputs_in_weight_dtype)
    log.info("pretrained weights in %s; the head (and LoRA adapters) train in fp32", _NAMES.get(dtype, dtype))


def check_trains_in_fp32(network: nn.Module, has_lora: bool) -> None:
    """bf16 pretrained weights train only through LoRA adapters (the module docstring says why)."""
    if weight_dtype_of(network) == FP32 or has_lora:
        return
    raise UserInputError(
        f"the pretrained weights are {weight_dtype_of(network)} (weight_dtype on {MODEL_NODE}) and the model has no "
        "LoRA adapters: fine-tuning every weight in bf16 rounds most of AdamW's small updates away, so the model "
        f"would barely learn. Add a {NODE_NAMES['PtnLoraAdapter']} between the model node and the trainer (the "
        "adapters and the head train in fp32), or set weight_dtype to fp32 to fine-tune the whole model"
    )


def check_device_computes(network: nn.Module, device: torch.device, precision_name: str) -> None:
    """bf16 weights need a device that computes bf16: refused on a GPU without it (or under fp16 autocast),
    a warning on a CPU that only emulates it (it runs, slowly)."""
    if weight_dtype_of(network) != BF16:
        return
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserInputError(f"weight_dtype bf16 on {MODEL_NODE}: this GPU does not compute bf16 (it needs an "
                             "Ampere or newer NVIDIA GPU); set weight_dtype to fp32 (with LoRA and gradient "
                             "checkpointing to save memory)")
    if precision_name == "fp16":
        raise UserInputError(f"precision fp16 does not fit weight_dtype bf16 on {MODEL_NODE}; set precision to bf16 "
                             "or auto")
    if device.type == "cpu" and not cpu_has_native_bf16():
        log.warning("weight_dtype bf16 on a CPU without native bf16: it runs, but slower than fp32 (bf16 "
                    "weights are meant for GPUs)")


def bf16_weights_would_help(network: nn.Module, device: torch.device) -> bool:
    """Whether the out-of-memory message should offer bf16 weights: a decoder in fp32 on a GPU that computes bf16."""
    config = getattr(network.encoder, "config", None)
    return (device.type == "cuda" and config is not None and is_decoder(config)
            and weight_dtype_of(network) == FP32 and torch.cuda.is_available() and torch.cuda.is_bf16_supported())
