"""The classification model node: pretrained encoder + dropout + linear head."""

from __future__ import annotations

from ..modules.model.build import (FAST_ATTENTION_CHOICES, WeightLoading, build_classification_model,
                                   check_model_choices, resolve_fast_attention)
from ..modules.model.pooling import AUTO, POOLING_CHOICES
from ..modules.model.network import HEAD_TYPES, check_head_settings
from ..modules.model.weight_dtype import FP32, WEIGHT_DTYPES
from . import widgets
from .local_sources import NO_MODEL, allow_remote_code, check_model_source, local_model_widget, model_source
from .widgets import category, validation


# auto since benchmarks/attention_dropout_ab.py measured attention dropout's effect within the seeds' spread
# (docs/performance.md): on where the fused kernel cannot apply dropout (CPU, MPS), off on CUDA
FAST_ATTENTION_DEFAULT = "auto"


class PtnHfFineTunedClassificationModel:
    DESCRIPTION = ("A pretrained Hugging Face encoder (BERT, RoBERTa, DistilBERT, ALBERT, ModernBERT, DeBERTa or any "
                   "AutoModel encoder) with a dropout + linear head: one logit for binary classification, or one per "
                   "class; or a decoder (Qwen, Llama, Gemma, Mistral, Phi-3, GPT-2) with the "
                   "hf_sequence_classification head. docs/models.md lists what each family needs.")
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
                "pooling": (list(POOLING_CHOICES), {
                    "default": AUTO,
                    "tooltip": "Text vector fed to the head: auto = the model's own (a sentence-transformers "
                               "folder's 1_Pooling, e.g. mean for all-MiniLM; ModernBERT's classifier_pooling; the "
                               "last real token of decoders such as Qwen or Llama; else cls). cls = first token, "
                               "pooler = the model's pooler (BERT, ALBERT), mean = average of the real tokens. "
                               "See docs/models.md."}),
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
                                                       "transformers.pipeline('text-classification'). Decoders "
                                                       "(Qwen, Llama, ...) need this head."}),
                "local_model": local_model_widget(),
                "weight_dtype": (list(WEIGHT_DTYPES), {
                    "default": FP32,
                    "tooltip": "fp32 = the pretrained weights in full precision. bf16 = in half the memory, for a "
                               "decoder (Qwen, Llama, ...) too big for the GPU in fp32: train it with a Ptn LoRA "
                               "Adapter (the adapters and the head stay fp32; the trainer refuses bf16 without "
                               "LoRA, whose small updates bf16 would round away). Needs a GPU that computes bf16 "
                               "(Ampere or newer); see docs/models.md."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, model_name=None, num_outputs=None, dropout=None, fast_attention=None, pooling=None,
                        head=None, trust_remote_code=None, local_model=NO_MODEL):
        # naming fast_attention here makes ComfyUI leave its list check to us: true/false of older workflows pass;
        # naming pooling and head: a local decoder folder's refusals come at queue time
        resolved = []  # the model, resolved once: the first check fills it, the last reads it
        return validation(lambda: resolved.append(check_model_source(model_name, trust_remote_code, local_model)),
                          lambda: check_head_settings(num_outputs, dropout),
                          lambda: fast_attention is None or resolve_fast_attention(fast_attention),
                          lambda: check_model_choices(resolved[0], pooling, head))

    def build(self, model_name, num_outputs, pooling, dropout, fast_attention=FAST_ATTENTION_DEFAULT, seed=0,
              trust_remote_code=False, **later):
        """`later`: the optional widgets after trust_remote_code (head, local_model, weight_dtype)."""
        name = model_source(model_name, later.get("local_model", NO_MODEL))
        loading = WeightLoading(allow_remote_code(trust_remote_code, name), later.get("weight_dtype", FP32))
        return (build_classification_model(name, num_outputs, pooling, dropout, fast_attention, seed,
                                           head_type=later.get("head", "linear"), loading=loading),)
