"""The examples behind the errors: Evaluate's error table equals a direct computation (numpy) of the
per-text losses, decisions and probabilities on fixtures, its texts are the evaluated rows' own texts
(as the model read them), windows of one text come back as one text, and regression lists its largest
errors. The node keeps its first four outputs where they were and appends the table as text and JSON."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest
import torch
from helpers.data import write_csv
from helpers.nodes import run_node

from hf_text_finetune.modules.data.dataset import EncodedTextDataset
from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.data.text_cleaning import strip_html
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.data.windows import Windows
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.results.error_examples import error_table, evaluation_errors
from hf_text_finetune.modules.results.evaluation import evaluate_texts


def _log_sigmoid(z):
    return -np.logaddexp(0.0, -z)


def _read_texts(path):
    with open(path, newline="") as handle:
        return [strip_html(row["text"]) for row in csv.DictReader(handle)]


def _as_read(tokenizer, text):
    return tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True).strip()


def test_the_binary_error_table_matches_a_direct_computation(tiny_bert, encoded_reviews, val_csv):
    """An untrained one-logit model on the 24 validation reviews: many errors, ranked by their own BCE."""
    val = encoded_reviews[1]
    model = build_classification_model(str(tiny_bert), 1, seed=3)
    evaluation = evaluate_texts(model, val, device="cpu", precision="fp32")
    table = evaluation_errors(evaluation, model, threshold=0.5, top=5)
    z = evaluation.outputs.logits.double().numpy()[:, 0]
    y = evaluation.outputs.labels.numpy().reshape(-1)
    p = 1 / (1 + np.exp(-z))
    predicted = (p > 0.5).astype(int)
    loss = -(y * _log_sigmoid(z) + (1 - y) * _log_sigmoid(-z))
    wrong = np.nonzero(predicted != y)[0]
    ranked = wrong[np.argsort(-loss[wrong], kind="stable")][:5]
    assert table.task == "binary" and table.count == 24 and table.wrong == len(wrong) > 0
    assert [e.row for e in table.examples] == ranked.tolist()
    assert [e.loss for e in table.examples] == pytest.approx(loss[ranked].tolist(), rel=1e-9)
    assert [e.probability for e in table.examples] == \
        pytest.approx([p[i] if predicted[i] else 1 - p[i] for i in ranked], rel=1e-9)
    assert [e.true_label for e in table.examples] == [str(int(y[i])) for i in ranked]
    texts = _read_texts(val_csv)
    tokenizer = val.encoder.tokenizer
    assert [e.text for e in table.examples] == [_as_read(tokenizer, texts[i]) for i in ranked]
    assert table.text().startswith(f"{len(wrong)} of 24 texts misclassified; the 5 with the highest loss:")
    assert json.loads(table.to_json())["examples"][0]["row"] == int(ranked[0])


def _plain_dataset(encoder, texts, labels, names=None, multi_label=False):
    import datasets

    ids = [encoder.tokenizer(t)["input_ids"] for t in texts]
    data = datasets.Dataset.from_dict({"input_ids": ids, "labels": labels})
    return EncodedTextDataset(data, encoder, sorted(set(map(str, labels))), names, multi_label=multi_label)


def test_the_multiclass_error_table_ranks_by_cross_entropy(tiny_bert):
    encoder = build_token_encoder(str(tiny_bert))
    texts = ["a wonderful film", "a terrible film", "the movie was okay", "dull and stupid", "brilliant and funny"]
    labels = [0, 1, 2, 1, 0]
    logits = torch.tensor([[3.0, 0.0, 0.0], [2.0, 1.0, 0.5], [0.1, 0.2, 0.0], [0.0, 4.0, 0.0], [-1.0, 0.0, 2.5]])
    table = error_table(logits, torch.tensor(labels), _plain_dataset(encoder, texts, labels), encoder.tokenizer,
                        regression=False, label_names=["pos", "neg", "meh"], top=10)
    probabilities = torch.softmax(logits.double(), 1).numpy()
    loss = -np.log(probabilities[np.arange(5), labels])
    wrong = [i for i in range(5) if probabilities[i].argmax() != labels[i]]  # rows 1, 2, 4
    expected = sorted(wrong, key=lambda i: -loss[i])
    assert table.task == "multiclass" and table.wrong == 3
    assert [e.row for e in table.examples] == expected
    assert [e.loss for e in table.examples] == pytest.approx([loss[i] for i in expected], rel=1e-9)
    assert [(e.true_label, e.predicted_label) for e in table.examples] == \
        [(["pos", "neg", "meh"][labels[i]], ["pos", "neg", "meh"][probabilities[i].argmax()]) for i in expected]
    assert [e.true_probability for e in table.examples] == \
        pytest.approx([probabilities[i, labels[i]] for i in expected], rel=1e-9)
    assert [e.text for e in table.examples] == [texts[i] for i in expected]


def test_multi_label_rows_list_the_labels_they_got_wrong(tiny_bert):
    encoder = build_token_encoder(str(tiny_bert))
    labels = [[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
    logits = torch.tensor([[2.0, -3.0], [-1.0, 0.5], [0.2, -0.1]])
    table = error_table(logits, torch.tensor(labels), _plain_dataset(encoder, ["a", "b", "c"], labels,
                                                                     multi_label=True),
                        encoder.tokenizer, regression=False, label_names=["x", "y"], top=10)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits.double(), torch.tensor(labels).double(),
                                                                reduction="none").mean(1).numpy()
    assert table.task == "multilabel" and table.wrong == 2
    assert [e.row for e in table.examples] == sorted([1, 2], key=lambda i: -bce[i])
    by_row = {e.row: e for e in table.examples}
    assert by_row[1].wrong_labels == {"x": pytest.approx(float(torch.sigmoid(torch.tensor(-1.0))))}
    assert by_row[2].true_label == [] and by_row[2].predicted_label == ["x"]


def test_regression_lists_the_largest_errors(tiny_bert):
    encoder = build_token_encoder(str(tiny_bert))
    truth = [1.0, 4.0, 2.5, 0.0]
    scores = torch.tensor([[1.2], [1.0], [2.5], [0.9]])
    table = error_table(scores, torch.tensor(truth), _plain_dataset(encoder, list("abcd"), truth),
                        encoder.tokenizer, regression=True, top=2)
    assert [e.row for e in table.examples] == [1, 3]
    assert [e.error for e in table.examples] == pytest.approx([-3.0, 0.9])
    assert [e.loss for e in table.examples] == pytest.approx([9.0, 0.81])
    assert "largest errors" in table.text()


_WORDS = ["great", "acting", "and", "a", "moving", "story", "boring", "plot", "wooden", "film", "dull"]
LONG = " ".join(random.Random(0).choices(_WORDS, k=150))  # not periodic: windows join back unambiguously


def test_windows_of_one_text_come_back_as_that_text(tiny_bert, tmp_path):
    """Every text positive, threshold 0.99: all texts are errors; the long one was read as several windows."""
    rows = [("a wonderful film", 1), (LONG, 1), ("brilliant and funny", 1)]
    path = write_csv(tmp_path / "long.csv", rows)
    encoder = build_token_encoder(str(tiny_bert), 0, windows=Windows(size=32, stride=16))
    dataset = encode_text_dataset(str(path), "train", "text", "label", encoder)
    assert len(dataset) > 3
    model = build_classification_model(str(tiny_bert), 1, seed=0)
    evaluation = evaluate_texts(model, dataset, device="cpu", precision="fp32", threshold=0.99)
    table = evaluation_errors(evaluation, model, threshold=0.99, top=10)
    assert table.count == 3 and table.wrong == 3
    by_row = {e.row: e for e in table.examples}
    assert sorted(by_row) == [0, 1, 2]
    assert by_row[1].windows == len(dataset) - 2 > 1 and by_row[0].windows == 1
    assert by_row[1].text == _as_read(encoder.tokenizer, LONG)
    assert by_row[0].text == "a wonderful film"


def test_the_evaluate_node_appends_the_error_table_outputs(tiny_bert, encoded_reviews):
    from hf_text_finetune.nodes.eval_nodes import PtEvaluateClassificationModel as Node

    assert Node.RETURN_TYPES[:4] == ("STRING", "FLOAT", "FLOAT", "IMAGE")
    assert Node.RETURN_NAMES[-2:] == ("errors", "errors_json")  # after the calibration outputs
    optional = list(Node.INPUT_TYPES()["optional"])
    assert optional.index("error_examples") > optional.index("precision")  # added after the older widgets
    model = build_classification_model(str(tiny_bert), 1, seed=3)
    outputs = run_node("PtEvaluateClassificationModel", model=model, data=encoded_reviews[1], device="cpu",
                       precision="fp32", error_examples=3)
    errors = json.loads(outputs[-1])
    assert len(outputs) == len(Node.RETURN_TYPES) and len(errors["examples"]) == min(3, errors["wrong"])
    assert outputs[-2].splitlines()[0].startswith(f"{errors['wrong']} of 24 texts misclassified")


def test_a_negative_count_is_refused_at_queue_time():
    from helpers.nodes import validate_node

    message = validate_node("PtEvaluateClassificationModel", error_examples=-1)
    assert "error_examples -1 is negative" in message
