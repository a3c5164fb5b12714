"""Issue 4, labels: text and integer labels become ids with their names kept, lists of
labels are multi-label, splits are aligned to the model's labels by name, and labels
that cannot work are clear errors."""

from __future__ import annotations

import json

import pytest

from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.results.evaluation import evaluate_classifier
from hf_text_finetune.modules.data.labels import align_labels
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.settings import TrainSettings
from hf_text_finetune.nodes.data_nodes import HfTokenizerEncode, PtDataLoader, PtvHfDatasetWithTokenEncode
from hf_text_finetune.nodes.eval_nodes import PtEvaluateClassificationModel
from hf_text_finetune.nodes.loss_nodes import PtnBCEWithLogitsLoss, PtnCrossEntropyLoss
from hf_text_finetune.nodes.model_nodes import PtnHfFineTunedClassificationModel
from hf_text_finetune.nodes.optim_nodes import PtoAdamW
from hf_text_finetune.nodes.train_nodes import (PtTrainFineTuneClassificationTransformerModel,
                                                PtTrainTransformerClassificationModel)
from issue4_data import write_multilabel_jsonl, write_topics_csv
from tiny_models import ARCHITECTURES

FAST = TrainSettings(epochs=1, precision="fp32", device="cpu")


@pytest.fixture(scope="module")
def encoder(tiny_bert):
    return build_token_encoder(str(tiny_bert))


@pytest.fixture(scope="module")
def topics(tmp_path_factory, encoder):
    path = write_topics_csv(tmp_path_factory.mktemp("topics") / "topics.csv", rows=30)
    return encode_text_dataset(str(path), "train", "text", "label", encoder)


def _csv(path, rows):
    path.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows))
    return str(path)


def test_text_labels_become_sorted_ids_with_names_kept(topics):
    assert topics.label_names == ["meh", "neg", "pos"]
    assert topics.label_values == [0, 1, 2]
    assert topics.num_classes == 3
    first_rows = topics.data.select(range(3))["labels"]
    assert first_rows == [2, 1, 0]  # the file cycles pos, neg, meh


def test_integer_labels_are_their_own_ids(tmp_path, encoder):
    data = encode_text_dataset(_csv(tmp_path / "ints.csv", [("a wonderful film", 2), ("a terrible film", 0)]),
                               "train", "text", "label", encoder)
    assert data.label_names is None
    assert data.label_values == [0, 2]
    assert sorted(data.data["labels"]) == [0, 2]


def test_class_label_names_of_a_saved_dataset_are_kept(tmp_path, encoder):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["World", "Sports", "Business"])})
    saved = datasets.Dataset.from_dict({"text": ["a wonderful film", "a terrible film"], "label": [2, 0]},
                                       features=features)
    saved.save_to_disk(str(tmp_path / "saved"))
    data = encode_text_dataset(str(tmp_path / "saved"), "train", "text", "label", encoder)
    assert data.label_names == ["World", "Sports", "Business"]
    assert data.data["labels"] == [2, 0]


@pytest.mark.parametrize("rows, message", [
    ([("a wonderful film", ""), ("a terrible film", "neg")], "missing"),
    ([("a wonderful film", -1), ("a terrible film", 0)], "negative labels"),
    ([("a wonderful film", 0.5), ("a terrible film", 0)], "non-integer"),
])
def test_labels_that_cannot_work_are_errors(tmp_path, encoder, rows, message):
    with pytest.raises(UserInputError, match=message):
        encode_text_dataset(_csv(tmp_path / "bad.csv", rows), "train", "text", "label", encoder)


def test_lists_of_labels_are_multi_label_multi_hot_rows(tmp_path, encoder):
    path = write_multilabel_jsonl(tmp_path / "multi.jsonl", rows=14)
    data = encode_text_dataset(str(path), "train", "text", "labels", encoder)
    assert data.multi_label
    assert data.label_names == ["meh", "neg", "pos"]
    raw = [json.loads(line)["labels"] for line in path.read_text().splitlines()]
    expected = [[int(name in row) for name in ["meh", "neg", "pos"]] for row in raw]
    assert data.data["labels"] == expected
    assert [0, 0, 0] in expected  # rows without any label stay valid


