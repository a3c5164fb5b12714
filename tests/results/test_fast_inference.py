"""Inference runs fast without changing its answers: Predict tokenizes all texts in one call and
batches them longest first, Evaluate batches rows of similar length, and both hand back
results in the input's order, equal (fp32, within 1e-5) to one text per batch; Predict's
`precision` bf16 stays within the mixed-precision tolerance the training tests hold
(logits within 0.05, the same predictions wherever fp32's logit is beyond 0.05)."""

from __future__ import annotations

import pytest
import torch
from helpers.classifiers import TEXTS, ready_model
from helpers.data import write_reviews_csv

from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.precision import Precision
from hf_text_finetune.modules.results.prediction import predict_logits, predict_texts
from hf_text_finetune.modules.training.eval_pass import evaluate
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.nodes.predict_nodes import PtPredictClassificationModel

MIXED_LENGTHS = [TEXTS[0], "short", " ".join(TEXTS * 3), TEXTS[1], "ok then", " ".join(TEXTS), TEXTS[2] + " " + TEXTS[3]]


@pytest.mark.parametrize("head", ["linear", "hf_sequence_classification"])
def test_predicted_logits_keep_the_texts_order_whatever_the_batching(tiny_bert, head):
    model = ready_model(tiny_bert, 3, head=head, label_names=["a", "b", "c"])
    one_by_one = torch.cat([predict_logits(model, [text], batch_size=1) for text in MIXED_LENGTHS])
    batched = predict_logits(model, MIXED_LENGTHS, batch_size=3)
    torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=0)


def test_bf16_prediction_stays_within_the_mixed_precision_tolerance(tiny_models):
    model = ready_model(tiny_models["roberta"], 1, label_names=["neg", "pos"])
    with torch.no_grad():
        model.network.head[1].weight.mul_(20)  # logits of a few units, as a trained model gives
    fp32 = predict_logits(model, MIXED_LENGTHS * 3, precision="fp32")
    bf16 = predict_logits(model, MIXED_LENGTHS * 3, precision="bf16")
    assert not torch.equal(bf16, fp32)  # bf16 did run
    torch.testing.assert_close(bf16, fp32, atol=0.05, rtol=0.02)
    clear = fp32.abs() > 0.05
    assert clear.sum() > len(fp32) // 2
    assert torch.equal((bf16 > 0)[clear], (fp32 > 0)[clear])


def test_predict_node_precision_fp32_gives_the_fp32_numbers(tiny_bert):
    model = ready_model(tiny_bert, 1, label_names=["negative", "positive"])
    expected = predict_texts(model, TEXTS[:3])
    with torch.inference_mode():  # as ComfyUI runs nodes
        out = PtPredictClassificationModel().predict(model, "\n".join(TEXTS[:3]), 0.5, "", 2, "cpu", True,
                                                     precision="fp32")
    assert out["result"][1].splitlines() == [p.label for p in expected]
    assert "positive (" in out["result"][0] or "negative (" in out["result"][0]


def test_evaluation_batches_by_length_and_returns_rows_in_dataset_order(tiny_bert, tmp_path):
    data = encode_text_dataset(str(write_reviews_csv(tmp_path / "r.csv", rows=30, seed=3)), "train", "text", "label",
                               build_token_encoder(str(tiny_bert), 64))
    network = ready_model(tiny_bert, 1).network
    loader = TextDataLoader(data, 8, shuffle=False)
    assert loader.batch_indices(by_length=True) != loader.batch_indices()  # the lengths do differ
    fp32 = Precision("fp32", "cpu")
    batched = evaluate(network, loader, LossSpec("bce_with_logits"), torch.device("cpu"), fp32, keep_outputs=True)
    alone = evaluate(network, TextDataLoader(data, 1, shuffle=False), LossSpec("bce_with_logits"),
                     torch.device("cpu"), fp32, keep_outputs=True)
    assert batched.labels.tolist() == [int(x) for x in data.data["labels"]]
    torch.testing.assert_close(batched.logits, alone.logits, atol=1e-5, rtol=0)
    assert batched.loss == pytest.approx(alone.loss, abs=1e-5) and batched.accuracy == alone.accuracy
