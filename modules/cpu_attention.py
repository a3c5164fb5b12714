"""Attention in fp32 inside bf16/fp16 autocast on the CPU.

At small head sizes (MiniLM's 32) PyTorch's fused CPU attention kernel runs faster in fp32 than in
bf16, and is exact: `benchmarks/attention_kernels.py` measured 0.71x the time at 256 tokens and
0.79x at 512 for forward + backward (docs/performance.md). The weight matrix multiplies around it
stay in bf16. The function is registered with transformers' `AttentionInterface` under its own name
and set on the models this pack loads only, so other models in the same ComfyUI process keep
transformers' own `sdpa`; and only on the families it was measured on (`MEASURED_TYPES`: the
encoders with small heads the pack was benchmarked with), so every other family (decoders,
ModernBERT, DeBERTa, ...) keeps transformers' own attention unchanged. `attn_implementation` is
not saved with a config, so saved folders load elsewhere with plain `sdpa`.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import torch

log = logging.getLogger(__name__)

NAME = "hf_text_finetune_sdpa"
_HALF = (torch.bfloat16, torch.float16)
MEASURED_TYPES = frozenset({"bert", "roberta", "distilbert", "albert"})  # MiniLM is a bert


def sdpa_fp32_on_cpu(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: torch.Tensor | None, **kwargs: Any) -> tuple[torch.Tensor, Any]:
    """transformers' `sdpa_attention_forward`, computed in fp32 when autocast hands it half-precision CPU
    tensors and no attention dropout applies (with dropout the math kernel runs, which bf16 does faster)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if query.device.type != "cpu" or query.dtype not in _HALF or kwargs.get("dropout", 0.0):
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    if attention_mask is not None and attention_mask.is_floating_point():
        attention_mask = attention_mask.float()
    with torch.autocast("cpu", enabled=False):
        output, weights = sdpa_attention_forward(module, query.float(), key.float(), value.float(),
                                                 attention_mask, **kwargs)
    return output.to(query.dtype), weights


@functools.cache
def _register() -> bool:
    """Register once, when the first model is loaded: importing the pack stays free of transformers."""
    try:
        from transformers import AttentionInterface
    except ImportError:  # transformers without the attention interface: models keep their own attention
        return False
    AttentionInterface.register(NAME, sdpa_fp32_on_cpu)
    try:  # the mask the models build for it: sdpa's (a boolean mask, or none where no row is padded)
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return True
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return True


def use_fp32_cpu_attention(model: Any) -> None:
    """Switch a model loaded with `sdpa` to the fp32-on-CPU variant (a no-op for other attentions)."""
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa" or getattr(config, "model_type", "") not in MEASURED_TYPES:
        return
    if not _register() or not getattr(type(model), "_can_set_attn_implementation", lambda: False)():
        return
    model.set_attn_implementation(NAME)
    log.debug("%s: attention in fp32 inside autocast on the CPU", type(model).__name__)
