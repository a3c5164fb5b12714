"""The pack's models compute attention in fp32 inside bf16 autocast on the CPU (faster at small head
sizes, and exact); fp32 runs, attention dropout and other models in the process are untouched."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModel

from hf_text_finetune.modules.cpu_attention import NAME
from hf_text_finetune.modules.model.build import build_classification_model


def _inputs(vocab: int, rows: int = 3, length: int = 24):
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (rows, length), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 15:] = 0  # one padded row: the mask path too
    return ids, mask


def _encoder(classifier):
    network = classifier.network
    return getattr(network, "encoder", None) or network.hf_model


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert", "albert"])
def test_loaded_models_use_the_fp32_cpu_attention(tiny_models, arch):
    classifier = build_classification_model(str(tiny_models[arch]), 1, fast_attention="on")
    assert _encoder(classifier).config._attn_implementation == NAME


def test_other_models_in_the_process_keep_transformers_sdpa(tiny_bert):
    build_classification_model(str(tiny_bert), 1, fast_attention="on")
    assert AutoModel.from_pretrained(str(tiny_bert), attn_implementation="sdpa").config._attn_implementation == "sdpa"


def _outputs(encoder, ids, mask, autocast: bool):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        return encoder(input_ids=ids, attention_mask=mask).last_hidden_state.float()


def test_under_bf16_autocast_attention_in_fp32_is_closer_to_fp32_and_trains(tiny_bert):
    ours = _encoder(build_classification_model(str(tiny_bert), 1, fast_attention="on")).eval()
    plain = AutoModel.from_pretrained(str(tiny_bert), attn_implementation="sdpa").eval()
    ids, mask = _inputs(ours.config.vocab_size)
    with torch.no_grad():
        exact = _outputs(plain, ids, mask, autocast=False)
        assert torch.equal(_outputs(ours, ids, mask, autocast=False), exact)  # fp32: transformers' sdpa as is
        bf16_ours, bf16_plain = _outputs(ours, ids, mask, True), _outputs(plain, ids, mask, True)
    assert (bf16_ours - exact).abs().max() <= (bf16_plain - exact).abs().max() + 1e-3
    assert torch.allclose(bf16_ours, exact, atol=0.1)
    ours.train()
    _outputs(ours, ids, mask, autocast=True).sum().backward()
    query = next(p for n, p in ours.named_parameters() if "query" in n and n.endswith("weight"))
    assert query.grad is not None and query.grad.abs().sum() > 0


def test_attention_dropout_in_training_keeps_transformers_path(tiny_bert):
    ours = _encoder(build_classification_model(str(tiny_bert), 1, fast_attention="off")).train()
    plain = AutoModel.from_pretrained(str(tiny_bert), attn_implementation="sdpa").train()
    ids, mask = _inputs(ours.config.vocab_size)
    results = []
    for encoder in (ours, plain):
        torch.manual_seed(3)
        results.append(_outputs(encoder, ids, mask, autocast=True))
    assert torch.equal(*results)


def test_a_saved_config_does_not_name_the_pack_attention(tiny_bert, tmp_path):
    encoder = _encoder(build_classification_model(str(tiny_bert), 1, fast_attention="on"))
    encoder.save_pretrained(tmp_path)
    assert NAME not in json.dumps(json.loads((tmp_path / "config.json").read_text()))


@pytest.mark.parametrize("family", ["modernbert", "deberta-v2", "qwen2", "gemma2"])
def test_families_it_was_not_measured_on_keep_their_own_attention_and_run_in_bf16(tmp_path, family):
    from helpers.families import build_family_model

    folder = build_family_model(family, tmp_path / family)
    head = "hf_sequence_classification"
    network = build_classification_model(str(folder), 1, fast_attention="on", head_type=head).network.eval()
    assert network.hf_model.config._attn_implementation != NAME
    ids, mask = _inputs(network.vocab_size)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = network(ids, mask)
    assert logits.shape == (3, 1) and torch.isfinite(logits).all()
