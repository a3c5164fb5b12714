"""classification_report computes what scikit-learn computes: binary (one logit or two-class
softmax) with ROC AUC, macro averages for multi-class, exact match and micro/macro F1 for
multi-label; the threshold moves the decision and must lie strictly between 0 and 1."""

from __future__ import annotations

import pytest
import torch
from sklearn import metrics as sk

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.results.metrics import classification_report
from hf_text_finetune.nodes.eval_nodes import PtEvaluateClassificationModel

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")  # 0/0 ratios are 0


def _random(seed, *shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _labels(seed, high, *shape):
    return torch.randint(0, high, shape, generator=torch.Generator().manual_seed(seed))


def test_binary_single_logit_metrics_match_scikit_learn():
    logits, labels = _random(0, 80, 1), _labels(1, 2, 80)
    report = classification_report(logits, labels)
    predicted = (torch.sigmoid(logits[:, 0]) > 0.5).long().numpy()
    assert report.task == "binary"
    assert report.accuracy == pytest.approx(sk.accuracy_score(labels, predicted))
    assert report.precision == pytest.approx(sk.precision_score(labels, predicted))
    assert report.recall == pytest.approx(sk.recall_score(labels, predicted))
    assert report.f1 == pytest.approx(sk.f1_score(labels, predicted))
    assert report.roc_auc == pytest.approx(sk.roc_auc_score(labels, logits[:, 0]))
    assert report.confusion == sk.confusion_matrix(labels, predicted).tolist()


def test_binary_threshold_moves_the_decision():
    logits, labels = _random(2, 60, 1), _labels(3, 2, 60)
    report = classification_report(logits, labels, threshold=0.7)
    predicted = (torch.sigmoid(logits[:, 0]) > 0.7).long().numpy()
    assert report.f1 == pytest.approx(sk.f1_score(labels, predicted))
    assert report.roc_auc == pytest.approx(sk.roc_auc_score(labels, logits[:, 0]))  # threshold-free


def test_two_class_softmax_is_binary_with_roc_auc():
    logits, labels = _random(4, 50, 2), _labels(5, 2, 50)
    report = classification_report(logits, labels)
    probabilities = torch.softmax(logits, dim=1)[:, 1]
    assert report.task == "binary"
    assert report.f1 == pytest.approx(sk.f1_score(labels, logits.argmax(1)))
    assert report.roc_auc == pytest.approx(sk.roc_auc_score(labels, probabilities))


def test_multi_class_metrics_are_macro_averages_as_in_scikit_learn():
    logits, labels = _random(6, 90, 4), _labels(7, 3, 90)  # class 3 is never a label, sometimes predicted
    report = classification_report(logits, labels)
    predicted = logits.argmax(1).numpy()
    assert report.task == "multiclass" and report.roc_auc is None
    assert report.accuracy == pytest.approx(sk.accuracy_score(labels, predicted))
    assert report.precision == pytest.approx(sk.precision_score(labels, predicted, average="macro", zero_division=0))
    assert report.recall == pytest.approx(sk.recall_score(labels, predicted, average="macro", zero_division=0))
    assert report.f1 == pytest.approx(sk.f1_score(labels, predicted, average="macro", zero_division=0))
    assert report.confusion == sk.confusion_matrix(labels, predicted, labels=range(4)).tolist()


def test_multi_label_metrics_use_exact_match_and_micro_macro_f1():
    logits, labels = _random(8, 70, 5), _labels(9, 2, 70, 5)
    labels[:, 4] = 0  # a label nobody has
    report = classification_report(logits, labels, threshold=0.6)
    predicted = (torch.sigmoid(logits) > 0.6).long().numpy()
    assert report.task == "multilabel"
    assert report.accuracy == pytest.approx(sk.accuracy_score(labels, predicted))
    assert report.f1_micro == pytest.approx(sk.f1_score(labels, predicted, average="micro", zero_division=0))
    assert report.f1_macro == pytest.approx(sk.f1_score(labels, predicted, average="macro", zero_division=0))
    assert report.precision == pytest.approx(sk.precision_score(labels, predicted, average="micro", zero_division=0))
    assert report.confusion == sk.multilabel_confusion_matrix(labels, predicted).tolist()


def test_roc_auc_handles_ties_and_is_absent_for_one_class():
    scores = torch.tensor([[0.1], [0.5], [0.5], [0.5], [0.9], [0.5]])
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    assert classification_report(scores, labels).roc_auc == pytest.approx(sk.roc_auc_score(labels, scores[:, 0]))
    assert classification_report(scores, torch.ones(6, dtype=torch.long)).roc_auc is None


@pytest.mark.parametrize("threshold", [0.0, 1.0, 1.5])
def test_threshold_outside_zero_one_is_refused(threshold):
    with pytest.raises(UserInputError, match=f"threshold {threshold} must be between 0 and 1"):
        classification_report(_random(0, 4, 1), _labels(0, 2, 4), threshold=threshold)
    assert "between 0 and 1" in PtEvaluateClassificationModel.VALIDATE_INPUTS(threshold=threshold)
