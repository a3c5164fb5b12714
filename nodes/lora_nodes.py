"""LoRA node: wrap a classifier's encoder with PEFT LoRA adapters."""

from __future__ import annotations

from ..modules.model.lora import LoraSettings, add_lora, check_lora_values, parse_target_modules
from . import widgets
from .widgets import category, validation


class PtnLoraAdapter:
    DESCRIPTION = ("Adds LoRA adapters (PEFT) to a classifier's encoder: training then updates only the small "
                   "adapter matrices and the head, the pretrained weights stay frozen. Put it between the model "
                   "node and a trainer; use a higher learning rate than full fine-tuning (e.g. 5e-4).")
    CATEGORY = category("model")
    RETURN_TYPES = ("PTMODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("A copy of the model with LoRA adapters on its encoder (the input is unchanged).",)
    FUNCTION = "wrap"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("PTMODEL", {"tooltip": "Classifier from Ptn Hf Fine Tuned Classification Model."}),
                "r": ("INT", {"default": 8, "min": 1, "max": 1024,
                              "tooltip": "Rank of the adapter matrices: 4-16 is usual; higher = more capacity."}),
                "alpha": ("FLOAT", {"default": 16.0, "min": 0.5, "max": 4096.0, "step": 0.5,
                                    "tooltip": "Scaling (the update is multiplied by alpha / r); twice r is usual."}),
                "dropout": widgets.dropout("Dropout on the adapters' input during training."),
                "target_modules": ("STRING", {"default": "",
                                              "tooltip": "Comma-separated names of the linear layers to adapt. "
                                                         "Empty = the architecture's default: encoders' attention "
                                                         "query and value projections (BERT/RoBERTa/ALBERT: query, "
                                                         "value; DistilBERT: q_lin, v_lin); decoders' attention and "
                                                         "MLP projections (Qwen/Llama: q_proj ... down_proj). The "
                                                         "head always trains fully."}),
            },
            "optional": {
                "seed": widgets.seed("Seed of the adapters' random initial weights.", control_after_generate=False),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, r=None, alpha=None, dropout=None):
        return validation(lambda: check_lora_values(r, alpha, dropout))

    def wrap(self, model, r, alpha, dropout, target_modules, seed=0):
        settings = LoraSettings(r=r, alpha=alpha, dropout=dropout,
                                target_modules=parse_target_modules(target_modules), seed=seed)
        return (add_lora(model, settings),)
