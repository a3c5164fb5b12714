"""Pt Classify Texts: per text a label (STRING), a class index (INT) and the label's probability (FLOAT),
as list outputs ComfyUI maps over; the same answers as Predict; multi-label and regression models give
their documented equivalents; Predict keeps its outputs and its place."""

from __future__ import annotations

import json

import pytest
import torch
from helpers.classifiers import TEXTS, ready_model
from helpers.nodes import node_class, run_node, validate_node

from hf_text_finetune.modules.results.prediction import predict_logits


def _classify(model, texts=TEXTS, threshold=0.5, **extra):
    return run_node("PtClassifyTexts", model=model, texts="\n".join(texts), threshold=threshold, precision="fp32",
                    **extra)


def test_outputs_are_typed_lists_one_item_per_text_and_the_summaries_are_single():
    cls = node_class("PtClassifyTexts")
    assert cls.RETURN_TYPES == ("STRING", "INT", "FLOAT", "STRING", "STRING")
    assert cls.RETURN_NAMES[:3] == ("label", "class_index", "probability")
    assert cls.OUTPUT_IS_LIST == (True, True, True, False, False)
    assert node_class("PtPredictClassificationModel").RETURN_TYPES == ("STRING", "STRING", "STRING")
    assert node_class("PtPredictClassificationModel").RETURN_NAMES == ("predictions", "labels", "json")


def test_binary_answers_match_predict_with_index_of_the_label(tiny_bert):
    model = ready_model(tiny_bert, 1, label_names=["negative", "positive"])
    positive = torch.sigmoid(predict_logits(model, TEXTS).reshape(-1)).tolist()
    threshold = sorted(positive)[len(positive) // 2]  # some texts on each side
    labels, indices, probabilities, text, structured = _classify(model, threshold=threshold)
    predict_text, predict_labels, predict_json = run_node("PtPredictClassificationModel", model=model,
                                                          texts="\n".join(TEXTS), threshold=threshold,
                                                          precision="fp32")
    assert labels == predict_labels.splitlines() and text == predict_text and structured == predict_json
    assert len(labels) == len(indices) == len(probabilities) == len(TEXTS)
    assert {*labels} == {"negative", "positive"}
    for label, index, probability, p in zip(labels, indices, probabilities, positive):
        assert isinstance(index, int) and isinstance(probability, float)
        assert index == (1 if p >= threshold else 0) and label == ["negative", "positive"][index]
        assert probability == pytest.approx(p if index == 1 else 1 - p, abs=1e-6)


def test_multi_class_gives_the_most_probable_class_and_its_probability(tiny_models):
    names = ["pos", "neg", "meh"]
    model = ready_model(tiny_models["roberta"], 3, label_names=names, problem_type="single_label_classification")
    expected = torch.softmax(predict_logits(model, TEXTS), dim=-1)
    labels, indices, probabilities, _, _ = _classify(model, threshold=0.9)
    assert indices == [int(row.argmax()) for row in expected]
    assert labels == [names[i] for i in indices]
    assert probabilities == pytest.approx([float(row.max()) for row in expected], abs=1e-6)


def test_multi_label_joins_the_kept_labels_and_gives_the_top_one(tiny_models):
    names = ["pos", "neg", "meh"]
    model = ready_model(tiny_models["distilbert"], 3, label_names=names, problem_type="multi_label_classification")
    expected = torch.sigmoid(predict_logits(model, TEXTS))
    for threshold in (0.01, 0.99):
        labels, indices, probabilities, _, structured = _classify(model, threshold=threshold)
        rows = json.loads(structured)
        assert labels == [", ".join(r["label"]) for r in rows]
        assert indices == [int(row.argmax()) for row in expected]
        assert probabilities == pytest.approx([float(row.max()) for row in expected], abs=1e-6)
    assert labels == [""] * len(TEXTS), "nothing reaches 0.99 on an untrained head: empty, not a made-up label"


def test_regression_gives_the_score_as_text_rounded_and_as_float(tiny_bert):
    model = ready_model(tiny_bert, 1, problem_type="regression")
    raw = predict_logits(model, TEXTS).reshape(-1).tolist()
    labels, indices, scores, _, _ = _classify(model)
    assert scores == pytest.approx(raw, abs=1e-6)
    assert indices == [round(s) for s in raw]
    assert labels == [f"{s:.6g}" for s in scores]


def test_bad_inputs_are_refused_at_queue_time_as_predict_does():
    assert "threshold" in validate_node("PtClassifyTexts", threshold=1.5, texts="a")
    assert validate_node("PtClassifyTexts", threshold=0.5, texts="a") is True
