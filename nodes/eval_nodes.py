"""Evaluation nodes: full metrics with a confusion matrix, and the training curves of a model."""

from __future__ import annotations

from ..modules.data.batching import check_batch_size
from ..modules.errors import UserInputError
from ..modules.figures import image_to_tensor
from ..modules.host import check_device_name
from ..modules.precision import INFERENCE_PRECISIONS, check_inference_precision
from ..modules.results.evaluation import evaluate_classifier
from ..modules.results.backends import Runtime, check_backend
from ..modules.results.metrics import check_threshold
from ..modules.results.plots import render_report_confusion, render_training_curves
from . import widgets
from .comfy_services import runtime_hooks, save_preview_images
from .widgets import category, validation


class PtEvaluateClassificationModel:
    DESCRIPTION = ("Measures a trained classifier on labelled data: accuracy, precision, recall, F1 (macro for "
                   "multi-class, micro and macro for multi-label), ROC-AUC for binary tasks, and the loss, plus a "
                   "confusion matrix shown on the node. Labels are matched to the model's label names. A "
                   "regression model gets MSE, MAE, Pearson and Spearman and a predicted-against-true plot.")
    CATEGORY = category("eval")
    RETURN_TYPES = ("STRING", "FLOAT", "FLOAT", "IMAGE")
    RETURN_NAMES = ("metrics_json", "accuracy", "f1", "confusion_matrix")
    OUTPUT_TOOLTIPS = ("Every metric, per-class scores and the confusion counts as JSON.",
                       "Accuracy (0..1); multi-label: share of texts with every label right; regression: -1 "
                       "(see metrics_json).",
                       "F1: of the positive class (binary), macro average (multi-class), micro average "
                       "(multi-label); regression: -1.",
                       "Confusion matrix picture (rows: true class, columns: predicted); regression: predicted "
                       "against true scores.")
    FUNCTION = "evaluate"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("PTMODEL", {"tooltip": "Trained classifier (from a trainer or a load node)."}),
                "data": ("PTDATALOADER,PTVDATASET",
                         {"tooltip": "Labelled data: a data loader, or a tokenized dataset (batched here). Use "
                                     "the test split, not the data the model was chosen on."}),
            },
            "optional": {
                "loss_function": ("PTLOSS", {"tooltip": "Loss to report. Empty: BCE for one output or multi-label, "
                                                        "cross-entropy otherwise. 'auto' weights are computed from "
                                                        "this data."}),
                "threshold": widgets.threshold("Probability above which a binary text is positive, or a "
                                               "multi-label text gets a label."),
                "batch_size": widgets.batch_size("Texts per batch when data is a dataset (a loader keeps its own)."),
                "device": widgets.device(),
                "precision": widgets.precision("auto = bf16/fp16 autocast where the device computes it natively, "
                                               "else fp32 (as the trainers). fp32 gives numbers identical to an "
                                               "fp32 training run. int8 (CPU only) = a copy with its linear layers "
                                               "dynamically quantized (about 1.5x faster where bf16 is not native): "
                                               "it reports the int8 model's accuracy, not the trained one's.",
                                               INFERENCE_PRECISIONS),
                "backend": widgets.backend(),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, threshold=None, batch_size=None, precision=None, device=None, backend=None):
        return validation(lambda: check_threshold(threshold), lambda: check_batch_size(batch_size),
                          lambda: check_device_name(device),
                          lambda: check_inference_precision(precision, device),
                          lambda: check_backend(backend, device, precision))

    def evaluate(self, model, data, loss_function=None, threshold=0.5, batch_size=32, device="auto",
                 precision="auto", **later_inputs):
        """`later_inputs`: backend (widget), unique_id (hidden)."""
        runtime = Runtime(precision, later_inputs.get("backend", "auto"))
        report = evaluate_classifier(model, data, loss_function, threshold, device,
                                     runtime_hooks(later_inputs.get("unique_id")), batch_size, runtime)
        picture = render_report_confusion(report)
        summary = report.summary()
        return {
            "ui": {"images": save_preview_images([picture], "hf_text_finetune_confusion"), "text": [summary]},
            "result": (report.to_json(), getattr(report, "accuracy", -1.0), getattr(report, "f1", -1.0),
                       image_to_tensor(picture)),
        }


class PtPlotTrainingCurves:
    DESCRIPTION = ("Draws a trained model's loss and accuracy per epoch (training and validation) as an image, "
                   "shown on the node. NaN values are left out and flat curves stay visible.")
    CATEGORY = category("eval")
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("curves",)
    OUTPUT_TOOLTIPS = ("Loss (left) and accuracy (right) per epoch, 800 x 320 pixels.",)
    FUNCTION = "plot"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("PTMODEL", {"tooltip": "A model from a trainer (or loaded with its metrics history)."}),
        }}

    def plot(self, model):
        history = model.history
        if not history:
            raise UserInputError(
                "this model has no training history to plot; connect the model output of a trainer node "
                "(an untrained model has no curves)"
            )
        picture = render_training_curves(history, title=model.model_name)
        return {"ui": {"images": save_preview_images([picture], "hf_text_finetune_curves")},
                "result": (image_to_tensor(picture),)}
