"""fast_attention on the model node: `on` sets attention dropout to 0 (hidden and head dropout
stay), `off` keeps the model's own, `auto` (the default, set by the measured accuracy A/B) is `on`
unless a CUDA GPU is present;
workflows saved with the older true/false values keep working; unknown values are refused at
queue time with the choices named."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.model.build import build_classification_model, resolve_fast_attention
from hf_text_finetune.nodes.model_nodes import PtnHfFineTunedClassificationModel


def attention_dropouts(network: nn.Module) -> list[float]:
    """p of the dropout on attention probabilities (BERT/RoBERTa, DistilBERT, ALBERT names)."""
    return [m.p for name, m in network.named_modules() if isinstance(m, nn.Dropout)
            and (name.endswith("attention.self.dropout") or name.endswith("attention.dropout")
                 or name.endswith("attention.attention_dropout"))]


def hidden_dropouts(network: nn.Module) -> list[float]:
    return [m.p for name, m in network.named_modules() if isinstance(m, nn.Dropout) and "output" in name]


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert"])
def test_on_drops_only_attention_dropout_and_off_keeps_it(tiny_models, arch):
    off = build_classification_model(str(tiny_models[arch]), 1, fast_attention="off").network
    on = build_classification_model(str(tiny_models[arch]), 1, fast_attention="on").network
    assert attention_dropouts(off) and all(p > 0 for p in attention_dropouts(off))
    assert attention_dropouts(on) and all(p == 0 for p in attention_dropouts(on))
    assert hidden_dropouts(on) == hidden_dropouts(off)


@pytest.mark.parametrize("cuda, fast", [(False, True), (True, False)])
def test_auto_is_on_unless_a_cuda_gpu_is_present(tiny_bert, monkeypatch, cuda, fast):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert resolve_fast_attention("auto") is fast
    network = PtnHfFineTunedClassificationModel().build(str(tiny_bert), 1, "cls", 0.1, "auto")[0].network
    assert all((p == 0) is fast for p in attention_dropouts(network))


@pytest.mark.parametrize("value, fast", [(True, True), (False, False), ("on", True), ("off", False),
                                         ("true", True), ("False", False)])
def test_older_boolean_values_and_their_spellings_are_accepted(tiny_bert, value, fast):
    assert PtnHfFineTunedClassificationModel.VALIDATE_INPUTS(fast_attention=value) is True
    network = PtnHfFineTunedClassificationModel().build(str(tiny_bert), 1, "cls", 0.1, value)[0].network
    assert all((p == 0) is fast for p in attention_dropouts(network))


def test_unknown_value_is_refused_with_the_choices():
    verdict = PtnHfFineTunedClassificationModel.VALIDATE_INPUTS(fast_attention="fast")
    assert "fast_attention 'fast' is unknown" in verdict and "'auto', 'on', 'off'" in verdict
    with pytest.raises(UserInputError, match="fast_attention 'maybe' is unknown"):
        resolve_fast_attention("maybe")


def test_widget_offers_the_three_choices_and_defaults_to_auto():
    spec = PtnHfFineTunedClassificationModel.INPUT_TYPES()["optional"]["fast_attention"]
    assert spec[0] == ["auto", "on", "off"] and spec[1]["default"] == "auto"


def test_a_model_node_queued_without_fast_attention_uses_auto(tiny_bert, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    network = PtnHfFineTunedClassificationModel().build(str(tiny_bert), 1, "cls", 0.1)[0].network
    assert attention_dropouts(network) and all(p == 0 for p in attention_dropouts(network))
