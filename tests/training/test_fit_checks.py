"""Before a trainer runs a step, data, model and loss are checked to fit: a tokenizer of another
model, token ids beyond the embeddings, more classes than outputs, cross-entropy on one output,
multi-label data without BCE are refused by name and fix, and the input model is unchanged.
A validation split with fewer classes is aligned to the training data's label names."""

from __future__ import annotations

import pytest
from helpers.checks import raises_with
from helpers.data import write_csv, write_multilabel_jsonl, write_topics_csv
from helpers.models import same_state, state_snapshot
from helpers.nodes import Pipeline, adamw_node, bce_node, dataset_node, encode_node, loader_node, model_node, run_node

from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.results.evaluation import evaluate_classifier
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.training.settings import TrainSettings

FAST = TrainSettings(epochs=1, precision="fp32", device="cpu")


def _cross_entropy():
    return run_node("PtnCrossEntropyLoss", reduction="mean", label_smoothing=0.0)[0]


# --- the tokenizer and the model -----------------------------------------------------------------

def test_tokenizer_and_model_of_different_models_are_refused(pipelines, tiny_models):
    bert = pipelines["bert"]
    roberta_model = model_node(tiny_models["roberta"])
    before = state_snapshot(roberta_model.network)
    message = raises_with(lambda: bert.train(model=roberta_model, epochs=1),
                          str(tiny_models["bert"]), str(tiny_models["roberta"]), "same model_name")
    assert "Hf Tokenizer Encode" in message
    assert same_state(before, state_snapshot(roberta_model.network))
    albert_model = model_node(tiny_models["albert"])  # albert's vocabulary is smaller than bert's tokenizer
    raises_with(lambda: bert.train(model=albert_model, epochs=1), str(tiny_models["albert"]), "does not fit")


def test_an_encoder_whose_ids_do_not_fit_the_model_is_refused(tiny_models, reviews_csv):
    tokenizer = encode_node(tiny_models["roberta"]).tokenizer  # 300 tokens; the tiny BERT has about 180
    bert = model_node(tiny_models["bert"])

    def encode_pairs(texts):
        encoded = tokenizer(list(texts))
        return encoded["input_ids"], encoded["attention_mask"]

    data = dataset_node(reviews_csv, encode_pairs, encode_return_dict=False)
    with pytest.raises(UserInputError) as error:
        run_node("PtTrainTransformerClassificationModel", model=bert,
                 train_loader=loader_node(data, 8), optimizer=adamw_node(), loss_function=bce_node(),
                 epochs=1, seed=0)
    assert "token id" in str(error.value) and f"{bert.vocab_size} token embeddings" in str(error.value)


# --- labels, outputs and the loss -----------------------------------------------------------------

def test_three_labels_with_a_single_logit_bce_model_are_refused(tiny_models, three_class_csv, val_csv):
    pipeline = Pipeline(tiny_models["distilbert"], three_class_csv, val_csv)
    raises_with(lambda: pipeline.train(epochs=1), "[0, 1, 2]", "num_outputs to 3", "Cross Entropy")


def test_three_text_labels_with_a_single_logit_bce_model_are_refused_by_name(tiny_models, tmp_path):
    three = write_csv(tmp_path / "three.csv", [("good", "pos"), ("bad", "neg"), ("meh", "neutral")] * 4)
    pipeline = Pipeline(tiny_models["bert"], three, three)
    raises_with(lambda: pipeline.train(epochs=1), "'neg', 'neutral', 'pos'", "num_outputs to 3", "Cross Entropy")


def test_labels_outside_the_cross_entropy_outputs_are_refused(tiny_models, three_class_csv, val_csv):
    pipeline = Pipeline(tiny_models["distilbert"], three_class_csv, val_csv, num_outputs=2)
    raises_with(lambda: pipeline.train(epochs=1, loss=_cross_entropy()), "num_outputs to 3")


def test_cross_entropy_with_one_output_is_refused(pipelines):
    raises_with(lambda: pipelines["distilbert"].train(epochs=1, loss=_cross_entropy()), "num_outputs 1",
                "num_outputs to 2")


def _trained(model_folder, data, outputs, loss, settings=FAST, val=None):
    model = build_classification_model(str(model_folder), outputs)
    return train_classifier(model, TextDataLoader(data, 8), OptimizerSpec("AdamW", 1e-3), loss, settings,
                            val_loader=val).model


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
