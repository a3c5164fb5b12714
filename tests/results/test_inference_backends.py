"""Predict's and Evaluate's `backend`: auto takes whichever of PyTorch and ONNX Runtime measures faster for the
model (once), the int8 models (ONNX Runtime's file, PyTorch's copy) are made once and reused, a missing
onnxruntime is one clear message while the torch path goes on, a damaged ONNX file is a clear error that
offers the re-export, and no path moves, switches or changes the model a node was given."""

from __future__ import annotations

import sys

import pytest
import torch
from helpers.classifiers import TEXTS, ready_model
from helpers.nodes import validate_node

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.results import backends, quantized
from hf_text_finetune.modules.results.backends import CACHE_ENV, Runtime, check_backend
from hf_text_finetune.modules.results.evaluation import evaluate_classifier
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.onnx_export import export_saved_folder
from hf_text_finetune.modules.results.prediction import predict_logits, predict_texts
from hf_text_finetune.modules.results.saving import save_classifier
from hf_text_finetune.nodes.eval_nodes import PtEvaluateClassificationModel
from hf_text_finetune.nodes.predict_nodes import PtPredictClassificationModel

MANY = [TEXTS[i % 4] + " " + TEXTS[(3 * i) % 4] * (i % 3 + 1) for i in range(12)]


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "onnx_cache"))
    return tmp_path / "onnx_cache"


