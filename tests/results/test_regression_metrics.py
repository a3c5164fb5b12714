"""Regression metrics (MSE, MAE, Pearson, Spearman) match scipy and scikit-learn, ties included; an
undefined correlation (constant predictions) is None, not a number; the report's JSON and text show the
scores, and the Evaluate node shows them with a predicted-against-true plot."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.metrics import mean_absolute_error, mean_squared_error

from hf_text_finetune.modules.results.metrics import average_ranks, regression_report
from hf_text_finetune.modules.training.eval_pass import pearson_from_sums, score_sums


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_scipy_and_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    truth = np.round(rng.uniform(0, 5, 200), 1)  # rounded: many ties for Spearman
    predicted = np.round(truth + rng.normal(0, 1, 200), 1)
    report = regression_report(torch.tensor(predicted)[:, None], torch.tensor(truth), loss=0.5)
    assert report.count == 200 and report.loss == 0.5
    assert report.mse == pytest.approx(mean_squared_error(truth, predicted), rel=1e-12)
    assert report.mae == pytest.approx(mean_absolute_error(truth, predicted), rel=1e-12)
    assert report.pearson == pytest.approx(stats.pearsonr(predicted, truth)[0], rel=1e-10)
    assert report.spearman == pytest.approx(stats.spearmanr(predicted, truth)[0], rel=1e-10)
    assert average_ranks(truth) == pytest.approx(stats.rankdata(truth))


def test_the_trainers_summed_pearson_matches_scipy():
    rng = np.random.default_rng(3)
    truth, predicted = rng.uniform(0, 5, 64), rng.uniform(0, 5, 64)
    halves = [score_sums(torch.tensor(predicted[i:i + 32]), torch.tensor(truth[i:i + 32])) for i in (0, 32)]
    sums = halves[0] + halves[1]  # batches (and processes) add up
    assert pearson_from_sums(sums) == pytest.approx(stats.pearsonr(predicted, truth)[0], rel=1e-9)
    assert float(sums[0]) / 64 == pytest.approx(mean_absolute_error(truth, predicted))


def test_constant_predictions_have_no_correlation():
    report = regression_report(torch.full((4, 1), 2.0), torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert report.pearson is None and report.spearman is None
    assert json.loads(report.to_json())["pearson"] is None and "points" not in json.loads(report.to_json())
    assert "pearson" not in report.summary() and "mse: 1.5000" in report.summary()
    assert np.isnan(pearson_from_sums(score_sums(torch.full((4,), 2.0), torch.tensor([1.0, 2.0, 3.0, 4.0]))))


def test_the_summary_names_the_task_and_the_ranges():
    report = regression_report(torch.tensor([0.5, 2.0, 4.5]), torch.tensor([0.0, 2.5, 5.0]))
    summary = report.summary()
    assert summary.startswith("regression, 3 texts (labels 0 to 5, predictions 0.5 to 4.5)")
    for key in ("mse", "mae", "pearson", "spearman"):
        assert f"{key}: " in summary
