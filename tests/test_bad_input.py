"""Every bad input of the core issue: a UserInputError (or the VALIDATE_INPUTS text shown at queue
time) that names the value and says how to fix it; nothing is lost (the input model is unchanged)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_models import (Pipeline, dataset_node, encode_node, loader_node, model_node, run_node, same_state,
                         state_snapshot, validate_node, write_reviews_csv)

from hf_text_finetune.modules.errors import TrainingDivergedError, UserInputError
from hf_text_finetune.runner.cli import node_classes
from hf_text_finetune.runner.executor import Executor, ValidationFailed, apply_override
from hf_text_finetune.runner.workflow_format import load_workflow, to_api_prompt

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_1 = ROOT / "examples" / "workflows" / "distilbert_classification.json"
WORKFLOW_2 = ROOT / "examples" / "workflows" / "distilbert_classification_2.json"


def _refused(message, *parts):
    """A queue-time refusal: ComfyUI shows the returned text instead of running anything."""
    assert isinstance(message, str), "VALIDATE_INPUTS accepted a bad value"
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def _raises(call, *parts, error=UserInputError):
    with pytest.raises(error) as caught:
        call()
    for part in parts:
        assert part in str(caught.value), f"{part!r} not in {str(caught.value)!r}"
    return str(caught.value)


def _queue(path, *overrides):
    """Executor.validate on an example workflow with overrides, as a queue press would."""
    classes = node_classes()
    prompt = to_api_prompt(load_workflow(path), classes)
    for assignment in overrides:
        apply_override(prompt, assignment)
    Executor(classes).validate(prompt)


# --- Unknown model id or folder ------------------------------------------------------------------

@pytest.mark.parametrize("node", ["HfTokenizerEncode", "PtnHfFineTunedClassificationModel"])
def test_missing_model_folder_is_refused_at_queue_time(node, tmp_path):
    missing = str(tmp_path / "no-such-model")
    _refused(validate_node(node, model_name=missing, max_length=0, num_outputs=1, dropout=0.1),
             missing, "does not exist", "check the path")
    _refused(validate_node(node, model_name="./models/my-bert", num_outputs=1, dropout=0.1),
             "./models/my-bert", "does not exist")
    _refused(validate_node(node, model_name="bad name!", num_outputs=1, dropout=0.1),
             "'bad name!'", "distilbert-base-uncased")
    _refused(validate_node(node, model_name="  ", num_outputs=1, dropout=0.1), "empty", "hub id")


def test_folder_without_config_is_refused(tmp_path):
    (tmp_path / "weights_only").mkdir()
    _refused(validate_node("HfTokenizerEncode", model_name=str(tmp_path / "weights_only"), max_length=0),
             "weights_only", "config.json", "save_pretrained")


@pytest.mark.parametrize("name", ["no-such-org/no-such-model-xyz", "bert-base-uncasedd"])
def test_unknown_hub_id_fails_with_a_clear_message(name):
    _raises(lambda: encode_node(name), f"'{name}'", "Check the spelling", "local folder")
    _raises(lambda: model_node(name), f"'{name}'", "Check the spelling")


def test_unknown_model_folder_in_a_workflow_run_names_it(tmp_path, reviews_csv):
    from hf_text_finetune.runner.cli import run_file

    missing = str(tmp_path / "missing-model")
    _raises(lambda: run_file(str(WORKFLOW_1), [f"Model name.value={missing}", f"Train dataset.name={reviews_csv}",
                                               f"Validation dataset.name={reviews_csv}"]),
            missing, "does not exist")


# --- A tokenizer and a model of different names ------------------------------------------------------

def test_tokenizer_and_model_of_different_models_are_refused(pipelines, tiny_models):
    bert = pipelines["bert"]
    roberta_model = model_node(tiny_models["roberta"])
    before = state_snapshot(roberta_model)
    message = _raises(lambda: bert.train(model=roberta_model, epochs=1),
                      str(tiny_models["bert"]), str(tiny_models["roberta"]), "same model_name")
    assert "Hf Tokenizer Encode" in message
    assert same_state(before, state_snapshot(roberta_model))
    albert_model = model_node(tiny_models["albert"])  # albert's vocabulary is smaller than bert's tokenizer
    _raises(lambda: bert.train(model=albert_model, epochs=1), str(tiny_models["albert"]), "does not fit")


# --- Dataset not found, split not found, fields missing ---------------------------------------------------

def test_missing_dataset_file_is_refused_at_queue_time(tmp_path, tiny_bert):
    missing = str(tmp_path / "reviews.csv")
    _refused(validate_node("PtvHfDatasetWithTokenEncode", name=missing, split="train"), missing, "does not exist")
    _refused(validate_node("PtvHfDatasetWithTokenEncode", name="./data/reviews.csv", split="train"),
             "./data/reviews.csv", "does not exist")
    _refused(validate_node("PtvHfDatasetWithTokenEncode", name="", split="train"), "empty", "stanfordnlp/imdb")
    _raises(lambda: dataset_node(missing, encode_node(tiny_bert)), missing, "does not exist")


def test_relative_data_file_name_that_does_not_exist(tiny_bert):
    _refused(validate_node("PtvHfDatasetWithTokenEncode", name="my_reviews.csv", split="train"),
             "my_reviews.csv", "does not exist")
    _raises(lambda: dataset_node("my_reviews.csv", encode_node(tiny_bert)), "my_reviews.csv", "does not exist")


def test_unknown_hub_dataset_names_it(tiny_bert):
    _raises(lambda: dataset_node("nobody-here/no-such-dataset", encode_node(tiny_bert)),
            "'nobody-here/no-such-dataset'", "was not found", "Check the spelling", "local csv")


def test_split_not_found_lists_the_splits(tiny_bert, reviews_csv, tmp_path):
    import datasets

    encode = encode_node(tiny_bert)
    _raises(lambda: dataset_node(reviews_csv, encode, split="test"), "'test'", "['train']")
    folder = tmp_path / "saved"
    table = datasets.Dataset.from_dict({"text": ["good", "bad"], "label": [1, 0]})
    datasets.DatasetDict({"train": table, "validation": table}).save_to_disk(str(folder))
    _raises(lambda: dataset_node(folder, encode, split="valid"), "'valid'", "['train', 'validation']",
            "did you mean validation")
    _refused(validate_node("PtvHfDatasetWithTokenEncode", name=str(reviews_csv), split="train[:"),
             "'train[:'", "train[:2000]")


def test_missing_text_or_label_field_lists_the_columns(tiny_bert, reviews_csv):
    encode = encode_node(tiny_bert)
    _raises(lambda: dataset_node(reviews_csv, encode, text_field="review"), "'review'", "['text', 'label']")
    _raises(lambda: dataset_node(reviews_csv, encode, label_field="sentiment"), "'sentiment'", "['text', 'label']")
    _refused(validate_node("PtvHfDatasetWithTokenEncode", name=str(reviews_csv), split="train", text_field=" ",
                           label_field="label"), "text_field", "empty")


# --- Labels -----------------------------------------------------------------------------------------

def test_three_labels_with_a_single_logit_bce_model(tiny_models, three_class_csv, val_csv):
    pipeline = Pipeline(tiny_models["distilbert"], three_class_csv, val_csv)
    _raises(lambda: pipeline.train(epochs=1), "[0, 1, 2]", "num_outputs to 3", "Cross Entropy")


def test_labels_outside_the_cross_entropy_outputs(tiny_models, three_class_csv, val_csv):
    pipeline = Pipeline(tiny_models["distilbert"], three_class_csv, val_csv, num_outputs=2)
    cross_entropy = run_node("PtnCrossEntropyLoss", reduction="mean", label_smoothing=0.0)[0]
    _raises(lambda: pipeline.train(epochs=1, loss=cross_entropy), "num_outputs to 3")


def test_cross_entropy_with_one_output(pipelines):
    cross_entropy = run_node("PtnCrossEntropyLoss", reduction="mean", label_smoothing=0.0)[0]
    _raises(lambda: pipelines["distilbert"].train(epochs=1, loss=cross_entropy), "num_outputs 1", "num_outputs to 2")


def _csv(path, rows):
    path.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows))
    return path


def test_negative_and_fractional_labels(tiny_bert, tmp_path):
    encode = encode_node(tiny_bert)
    _raises(lambda: dataset_node(_csv(tmp_path / "neg.csv", [("good", 1), ("unlabeled", -1)]), encode),
            "[-1, 1]", "0..N-1")
    _raises(lambda: dataset_node(_csv(tmp_path / "frac.csv", [("good", 0.5), ("bad", 0)]), encode),
            "0.5", "integers")


def test_string_labels(tiny_models, tmp_path):
    """Text labels become class ids with their names kept (issue 4); three of them cannot feed one logit."""
    encode = encode_node(tiny_models["bert"])
    two = dataset_node(_csv(tmp_path / "two.csv", [("good", "pos"), ("bad", "neg"), ("fine", "pos")]), encode)
    assert two.label_names == ["neg", "pos"] and two.data["labels"] == [1, 0, 1]
    three = _csv(tmp_path / "three.csv", [("good", "pos"), ("bad", "neg"), ("meh", "neutral")] * 4)
    pipeline = Pipeline(tiny_models["bert"], three, three)
    _raises(lambda: pipeline.train(epochs=1), "'neg', 'neutral', 'pos'", "num_outputs to 3", "Cross Entropy")
    _raises(lambda: dataset_node(_csv(tmp_path / "blank.csv", [("good", "pos"), ("bad", '" "')]), encode),
            "blank")


# --- Empty data -------------------------------------------------------------------------------------

def test_empty_file_and_empty_slices(tiny_bert, reviews_csv, tmp_path):
    encode = encode_node(tiny_bert)
    empty = tmp_path / "empty.csv"
    empty.write_text("text,label\n")
    for name, split in ((empty, "train"), (reviews_csv, "train[:0]"), (reviews_csv, "train[100%:]")):
        _raises(lambda: dataset_node(name, encode, split=split), str(name), f"'{split}'", "is empty",
                "choose a split or slice that has rows")


# --- max_length -------------------------------------------------------------------------------------

def test_max_length_above_the_models_maximum(tiny_bert):
    _raises(lambda: encode_node(tiny_bert, max_length=200), "max_length 200", "(128 tokens)", "use 128 or less",
            "0 for the model's maximum")
    _refused(validate_node("HfTokenizerEncode", model_name=str(tiny_bert), max_length=-1), "max_length -1")


def test_long_texts_without_truncation(tiny_bert, tmp_path):
    encode = encode_node(tiny_bert, max_length=8, truncation=False)
    data = write_reviews_csv(tmp_path / "long.csv", rows=6, seed=3)
    _raises(lambda: dataset_node(data, encode), "truncation is off", "max_length 8", "turn truncation on")


# --- Trainer settings -------------------------------------------------------------------------------

@pytest.mark.parametrize("freeze, epochs", [(4, 4), (5, 4), (1, 1)])
def test_freeze_epochs_not_below_epochs(freeze, epochs, pipelines):
    trainer = "PtTrainFineTuneClassificationTransformerModel"
    _refused(validate_node(trainer, epochs=epochs, freeze_pretrained_module_epochs=freeze),
             f"freeze_pretrained_module_epochs {freeze}", f"less than epochs {epochs}")
    _raises(lambda: pipelines["distilbert"].train(trainer, epochs=epochs, freeze_pretrained_module_epochs=freeze),
            f"freeze_pretrained_module_epochs {freeze}", f"epochs {epochs}")


@pytest.mark.parametrize("node", ["PtoAdamW", "PtoAdam", "PtoSGD"])
@pytest.mark.parametrize("lr", [0.0, -2e-5])
def test_zero_or_negative_learning_rate(node, lr):
    _refused(validate_node(node, learning_rate=lr, weight_decay=0.0), f"learning_rate {lr}", "above 0", "2e-5")
    inputs = dict(learning_rate=lr, weight_decay=0.0)
    inputs.update(dict(momentum=0.9, nesterov=False) if node == "PtoSGD" else
                  dict(beta1=0.9, beta2=0.999, amsgrad=False))
    _raises(lambda: run_node(node, **inputs), f"learning_rate {lr}", "above 0")
    _refused(validate_node("PtTrainFineTuneClassificationTransformerModel", epochs=4,
                           freeze_pretrained_module_epochs=1, frozen_head_learning_rate=lr), f"learning_rate {lr}")


@pytest.mark.parametrize("batch_size", [0, -8])
def test_zero_or_negative_batch_size(batch_size, pipelines):
    _refused(validate_node("PtDataLoader", batch_size=batch_size), f"batch_size {batch_size}", "at least 1", "32")
    _raises(lambda: loader_node(pipelines["distilbert"].train_data, batch_size=batch_size),
            f"batch_size {batch_size}", "at least 1")


def test_bad_values_in_a_workflow_are_refused_before_anything_runs():
    with pytest.raises(ValidationFailed) as caught:
        _queue(WORKFLOW_2, "Pto AdamW.learning_rate=0", "Train loader.batch_size=0",
               "PtTrainFineTuneClassificationTransformerModel.freeze_pretrained_module_epochs=4")
    message = str(caught.value)
    for part in ("learning_rate 0", "batch_size 0", "freeze_pretrained_module_epochs 4 must be less than epochs 4"):
        assert part in message
    with pytest.raises(ValidationFailed, match="does not exist"):
        _queue(WORKFLOW_1, "Train dataset.name=./no/such/reviews.csv")
    _queue(WORKFLOW_1)  # the workflows as shipped pass


# --- A loss that becomes NaN -------------------------------------------------------------------------

def test_absurd_learning_rate_stops_with_training_diverged(pipelines):
    pipeline = pipelines["bert"]
    before = state_snapshot(pipeline.model)
    sgd = run_node("PtoSGD", learning_rate=10.0, momentum=0.9, weight_decay=0.0, nesterov=False)[0]
    _raises(lambda: pipeline.train(epochs=3, optimizer=sgd, max_grad_norm=0.0, scheduler=None),
            "loss became nan", "Lower the learning rate (now 10)", "input model is unchanged",
            error=TrainingDivergedError)
    assert same_state(before, state_snapshot(pipeline.model))


@pytest.mark.parametrize("trainer", ["PtTrainTransformerClassificationModel",
                                     "PtTrainFineTuneClassificationTransformerModel"])
def test_nan_loss_stops_training_and_keeps_the_input_model(pipelines, monkeypatch, trainer):
    from hf_text_finetune.modules.training.losses import LossSpec

    original = LossSpec.build

    def nan_loss(self, device):
        loss = original(self, device)
        return lambda *args: loss(*args) * float("nan")

    monkeypatch.setattr(LossSpec, "build", nan_loss)
    pipeline = pipelines["roberta"]
    before = state_snapshot(pipeline.model)
    extra = {"freeze_pretrained_module_epochs": 1} if "FineTune" in trainer else {}
    _raises(lambda: pipeline.train(trainer, epochs=2, **extra), "training stopped", "nan",
            error=TrainingDivergedError)
    assert same_state(before, state_snapshot(pipeline.model))
    with torch.inference_mode():
        assert all(torch.isfinite(p).all() for p in pipeline.model.parameters())


# --- Device and precision ------------------------------------------------------------------------

@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_chosen_on_a_machine_without_a_gpu(pipelines):
    _raises(lambda: pipelines["distilbert"].train(epochs=1, device="cuda"), "device 'cuda'", "no CUDA GPU",
            "use auto or cpu")


def test_fp16_on_the_cpu(pipelines):
    _raises(lambda: pipelines["distilbert"].train(epochs=1, device="cpu", precision="fp16"), "'fp16'", "needs a GPU",
            "bf16 or fp32")
