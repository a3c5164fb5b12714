"""LoRA adapters (PEFT) on a classifier's encoder: train small low-rank updates and the head.

The encoder is wrapped with `peft.get_peft_model`; the pretrained weights stay
frozen for the whole run (`set_encoder_trainable` only ever unfreezes `lora_`
weights), the head trains fully: it sits outside the adapted encoder, which is what PEFT's
`modules_to_save` does for a whole-model wrap. A saved folder holds the encoder with the adapters
merged (usable without PEFT) plus the adapters themselves in `adapter/`; loading
puts the adapters back and takes their update out of the merged weights again, so
training can continue on exactly the adapters that were saved.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from ..errors import UserInputError
from .classifier import TextClassifier
from .decoders import is_decoder
from .network import ClassifierNetwork, check_dropout

log = logging.getLogger(__name__)

ADAPTER_FOLDER = "adapter"
# PEFT's own defaults cover BERT, RoBERTa, ELECTRA, XLM-RoBERTa and DeBERTa-v2; these name their query and
# value projections differently or are missing from PEFT's table.
_EXTRA_TARGETS = {"distilbert": ["q_lin", "v_lin"], "albert": ["query", "value"], "camembert": ["query", "value"],
                  "mpnet": ["q", "v"], "modernbert": ["Wqkv"]}

@dataclass(frozen=True)
class LoraSettings:
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ()  # empty: the architecture's default (query and value projections)
    seed: int = 0

    def check(self) -> None:
        check_lora_values(self.r, self.alpha, self.dropout)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data


def check_lora_values(r: Optional[int] = None, alpha: Optional[float] = None,
                      dropout: Optional[float] = None) -> None:
    """The rule of `LoraSettings.check`, value by value (None: linked, known at run time)."""
    if r is not None and r < 1:
        raise UserInputError(f"LoRA r {r} must be at least 1; 8 or 16 are usual")
    if alpha is not None and alpha <= 0:
        raise UserInputError(f"LoRA alpha {alpha} must be above 0; twice r (e.g. 16 for r 8) is usual")
    check_dropout(dropout, "LoRA dropout", "0.05 or 0.1 are usual")


def parse_target_modules(text: str) -> tuple[str, ...]:
    """'query, value' -> ('query', 'value'); '' -> () meaning the architecture's default."""
    return tuple(part.strip() for part in (text or "").replace(";", ",").split(",") if part.strip())


def _is_linear(module: nn.Module) -> bool:
    """nn.Linear, or the GPT-2 family's Conv1D (a linear layer with transposed weights), which PEFT adapts too."""
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def linear_module_names(encoder: nn.Module) -> list[str]:
    """Last name parts of the encoder's linear layers: what target_modules can name."""
    return sorted({name.rsplit(".", 1)[-1] for name, module in encoder.named_modules() if _is_linear(module)})


def default_target_modules(encoder: nn.Module) -> Optional[list[str]]:
    """Encoders: their attention query and value projections (PEFT's table, completed). Decoders: every
    projection of attention and MLP (q/k/v/o, gate/up/down; Phi-3's fused qkv_proj and gate_up_proj; GPT-2's
    c_attn, c_proj, c_fc), as decoder LoRA recipes (QLoRA, LLaMA-Factory, Unsloth) do: query and value
    alone adapt a decoder far less. The encoder here is the base model, so no output layer is among them."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_DEFAULTS

    config = getattr(encoder, "config", None)
    if config is not None and is_decoder(config):
        return linear_module_names(encoder) or None
    model_type = getattr(config, "model_type", "?")
    targets = _EXTRA_TARGETS.get(model_type) or PEFT_DEFAULTS.get(model_type)
    return list(targets) if isinstance(targets, list) else None


def resolve_target_modules(encoder: nn.Module, requested: tuple[str, ...]) -> list[str]:
    model_type = getattr(encoder.config, "model_type", "?")
    available = linear_module_names(encoder)
    if not requested:
        targets = default_target_modules(encoder)
        if targets is None:
            raise UserInputError(
                f"there is no default LoRA target for '{model_type}' models; name the attention projections in "
                f"target_modules, e.g. '{', '.join(available[:2])}' (its linear layers: {available})"
            )
        return targets
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise UserInputError(
            f"LoRA target_modules {unknown} are not linear layers of this '{model_type}' encoder; choose from "
            f"{available}, or leave target_modules empty for the default"
        )
    return list(requested)


def _transposed_targets(encoder: nn.Module, targets: list[str]) -> bool:
    """Whether the targets are Conv1D layers (GPT-2 family), whose weights PEFT must read transposed."""
    return any(type(module).__name__ == "Conv1D" and name.rsplit(".", 1)[-1] in targets
               for name, module in encoder.named_modules())


@contextlib.contextmanager
def _quiet_peft():
    """PEFT calls a transformers method that transformers 5 marks deprecated; not the user's concern."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def _detached_copy(network: ClassifierNetwork) -> ClassifierNetwork:
    """A deep copy with ordinary tensors (a cached input may hold inference-mode tensors)."""
    with torch.inference_mode(False), torch.no_grad():
        return copy.deepcopy(network)


