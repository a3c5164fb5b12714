"""Dataset split node: a seeded, stratified validation set carved from the training data."""

from __future__ import annotations

from ..modules.data.splits import VALIDATION_FRACTIONS, check_validation_fraction, split_train_validation
from . import widgets
from .widgets import category, validation


class PtvTrainValidationSplit:
    DESCRIPTION = ("Splits a tokenized training dataset into a training part and a validation part, keeping each "
                   "class's share the same in both (stratified) and the same rows for the same seed. Use the "
                   "validation part for early stopping and model choice, and keep the test split for the final "
                   "Evaluate.")
    CATEGORY = category("data")
    RETURN_TYPES = ("PTVDATASET", "PTVDATASET")
    RETURN_NAMES = ("train_dataset", "val_dataset")
    OUTPUT_TOOLTIPS = ("The training rows that remain (for the train loader).",
                       "The validation rows (for a val loader with shuffle off).")
    FUNCTION = "split"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "dataset": ("PTVDATASET", {"tooltip": "Tokenized training dataset to split."}),
                "validation_fraction": ("FLOAT", {"default": 0.1, "min": VALIDATION_FRACTIONS[0],
                                                  "max": VALIDATION_FRACTIONS[1], "step": 0.01,
                                                  "tooltip": "Share of the rows kept for validation (0.1 = 10%)."}),
                "seed": widgets.seed("Seed of the split; the same seed always gives the same rows."),
                "stratify": ("BOOLEAN", {"default": True,
                                         "tooltip": "Keep every class's share equal in both parts (recommended). "
                                                    "Multi-label data is split at random."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, validation_fraction=None):
        return validation(lambda: check_validation_fraction(validation_fraction))

    def split(self, dataset, validation_fraction, seed, stratify):
        return split_train_validation(dataset, validation_fraction, seed, stratify)
