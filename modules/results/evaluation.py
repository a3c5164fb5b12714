"""The Evaluate node's work: full metrics of a trained classifier on labelled data.

Windows of one text (sliding windows) are combined into one prediction, so the metrics count
texts. The data's labels are renumbered to the model's label names (names it never saw are an
error), the same fit checks as training run first, and the classifier is not changed:
on another device a copy runs. The batches go through the one batched routine on the chosen backend.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Optional


from ..data.batching import TextDataLoader
from ..data.dataset import EncodedTextDataset
from ..errors import UserInputError
from ..host import RuntimeHooks, resolve_device
from ..model.classifier import MULTI_LABEL, REGRESSION, TextClassifier
from ..precision import check_inference_precision
from ..model.inference import Batch
from ..training.eval_pass import EvalResult, evaluate_batches
from ..training.fit_checks import (align_for_model, check_labels_fit, check_loss_weights, check_text_inputs,
                                   check_tokenizer_fits)
from ..training.losses import LossSpec, resolve_auto_weights
from .calibration_error import calibration_summary
from .metrics import ClassificationReport, RegressionReport, classification_report, regression_report
from .backends import Runtime, inference_forward

log = logging.getLogger(__name__)


def default_loss(model: TextClassifier, data: EncodedTextDataset) -> LossSpec:
    """The loss a model was most likely trained with: MSE for regression, BCE for one logit or multi-label, else
    cross-entropy."""
    if model.problem_type == REGRESSION:
        return LossSpec("mse")
    if model.num_outputs == 1 or data.multi_label or model.problem_type == MULTI_LABEL:
        return LossSpec("bce_with_logits")
    return LossSpec("cross_entropy")


def _checked_loader(model: TextClassifier, loader: TextDataLoader,
                    loss_spec: Optional[LossSpec]) -> tuple[TextDataLoader, LossSpec]:
    """The loader with labels in the model's numbering, and the loss to report (weights resolved)."""
    dataset = align_for_model(model, loader.dataset, "evaluation")
    loss_spec = loss_spec or default_loss(model, dataset)
    check_loss_weights(model, loss_spec)
    check_tokenizer_fits(model, dataset)
    check_text_inputs(model, dataset, "evaluation")
    check_labels_fit(model, dataset, loss_spec, "evaluation")
    loss_spec = resolve_auto_weights(loss_spec, dataset, model.num_outputs)
    if dataset is not loader.dataset:
        loader = replace(loader, dataset=dataset)
    return loader, loss_spec


def _probe(loader: TextDataLoader) -> Optional[Batch]:
    """Up to 8 of the longest rows: what backend auto times its candidates on."""
    indices = loader.batch_indices(shuffle=False, by_length=True)
    if not indices or not indices[0]:
        return None
    batch = next(iter(loader.batches_of([indices[0][:8]])))
    return {k: v for k, v in batch.items() if k != "labels"}


def warn_if_read_differently(model: TextClassifier, data: EncodedTextDataset) -> None:
    """Evaluation reads the data as its encoder cut it; a model trained on texts cut or windowed
    otherwise is then judged on inputs unlike its training (and unlike what Predict gives it)."""
    encoder = data.encoder
    rule, windows = getattr(encoder, "truncation_rule", None), getattr(encoder, "windows", None)
    if rule is None or windows is None or not getattr(encoder, "truncation", True):
        return
    if (rule.mode, windows.size) != (model.truncation_rule.mode, model.windows.size):
        trained = model.windows.describe() if model.windows.enabled else model.truncation_rule.describe()
        given = windows.describe() if windows.enabled else rule.describe()
        log.warning("the model was trained on long texts read as %s, but %s is encoded as %s; set the same "
                    "truncation_mode and window on the tokenizer node to evaluate what Predict does",
                    trained, data.description, given)


def evaluation_outputs(model: TextClassifier, data: TextDataLoader | EncodedTextDataset,
                       loss_spec: Optional[LossSpec] = None, device: str = "auto",
                       hooks: Optional[RuntimeHooks] = None, batch_size: int = 32,
                       precision: "str | Runtime" = "auto") -> tuple[EvalResult, TextDataLoader, LossSpec]:
    """(the logits and labels of every text, in row order; the checked loader; the loss reported), for
    Evaluate and for Calibrate, which fits on the same outputs. `precision`: a name (torch backend) or a
    `Runtime` naming the backend too (results/backends.py)."""
    hooks = hooks or RuntimeHooks()
    loader = data if isinstance(data, TextDataLoader) else TextDataLoader(data, batch_size, shuffle=False)
    loader, loss_spec = _checked_loader(model, loader, loss_spec)
    target = resolve_device(device, hooks)
    runtime = Runtime.of(precision)
    check_inference_precision(runtime.precision, target)
    if next(model.network.parameters()).device != target:
        hooks.prepare_for_training(target)  # room on the device for the copy that runs there
    forward = inference_forward(model, runtime, target, _probe(loader))
    total, done = len(loader), 0

    def step() -> None:
        nonlocal done
        hooks.check_interrupted()
        done += 1
        hooks.progress(done, total)

    warn_if_read_differently(model, loader.dataset)
    combine = model.windows.combine if model.windows.enabled else None  # the saved choice; else the data's
    result = evaluate_batches(forward, loader, loss_spec, keep_outputs=True, on_batch=step, combine=combine)
    if result.logits is None:
        raise UserInputError(f"the evaluation data {loader.dataset.description} has no rows; choose a split with rows")
    return result, loader, loss_spec


@dataclass
class Evaluation:
    """A report with what it was computed from: one row of logits and labels per text, the data, and the
    threshold that decided the labels (the error table decides the same way)."""

    report: ClassificationReport | RegressionReport
    outputs: EvalResult
    dataset: EncodedTextDataset
    threshold: float


def evaluate_classifier(model: TextClassifier, data: TextDataLoader | EncodedTextDataset,
                        loss_spec: Optional[LossSpec] = None, threshold: Optional[float] = None, device: str = "auto",
                        hooks: Optional[RuntimeHooks] = None, batch_size: int = 32,
                        precision: "str | Runtime" = "auto") -> ClassificationReport | RegressionReport:
    """Full metrics of `model` on labelled data (a loader, or a dataset batched here); a regression model gets
    MSE, MAE, Pearson and Spearman. `threshold` None = the model's own (calibrated, else 0.5)."""
    return evaluate_texts(model, data, loss_spec, threshold, device, hooks, batch_size, precision).report


def evaluate_texts(model: TextClassifier, data: TextDataLoader | EncodedTextDataset,
                   loss_spec: Optional[LossSpec] = None, threshold: Optional[float] = None, device: str = "auto",
                   hooks: Optional[RuntimeHooks] = None, batch_size: int = 32,
                   precision: "str | Runtime" = "auto") -> Evaluation:
    """evaluate_classifier's report, with the per-text outputs behind it (the error table reads them)."""
    result, loader, loss_spec = evaluation_outputs(model, data, loss_spec, device, hooks, batch_size, precision)
    names = loader.dataset.label_names or model.label_names
    threshold = model.threshold_for(threshold)
    if loss_spec.is_regression:
        report = regression_report(result.logits, result.labels, loss=result.loss)
    else:
        report = classification_report(result.logits, result.labels, threshold, names, loss=result.loss)
        report.extra["calibration"] = calibration_summary(result.logits, result.labels)
    log.info("evaluated %s on %s: %s", model.model_name, loader.dataset.description,
             ", ".join(f"{k} {v:.4f}" for k, v in report.headline().items()))
    return Evaluation(report, result, loader.dataset, threshold)
