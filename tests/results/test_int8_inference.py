"""Predict's and Evaluate's `precision` int8: a dynamically quantized copy of the network runs on
the CPU, close to fp32 (logits within 0.1 on logits of a few units, the same labels wherever fp32's
logit is clearly away from 0), and the model that came in is left exactly as it was. Anywhere but
the CPU, or on a torch without dynamic quantization, it is refused with the value and the fix."""

from __future__ import annotations

import pytest
import torch
from helpers.classifiers import TEXTS, ready_model
from helpers.nodes import node_class, validate_node

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.precision import check_inference_precision
from hf_text_finetune.modules.results.quantized import quantized_network
from hf_text_finetune.modules.results.evaluation import evaluate_classifier
from hf_text_finetune.modules.results.prediction import predict_logits, predict_texts
from hf_text_finetune.nodes.eval_nodes import PtEvaluateClassificationModel
from hf_text_finetune.nodes.predict_nodes import PtPredictClassificationModel

MANY = [TEXTS[i % len(TEXTS)] + " " + TEXTS[(3 * i) % len(TEXTS)] * (i % 3 + 1) for i in range(24)]


def sharp_model(tiny_bert):
    """A binary model whose logits are a few units, as a trained one gives (a random head sits near 0)."""
    model = ready_model(tiny_bert, 1, label_names=["negative", "positive"])
    with torch.no_grad():
        model.network.head[1].weight.mul_(20)
    return model


def test_int8_prediction_stays_close_to_fp32_and_leaves_the_model_as_it_was(tiny_bert):
    model = sharp_model(tiny_bert)
    before = {k: v.clone() for k, v in model.network.state_dict().items()}
    fp32 = predict_logits(model, MANY, batch_size=8, precision="fp32")
    int8 = predict_logits(model, MANY, batch_size=8, precision="int8")
    assert not torch.equal(int8, fp32)  # the quantized copy did run
    torch.testing.assert_close(int8, fp32, atol=0.1, rtol=0.05)
    clear = fp32.abs() > 0.1
    assert clear.sum() > len(fp32) // 2
    assert torch.equal((int8 > 0)[clear], (fp32 > 0)[clear])
    after = model.network.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert all(type(m) is not torch.nn.Linear or m.weight.dtype == torch.float32 for m in model.network.modules())
    assert any(type(m) is torch.nn.Linear for m in model.network.modules())  # not swapped in place


def test_predict_node_runs_int8_under_inference_mode(tiny_bert):
    model = sharp_model(tiny_bert)
    expected = [p.label for p in predict_texts(model, TEXTS[:4], precision="fp32")]
    with torch.inference_mode():  # as ComfyUI runs nodes
        out = PtPredictClassificationModel().predict(model, "\n".join(TEXTS[:4]), 0.5, "", 2, "cpu", True,
                                                     precision="int8")
    labels = out["result"][1].splitlines()
    assert len(labels) == 4 and set(labels) <= {"negative", "positive"}
    fp32_logits = predict_logits(model, TEXTS[:4], precision="fp32").squeeze(1)
    clear = [i for i, v in enumerate(fp32_logits.tolist()) if abs(v) > 0.1]
    assert clear and all(labels[i] == expected[i] for i in clear)


def test_int8_evaluation_reports_close_to_fp32(trained_bert, encoded_reviews):
    val = encoded_reviews[1]
    with torch.inference_mode():
        fp32 = evaluate_classifier(trained_bert.model, val, device="cpu", precision="fp32")
        int8 = evaluate_classifier(trained_bert.model, val, device="cpu", precision="int8")
        node = PtEvaluateClassificationModel().evaluate(trained_bert.model, val, device="cpu", precision="int8")
    assert int8.loss != fp32.loss  # quantized, not the fp32 pass again
    assert int8.loss == pytest.approx(fp32.loss, rel=0.05, abs=0.02)
    assert abs(int8.accuracy - fp32.accuracy) <= 0.1
    assert node["result"][1] == pytest.approx(int8.accuracy)


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "mps", torch.device("meta")])
def test_int8_anywhere_but_the_cpu_is_refused_with_the_fix(device):
    with pytest.raises(UserInputError, match=r"int8' runs on the CPU only.*set device to cpu"):
        check_inference_precision("int8", device)


@pytest.mark.parametrize("device", ["auto", "cpu", None, torch.device("cpu")])
def test_int8_is_accepted_where_it_can_run_on_the_cpu(device):
    check_inference_precision("int8", device)


def test_the_nodes_refuse_int8_on_a_gpu_and_unknown_values_at_queue_time():
    for node in ("PtPredictClassificationModel", "PtEvaluateClassificationModel"):
        fine = {"threshold": 0.5, "texts": "a text", "batch_size": 8}
        assert "int8" in node_class(node).INPUT_TYPES()["optional"]["precision"][0]
        assert "runs on the CPU only" in validate_node(node, **fine, precision="int8", device="cuda")
        assert "precision 'int4' is unknown" in validate_node(node, **fine, precision="int4", device="cpu")
        assert "'gpu0' is not a device name" in validate_node(node, **fine, precision="auto", device="gpu0")
        assert validate_node(node, **fine, precision="int8", device="cpu") is True


def test_trainer_precision_does_not_offer_int8():
    from hf_text_finetune.nodes.train_nodes import PtTrainTransformerClassificationModel

    spec = PtTrainTransformerClassificationModel.INPUT_TYPES()
    options = {**spec["required"], **spec.get("optional", {})}["precision"][0]
    assert "int8" not in options


def test_a_torch_without_dynamic_quantization_gets_a_clear_error(tiny_bert, monkeypatch):
    monkeypatch.delattr(torch.ao.quantization, "quantize_dynamic")
    network = ready_model(tiny_bert, 1).network
    with pytest.raises(UserInputError, match=r"int8' needs PyTorch's dynamic quantization.*choose auto or fp32"):
        quantized_network(network)


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert", "albert"])
def test_int8_runs_every_architecture_with_and_without_lora(tiny_models, arch):
    from hf_text_finetune.modules.model.lora import LoraSettings, add_lora

    plain = ready_model(tiny_models[arch], 1, label_names=["negative", "positive"])
    for model in (plain, add_lora(plain, LoraSettings(r=4))):
        fp32 = predict_logits(model, MANY[:8], batch_size=4, precision="fp32")
        int8 = predict_logits(model, MANY[:8], batch_size=4, precision="int8")
        assert int8.shape == fp32.shape and torch.isfinite(int8).all()
        torch.testing.assert_close(int8, fp32, atol=0.1, rtol=0.05)
