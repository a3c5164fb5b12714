"""The check-train-calibrate template runs headless on a tiny model and local csv files: the data check
reports on both files, Calibrate returns a new model with its temperature and threshold, Evaluate
scores the calibrated model (with its ECE and threshold), and the saved folder keeps the calibration."""

from __future__ import annotations

import json
import os

from helpers.workflows import node_output, run_example

from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.nodes.comfy_services import OUTPUT_DIR_ENV

TEMPLATE = "check_train_calibrate.json"


def test_check_train_calibrate_template_runs_headless(tiny_models, reviews_csv, val_csv, tmp_path, monkeypatch):
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path))
    overrides = [f"Model name.value={tiny_models['bert']}", "Hf Tokenizer Encode.max_length=32",
                 f"Train dataset.name={reviews_csv}", f"Test dataset.name={val_csv}", "Test dataset.split=train",
                 f"Data check.name={reviews_csv}", f"Data check.validation_name={val_csv}",
                 "Data check.validation_split=train", "Validation split.validation_fraction=0.25",
                 "Train loader.batch_size=8", "Validation loader.batch_size=8", "Pto AdamW.learning_rate=0.01"]
    prompt, result = run_example(TEMPLATE, overrides)
    report = json.loads(node_output(prompt, result, "Data check")[1])
    assert report["train"]["rows"] == 48 and report["validation"]["rows"] == 24
    model, calibration_json, ece_before, ece_after, diagram = node_output(prompt, result, "Calibrate")
    calibration = json.loads(calibration_json)
    assert model.calibration["temperature"] == calibration["temperature"] > 0
    assert calibration["texts"] == 12 and 0 < calibration["threshold"] < 1  # 25% of 48, two classes
    assert calibration["nll_after"] <= calibration["nll_before"] + 1e-9  # what temperature scaling minimises
    assert 0 <= ece_after <= 1 and 0 <= ece_before <= 1 and diagram.shape[0] == 1
    metrics, _, _, _, ece, reliability, *_errors = node_output(prompt, result, "Evaluate on test")
    metrics = json.loads(metrics)
    assert metrics["threshold"] == calibration["threshold"] and metrics["count"] == 24
    assert ece == metrics["extra"]["calibration"]["ece"] and reliability.shape[-1] == 3
    (folder,) = node_output(prompt, result, "Save model")
    assert os.path.basename(folder) == "imdb_calibrated_00001"
    assert load_classifier(folder).calibrated_threshold == calibration["threshold"]
