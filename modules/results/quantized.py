"""int8 inference on the CPU: Predict and Evaluate run a copy of the network whose nn.Linear layers
are dynamically quantized (int8 weights, activations quantized per batch), PyTorch's own CPU
kernels. Where the CPU has no native bf16, `auto` means fp32 and this is the remaining speed-up
(1.4-1.9x measured, docs/performance.md); it changes answers slightly, so it is opt-in.
"""

from __future__ import annotations

import warnings
from typing import Optional

import torch

from ..errors import UserInputError
from ..model.lora import merged_copy
from ..precision import Precision, choose_precision


def inference_network(network: torch.nn.Module, choice: Optional[str],
                      device: torch.device) -> tuple[torch.nn.Module, Precision]:
    """The network and precision to run inference with: for int8 a quantized copy (LoRA adapters merged
    first: PEFT's layers read their weights' dtype, which a quantized layer no longer has) and no autocast;
    otherwise the network itself and choose_precision's autocast. Callers check the choice against the
    device first (check_inference_precision), before they move or copy the network there."""
    if (choice or "auto").lower() != "int8":
        return network, choose_precision(choice, device)
    quantize = getattr(getattr(getattr(torch, "ao", None), "quantization", None), "quantize_dynamic", None)
    if quantize is None:
        raise UserInputError(f"precision 'int8' needs PyTorch's dynamic quantization, which torch {torch.__version__} "
                             "does not have; choose auto or fp32")
    plain = merged_copy(network).eval()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # torch 2.10+ marks torch.ao.quantization deprecated; it still works
        return quantize(plain, {torch.nn.Linear}, dtype=torch.qint8, inplace=True), Precision("fp32", "cpu")
