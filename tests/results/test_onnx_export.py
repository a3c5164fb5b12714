"""ONNX export of a saved classifier: every head and problem type (pairs and LoRA too) exports with dynamic
batch and sequence axes, ONNX Runtime's logits equal PyTorch's within 1e-4 (checked at export, and again
through Predict's onnxruntime backend), the int8 model keeps the labels, export.json and the model card
say what a program outside ComfyUI needs, and an export that misses the check is not kept."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from helpers.classifiers import TEXTS, ready_model
from helpers.nodes import validate_node

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.model.classifier import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from hf_text_finetune.modules.results import onnx_export
from hf_text_finetune.modules.results.backends import CACHE_ENV, Runtime
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.onnx_export import export_saved_folder
from hf_text_finetune.modules.results.prediction import predict_logits, predict_texts
from hf_text_finetune.modules.results.saving import save_classifier
from hf_text_finetune.nodes.io_nodes import PtExportClassificationModelOnnx

pytest.importorskip("onnxruntime", reason="onnxruntime is an optional extra")
pytest.importorskip("onnxscript", reason="the exporter needs onnxscript (optional extra)")

MANY = [TEXTS[i % 4] + " " + TEXTS[(3 * i) % 4] * (i % 3 + 1) for i in range(10)]
KINDS = {  # outputs, problem type, pairs
    "binary": (1, SINGLE_LABEL, False), "multi_class": (3, SINGLE_LABEL, False),
    "multi_label": (3, MULTI_LABEL, False), "regression": (1, REGRESSION, False), "pairs": (1, SINGLE_LABEL, True),
}


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "onnx_cache"))
    return tmp_path / "onnx_cache"


def sharp(model):
    """Logits of a few units, as a trained head gives (a fresh head sits near 0)."""
    with torch.no_grad():
        for name, param in model.network.named_parameters():
            if "classifier" in name or name.startswith("head"):
                param.mul_(20)
    return model


def saved(tiny_models, tmp_path, kind: str, head: str, arch: str = "bert"):
    outputs, problem, pairs = KINDS[kind]
    names = None if kind == "regression" else [f"l{i}" for i in range(max(outputs, 2))]
    model = ready_model(tiny_models[arch], outputs, head, names, problem)
    model = sharp(dataclasses.replace(model, text_pairs=pairs))
    return save_classifier(model, tmp_path / "out", f"{kind}_{head}").folder


def inputs(kind: str) -> list:
    return [(a, b) for a, b in zip(MANY, reversed(MANY))] if kind == "pairs" else MANY


@pytest.mark.parametrize("head", ["linear", "hf_sequence_classification"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_head_and_problem_type_exports_and_predicts_as_pytorch_does(tiny_models, tmp_path, kind, head):
    import onnx

    folder = saved(tiny_models, tmp_path, kind, head)
    result = export_saved_folder(folder, int8=kind == "multi_class")
    assert result.max_abs_diff <= 1e-4 and f"{result.max_abs_diff:.1e}" in result.summary()
    graph = onnx.load(str(folder / "onnx" / "model.onnx")).graph
    for given in graph.input:  # batch and sequence axes are named (dynamic), not fixed numbers
        assert [d.dim_param for d in given.type.tensor_type.shape.dim][:2] != ["", ""]
        assert all(d.dim_param for d in given.type.tensor_type.shape.dim[:2])
    model = load_classifier(folder)
    torch_out = predict_texts(model, inputs(kind), batch_size=3, precision=Runtime("fp32", "torch"))
    ort_out = predict_texts(model, inputs(kind), batch_size=4, precision=Runtime("fp32", "onnxruntime"))
    assert [p.label for p in ort_out] == [p.label for p in torch_out]
    for a, b in zip(torch_out, ort_out):
        assert b.score == pytest.approx(a.score, abs=1e-4)
    info = json.loads((folder / "onnx" / "export.json").read_text())
    assert info["output_kind"] == model.output_kind and info["labels"] == model.output_labels()
    assert set(info["inputs"]) <= {"input_ids", "attention_mask", "token_type_ids"} and "input_ids" in info["inputs"]
    card = (folder / "README.md").read_text()
    assert "## ONNX (no PyTorch needed)" in card and "threshold" in card and card.count("<!-- onnx-export -->") == 1
    if kind == "multi_class":
        assert result.int8_agreement is not None and (folder / "onnx" / "model_int8.onnx").is_file()
        int8 = predict_logits(model, MANY, precision=Runtime("int8", "onnxruntime"))
        torch.testing.assert_close(int8, predict_logits(model, MANY), atol=0.3, rtol=0.1)


@pytest.mark.parametrize("arch", ["roberta", "distilbert", "albert"])
def test_other_architectures_export_with_the_inputs_they_read(tiny_models, tmp_path, arch):
    folder = saved(tiny_models, tmp_path, "binary", "hf_sequence_classification", arch)
    result = export_saved_folder(folder)
    assert result.max_abs_diff <= 1e-4
    names = json.loads((folder / "onnx" / "export.json").read_text())["inputs"]
    assert "input_ids" in names and "attention_mask" in names
    if arch != "albert":  # neither tokenizer gives token types (and DistilBERT's encoder reads none)
        assert "token_type_ids" not in names


def test_lora_adapters_are_merged_before_export(tiny_bert, tmp_path):
    from hf_text_finetune.modules.model.lora import LoraSettings, add_lora

    model = add_lora(sharp(ready_model(tiny_bert, 1, label_names=["neg", "pos"])), LoraSettings(r=4))
    with torch.no_grad():  # adapters that change the output, as trained ones do
        for name, param in model.network.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    folder = save_classifier(model, tmp_path / "out", "lora").folder
    result = export_saved_folder(folder)
    assert result.max_abs_diff <= 1e-4
    loaded = load_classifier(folder)
    torch.testing.assert_close(predict_logits(loaded, MANY, precision=Runtime("fp32", "onnxruntime")),
                               predict_logits(loaded, MANY), atol=1e-4, rtol=0)


def test_an_export_that_misses_the_equality_check_is_refused_and_not_kept(tiny_bert, tmp_path, monkeypatch):
    folder = save_classifier(ready_model(tiny_bert, 1), tmp_path / "out", "strict").folder
    monkeypatch.setattr(onnx_export, "TOLERANCE", -1.0)
    with pytest.raises(UserInputError, match=r"differs from PyTorch by .* so it was not kept; use backend torch"):
        export_saved_folder(folder)
    assert not (folder / "onnx" / "model.onnx").exists()
    assert not list((folder / "onnx").glob(".*partial"))


def test_the_export_node_reports_the_measured_difference(tiny_bert, tmp_path):
    folder = save_classifier(ready_model(tiny_bert, 1), tmp_path / "out", "node").folder
    with torch.inference_mode():  # as ComfyUI runs nodes
        out = PtExportClassificationModelOnnx().export(str(folder), False, "a fine film\nawful")
    onnx_folder, report = out["result"]
    assert onnx_folder == str(folder / "onnx")
    assert "equal PyTorch's within" in report and "on 2 sample texts" in report
    assert validate_node("PtExportClassificationModelOnnx", folder=str(tmp_path / "missing")) is not True
    assert validate_node("PtExportClassificationModelOnnx", folder=str(folder)) is True
