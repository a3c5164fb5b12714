"""Calibration: ECE equals a direct count; temperature scaling lowers the validation ECE of a deliberately
over-confident model and changes no argmax label; the input model is left as it was; the threshold with
the best F1 is found, stored, saved and used by Predict and Evaluate; transformers' `pipeline` on a
calibrated saved folder gives the calibrated probabilities; multi-label models get one temperature per label."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from helpers.checks import raises_with
from helpers.classifiers import ready_model
from helpers.data import write_multilabel_jsonl, write_reviews_csv
from helpers.models import same_state, state_snapshot
from helpers.nodes import run_node

from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.model.classifier import MULTI_LABEL, REGRESSION
from hf_text_finetune.modules.results.calibration import (best_threshold, calibrate_classifier, folded_network,
                                                          negative_log_likelihood)
from hf_text_finetune.modules.results.calibration_error import calibration_summary
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.prediction import predict_logits, predict_texts
from hf_text_finetune.modules.results.saving import save_classifier

TEXTS = ["a wonderful film and great acting", "boring plot and wooden acting", "the movie was okay",
         "I loved every minute", "dull and stupid", "superb direction, excellent cast"]


def _noisy_csv(path, rows, seed, labels=(0, 1)):
    """Reviews with every third label replaced by the next one: no model can be sure of them."""
    write_reviews_csv(path, rows=rows, seed=seed, labels=labels)
    with path.open(newline="") as handle:
        table = list(csv.reader(handle))
    for i, row in enumerate(table[1:]):
        if i % 3 == 0:
            row[1] = str(labels[(labels.index(int(row[1])) + 1) % len(labels)])
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(table)
    return path


def _dataset(model_folder, path, label_field="label"):
    encoder = build_token_encoder(str(model_folder), 64)
    return encode_text_dataset(str(path), "train", "text", label_field, encoder)


def _over_confident(model_folder, outputs=1, head="linear", factor=40.0, **kw):
    """A classifier whose logits are `factor` times a random head's: sure of itself, right by chance."""
    model = ready_model(model_folder, outputs, head, **kw)
    return model.with_network(folded_network(model.network, np.array([1.0 / factor])))


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    root = tmp_path_factory.mktemp("calibration")
    return {"binary": _noisy_csv(root / "binary.csv", 60, 3), "classes": _noisy_csv(root / "three.csv", 60, 4,
                                                                                    (0, 1, 2))}


def test_ece_equals_a_direct_count():
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(0, 3, (200, 4)), rng.integers(0, 4, 200)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    confidence, right = probabilities.max(axis=1), probabilities.argmax(axis=1) == labels
    expected = 0.0
    for b in range(15):
        inside = (confidence > b / 15) & (confidence <= (b + 1) / 15)
        if inside.any():
            expected += inside.mean() * abs(right[inside].mean() - confidence[inside].mean())
    summary = calibration_summary(torch.tensor(logits), torch.tensor(labels))
    assert summary["ece"] == pytest.approx(expected, abs=1e-12)
    assert sum(row["count"] for row in summary["bins"]) == 200 and len(summary["bins"]) == 15


def test_the_best_threshold_beats_every_other_cut():
    rng = np.random.default_rng(1)
    probability, truth = rng.random(300), rng.random(300) < 0.3
    threshold, score = best_threshold(probability, truth, "f1")

    def f1(cut):
        called = probability > cut
        tp = (called & truth).sum()
        return 2 * tp / (called.sum() + truth.sum())

    cuts = np.unique(np.concatenate([probability, [0.0, 1.0]]))
    assert score == pytest.approx(max(f1(c) for c in cuts)) and f1(threshold) == pytest.approx(score)
    assert (probability >= threshold).sum() == (probability > threshold).sum()  # no text sits on the cut


