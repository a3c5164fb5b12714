"""The decoder + LoRA template (Qwen2.5-0.5B-Instruct on the hub) runs headless with a tiny local Qwen2 in its
place: the model node resolves pooling auto to the last real token, LoRA adapts attention and MLP projections,
gradient checkpointing runs, and the saved folder gives Predict's probabilities in transformers.pipeline."""

from __future__ import annotations

import json

import pytest
from helpers.families import build_family_model
from helpers.workflows import WORKFLOWS, node_output, run_example, tiny_overrides

from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.prediction import predict_texts
from hf_text_finetune.nodes.comfy_services import OUTPUT_DIR_ENV

TEMPLATE = "decoder_lora_classification.json"


def test_the_template_names_a_real_small_decoder_with_lora_and_the_hf_head():
    data = json.loads((WORKFLOWS / TEMPLATE).read_text())
    by_type = {node["type"]: node for node in data["nodes"]}
    assert by_type["PtnHfFineTunedClassificationModel"]["widgets_values"][:3] == ["Qwen/Qwen2.5-0.5B-Instruct", 1,
                                                                                 "auto"]
    assert "hf_sequence_classification" in by_type["PtnHfFineTunedClassificationModel"]["widgets_values"]
    assert "PtnLoraAdapter" in by_type and by_type["PtnLoraAdapter"]["widgets_values"][3] == ""  # default targets


def test_the_template_runs_headless_on_a_tiny_decoder(tmp_path, reviews_csv, val_csv, monkeypatch):
    folder = build_family_model("qwen2", tmp_path / "qwen2")
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "output"))
    overrides = tiny_overrides(folder, reviews_csv, val_csv) + [
        "Train dataset.split=train", "HfTokenizerEncode.max_length=0", "Predict.precision=fp32",
        "Train loader.batch_size=4", "PtTrainTransformerClassificationModel.gradient_accumulation_steps=1",
        "Predict.texts=a wonderful film\nboring plot and wooden acting"]
    prompt, result = run_example(TEMPLATE, overrides)
    trainer_id = next(nid for nid, node in prompt.items()
                      if node["class_type"] == "PtTrainTransformerClassificationModel")
    trained = result.outputs[trainer_id][0]
    assert trained.pooling == "last" and "down_proj" in trained.lora["target_modules"]
    (saved,) = node_output(prompt, result, "Save model")
    rows = json.loads(node_output(prompt, result, "Predict")[2])
    assert [r["text"] for r in rows] == ["a wonderful film", "boring plot and wooden acting"]

    from transformers import pipeline

    texts = [r["text"] for r in rows]
    theirs = pipeline("text-classification", model=saved, device="cpu")(texts, top_k=None)
    ours = predict_texts(load_classifier(saved), texts)
    assert [row[0]["score"] for row in theirs] == pytest.approx([p.probabilities["1"] for p in ours], abs=1e-5)
