"""Optimizer and learning-rate scheduler nodes: they return recipes the trainer builds."""

from __future__ import annotations

from ..modules.training.optimizers import (OptimizerSpec, check_depth_levers, check_head_learning_rate,
                                           check_learning_rate, check_weight_decay)
from ..modules.training.schedulers import MAX_WARMUP_RATIO, WARMUP_KINDS, SchedulerSpec, check_warmup_ratio
from . import widgets
from .widgets import category, validation

LR_TOOLTIP = "Learning rate. 2e-5 to 5e-5 for fine-tuning a whole transformer; about 1e-3 for a head alone."
WD_TOOLTIP = "Decoupled weight decay on weights (not on biases or LayerNorm). 0.01 is usual."


def depth_lever_widgets() -> dict:
    """Optional widgets of every optimizer node (last, so saved workflows keep their order)."""
    return {
        "layer_lr_decay": ("FLOAT", {"default": 1.0, "min": 0.05, "max": 1.0, "step": 0.01,
                                     "tooltip": "Layer-wise learning-rate decay: encoder layer l of L trains at "
                                                "learning_rate x decay^(L - l), the embeddings at x decay^L, the "
                                                "head at learning_rate. 1 = one rate everywhere; 0.8-0.95 usual."}),
        "freeze_embeddings": ("BOOLEAN", {"default": False,
                                          "tooltip": "Keep the encoder's embeddings fixed (no gradients: less "
                                                     "backward work and memory)."}),
        "freeze_layers": ("INT", {"default": 0, "min": 0, "max": 100,
                                  "tooltip": "Keep the lowest N encoder layers fixed (0 = none). With "
                                             "freeze_embeddings on, backward stops below layer N + 1."}),
        "head_learning_rate": widgets.learning_rate(
            0.0, "The classification head's own learning rate (0 = learning_rate). The head starts from random "
                 "weights: at a fine-tuning rate it barely moves in a run of a few dozen steps; about 1e-3 lets it "
                 "learn (benchmarks/small_data.py)."),
    }


class _OptimizerNode:
    CATEGORY = category("optim")
    RETURN_TYPES = ("PTOPTIMIZER",)
    RETURN_NAMES = ("optimizer",)
    OUTPUT_TOOLTIPS = ("Optimizer recipe; the trainer builds a fresh optimizer for each run.",)
    FUNCTION = "build"

    @classmethod
    def VALIDATE_INPUTS(cls, learning_rate=None, weight_decay=None, layer_lr_decay=None, freeze_layers=None,
                        head_learning_rate=None):
        return validation(lambda: check_learning_rate(learning_rate), lambda: check_weight_decay(weight_decay),
                          lambda: check_depth_levers(layer_lr_decay, freeze_layers),
                          lambda: check_head_learning_rate(head_learning_rate))


class PtoAdamW(_OptimizerNode):
    DESCRIPTION = "AdamW, the standard optimizer for fine-tuning transformers (fused kernel where available)."
    KIND = "AdamW"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "learning_rate": widgets.learning_rate(5e-5, LR_TOOLTIP),
            "beta1": ("FLOAT", {"default": 0.9, "min": 0.0, "max": 0.9999, "step": 0.001, "tooltip": "Adam beta1."}),
            "beta2": ("FLOAT", {"default": 0.999, "min": 0.0, "max": 0.99999, "step": 0.0001, "tooltip": "Adam beta2."}),
            "weight_decay": ("FLOAT", {"default": 0.01, "min": 0.0, "max": 1.0, "step": 0.001, "tooltip": WD_TOOLTIP}),
            "amsgrad": ("BOOLEAN", {"default": False, "tooltip": "Use the AMSGrad variant."}),
        }, "optional": {
            "eps": ("FLOAT", {"default": 1e-8, "min": 1e-12, "max": 1e-3, "step": 1e-9, "round": False,
                              "tooltip": "Adam epsilon."}),
            **depth_lever_widgets(),
        }}

    def build(self, learning_rate, beta1, beta2, weight_decay, amsgrad, eps=1e-8, **depth_levers):
        return (OptimizerSpec(self.KIND, learning_rate, weight_decay,
                              {"betas": (beta1, beta2), "amsgrad": amsgrad, "eps": eps}, **depth_levers),)


