"""Loss nodes: binary (one logit, sigmoid built in), multi-class cross-entropy, and regression (MSE or Huber)."""

from __future__ import annotations

from ..modules.training.losses import (REDUCTIONS, REGRESSION_KINDS, bce_spec, check_huber_delta, check_pos_weight,
                                       cross_entropy_spec, parse_class_weights, regression_spec)
from .widgets import category, validation


def _reduction():
    return (list(REDUCTIONS), {"default": "mean", "tooltip": "mean: average over the batch (usual). sum: add up."})


class _LossNode:
    CATEGORY = category("loss")
    RETURN_TYPES = ("PTLOSS",)
    RETURN_NAMES = ("loss_function",)
    OUTPUT_TOOLTIPS = ("Loss for a trainer.",)
    FUNCTION = "build"


class PtnBCEWithLogitsLoss(_LossNode):
    DESCRIPTION = ("Binary cross-entropy on raw logits (the sigmoid is built in), for a model with one output "
                   "and labels 0/1.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "reduction": _reduction(),
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
        return validation(lambda: check_pos_weight(pos_weight))

    def build(self, reduction, pos_weight, auto_pos_weight=False):
        return (bce_spec(reduction, pos_weight, auto_pos_weight),)


class PtnCrossEntropyLoss(_LossNode):
    DESCRIPTION = "Cross-entropy for single-label classification with one output per class (softmax built in)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "reduction": _reduction(),
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
        return validation(lambda: parse_class_weights(class_weights))

    def build(self, reduction, label_smoothing, class_weights=""):
        return (cross_entropy_spec(reduction, label_smoothing, class_weights),)


class PtnMSELoss(_LossNode):
    DESCRIPTION = ("Regression loss for a score per text (e.g. similarity 0-5): mean squared error, or Huber "
                   "(squared near the target, linear beyond huber_delta: outliers pull less). Needs a model with "
                   "num_outputs 1 and float labels; metrics become MSE, MAE, Pearson and Spearman.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "reduction": _reduction(),
            "kind": (list(REGRESSION_KINDS), {"default": "mse",
                                              "tooltip": "mse: mean squared error (usual, STS-B). huber: MSE for "
                                                         "errors below huber_delta, absolute error above it."}),
            "huber_delta": ("FLOAT", {"default": 1.0, "min": 0.01, "max": 100.0, "step": 0.01,
                                      "tooltip": "huber only: the error where the loss turns from squared to "
                                                 "linear, in label units."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, huber_delta=None):
        return validation(lambda: check_huber_delta(huber_delta))

    def build(self, reduction, kind, huber_delta):
        return (regression_spec(reduction, kind, huber_delta),)
