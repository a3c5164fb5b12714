"""A tokenized split: what the dataset node returns and every later stage reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from .encoding import TokenEncoder

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class EncodedTextDataset:
    """Token ids, attention masks, labels and a per-row `length`, plus what made them.

    `labels` holds class ids, or multi-hot rows when `multi_label`; `label_names`
    are the class names (None for plain integer labels, whose ids are the values)."""

    data: Any  # datasets.Dataset
    encoder: Optional[TokenEncoder]
    label_values: list[int]
    label_names: Optional[list[str]] = None
    description: str = ""
    from_cache: bool = False
    fingerprint: str = ""
    multi_label: bool = False
    source: Optional[dict] = None  # {"name", "subset", "split"} as given to the dataset node (the model card)
    score_range: Optional[tuple[float, float]] = None  # float labels (lowest, highest): regression targets
    fractional_labels: bool = False  # some float labels are not whole numbers: scores only, no class ids
    text_pair_field: str = ""  # the second text of each row ("" = one text per row)

    @property
    def pairs(self) -> bool:
        """Each row is a pair of texts (text_field and text_pair_field), encoded together."""
        return bool(self.text_pair_field)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def num_classes(self) -> int:
        """Classes (single-label) or label slots (multi-label) the labels need."""
        if self.label_names:
            return len(self.label_names)
        if self.fractional_labels:
            return 1  # one score per text
        if self.multi_label and len(self.data):
            return len(self.data[0]["labels"])
        return max(self.label_values) + 1 if self.label_values else 0
