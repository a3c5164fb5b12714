"""The classification model node: pretrained encoder + dropout + linear head."""

from __future__ import annotations

from ..modules.model.build import FAST_ATTENTION_CHOICES, build_classification_model, resolve_fast_attention
from ..modules.model.linear_head import POOLINGS
from ..modules.model.network import HEAD_TYPES, check_head_settings
from . import widgets
from .local_sources import NO_MODEL, allow_remote_code, check_model_source, local_model_widget, model_source
from .widgets import category, validation

# auto since benchmarks/attention_dropout_ab.py measured attention dropout's effect within the seeds' spread
# (docs/performance.md): on where the fused kernel cannot apply dropout (CPU, MPS), off on CUDA
FAST_ATTENTION_DEFAULT = "auto"


class PtnHfFineTunedClassificationModel:
    DESCRIPTION = ("A pretrained Hugging Face encoder (BERT, RoBERTa, DistilBERT, ALBERT or any AutoModel "
                   "encoder) with a dropout + linear head: one logit for binary classification, or one per class.")
    CATEGORY = category("model")
    RETURN_TYPES = ("PTMODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("Untrained classifier; trainers work on a copy and never change it.",)
    FUNCTION = "build"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model_name": widgets.model_name(),
                "num_outputs": ("INT", {"default": 1, "min": 1, "max": 100_000,
                                        "tooltip": "1 = one logit for binary labels (with BCE With Logits Loss); "
                                                   "N = one per class (with Cross Entropy Loss)."}),
                "pooling": (list(POOLINGS), {"default": "cls",
                                             "tooltip": "Text vector fed to the head: cls = first token, pooler = "
                                                        "the model's pooler (BERT, ALBERT), mean = average of the "
                                                        "real tokens (good for sentence-transformer models)."}),
                "dropout": widgets.dropout("Dropout before the linear head."),
            },
            "optional": {
                "fast_attention": (list(FAST_ATTENTION_CHOICES), {
                    "default": FAST_ATTENTION_DEFAULT,
                    "tooltip": "on = attention dropout 0, so PyTorch's fused attention kernel runs in training: "
                               "about 1.5x faster per step and much leaner on the CPU. auto = on unless a CUDA GPU "
                               "is present (its fused kernels apply dropout). off = the model's own attention "
                               "dropout. Workflows saved with true/false keep it. See docs/performance.md."}),
                "seed": widgets.seed("Seed of the head's initial weights.", control_after_generate=False),
                "trust_remote_code": widgets.trust_remote_code(),
                "head": (list(HEAD_TYPES), {"default": "linear",
                                            "tooltip": "linear = this pack's dropout + linear head on the pooled "
                                                       "vector. hf_sequence_classification = Hugging Face's own "
                                                       "*ForSequenceClassification head (pooling is then the "
                                                       "model's own): a saved folder then works with "
                                                       "transformers.pipeline('text-classification')."}),
                "local_model": local_model_widget(),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, model_name=None, num_outputs=None, dropout=None, fast_attention=None,
                        trust_remote_code=None):
        # naming fast_attention here makes ComfyUI leave its list check to us: true/false of older workflows pass
        return validation(lambda: check_model_source(model_name, trust_remote_code),
                          lambda: check_head_settings(num_outputs, dropout),
                          lambda: fast_attention is None or resolve_fast_attention(fast_attention))

    def build(self, model_name, num_outputs, pooling, dropout, fast_attention=FAST_ATTENTION_DEFAULT, seed=0,
              trust_remote_code=False, **later):
        """`later`: the optional widgets after trust_remote_code (head, local_model)."""
        name = model_source(model_name, later.get("local_model", NO_MODEL))
        return (build_classification_model(name, num_outputs, pooling, dropout, fast_attention, seed,
                                           allow_remote_code(trust_remote_code, name),
                                           head_type=later.get("head", "linear")),)
