"""Evaluation nodes: full metrics with a confusion matrix, and the training curves of a model."""

from __future__ import annotations

from ..modules.data.batching import check_batch_size
from ..modules.errors import UserInputError
from ..modules.figures import image_to_tensor, short_model_name
from ..modules.host import check_device_name
from ..modules.precision import INFERENCE_PRECISIONS, check_inference_precision
from ..modules.results.calibration_error import ECE_BINS
from ..modules.results.error_examples import check_error_examples, evaluation_errors
from ..modules.results.evaluation import evaluate_texts
from ..modules.results.backends import Runtime, check_backend
from ..modules.results.metrics import check_threshold
from ..modules.results.plots import render_report_confusion, render_training_curves
from ..modules.results.reliability_plot import render_reliability_diagram
from . import widgets
from .comfy_services import runtime_hooks, save_preview_images
from .widgets import category, validation


class PtEvaluateClassificationModel:
    DESCRIPTION = ("Measures a trained classifier on labelled data: accuracy, precision, recall, F1 (macro for "
                   "multi-class, micro and macro for multi-label), ROC-AUC for binary tasks, and the loss, plus a "
                   "confusion matrix shown on the node. Labels are matched to the model's label names. A "
                   "regression model gets MSE, MAE, Pearson and Spearman and a predicted-against-true plot.")
    CATEGORY = category("eval")
    RETURN_TYPES = ("STRING", "FLOAT", "FLOAT", "IMAGE", "FLOAT", "IMAGE", "STRING", "STRING")
    RETURN_NAMES = ("metrics_json", "accuracy", "f1", "confusion_matrix", "ece", "reliability_diagram",
                    "errors", "errors_json")
    OUTPUT_TOOLTIPS = ("Every metric, per-class scores and the confusion counts as JSON.",
                       "Accuracy (0..1); multi-label: share of texts with every label right; regression: -1 "
                       "(see metrics_json).",
                       "F1: of the positive class (binary), macro average (multi-class), micro average "
                       "(multi-label); regression: -1.",
                       "Confusion matrix picture (rows: true class, columns: predicted); regression: predicted "
                       "against true scores.",
                       "Expected calibration error (15 bins): how far the probabilities are from how often the "
                       "model is right, 0 = calibrated; regression: -1.",
                       "Reliability diagram: accuracy per confidence bin against the diagonal of perfect "
                       "calibration (bars below it: over-confident).",
                       "The misclassified texts with the highest loss (true and predicted label, their "
                       "probabilities), one per text (windows combined); regression: the largest errors.",
                       "The same table as JSON: row, text as the model read it, labels, probabilities, loss.")
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
                "threshold": widgets.threshold("Probability at or above which a binary text (one output or "
                                               "two classes) is positive, or a multi-label text gets a label."),
                "batch_size": widgets.batch_size("Texts per batch when data is a dataset (a loader keeps its own)."),
                "device": widgets.device(),
                "precision": widgets.precision("auto = bf16/fp16 autocast where the device computes it natively, "
                                               "else fp32 (as the trainers). fp32 gives numbers identical to an "
                                               "fp32 training run. int8 (CPU only) = a copy with its linear layers "
                                               "dynamically quantized (about 1.5x faster where bf16 is not native): "
                                               "it reports the int8 model's accuracy, not the trained one's.",
                                               INFERENCE_PRECISIONS),
                "use_calibrated_threshold": widgets.use_calibrated_threshold(),
                "error_examples": ("INT", {"default": 20, "min": 0, "max": 10_000,
                                           "tooltip": "How many misclassified texts (regression: largest errors) "
                                                      "the errors outputs list, highest loss first; 0 = only "
                                                      "their count."}),
                "backend": widgets.backend(),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, threshold=None, batch_size=None, precision=None, device=None, error_examples=None,
                        backend=None):
        return validation(lambda: check_threshold(threshold), lambda: check_batch_size(batch_size),
                          lambda: check_device_name(device),
                          lambda: check_inference_precision(precision, device),
                          lambda: check_error_examples(error_examples),
                          lambda: check_backend(backend, device, precision))

    def evaluate(self, model, data, loss_function=None, threshold=0.5, batch_size=32, device="auto",
                 precision="auto", **later):
        """`later`: ComfyUI's hidden unique_id and the widgets added since (use_calibrated_threshold,
        error_examples, backend)."""
        if later.get("use_calibrated_threshold", True) and model.calibrated_threshold is not None:
            threshold = None  # the model's own: evaluate_texts applies it, as predict_texts does for Predict
        runtime = Runtime(precision, later.get("backend", "auto"))
        evaluation = evaluate_texts(model, data, loss_function, threshold, device,
                                    runtime_hooks(later.get("unique_id")), batch_size, runtime)
        top = later.get("error_examples", 20)
        check_error_examples(top)
        report, errors = evaluation.report, evaluation_errors(evaluation, model, evaluation.threshold, top)
        picture = render_report_confusion(report)
        calibration = getattr(report, "extra", {}).get("calibration")
        reliability = render_reliability_diagram(calibration)
        ece = calibration["ece"] if calibration else -1.0
        summary = report.summary() + (f"\nECE ({ECE_BINS} bins): {ece:.4f}" if calibration else "")
        return {
            "ui": {"images": save_preview_images([picture], "hf_text_finetune_confusion"), "text": [summary]},
            "result": (report.to_json(), getattr(report, "accuracy", -1.0), getattr(report, "f1", -1.0),
                       image_to_tensor(picture), ece, image_to_tensor(reliability), errors.text(),
                       errors.to_json()),
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
        picture = render_training_curves(history, title=short_model_name(model.model_name))
        return {"ui": {"images": save_preview_images([picture], "hf_text_finetune_curves")},
                "result": (image_to_tensor(picture),)}
