"""The network interface both classification heads implement.

Trainers, the frozen phase, evaluation and saving see a classifier network only through
this: `encoder` (a transformers model), `head` (the layers after it), `pool()` (the vector
the head reads, so a frozen encoder's output can be cached), `forward()` (logits), and
`replace_encoder()` (LoRA wraps the encoder). Our dropout + linear head (linear_head.py)
and Hugging Face's own `*ForSequenceClassification` head (hf_head.py) implement it side
by side; neither inherits from the other.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

import torch
from torch import nn

from ..errors import UserInputError

LINEAR_HEAD = "linear"
HF_HEAD = "hf_sequence_classification"
HEAD_TYPES = (LINEAR_HEAD, HF_HEAD)


MAX_DROPOUT = 0.9  # the dropout widgets' maximum (head and LoRA): more leaves too little signal to learn from


def check_dropout(dropout: Optional[float], what: str = "dropout", usual: str = "0.1 is usual") -> None:
    """0 <= dropout <= MAX_DROPOUT (None: linked, known at run time)."""
    if dropout is not None and not 0 <= dropout <= MAX_DROPOUT:
        raise UserInputError(f"{what} {dropout} must be between 0 and {MAX_DROPOUT}; {usual}")


def check_head_settings(num_outputs: Optional[int], dropout: Optional[float]) -> None:
    """The rule for a new head's size and dropout (the node's queue-time check calls it too)."""
    if num_outputs is not None and num_outputs < 1:
        raise UserInputError(f"num_outputs {num_outputs} must be at least 1 (1 = one logit for binary "
                             "classification, N for N classes)")
    check_dropout(dropout)


def check_head_type(head_type: str) -> None:
    if head_type not in HEAD_TYPES:
        raise UserInputError(f"head '{head_type}' is unknown; use one of {list(HEAD_TYPES)}")


def is_adapter_weight(name: str) -> bool:
    """A LoRA adapter's weight (PEFT names them lora_A, lora_B, ...), by its parameter name."""
    return "lora_" in name


class ClassifierNetwork(nn.Module):
    """Base of both heads: what they share (encoder inputs, trainability, vocabulary size)."""

    head_type: str = ""
    num_outputs: int = 1
    pooling: str = ""
    # Each head provides `encoder` (the transformers model) and `head` (the layers after it), as
    # submodules or as properties; they are not declared here so that nn.Module can register them.
    encoder: nn.Module
    head: nn.Module

    def replace_encoder(self, encoder: nn.Module) -> None:
        raise NotImplementedError

    def pool(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
             token_type_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        raise NotImplementedError

    def encoder_inputs(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor],
                       token_type_ids: Optional[torch.Tensor]) -> dict[str, Any]:
        """Keyword arguments for the encoder; token type ids only where the architecture takes them
        (DistilBERT and RoBERTa-style models have none, or ignore them)."""
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        takes = "token_type_ids" in inspect.signature(self.encoder.forward).parameters
        if token_type_ids is not None and takes:
            kwargs["token_type_ids"] = token_type_ids
        return kwargs

    @property
    def has_adapters(self) -> bool:
        """Whether LoRA adapters wrap the encoder (lora.py)."""
        return any(is_adapter_weight(name) for name, _ in self.encoder.named_parameters())

    def set_encoder_trainable(self, trainable: bool) -> None:
        """With LoRA adapters on the encoder only the adapter weights ever train; the base stays frozen."""
        adapters_only = self.has_adapters
        for name, param in self.encoder.named_parameters():
            param.requires_grad_(trainable and (not adapters_only or is_adapter_weight(name)))

    def set_all_trainable(self) -> None:
        self.set_encoder_trainable(True)
        for param in self.head.parameters():
            param.requires_grad_(True)

    @property
    def vocab_size(self) -> int:
        return int(self.encoder.get_input_embeddings().num_embeddings)
