"""A pretrained Hugging Face encoder with a dropout + linear head on a pooled vector.

The head gives one logit for binary classification (with BCEWithLogitsLoss) or one
per class. `pool()` and `head` are separate so a frozen encoder's pooled outputs
can be computed once and the head trained on them alone.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Optional

import torch
from torch import nn

from .errors import UserInputError
from .model_source import load_config, load_encoder, normalize_model_name

log = logging.getLogger(__name__)

POOLINGS = ("cls", "pooler", "mean")
_ATTENTION_DROPOUT_FIELDS = ("attention_probs_dropout_prob", "attention_dropout")


class HfEncoderClassifier(nn.Module):
    head_type = "linear"  # our own dropout + linear head; see hf_head.py for Hugging Face's

    def __init__(self, encoder: nn.Module, num_outputs: int = 1, pooling: str = "cls", dropout: float = 0.1,
                 model_name: str = "", init_seed: int = 0) -> None:
        super().__init__()
        if num_outputs < 1:
            raise UserInputError(f"num_outputs {num_outputs} must be at least 1 (1 = one logit for binary classification)")
        if pooling not in POOLINGS:
            raise UserInputError(f"pooling '{pooling}' is unknown; use one of {list(POOLINGS)}")
        if pooling == "pooler" and getattr(encoder, "pooler", None) is None:
            raise UserInputError(
                f"pooling 'pooler' needs a model with a pooler layer, and '{model_name}' "
                f"({encoder.config.model_type}) has none; use 'cls' or 'mean'"
            )
        if not 0 <= dropout < 1:
            raise UserInputError(f"dropout {dropout} must be in [0, 1); 0.1 is usual")
        self.encoder = encoder
        self.model_name = model_name
        self.pooling = pooling
        self.num_outputs = num_outputs
        hidden = encoder.config.hidden_size
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, num_outputs))
        generator = torch.Generator().manual_seed(init_seed)
        std = getattr(encoder.config, "initializer_range", 0.02)
        with torch.no_grad():
            self.head[1].weight.normal_(0.0, std, generator=generator)
            self.head[1].bias.zero_()
        self._init_metadata(encoder)

    def _init_metadata(self, encoder: nn.Module) -> None:
        """What training fills in besides weights: what a predictor or a saved folder needs."""
        self._takes_token_types = "token_type_ids" in inspect.signature(encoder.forward).parameters
        self.tokenizer: Optional[Any] = None
        self.label_names: Optional[list[str]] = None
        self.max_length: Optional[int] = None
        self.history: list[dict] = []
        # "single_label_classification" or "multi_label_classification" (Hugging Face's names), set by training.
        self.problem_type: Optional[str] = None
        self.lora: Optional[dict] = None  # LoRA settings once adapters wrap the encoder (lora.py)

    def replace_encoder(self, encoder: nn.Module) -> None:
        """Swap in a wrapped encoder (LoRA); the head and everything else stay."""
        self.encoder = encoder

    def pool(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
             token_type_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and self._takes_token_types:
            kwargs["token_type_ids"] = token_type_ids
        out = self.encoder(**kwargs)
        if self.pooling == "pooler":
            return out.pooler_output
        hidden = out.last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        if attention_mask is None:
            return hidden.mean(dim=1)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                token_type_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.head(self.pool(input_ids, attention_mask, token_type_ids))

    def set_encoder_trainable(self, trainable: bool) -> None:
        """With LoRA adapters only the adapter weights ever train; the pretrained base stays frozen."""
        adapters_only = getattr(self, "lora", None) is not None
        for name, param in self.encoder.named_parameters():
            param.requires_grad_(trainable and (not adapters_only or "lora_" in name))

    @property
    def vocab_size(self) -> int:
        return int(self.encoder.get_input_embeddings().num_embeddings)


HEAD_TYPES = ("linear", "hf_sequence_classification")


def build_classification_model(model_name: str, num_outputs: int = 1, pooling: str = "cls",
                               dropout: float = 0.1, fast_attention: bool = False, seed: int = 0,
                               trust_remote_code: bool = False, head_type: str = "linear") -> HfEncoderClassifier:
    """Load the encoder; with `fast_attention`, attention dropout is 0 so the fused kernel runs in training.
    `head_type` hf_sequence_classification uses Hugging Face's own head (hf_head.py) instead of ours."""
    if head_type not in HEAD_TYPES:
        raise UserInputError(f"head '{head_type}' is unknown; use one of {list(HEAD_TYPES)}")
    name = normalize_model_name(model_name)
    config = load_config(name, trust_remote_code)
    if fast_attention:
        for field in _ATTENTION_DROPOUT_FIELDS:
            if hasattr(config, field):
                setattr(config, field, 0.0)
    if head_type == "hf_sequence_classification":
        from .hf_head import build_hf_sequence_classifier

        return build_hf_sequence_classifier(name, config, num_outputs, dropout, seed, trust_remote_code)
    encoder = load_encoder(name, config, trust_remote_code)
    return HfEncoderClassifier(encoder, num_outputs, pooling, dropout, model_name=name, init_seed=seed)
