"""int8 inference with PyTorch on the CPU: a copy of the network whose nn.Linear layers are dynamically
quantized (int8 weights, activations quantized per batch), PyTorch's own CPU kernels. Where the CPU has
no native bf16, `auto` means fp32 and int8 is the remaining speed-up (docs/performance.md); it changes
answers slightly, so it is opt-in. The copy is made once per network and kept while the network lives
(never rebuilt per call); the network itself is never changed.
"""

from __future__ import annotations

import warnings
import weakref

import torch

from ..errors import UserInputError
from ..model.lora import merged_copy

_QUANTIZED: "weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module]" = weakref.WeakKeyDictionary()


def quantized_network(network: torch.nn.Module) -> torch.nn.Module:
    """The network's int8 copy (LoRA adapters merged first: PEFT's layers read their weights' dtype, which a
    quantized layer no longer has), built on the first call and reused after. Callers check the choice against
    the device first (check_inference_precision)."""
    cached = _QUANTIZED.get(network)
    if cached is not None:
        return cached
    quantize = getattr(getattr(getattr(torch, "ao", None), "quantization", None), "quantize_dynamic", None)
    if quantize is None:
        raise UserInputError(f"precision 'int8' needs PyTorch's dynamic quantization, which torch {torch.__version__} "
                             "does not have; choose auto or fp32, or backend onnxruntime")
    plain = merged_copy(network, torch.float32).eval()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # torch 2.10+ marks torch.ao.quantization deprecated; it still works
        built = quantize(plain, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    _QUANTIZED[network] = built
    return built
