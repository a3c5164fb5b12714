"""Calibration node: temperature scaling and a decision threshold fitted on validation data."""

from __future__ import annotations

import json

from ..modules.data.batching import check_batch_size
from ..modules.figures import image_to_tensor
from ..modules.host import check_device_name
from ..modules.results.calibration import (THRESHOLD_METRICS, calibrate_classifier, calibration_text,
                                           check_threshold_metric)
from ..modules.results.reliability_plot import render_reliability_diagram
from . import widgets
from .comfy_services import runtime_hooks, save_preview_images
from .widgets import category, validation


class PtCalibrateClassificationModel:
    DESCRIPTION = ("Makes a trained classifier's probabilities honest: fits temperature scaling on validation data "
                   "(one temperature; one per label for multi-label models) and, for binary, two-class and "
                   "multi-label models, the decision threshold with the best F1 (or accuracy). No label's argmax "
                   "changes. The temperature is folded into the last layer, so Predict, Evaluate, a saved folder "
                   "and transformers.pipeline give calibrated probabilities; the threshold travels with the model "
                   "and is used by Predict and Evaluate. The model card records the ECE before and after. Use "
                   "validation data the model was not trained on, not the final test split.")
    CATEGORY = category("eval")
    RETURN_TYPES = ("PTMODEL", "STRING", "FLOAT", "FLOAT", "IMAGE")
    RETURN_NAMES = ("model", "calibration_json", "ece_before", "ece_after", "reliability_diagram")
    OUTPUT_TOOLTIPS = ("The calibrated classifier (a new one; the input model is unchanged).",
                       "Temperature, threshold, ECE and NLL before and after, and the reliability bins, as JSON.",
                       "Expected calibration error (15 bins) of the input model on this data.",
                       "Expected calibration error after calibration.",
                       "Reliability diagram before and after calibration.")
    FUNCTION = "calibrate"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("PTMODEL", {"tooltip": "Trained classifier (from a trainer or a load node)."}),
                "data": ("PTDATALOADER,PTVDATASET",
                         {"tooltip": "Labelled validation data the model was not trained on (a loader, or a "
                                     "tokenized dataset batched here)."}),
                "threshold_metric": (list(THRESHOLD_METRICS), {
                    "default": "f1",
                    "tooltip": "Binary, two-class and multi-label models: the decision threshold is the one with "
                               "the best f1 (multi-label: micro F1) or accuracy on this data; none keeps 0.5. "
                               "Models with more classes take the most probable class."}),
            },
            "optional": {
                "batch_size": widgets.batch_size("Texts per batch when data is a dataset (a loader keeps its own)."),
                "device": widgets.device(),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, threshold_metric=None, batch_size=None, device=None):
        return validation(lambda: check_threshold_metric(threshold_metric), lambda: check_batch_size(batch_size),
                          lambda: check_device_name(device))

    def calibrate(self, model, data, threshold_metric, batch_size=32, device="auto", unique_id=None):
        calibrated, record = calibrate_classifier(model, data, threshold_metric, device, runtime_hooks(unique_id),
                                                  batch_size)
        picture = render_reliability_diagram(record["reliability_before"], record["reliability_after"],
                                             "reliability before and after calibration")
        text = calibration_text(record)
        return {
            "ui": {"images": save_preview_images([picture], "hf_text_finetune_reliability"), "text": [text]},
            "result": (calibrated, json.dumps(record, indent=2), record["ece_before"], record["ece_after"],
                       image_to_tensor(picture)),
        }
