"""A model of pairs of texts and a regression model, saved and used again: Predict takes pairs as one
pair a line split by a tab (refusing lines that do not fit the model), transformers' own `pipeline` loads
the saved folder and gives the same scores as Predict (pairs as {"text", "text_pair"}; regression raw, since
config.json says problem_type regression), the Load node restores both kinds, Evaluate shows regression
metrics, and folders saved before pairs and regression still load as single-text classifiers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers.checks import raises_with
from helpers.data import write_pairs_csv
from helpers.nodes import run_node

from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.prediction import predict_logits, predict_texts
from hf_text_finetune.modules.results.saving import save_classifier
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.training.settings import TrainSettings

PAIRS = ["a wonderful film\tI loved every minute", "a terrible film\tdull and stupid",
         "great acting and a moving story\tthe worst movie this year"]
SAVED_V1 = Path(__file__).resolve().parents[1] / "fixtures" / "saved_v1"


def _trained(folder, data, outputs, loss, head="hf_sequence_classification"):
    model = build_classification_model(str(folder), outputs, head_type=head, seed=0)
    return train_classifier(model, TextDataLoader(data, 8, seed=0), OptimizerSpec("AdamW", 1e-2), loss,
                            TrainSettings(epochs=2, device="cpu", precision="fp32")).model


@pytest.fixture(scope="module")
def pair_data(tmp_path_factory, tiny_bert):
    root = tmp_path_factory.mktemp("saved_pairs")
    encoder = build_token_encoder(str(tiny_bert), 64)
    return {kind: encode_text_dataset(str(write_pairs_csv(root / f"{kind}.csv", rows=24, scores=kind == "sts")),
                                      "train", ("sentence1", "sentence2"), "label", encoder)
            for kind in ("mrpc", "sts")}


@pytest.fixture(scope="module")
def pair_model(tiny_bert, pair_data):
    return _trained(tiny_bert, pair_data["mrpc"], 2, LossSpec("cross_entropy"))


@pytest.fixture(scope="module")
def score_model(tiny_bert, pair_data):
    return _trained(tiny_bert, pair_data["sts"], 1, LossSpec("mse"))


def _pipeline(folder):
    from transformers import pipeline

    return pipeline("text-classification", model=str(folder), device="cpu")


def _as_dicts(lines):
    return [dict(zip(("text", "text_pair"), line.split("\t"))) for line in lines]


def test_a_saved_pair_model_gives_pipeline_the_scores_predict_gives(pair_model, tmp_path):
    folder = save_classifier(pair_model, tmp_path, "mrpc").folder
    assert json.loads((folder / "classifier.json").read_text())["text_pairs"] is True
    card = (folder / "README.md").read_text()
    assert '"text_pair":' in card and "separated by a tab" in card
    _, _, structured = run_node("PtPredictClassificationModel", model=load_classifier(folder),
                                texts="\n".join(PAIRS), threshold=0.5, precision="fp32")  # pipeline is fp32
    rows = json.loads(structured)
    assert [(r["text"], r["text_pair"]) for r in rows] == [tuple(line.split("\t")) for line in PAIRS]
    theirs = [{row["label"]: row["score"] for row in rows_} for rows_ in _pipeline(folder)(_as_dicts(PAIRS),
                                                                                            top_k=None)]
    assert theirs == [pytest.approx(r["probabilities"], abs=1e-5) for r in rows]
    assert len({round(r["probabilities"]["1"], 6) for r in rows}) == 3, "each pair scored on its own"


def test_a_saved_regression_model_gives_pipeline_its_raw_scores(score_model, tmp_path):
    folder = save_classifier(score_model, tmp_path, "sts").folder
    config = json.loads((folder / "config.json").read_text())
    assert config["problem_type"] == "regression" and len(config["id2label"]) == 1
    loaded = load_classifier(folder)
    assert loaded.output_kind == "regression" and loaded.text_pairs
    ours = predict_texts(loaded, PAIRS)
    firsts, seconds = zip(*(line.split("\t") for line in PAIRS))
    raw = predict_logits(loaded, list(firsts), pairs=list(seconds)).reshape(-1)
    assert [p.score for p in ours] == pytest.approx(raw.tolist(), abs=1e-6), "Predict: the raw output"
    theirs = _pipeline(folder)(_as_dicts(PAIRS), top_k=None)
    assert [rows[0]["score"] for rows in theirs] == pytest.approx([p.score for p in ours], abs=1e-5)
    assert not torch.allclose(torch.sigmoid(raw), raw, atol=1e-3), "a sigmoid would have changed them"
    assert "raw predicted value" in (folder / "README.md").read_text()


def test_predict_prints_scores_for_a_regression_model(score_model):
    text, labels, structured = run_node("PtPredictClassificationModel", model=score_model, texts="\n".join(PAIRS),
                                        threshold=0.5)
    rows = json.loads(structured)
    assert all(r["label"] == "score" and r["probabilities"] == {} for r in rows)
    assert labels.splitlines() == [f"{r['score']:.6g}" for r in rows]
    assert text.splitlines()[0].startswith(f"score {rows[0]['score']:.4f}: a wonderful film | I loved")


def test_predict_refuses_lines_that_do_not_fit_the_model(pair_model, trained_bert):
    raises_with(lambda: predict_texts(pair_model, ["a wonderful film\tgreat", "no tab here"]),
                "line 2", "pairs of texts", "first text<TAB>second text")
    raises_with(lambda: predict_texts(pair_model, ["a wonderful film\t  "]), "line 1")
    raises_with(lambda: predict_texts(trained_bert.model, ["fine", "good\tbad"]), "line 2", "hold a tab",
                "single texts", "remove the tab")
    assert len(predict_texts(pair_model, [("a wonderful film", "great")])) == 1, "tuples work in Python"


def test_evaluate_shows_regression_metrics_and_refuses_single_texts_for_a_pair_model(score_model, pair_data,
                                                                                     pair_model, encoded_reviews):
    metrics_json, accuracy, f1, picture, ece, reliability = run_node("PtEvaluateClassificationModel",
                                                                     model=score_model, data=pair_data["sts"],
                                                                     device="cpu")[:6]
    metrics = json.loads(metrics_json)
    assert metrics["task"] == "regression" and {"mse", "mae", "pearson", "spearman"} <= set(metrics)
    assert accuracy == -1.0 and f1 == -1.0 and ece == -1.0 and picture.shape[-1] == reliability.shape[-1] == 3
    raises_with(lambda: run_node("PtEvaluateClassificationModel", model=pair_model, data=encoded_reviews[1],
                                 device="cpu"), "reads pairs of texts", "single texts", "text_pair_field")


def test_continued_training_keeps_to_the_kind_of_input(pair_model, encoded_reviews):
    raises_with(lambda: train_classifier(pair_model, TextDataLoader(encoded_reviews[0], 8),
                                         OptimizerSpec("AdamW", 1e-3), LossSpec("cross_entropy"),
                                         TrainSettings(epochs=1, device="cpu", precision="fp32")),
                "reads pairs of texts", "set text_pair_field")


@pytest.mark.parametrize("name", ["hf_head", "linear", "lora"])
def test_folders_saved_before_pairs_and_regression_load_as_single_text_classifiers(name):
    model = load_classifier(SAVED_V1 / name)
    assert not model.text_pairs and model.output_kind != "regression"


def test_pairs_for_training_and_single_texts_for_validation_are_refused(tiny_bert, pair_data, encoded_reviews):
    model = build_classification_model(str(tiny_bert), 2, seed=0)
    raises_with(lambda: train_classifier(model, TextDataLoader(pair_data["mrpc"], 8), OptimizerSpec("AdamW", 1e-3),
                                         LossSpec("cross_entropy"), TrainSettings(epochs=1, device="cpu"),
                                         TextDataLoader(encoded_reviews[1], 8, shuffle=False)),
                "holds pairs of texts but the validation data", "same text_pair_field")


def test_predict_node_scores_regression_in_fp32_even_with_precision_auto(score_model):
    _, _, structured = run_node("PtPredictClassificationModel", model=score_model, texts="\n".join(PAIRS),
                                threshold=0.5, precision="auto")
    exact = predict_texts(score_model, PAIRS, precision="fp32")
    assert [r["score"] for r in json.loads(structured)] == [p.score for p in exact]  # bf16 would round to 3 digits