def test_lists_of_integer_labels_are_multi_hot_up_to_the_largest(tmp_path, encoder):
    path = tmp_path / "multi_ints.jsonl"
    path.write_text('{"text": "a wonderful film", "labels": [0, 3]}\n{"text": "a terrible film", "labels": [1]}\n')
    data = encode_text_dataset(str(path), "train", "text", "labels", encoder)
    assert data.multi_label and data.label_names is None
    assert data.data["labels"] == [[1, 0, 0, 1], [0, 1, 0, 0]]


def test_a_split_lacking_a_class_is_renumbered_to_the_model_labels(tmp_path, encoder):
    subset = encode_text_dataset(str(write_topics_csv(tmp_path / "sub.csv", rows=4, labels=("pos", "meh"))),
                                 "train", "text", "label", encoder)
    assert subset.label_names == ["meh", "pos"]  # numbered on its own: pos would be 1
    aligned = align_labels(subset, ["meh", "neg", "pos"], 3, "evaluation")
    assert aligned.label_names == ["meh", "neg", "pos"]
    assert aligned.data["labels"] == [2, 0, 2, 0]
    assert subset.data["labels"] == [1, 0, 1, 0]  # the cached input is not changed


def _trained(model_folder, data, outputs, loss, settings=FAST, val=None):
    model = build_classification_model(str(model_folder), outputs)
    return train_classifier(model, TextDataLoader(data, 8), OptimizerSpec("AdamW", 1e-3), loss, settings,
                            val_loader=val).model


def test_evaluation_labels_the_model_never_saw_are_an_error(tmp_path, tiny_bert, encoder, topics):
    model = _trained(tiny_bert, topics, 3, LossSpec("cross_entropy"))
    assert model.label_names == ["meh", "neg", "pos"]
    other = encode_text_dataset(str(write_topics_csv(tmp_path / "other.csv", rows=4, labels=("pos", "ugly"))),
                                "train", "text", "label", encoder)
    with pytest.raises(UserInputError, match=r"labels \['ugly'\].*never saw"):
        evaluate_classifier(model, other, device="cpu", precision="fp32")
    too_big = encode_text_dataset(_csv(tmp_path / "ints.csv", [("a wonderful film", 5), ("a terrible film", 0)]),
                                  "train", "text", "label", encoder)
    with pytest.raises(UserInputError, match=r"labels \[5\] .*outside the model's 3 outputs"):
        evaluate_classifier(model, too_big, device="cpu", precision="fp32")


def test_label_names_that_do_not_match_the_outputs_are_an_error(tiny_bert, topics):
    model = build_classification_model(str(tiny_bert), 3)
    model.label_names = ["neg", "pos"]
    with pytest.raises(UserInputError, match=r"3 outputs but 2 label names"):
        evaluate_classifier(model, topics, device="cpu", precision="fp32")


def test_num_outputs_must_match_the_training_classes(tiny_bert, topics):
    with pytest.raises(UserInputError, match=r"3 classes \['meh', 'neg', 'pos'\].*set num_outputs to 3"):
        _trained(tiny_bert, topics, 4, LossSpec("cross_entropy"))
    with pytest.raises(UserInputError, match=r"set num_outputs to 3 .*Cross Entropy Loss"):
        _trained(tiny_bert, topics, 1, LossSpec("bce_with_logits"))


def test_multi_label_data_needs_bce_with_one_output_per_label(tmp_path, tiny_bert, encoder):
    data = encode_text_dataset(str(write_multilabel_jsonl(tmp_path / "m.jsonl", rows=10)), "train", "text",
                               "labels", encoder)
    with pytest.raises(UserInputError, match="multi-label.*BCE With Logits Loss with num_outputs 3"):
        _trained(tiny_bert, data, 3, LossSpec("cross_entropy"))
    with pytest.raises(UserInputError, match="multi-label with 3 labels.*set num_outputs to 3"):
        _trained(tiny_bert, data, 2, LossSpec("bce_with_logits"))


