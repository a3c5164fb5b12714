"""Decoders as classifiers: the pad token comes from the tokenizer (or its end-of-text token) onto tokenizer and
config, batches of several texts work, the head reads each text's last real token whichever side pads (so the
frozen phase's cached features give the model's own logits), LoRA adapts attention and MLP projections, and a
tokenizer that pads with another token is refused before training."""

from __future__ import annotations

import pytest
import torch
from helpers.checks import raises_with
from helpers.classifiers import loader, train_tiny
from helpers.families import build_family_model

from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.model.lora import LoraSettings, add_lora
from hf_text_finetune.modules.pretrained import load_tokenizer
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.training.settings import TrainSettings

HF = "hf_sequence_classification"


@pytest.fixture(scope="module")
def decoders(tmp_path_factory):
    root = tmp_path_factory.mktemp("decoder_models")
    return {family: build_family_model(family, root / family) for family in ("qwen2", "llama", "gpt2", "phi3")}


@pytest.mark.parametrize("family, pad", [("qwen2", "<|endoftext|>"), ("llama", "</s>"), ("gpt2", "<|endoftext|>"),
                                         ("phi3", "<|endoftext|>")])
def test_the_pad_token_comes_from_the_tokenizer_or_its_end_of_text_token(decoders, family, pad):
    tokenizer = load_tokenizer(str(decoders[family]))
    assert tokenizer.pad_token == pad
    model = build_classification_model(str(decoders[family]), 2, head_type=HF)
    assert model.network.hf_model.config.pad_token_id == tokenizer.pad_token_id
    assert model.network.hf_model.config.use_cache is False  # a classifier never generates


def _batch(tokenizer, texts, side: str):
    tokenizer.padding_side = side
    return tokenizer(texts, padding=True, return_tensors="pt")


@pytest.mark.parametrize("side", ["right", "left"])
def test_the_head_reads_the_last_real_token_whichever_side_pads(decoders, side):
    model = build_classification_model(str(decoders["llama"]), 2, head_type=HF)
    network = model.network.eval()
    tokenizer = load_tokenizer(str(decoders["llama"]))
    texts = ["a wonderful film and great acting", "dull"]
    batch = _batch(tokenizer, texts, side)
    with torch.no_grad():
        pooled = network.pool(batch["input_ids"], batch["attention_mask"])
        assert torch.allclose(network.head(pooled), network(batch["input_ids"], batch["attention_mask"]), atol=1e-6)
        if side == "right":  # right padding leaves the real tokens' positions as they are: each text alone
            for row, text in enumerate(texts):
                alone = tokenizer([text], return_tensors="pt")
                assert torch.allclose(network(alone["input_ids"])[0], network.head(pooled)[row], atol=1e-5)


def test_the_frozen_phase_trains_the_head_on_cached_last_token_features(decoders, reviews_csv):
    result = train_tiny(decoders["qwen2"], reviews_csv, head=HF, epochs=2, freeze=1, lr=5e-3)
    assert len(result.history) == 2 and result.model.history[-1]["train_loss"] < result.model.history[0]["train_loss"]


@pytest.mark.parametrize("family, targets", [
    ("qwen2", ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]),
    ("phi3", ["down_proj", "gate_up_proj", "o_proj", "qkv_proj"]),
    ("gpt2", ["c_attn", "c_fc", "c_proj"])])
def test_lora_defaults_on_decoders_adapt_attention_and_mlp_projections(decoders, family, targets):
    model = add_lora(build_classification_model(str(decoders[family]), 1, head_type=HF), LoraSettings(r=2))
    assert model.lora["target_modules"] == targets
    head = model.network.head
    assert all(p.requires_grad for p in head.parameters())
    trainable = {n for n, p in model.network.encoder.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)


def test_a_tokenizer_that_pads_with_another_token_is_refused_before_training(decoders, reviews_csv):
    folder = decoders["llama"]
    model = build_classification_model(str(folder), 1, head_type=HF)
    encoder = build_token_encoder(str(folder), 64)
    encoder.tokenizer.pad_token = encoder.tokenizer.bos_token  # e.g. a tokenizer changed by hand
    data = TextDataLoader(encode_text_dataset(str(reviews_csv), "train", "text", "label", encoder), 8)
    raises_with(lambda: train_classifier(model, data, OptimizerSpec("AdamW", 1e-3), LossSpec("bce_with_logits"),
                                         TrainSettings(epochs=1, device="cpu", precision="fp32")),
                "looks for pad token", "model's own tokenizer")
    assert loader(folder, reviews_csv).pad_token_id == model.network.hf_model.config.pad_token_id
