"""Hugging Face's own `*ForSequenceClassification` model behind our classifier interface.

With this head a saved folder is a standard transformers model: `pipeline(
"text-classification", model=folder)` loads it and predicts exactly what our Predict
node does. The trainer and the frozen phase still see `encoder`, `head` and
`pool()`: `forward` runs the Hugging Face model itself, while `pool` + `head` split
it at the vector its classifier reads, so cached frozen-encoder features give the
same logits. Where a family's head cannot be split that way, only the frozen phase
is unavailable (a clear error); everything else works.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Optional

import torch
from torch import nn

from ..errors import UserInputError
from ..pretrained import load_failed, load_pretrained
from .network import HF_HEAD, ClassifierNetwork

log = logging.getLogger(__name__)

# Config fields that hold the dropout before the classifier, by family.
_CLASSIFIER_DROPOUT_FIELDS = ("classifier_dropout", "seq_classif_dropout", "classifier_dropout_prob")


def head_layout(hf_model: nn.Module) -> Optional[str]:
    """How the family's classifier reads the encoder output:
    pooler: dropout + linear on the encoder's pooler output (BERT, ALBERT);
    pre_classifier: linear, ReLU, dropout, linear on the first token (DistilBERT);
    first_token_module: a head module fed the hidden states, reading the first token (RoBERTa, ELECTRA);
    last_token: a linear `score` on the last real token (decoders: Qwen, Llama, Gemma, Mistral, Phi-3, GPT-2)."""
    children = dict(hf_model.named_children())
    base = children.pop(hf_model.base_model_prefix, None)
    if base is not None and set(children) == {"score"} and isinstance(children["score"], nn.Linear):
        return "last_token"
    classifier = children.get("classifier")
    if base is None or classifier is None:
        return None
    if isinstance(classifier, nn.Linear):
        if set(children) == {"pre_classifier", "dropout", "classifier"}:
            return "pre_classifier"
        if set(children) <= {"dropout", "classifier"} and getattr(base, "pooler", None) is not None:
            return "pooler"
        return None
    if set(children) == {"classifier"} and "features" in inspect.signature(classifier.forward).parameters:
        return "first_token_module"
    return None


class SequenceHead(nn.Module):
    """The Hugging Face model's non-encoder layers, applied to a pooled vector."""

    def __init__(self, hf_model: nn.Module, layout: Optional[str]) -> None:
        super().__init__()
        self.layout = layout
        self.model_type = getattr(hf_model.config, "model_type", "?")
        for name, child in hf_model.named_children():
            if name != hf_model.base_model_prefix:
                self.add_module(name, child)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        if self.layout == "pooler":
            return self.classifier(self.dropout(pooled) if hasattr(self, "dropout") else pooled)
        if self.layout == "pre_classifier":
            return self.classifier(self.dropout(torch.relu(self.pre_classifier(pooled))))
        if self.layout == "first_token_module":
            return self.classifier(pooled.unsqueeze(1))
        if self.layout == "last_token":
            return self.score(pooled)
        raise UserInputError(
            f"the Hugging Face head of '{self.model_type}' models cannot be trained on cached encoder features; "
            "set freeze_pretrained_module_epochs to 0, or use head 'linear' on the model node"
        )


class HfSequenceNetwork(ClassifierNetwork):
    """`AutoModelForSequenceClassification` behind the classifier network interface."""

    head_type = HF_HEAD

    def __init__(self, hf_model: nn.Module) -> None:
        super().__init__()
        self.hf_model = hf_model
        self.num_outputs = int(hf_model.config.num_labels)
        self.layout = head_layout(hf_model)

    @property
    def pooling(self) -> str:
        """What the head reads: `last` (a decoder's last real token) or `hf` (the family's own rule)."""
        return "last" if self.layout == "last_token" else "hf"

    @property
    def encoder(self) -> nn.Module:
        return getattr(self.hf_model, self.hf_model.base_model_prefix)

    def replace_encoder(self, encoder: nn.Module) -> None:
        setattr(self.hf_model, self.hf_model.base_model_prefix, encoder)

    @property
    def head(self) -> SequenceHead:
        """A view over the Hugging Face model's own head layers (same parameters, no copy)."""
        return SequenceHead(self.hf_model, self.layout)

    def pool(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
             token_type_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        out = self.encoder(**self.encoder_inputs(input_ids, attention_mask, token_type_ids))
        if self.layout == "pooler":
            return out.pooler_output
        if self.layout == "last_token":
            return last_token(out.last_hidden_state, input_ids, self.hf_model.config)
        return out.last_hidden_state[:, 0]

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                token_type_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.hf_model(**self.encoder_inputs(input_ids, attention_mask, token_type_ids)).logits


def last_token(hidden: torch.Tensor, input_ids: torch.Tensor, config: Any) -> torch.Tensor:
    """Each row's rightmost token that is not the pad token (either padding side), as transformers'
    decoder heads pick it, so cached features give the same logits as the model itself."""
    pad_id = config.get_text_config().pad_token_id
    if pad_id is None:
        return hidden[:, -1]
    not_pad = (input_ids != pad_id).to(torch.int32)
    positions = torch.arange(input_ids.shape[-1], device=input_ids.device, dtype=torch.int32)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), (positions * not_pad).argmax(-1)]


def load_sequence_model(name: str, config: Any, trust_remote_code: bool = False,
                        dtype: Optional[torch.dtype] = None) -> nn.Module:
    """The family's `*ForSequenceClassification` model; an architecture without one is a clear error."""
    from transformers import AutoModelForSequenceClassification

    try:
        return load_pretrained(AutoModelForSequenceClassification, name, config, trust_remote_code, dtype)
    except ValueError as exc:
        if "Unrecognized configuration class" in str(exc):
            raise UserInputError(
                f"model '{name}' ({getattr(config, 'model_type', '?')}) has no Hugging Face sequence-classification "
                "head; use head 'linear' on the model node"
            ) from exc
        raise load_failed("model weights", name, exc) from exc


def set_classifier_dropout(config: Any, dropout: float) -> None:
    for field in _CLASSIFIER_DROPOUT_FIELDS:
        if hasattr(config, field):
            setattr(config, field, dropout)