class PtoAdam(PtoAdamW):
    """AdamW's widgets and recipe; only the weight decay differs (added to the gradient)."""

    DESCRIPTION = "Adam with L2 weight decay added to the gradient (prefer Pto AdamW for transformers)."
    KIND = "Adam"

    @classmethod
    def INPUT_TYPES(cls):
        spec = PtoAdamW.INPUT_TYPES()
        spec["required"]["weight_decay"] = ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.001,
                                                      "tooltip": "L2 penalty added to the gradient."})
        return spec


class PtoSGD(_OptimizerNode):
    DESCRIPTION = "Stochastic gradient descent with optional (Nesterov) momentum."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "learning_rate": widgets.learning_rate(1e-3, "Learning rate; SGD needs larger rates than AdamW."),
            "momentum": ("FLOAT", {"default": 0.9, "min": 0.0, "max": 0.999, "step": 0.01, "tooltip": "Momentum factor."}),
            "weight_decay": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.001, "tooltip": "L2 penalty."}),
            "nesterov": ("BOOLEAN", {"default": False, "tooltip": "Nesterov momentum (needs momentum > 0)."}),
        }, "optional": depth_lever_widgets()}

    def build(self, learning_rate, momentum, weight_decay, nesterov, **depth_levers):
        return (OptimizerSpec("SGD", learning_rate, weight_decay, {"momentum": momentum, "nesterov": nesterov},
                              **depth_levers),)


class _SchedulerNode:
    CATEGORY = category("optim")
    RETURN_TYPES = ("PTLRSCHEDULER",)
    RETURN_NAMES = ("lr_scheduler",)
    OUTPUT_TOOLTIPS = ("Learning-rate schedule for a trainer's lr_scheduler input.",)
    FUNCTION = "build"


class PtoLrSchedulerWarmup(_SchedulerNode):
    DESCRIPTION = ("The transformer fine-tuning schedule (transformers.get_scheduler): warm up, then decay "
                   "linearly or along a cosine. Steps every optimizer step.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "schedule": (list(WARMUP_KINDS), {"default": "linear", "tooltip": "Shape after warmup."}),
            "warmup_ratio": ("FLOAT", {"default": 0.06, "min": 0.0, "max": MAX_WARMUP_RATIO, "step": 0.01,
                                       "tooltip": "Fraction of the fine-tuning steps spent warming up."}),
            "warmup_steps": ("INT", {"default": 0, "min": 0, "max": 1_000_000,
                                     "tooltip": "Warmup steps; overrides warmup_ratio when above 0."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, warmup_ratio=None):
        return validation(lambda: check_warmup_ratio(warmup_ratio))

    def build(self, schedule, warmup_ratio, warmup_steps):
        return (SchedulerSpec(schedule, warmup_ratio, warmup_steps),)


class PtoLrSchedulerStep(_SchedulerNode):
    DESCRIPTION = "StepLR: multiply the learning rate by gamma every step_size epochs."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "step_size": ("INT", {"default": 1, "min": 1, "max": 10_000, "tooltip": "Epochs between decays."}),
            "gamma": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Decay factor."}),
        }}

    def build(self, step_size, gamma):
        return (SchedulerSpec("step", options={"step_size": step_size, "gamma": gamma}),)


class PtoLrSchedulerCosineAnnealing(_SchedulerNode):
    DESCRIPTION = "CosineAnnealingLR over epochs, from the chosen rate down to eta_min."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "t_max": ("INT", {"default": 0, "min": 0, "max": 10_000,
                              "tooltip": "Epochs of the half cosine; 0 = the fine-tuning epochs."}),
            "eta_min": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 1e-7, "round": False,
                                  "tooltip": "Lowest learning rate."}),
        }}

    def build(self, t_max, eta_min):
        return (SchedulerSpec("cosine_annealing", options={"t_max": t_max, "eta_min": eta_min}),)


class PtoLrSchedulerReduceOnPlateau(_SchedulerNode):
    DESCRIPTION = "ReduceLROnPlateau: lower the rate when the validation loss stops improving (train loss without validation)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "factor": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 0.99, "step": 0.01, "tooltip": "Multiply the rate by this."}),
            "patience": ("INT", {"default": 0, "min": 0, "max": 1000, "tooltip": "Epochs without improvement to wait."}),
            "threshold": ("FLOAT", {"default": 1e-4, "min": 0.0, "max": 1.0, "step": 1e-5, "round": False,
                                    "tooltip": "Smallest relative change that counts as improvement."}),
        }}

    def build(self, factor, patience, threshold):
        return (SchedulerSpec("reduce_on_plateau", options={"factor": factor, "patience": patience,
                                                            "threshold": threshold}),)