@pytest.mark.parametrize("outputs,data", [(1, "binary"), (3, "classes")])
def test_temperature_lowers_the_ece_and_keeps_every_label(tiny_bert, noisy, outputs, data):
    model = _over_confident(tiny_bert, outputs)
    dataset = _dataset(tiny_bert, noisy[data])
    before_weights = state_snapshot(model.network)
    calibrated, record = calibrate_classifier(model, dataset, "none", device="cpu")
    assert same_state(before_weights, state_snapshot(model.network)) and model.calibration is None
    assert record["temperature"] > 1 and record["ece_after"] < record["ece_before"] / 2
    assert record["nll_after"] < record["nll_before"]
    old, new = predict_logits(model, TEXTS), predict_logits(calibrated, TEXTS)
    torch.testing.assert_close(new, old / record["temperature"], rtol=1e-4, atol=1e-5)
    if outputs == 1:
        assert torch.equal(old > 0, new > 0)
    else:
        assert torch.equal(old.argmax(dim=1), new.argmax(dim=1))
    evaluated = json.loads(run_node("PtEvaluateClassificationModel", model=calibrated, data=dataset,
                                    device="cpu", precision="fp32")[0])
    assert evaluated["extra"]["calibration"]["ece"] == pytest.approx(record["ece_after"], abs=1e-5)


def test_the_threshold_is_stored_saved_and_used(tiny_bert, noisy, tmp_path):
    dataset = _dataset(tiny_bert, noisy["binary"])
    model, json_text, before, after, image = run_node("PtCalibrateClassificationModel",
                                                      model=_over_confident(tiny_bert, factor=3.0), data=dataset,
                                                      threshold_metric="f1", device="cpu")
    record = json.loads(json_text)
    threshold = model.calibrated_threshold
    assert threshold == record["threshold"] and 0 < threshold < 1 and after < before and image.shape[-1] == 3
    probability = torch.sigmoid(predict_logits(model, TEXTS)).reshape(-1)
    labels = [p.label for p in predict_texts(model, TEXTS)]
    assert labels == [str(int(p >= threshold)) for p in probability]
    by_node = json.loads(run_node("PtPredictClassificationModel", model=model, texts="\n".join(TEXTS),
                                  threshold=0.5, precision="fp32", use_calibrated_threshold=False)[2])
    assert [row["label"] for row in by_node] == [str(int(p >= 0.5)) for p in probability]
    report = json.loads(run_node("PtEvaluateClassificationModel", model=model, data=dataset, device="cpu",
                                 precision="fp32")[0])
    assert report["threshold"] == pytest.approx(threshold)
    folder = save_classifier(model, tmp_path, "calibrated").folder
    loaded = load_classifier(folder)
    assert loaded.calibration == record_without_bins(record) and loaded.calibrated_threshold == threshold
    assert f"threshold {threshold:.4f}" in loaded.describe()
    assert json.loads((folder / "config.json").read_text())["calibration"]["threshold"] == threshold
    card = (folder / "README.md").read_text()
    assert "## Calibration" in card and f"{record['ece_before']:.4f}" in card and f"{record['ece_after']:.4f}" in card
    torch.testing.assert_close(predict_logits(loaded, TEXTS), predict_logits(model, TEXTS))


def record_without_bins(record):
    return {k: v for k, v in record.items() if not k.startswith("reliability_")}


def test_pipeline_gives_the_calibrated_probabilities(tiny_bert, noisy, tmp_path):
    from transformers import pipeline

    model = _over_confident(tiny_bert, 3, "hf_sequence_classification", factor=200.0)
    calibrated, record = calibrate_classifier(model, _dataset(tiny_bert, noisy["classes"]), device="cpu")
    assert record["threshold"] is None  # three classes: argmax
    folder = save_classifier(calibrated, tmp_path, "calibrated_hf").folder
    rows = pipeline("text-classification", model=str(folder), device="cpu")(TEXTS, top_k=None)
    theirs = [{row["label"]: row["score"] for row in text_rows} for text_rows in rows]
    ours = [p.probabilities for p in predict_texts(calibrated, TEXTS, precision="fp32")]
    before = [p.probabilities for p in predict_texts(model, TEXTS, precision="fp32")]
    for mine, pipes in zip(ours, theirs):
        assert set(mine) == set(pipes)
        assert all(abs(mine[name] - pipes[name]) < 1e-5 for name in mine)
    changed = max(abs(old[name] - mine[name]) for old, mine in zip(before, ours) for name in mine)
    assert record["temperature"] > 1 and changed > 1e-3  # the pipeline's are not the uncalibrated ones


