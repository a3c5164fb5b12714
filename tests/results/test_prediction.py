"""Pt Predict Classification Model: label names and probabilities for new texts, by the task
(sigmoid of one logit, softmax over classes, a sigmoid per label with the threshold), with
the model's own label names or the node's; bad thresholds, texts or names are refused."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from helpers.classifiers import TEXTS, ready_model, train_tiny
from helpers.data import write_topics_csv
from helpers.models import ARCHITECTURES, same_state, state_snapshot

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.results.prediction import predict_logits, predict_texts
from hf_text_finetune.nodes.predict_nodes import PtPredictClassificationModel


def _logits(model, texts=TEXTS) -> torch.Tensor:
    return predict_logits(model, texts)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_binary_single_logit_gives_sigmoid_probability_of_the_second_label(tiny_models, arch):
    model = ready_model(tiny_models[arch], 1, label_names=["negative", "positive"])
    positive = torch.sigmoid(_logits(model).reshape(-1))
    for threshold in (0.3, 0.5, 0.7):
        predictions = predict_texts(model, TEXTS, threshold=threshold)
        for p, prob in zip(predictions, positive.tolist()):
            assert p.probabilities["positive"] == pytest.approx(prob, abs=1e-6)
            assert p.probabilities["negative"] == pytest.approx(1 - prob, abs=1e-6)
            assert p.label == ("positive" if prob >= threshold else "negative")
            assert p.score == pytest.approx(p.probabilities[p.label])


def test_binary_threshold_moves_the_decision(tiny_bert):
    model = ready_model(tiny_bert, 1, label_names=["negative", "positive"])
    assert {p.label for p in predict_texts(model, TEXTS, threshold=0.01)} == {"positive"}
    assert {p.label for p in predict_texts(model, TEXTS, threshold=0.99)} == {"negative"}


def test_multi_class_uses_softmax_and_the_most_probable_name(tiny_models):
    names = ["pos", "neg", "meh"]
    model = ready_model(tiny_models["roberta"], 3, label_names=names, problem_type="single_label_classification")
    expected = torch.softmax(_logits(model), dim=-1)
    for p, row in zip(predict_texts(model, TEXTS, threshold=0.9), expected):
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert [p.probabilities[n] for n in names] == pytest.approx(row.tolist(), abs=1e-6)
        assert p.label == names[int(row.argmax())]  # the threshold does not apply to one-of-N


def test_multi_label_uses_a_sigmoid_per_label_and_the_threshold(tiny_models):
    names = ["pos", "neg", "meh"]
    model = ready_model(tiny_models["distilbert"], 3, label_names=names, problem_type="multi_label_classification")
    expected = torch.sigmoid(_logits(model))
    for threshold in (0.2, 0.5, 0.8):
        for p, row in zip(predict_texts(model, TEXTS, threshold=threshold), expected.tolist()):
            assert [p.probabilities[n] for n in names] == pytest.approx(row, abs=1e-6)
            assert p.label == [n for n, prob in zip(names, row) if prob >= threshold]
            assert p.score == pytest.approx([prob for prob in row if prob >= threshold], abs=1e-6)


def test_models_without_label_names_use_output_numbers(tiny_bert):
    model = ready_model(tiny_bert, 1)
    assert set(predict_texts(model, TEXTS)[0].probabilities) == {"0", "1"}


def test_trained_model_predicts_with_the_names_it_learned(tiny_models, tmp_path):
    data = write_topics_csv(tmp_path / "topics.csv", rows=45)
    trained = train_tiny(tiny_models["bert"], data, num_outputs=3, loss="cross_entropy", epochs=1).model
    predictions = predict_texts(trained, TEXTS)
    assert set(predictions[0].probabilities) == {"pos", "neg", "meh"}
    assert all(p.label in {"pos", "neg", "meh"} for p in predictions)


def test_predict_node_outputs_text_labels_and_json_without_changing_the_model(tiny_bert):
    model = ready_model(tiny_bert, 1, label_names=["negative", "positive"])
    before = state_snapshot(model.network)
    node = PtPredictClassificationModel()
    with torch.inference_mode():  # as ComfyUI runs nodes
        out = node.predict(model, "\n".join(TEXTS[:2]) + "\n\n  \n", 0.5, "", 8, "cpu", True)
    text, labels, structured = out["result"]
    assert out["ui"]["text"] == [text]
    rows = json.loads(structured)
    assert [r["text"] for r in rows] == TEXTS[:2]  # one per non-empty line
    assert labels.splitlines() == [r["label"] for r in rows]
    assert all(set(r["probabilities"]) == {"negative", "positive"} for r in rows)
    assert len(text.splitlines()) == 2 and rows[0]["label"] in text.splitlines()[0]
    assert same_state(before, state_snapshot(model.network))
    assert not model.network.training


def test_label_names_input_renames_the_outputs(tiny_bert):
    model = ready_model(tiny_bert, 1)
    out = PtPredictClassificationModel().predict(model, TEXTS[0], 0.5, "bad, good", 8, "cpu", True)
    assert set(json.loads(out["result"][2])[0]["probabilities"]) == {"bad", "good"}


# --- bad input ---------------------------------------------------------------------------------------------------


def test_predict_without_tokenizer_names_the_fix(tiny_bert):
    untrained = build_classification_model(str(tiny_bert), 1)
    with pytest.raises(UserInputError, match="no tokenizer attached.*trainer"):
        predict_texts(untrained, TEXTS)


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.1, 1.5])
def test_threshold_outside_zero_one_is_refused(tiny_bert, threshold):
    model = ready_model(tiny_bert, 1)
    with pytest.raises(UserInputError, match=f"threshold {threshold} must be between 0 and 1"):
        predict_texts(model, TEXTS, threshold=threshold)
    verdict = PtPredictClassificationModel.VALIDATE_INPUTS(threshold=threshold)
    assert verdict is not True and "threshold" in verdict


def test_queue_time_checks_accept_good_values_and_refuse_empty_texts():
    assert PtPredictClassificationModel.VALIDATE_INPUTS(threshold=0.5, texts="a\nb", batch_size=4) is True
    assert "texts is empty" in PtPredictClassificationModel.VALIDATE_INPUTS(texts=" \n ")
    assert PtPredictClassificationModel.VALIDATE_INPUTS(threshold=None, texts=None) is True  # linked inputs


def test_label_names_that_do_not_match_the_outputs_are_refused(tiny_models):
    model = ready_model(tiny_models["albert"], 3, label_names=["a", "b", "c"])
    with pytest.raises(UserInputError, match=r"give 2 names, but the model has 3 outputs"):
        predict_texts(model, TEXTS, label_names=["x", "y"])
    with pytest.raises(UserInputError, match=r"model's label names .* 4 names, but the model has 3 outputs"):
        predict_texts(dataclasses.replace(model, label_names=["a", "b", "c", "d"]), TEXTS)
    binary = ready_model(tiny_models["albert"], 1)
    with pytest.raises(UserInputError, match="one output: give two names"):
        predict_texts(binary, TEXTS, label_names=["a", "b", "c"])