def test_validation_split_with_fewer_classes_trains_with_the_training_names(tmp_path, tiny_bert, encoder, topics):
    val = encode_text_dataset(str(write_topics_csv(tmp_path / "val.csv", rows=6, labels=("pos",))),
                              "train", "text", "label", encoder)
    model = _trained(tiny_bert, topics, 3, LossSpec("cross_entropy"), val=TextDataLoader(val, 8, shuffle=False))
    assert model.label_names == ["meh", "neg", "pos"]
    report = evaluate_classifier(model, val, device="cpu", precision="fp32")
    assert report.per_class[2]["label"] == "pos" and report.per_class[2]["support"] == 6


def _node_pipeline(model_folder, data_path, label_field, outputs, loss, epochs=1, trainer=None, **trainer_kw):
    encode = HfTokenizerEncode().build(str(model_folder), 0, True)[0]
    data = PtvHfDatasetWithTokenEncode().load(str(data_path), "train", "text", label_field, encode, True, True)[0]
    loader = PtDataLoader().build(data, 8, True, 0, True)[0]
    val_loader = PtDataLoader().build(data, 16, False, 0, False)[0]
    model = PtnHfFineTunedClassificationModel().build(str(model_folder), outputs, "cls", 0.1)[0]
    optimizer = PtoAdamW().build(1e-3, 0.9, 0.999, 0.0, False)[0]
    trainer = trainer or PtTrainTransformerClassificationModel()
    output = trainer.train(model, loader, optimizer, loss, epochs, 0, val_loader=val_loader, device="cpu",
                           precision="fp32", **trainer_kw)
    return output, val_loader


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_text_labelled_multi_class_data_trains_and_evaluates_for_every_architecture(arch, tiny_models, tmp_path):
    path = write_topics_csv(tmp_path / "topics.csv", rows=24)
    loss = PtnCrossEntropyLoss().build("mean", 0.0, "")[0]
    output, val_loader = _node_pipeline(tiny_models[arch], path, "label", 3, loss)
    model = output["result"][0]
    assert model.label_names == ["meh", "neg", "pos"]
    assert model.problem_type == "single_label_classification"
    evaluated = PtEvaluateClassificationModel().evaluate(model, val_loader, device="cpu", precision="fp32")
    metrics_json, accuracy, _, image = evaluated["result"]
    metrics = json.loads(metrics_json)
    assert metrics["task"] == "multiclass" and metrics["label_names"] == ["meh", "neg", "pos"]
    assert accuracy == pytest.approx(output["result"][2])  # the trainer's validation accuracy, same data
    assert image.shape[0] == 1 and image.shape[-1] == 3


def test_multi_label_training_reports_per_label_metrics(tmp_path, tiny_bert):
    path = write_multilabel_jsonl(tmp_path / "multi.jsonl", rows=28)
    loss = PtnBCEWithLogitsLoss().build("mean", 1.0)[0]
    output, val_loader = _node_pipeline(tiny_bert, path, "labels", 3, loss, epochs=2,
                                        trainer=PtTrainFineTuneClassificationTransformerModel(),
                                        freeze_pretrained_module_epochs=1)
    model = output["result"][0]
    assert model.problem_type == "multi_label_classification"
    report = json.loads(PtEvaluateClassificationModel().evaluate(model, val_loader, threshold=0.4,
                                                                 device="cpu", precision="fp32")["result"][0])
    assert report["task"] == "multilabel" and report["threshold"] == 0.4
    assert [row["label"] for row in report["per_class"]] == ["meh", "neg", "pos"]
    assert {"f1_micro", "f1_macro", "accuracy"} <= set(report)
    assert len(report["confusion"]) == 3  # one 2x2 table per label
