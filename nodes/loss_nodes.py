"""Loss nodes: binary (one logit, sigmoid built in) and multi-class cross-entropy."""

from __future__ import annotations

from ..modules.errors import UserInputError
from ..modules.training.losses import LossSpec, REDUCTIONS
from .widgets import category, validation

REDUCTION_TOOLTIP = "mean: average over the batch (usual). sum: add up."


class PtnBCEWithLogitsLoss:
    DESCRIPTION = ("Binary cross-entropy on raw logits (the sigmoid is built in), for a model with one output "
                   "and labels 0/1.")
    CATEGORY = category("loss")
    RETURN_TYPES = ("PTLOSS",)
    RETURN_NAMES = ("loss_function",)
    OUTPUT_TOOLTIPS = ("Loss for a trainer.",)
    FUNCTION = "build"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "reduction": (list(REDUCTIONS), {"default": "mean", "tooltip": REDUCTION_TOOLTIP}),
            "pos_weight": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1000.0, "step": 0.01,
                                     "tooltip": "Weight of positive samples; negatives/positives balances a skewed "
                                                "dataset. 1.0 = no weighting."}),
        }, "optional": {
            "auto_pos_weight": ("BOOLEAN", {"default": False,
                                            "tooltip": "Compute pos_weight from the training labels when training "
                                                       "starts: negatives / positives (one per label for "
                                                       "multi-label). Replaces the pos_weight value."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, pos_weight=None):
        def check() -> None:
            if pos_weight is not None and pos_weight <= 0:
                raise UserInputError(f"pos_weight {pos_weight} must be above 0 (1.0 = no weighting)")
        return validation(check)

    def build(self, reduction, pos_weight, auto_pos_weight=False):
        if auto_pos_weight:
            return (LossSpec("bce_with_logits", reduction, auto_weights=True),)
        return (LossSpec("bce_with_logits", reduction, None if pos_weight == 1.0 else pos_weight),)


AUTO = "auto"


def parse_class_weights(text: str) -> tuple[float, ...] | None:
    """Comma-separated weights; empty = none; 'auto' is handled by the caller."""
    text = (text or "").strip()
    if not text or text.lower() == AUTO:
        return None
    try:
        return tuple(float(part) for part in text.replace(";", ",").split(",") if part.strip())
    except ValueError as exc:
        raise UserInputError(f"class_weights '{text}' must be numbers separated by commas, e.g. 1.0, 2.5, 1.0") from exc


class PtnCrossEntropyLoss:
    DESCRIPTION = "Cross-entropy for single-label classification with one output per class (softmax built in)."
    CATEGORY = category("loss")
    RETURN_TYPES = ("PTLOSS",)
    RETURN_NAMES = ("loss_function",)
    OUTPUT_TOOLTIPS = ("Loss for a trainer.",)
    FUNCTION = "build"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "reduction": (list(REDUCTIONS), {"default": "mean", "tooltip": REDUCTION_TOOLTIP}),
            "label_smoothing": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 0.99, "step": 0.01,
                                          "tooltip": "Soften the targets; 0.1 can help generalization."}),
        }, "optional": {
            "class_weights": ("STRING", {"default": "", "tooltip": "Optional weight per class, comma separated "
                                                                   "(e.g. 1.0, 3.0, 1.0). Empty = equal. 'auto' = "
                                                                   "inverse class frequency of the training labels "
                                                                   "(rare classes weigh more)."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, class_weights=None):
        return validation(lambda: class_weights is None or parse_class_weights(class_weights))

    def build(self, reduction, label_smoothing, class_weights=""):
        auto = (class_weights or "").strip().lower() == AUTO
        return (LossSpec("cross_entropy", reduction, class_weights=parse_class_weights(class_weights),
                         label_smoothing=label_smoothing, auto_weights=auto),)
