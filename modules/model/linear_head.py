"""Our head: dropout + one linear layer on a pooled vector of a pretrained encoder.

One logit for binary classification (with BCEWithLogitsLoss) or one per class. `pool()`
and `head` are separate so a frozen encoder's pooled outputs can be computed once and
the head trained on them alone. The head's initial weights come from their own seeded
generator, so the same seed gives the same model whatever ran before.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..errors import UserInputError
from .network import LINEAR_HEAD, ClassifierNetwork, check_head_settings
from .pooling import POOLINGS


def mean_pool(hidden: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> torch.Tensor:
    """Average of the real (unpadded) token vectors."""
    if attention_mask is None:
        return hidden.mean(dim=1)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class LinearHeadNetwork(ClassifierNetwork):
    head_type = LINEAR_HEAD

    def __init__(self, encoder: nn.Module, num_outputs: int = 1, pooling: str = "cls", dropout: float = 0.1,
                 init_seed: int = 0) -> None:
        super().__init__()
        check_head_settings(num_outputs, dropout)
        if pooling not in POOLINGS:
            raise UserInputError(f"pooling '{pooling}' is unknown; use one of {list(POOLINGS)}")
        if pooling == "pooler" and getattr(encoder, "pooler", None) is None:
            raise UserInputError(
                f"pooling 'pooler' needs a model with a pooler layer, and this {encoder.config.model_type} "
                "model has none; use 'cls' or 'mean'"
            )
        self.encoder = encoder
        self.pooling = pooling
        self.num_outputs = num_outputs
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(encoder.config.hidden_size, num_outputs))
        generator = torch.Generator().manual_seed(init_seed)
        std = getattr(encoder.config, "initializer_range", 0.02)
        with torch.no_grad():
            self.head[1].weight.normal_(0.0, std, generator=generator)
            self.head[1].bias.zero_()

    @property
    def dropout(self) -> float:
        return float(self.head[0].p)

    def replace_encoder(self, encoder: nn.Module) -> None:
        self.encoder = encoder

    def pool(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
             token_type_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        out = self.encoder(**self.encoder_inputs(input_ids, attention_mask, token_type_ids))
        if self.pooling == "pooler":
            return out.pooler_output
        if self.pooling == "cls":
            return out.last_hidden_state[:, 0]
        return mean_pool(out.last_hidden_state, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                token_type_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.head(self.pool(input_ids, attention_mask, token_type_ids))