def add_lora(model: TextClassifier, settings: LoraSettings) -> TextClassifier:
    """A copy of `model` whose encoder carries new LoRA adapters; the input is unchanged."""
    from peft import LoraConfig, get_peft_model

    settings.check()
    if model.lora is not None:
        raise UserInputError("this model already has LoRA adapters; connect the model node's output, not a LoRA one")
    targets = resolve_target_modules(model.network.encoder, settings.target_modules)
    network = _detached_copy(model.network)
    config = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=targets, bias="none",
                        fan_in_fan_out=_transposed_targets(network.encoder, targets))
    with torch.inference_mode(False), torch.random.fork_rng(devices=[]), _quiet_peft():
        torch.manual_seed(settings.seed)  # adapter A matrices start random
        network.replace_encoder(get_peft_model(network.encoder, config))
    network.set_encoder_trainable(True)
    trainable = sum(p.numel() for p in network.parameters() if p.requires_grad)
    total = sum(p.numel() for p in network.parameters())
    log.info("LoRA r=%d on %s: %d of %d parameters train (%.2f%%)", settings.r, targets, trainable, total,
             100 * trainable / max(total, 1))
    # saved optimizer state does not fit the new parameters
    return model.with_network(network, lora={**settings.as_dict(), "target_modules": targets},
                              resume_state=None, training_state=None)


def merged_encoder(network: ClassifierNetwork) -> nn.Module:
    """A plain transformers encoder with the adapters folded into its weights (a copy)."""
    return merged_copy(network).encoder


def merged_copy(network: ClassifierNetwork, dtype: Optional[torch.dtype] = None) -> ClassifierNetwork:
    """A deep copy with ordinary tensors whose adapters, if it has any, are folded into plain linear layers
    (what a quantizer or an exporter that knows no PEFT layers needs), all in `dtype` where one is given
    (fp32 for them: bf16 pretrained weights are neither quantized nor exported as such); the input is unchanged."""
    plain = _detached_copy(network)
    with torch.inference_mode(False), torch.no_grad():
        if hasattr(plain.encoder, "merge_and_unload"):
            plain.replace_encoder(plain.encoder.merge_and_unload())
        if dtype is not None:
            plain.to(dtype)
    return plain


def save_adapter(network: ClassifierNetwork, folder: Path) -> None:
    network.encoder.save_pretrained(str(folder / ADAPTER_FOLDER))


def restore_lora(network: ClassifierNetwork, folder: Path) -> None:
    """Put saved adapters back on an encoder whose weights have them merged, then take their
    update out of the base weights so the adapters train on the original base again."""
    from peft import PeftModel
    from peft.tuners.tuners_utils import BaseTunerLayer

    adapter = folder / ADAPTER_FOLDER
    if not (adapter / "adapter_config.json").is_file():
        raise UserInputError(f"saved classifier '{folder}' says it has LoRA adapters but '{adapter}' holds none; "
                             "save the model again")
    with torch.inference_mode(False), torch.no_grad(), _quiet_peft():
        peft_encoder = PeftModel.from_pretrained(network.encoder, str(adapter), is_trainable=True)
        for module in peft_encoder.modules():
            if isinstance(module, BaseTunerLayer):
                module.merged_adapters = list(module.active_adapters)
        peft_encoder.base_model.unmerge_adapter()
    network.replace_encoder(peft_encoder)
    network.set_encoder_trainable(True)