def test_a_multi_label_model_gets_a_temperature_per_label(tiny_bert, tmp_path):
    path = write_multilabel_jsonl(tmp_path / "tags.jsonl", rows=40)
    dataset = _dataset(tiny_bert, path, "labels")
    model = _over_confident(tiny_bert, dataset.num_classes, factor=30.0, label_names=dataset.label_names,
                            problem_type=MULTI_LABEL)
    calibrated, record = calibrate_classifier(model, dataset, "f1", device="cpu")
    assert isinstance(record["temperature"], list) and len(record["temperature"]) == dataset.num_classes
    assert record["ece_after"] < record["ece_before"] and record["threshold"] is not None
    scale = torch.tensor(record["temperature"], dtype=torch.float32)
    torch.testing.assert_close(predict_logits(calibrated, TEXTS), predict_logits(model, TEXTS) / scale,
                               rtol=1e-4, atol=1e-5)


def test_regression_and_a_bad_metric_are_refused(tiny_bert, noisy):
    model = ready_model(tiny_bert, 1, problem_type=REGRESSION)
    raises_with(lambda: calibrate_classifier(model, _dataset(tiny_bert, noisy["binary"]), device="cpu"),
                "regression", "calibrate a classifier")
    assert "threshold_metric 'auc'" in str(run_node_validation("auc"))
    assert negative_log_likelihood(np.zeros((2, 1)), np.array([0, 1])) == pytest.approx(np.log(2))


def run_node_validation(metric):
    from helpers.nodes import validate_node

    return validate_node("PtCalibrateClassificationModel", threshold_metric=metric)


def test_a_calibrated_two_class_model_is_decided_by_its_threshold(tiny_bert, noisy):
    model = _over_confident(tiny_bert, 2, factor=3.0)
    calibrated, record = calibrate_classifier(model, _dataset(tiny_bert, noisy["binary"]), "f1", device="cpu")
    assert 0 < calibrated.calibrated_threshold < 1
    second = torch.softmax(predict_logits(calibrated, TEXTS), dim=-1)[:, 1]
    middle = float(second.median())  # a stored threshold that must change some argmax labels
    moved = dataclasses.replace(calibrated, calibration={**calibrated.calibration, "threshold": middle})
    by_threshold = [str(int(p >= middle)) for p in second]
    assert by_threshold != [str(int(p > 0.5)) for p in second]
    assert [p.label for p in predict_texts(moved, TEXTS)] == by_threshold
    assert [p.label for p in predict_texts(moved, TEXTS, threshold=0.7)] == \
        [str(int(p >= 0.7)) for p in second]  # an explicit threshold decides a two-class model too


def test_an_explicit_threshold_decides_a_two_class_model_alike_in_predict_evaluate_and_the_error_table():
    """One rule (metrics.decide): a two-output softmax model's label is class 1 when its probability reaches the
    threshold, in Predict as in the evaluation report and its error table (they once differed: argmax vs >)."""
    from hf_text_finetune.modules.results.error_examples import classification_errors
    from hf_text_finetune.modules.results.metrics import classification_report, decide

    logits = torch.tensor([[0.0, 0.5], [0.0, 2.0], [1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([1, 1, 0, 1])
    decided = decide(torch.softmax(logits, dim=-1), "multi_class", 0.7).tolist()
    assert decided == [0, 1, 0, 0]  # argmax would say [1, 1, 0, 0]
    report = classification_report(logits, labels, threshold=0.7)
    assert report.confusion == [[1, 0], [2, 1]]
    _, wrong, _ = classification_errors(logits, labels, 0.7, ["0", "1"], 10)
    assert wrong == 2
    assert decide(torch.tensor([[0.5, 0.5]]), "multi_class", 0.5).tolist() == [1]  # >=: a tie reaches it