@pytest.fixture(scope="module")
def exported(tiny_bert, tmp_path_factory):
    """A saved binary classifier with its ONNX export (fp32 and int8), built once for this file."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = ready_model(tiny_bert, 1, label_names=["neg", "pos"])
    with torch.no_grad():
        model.network.head[1].weight.mul_(20)
    folder = save_classifier(model, tmp_path_factory.mktemp("backends"), "clf").folder
    export_saved_folder(folder, int8=True)
    return folder


def times(monkeypatch, faster: str) -> list:
    """Make `faster` (a backend name prefix) measure faster; returns the log of timed candidates."""
    timed = []

    def fake_seconds(forward, batch):
        timed.append(forward.name)
        return 0.001 if forward.name.startswith(faster) else 0.01

    monkeypatch.setattr(backends, "_seconds", fake_seconds)
    return timed


@pytest.mark.parametrize("faster", ["onnxruntime", "torch"])
def test_auto_takes_the_backend_that_measures_faster_and_measures_once(exported, monkeypatch, faster):
    model = load_classifier(exported)
    timed = times(monkeypatch, faster)
    ran = []
    real = backends.inference_forward

    def spy(*args, **kwargs):
        forward = real(*args, **kwargs)
        ran.append(forward.name)
        return forward

    monkeypatch.setattr(sys.modules[predict_texts.__module__], "inference_forward", spy)
    first = predict_texts(model, MANY, precision=Runtime("fp32", "auto"))
    again = predict_texts(model, MANY, precision=Runtime("fp32", "auto"))
    assert ran == [f"{faster} fp32"] * 2
    assert sorted(set(timed)) == ["onnxruntime fp32", "torch fp32"] and len(timed) == 4  # 2 each, first call only
    assert [p.label for p in first] == [p.label for p in again]


def test_auto_without_an_export_at_hand_runs_torch_and_exports_nothing(tiny_bert, onnx_cache):
    model = ready_model(tiny_bert, 1)
    auto = predict_logits(model, MANY, precision=Runtime("fp32", "auto"))
    assert torch.equal(auto, predict_logits(model, MANY, precision="fp32"))
    assert not onnx_cache.exists()


def test_onnxruntime_without_an_export_exports_once_into_the_cache(tiny_bert, onnx_cache, monkeypatch):
    pytest.importorskip("onnxscript")
    model = ready_model(tiny_bert, 1)
    calls = []
    real = backends.export_classifier_onnx
    monkeypatch.setattr(backends, "export_classifier_onnx", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = predict_logits(model, MANY, precision=Runtime("fp32", "onnxruntime"))
    second = predict_logits(model, MANY[:3], precision=Runtime("fp32", "onnxruntime"))
    assert len(calls) == 1 and list(onnx_cache.glob("*/onnx/model.onnx"))
    torch.testing.assert_close(first, predict_logits(model, MANY), atol=1e-4, rtol=0)
    torch.testing.assert_close(second, first[:3], atol=1e-5, rtol=0)


def test_the_onnx_int8_model_is_made_once_and_reused(exported, monkeypatch):
    model = load_classifier(exported)
    (exported / "onnx" / "model_int8.onnx").unlink()  # made on demand beside model.onnx, then kept
    calls = []
    real = backends.quantize_int8
    monkeypatch.setattr(backends, "quantize_int8", lambda *a: calls.append(a) or real(*a))
    first = predict_logits(model, MANY, precision=Runtime("int8", "onnxruntime"))
    second = predict_logits(model, MANY, precision=Runtime("int8", "onnxruntime"))
    assert len(calls) == 1 and (exported / "onnx" / "model_int8.onnx").is_file()
    assert torch.equal(first, second)
    torch.testing.assert_close(first, predict_logits(model, MANY), atol=0.3, rtol=0.1)


def test_the_torch_int8_copy_is_made_once_and_reused(tiny_bert, monkeypatch):
    model = ready_model(tiny_bert, 1)
    calls = []
    real = torch.ao.quantization.quantize_dynamic
    monkeypatch.setattr(torch.ao.quantization, "quantize_dynamic", lambda *a, **k: calls.append(1) or real(*a, **k))
    for _ in range(3):
        predict_logits(model, MANY, precision=Runtime("int8", "torch"))
    assert len(calls) == 1 and quantized._QUANTIZED.get(model.network) is not None


def test_without_onnxruntime_auto_runs_torch_and_onnxruntime_says_what_is_missing(exported, monkeypatch):
    model = load_classifier(exported)
    expected = predict_logits(model, MANY, precision="fp32")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    assert torch.equal(predict_logits(model, MANY, precision=Runtime("fp32", "auto")), expected)
    with pytest.raises(UserInputError, match=r"needs the optional package onnxruntime.*pip install onnxruntime.*"
                                             r"or use backend torch"):
        predict_logits(model, MANY, precision=Runtime("fp32", "onnxruntime"))
    message = validate_node("PtPredictClassificationModel", backend="onnxruntime", device="cpu")
    assert "optional package onnxruntime" in message
    assert "optional package onnxruntime" in validate_node("PtExportClassificationModelOnnx", folder=str(exported))
    assert validate_node("PtPredictClassificationModel", backend="auto", device="cpu") is True


def test_a_damaged_onnx_file_is_a_clear_error_offering_the_re_export(exported, tmp_path):
    import shutil

    folder = tmp_path / "damaged"
    shutil.copytree(exported, folder)
    (folder / "onnx" / "model.onnx").write_bytes(b"\x08\x07not an onnx model" * 10)
    model = load_classifier(folder)
    with pytest.raises(UserInputError, match=r"ONNX Runtime cannot read .*model.onnx.*damaged or incomplete; "
                                             r"export it again with the Pt Export Classification Model ONNX node"):
        predict_logits(model, MANY, precision=Runtime("fp32", "onnxruntime"))
    export_saved_folder(folder)  # the offered fix
    torch.testing.assert_close(predict_logits(model, MANY, precision=Runtime("fp32", "onnxruntime")),
                               predict_logits(model, MANY), atol=1e-4, rtol=0)


@pytest.mark.parametrize("device,precision,fix", [("cuda", "fp32", "set device to cpu"),
                                                  ("cpu", "bf16", "runs fp32 or int8")])
def test_onnxruntime_where_it_cannot_run_is_refused_with_the_fix(device, precision, fix):
    with pytest.raises(UserInputError, match=fix):
        check_backend("onnxruntime", device, precision)
    with pytest.raises(UserInputError, match=r"backend 'tensorrt' is unknown"):
        check_backend("tensorrt")


def test_predict_and_evaluate_never_move_switch_or_change_the_given_model(trained_bert, encoded_reviews):
    model = trained_bert.model
    network = model.network
    was_training = network.training
    network.train()  # a network left in training mode must stay so, and predict as in eval mode
    try:
        before = {k: v.clone() for k, v in network.state_dict().items()}
        with torch.inference_mode():
            labels = PtPredictClassificationModel().predict(model, "\n".join(MANY), 0.5, "", 4, "cpu", True,
                                                            precision="fp32", backend="torch")["result"][1]
            report = PtEvaluateClassificationModel().evaluate(model, encoded_reviews[1], device="cpu",
                                                              precision="fp32", backend="torch")
        assert network.training and all(torch.equal(before[k], v) for k, v in network.state_dict().items())
        assert next(network.parameters()).device.type == "cpu"
    finally:
        network.train(was_training)
    expected = [p.label for p in predict_texts(model, MANY, batch_size=4, precision="fp32")]
    assert labels.splitlines() == expected
    assert report["result"][1] == pytest.approx(evaluate_classifier(model, encoded_reviews[1], device="cpu",
                                                                    precision="fp32").accuracy)


def test_evaluate_on_onnxruntime_reports_what_pytorch_reports(exported, tiny_bert, val_csv):
    from hf_text_finetune.modules.data.encoding import build_token_encoder
    from hf_text_finetune.modules.data.tokenized import encode_text_dataset

    model = load_classifier(exported)
    data = encode_text_dataset(str(val_csv), "train", "text", "label", build_token_encoder(str(tiny_bert)))
    with torch.inference_mode():
        on_torch = evaluate_classifier(model, data, device="cpu", precision=Runtime("fp32", "torch"))
        on_ort = evaluate_classifier(model, data, device="cpu", precision=Runtime("fp32", "onnxruntime"))
    assert on_ort.accuracy == on_torch.accuracy
    assert on_ort.loss == pytest.approx(on_torch.loss, abs=1e-4)
