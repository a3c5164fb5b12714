"""The node registry is one table: each node class listed once, its id its class name (the ids saved
workflows store), its display name from modules/node_names.py. Every queue-time refusal is the words
of the rule in modules/ that the run itself applies, and the trainers' widgets map one to one onto
TrainSettings."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from hf_text_finetune import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from hf_text_finetune.modules.data.batching import check_batch_size
from hf_text_finetune.modules.data.splits import check_validation_fraction
from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.model.lora import LoraSettings
from hf_text_finetune.modules.model.network import check_head_settings
from hf_text_finetune.modules.node_names import NODE_NAMES
from hf_text_finetune.modules.pretrained import resolve_max_length
from hf_text_finetune.modules.results.metrics import check_threshold
from hf_text_finetune.modules.results.prediction import check_texts
from hf_text_finetune.modules.training.losses import LossSpec, cross_entropy_spec
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.training.schedulers import SchedulerSpec
from hf_text_finetune.modules.training.settings import TrainSettings
from hf_text_finetune.nodes import NODE_CLASSES

TODAYS_IDS = [  # saved workflows and the example workflows store these; never rename one
    "HfTokenizerEncode", "PtvHfDatasetWithTokenEncode", "PtDataLoader", "PtoAdamW", "PtoAdam", "PtoSGD",
    "PtoLrSchedulerWarmup", "PtoLrSchedulerStep", "PtoLrSchedulerCosineAnnealing", "PtoLrSchedulerReduceOnPlateau",
    "PtnBCEWithLogitsLoss", "PtnCrossEntropyLoss", "PtnMSELoss", "PtnHfFineTunedClassificationModel",
    "PtTrainTransformerClassificationModel", "PtTrainFineTuneClassificationTransformerModel",
    "PtvTrainValidationSplit", "PtEvaluateClassificationModel", "PtPlotTrainingCurves", "PtnLoraAdapter",
    "PtPredictClassificationModel", "PtSaveClassificationModel", "PtLoadClassificationModel",
]
ADDED_IDS = [
    "PtClassifyTexts",  # issue 18: answers other nodes can use
    "PtDataCheck", "PtCalibrateClassificationModel",  # issue 21: the data check and calibration
    "PtExportClassificationModelOnnx",  # issue 22: the ONNX export
]
ALL_IDS = TODAYS_IDS + ADDED_IDS
TRAINERS = ["PtTrainTransformerClassificationModel", "PtTrainFineTuneClassificationTransformerModel"]
TRAINER_CONNECTIONS = {"model", "train_loader", "optimizer", "loss_function", "val_loader", "lr_scheduler"}


def test_registry_lists_todays_ids_then_the_added_ones_once_each_under_the_class_name():
    assert list(NODE_CLASS_MAPPINGS) == ALL_IDS
    assert len(NODE_CLASSES) == len(set(NODE_CLASSES)) == len(ALL_IDS)
    assert all(NODE_CLASS_MAPPINGS[node_id].__name__ == node_id for node_id in ALL_IDS)


def test_display_names_are_the_node_names_table():
    assert NODE_DISPLAY_NAME_MAPPINGS == NODE_NAMES
    assert list(NODE_NAMES) == ALL_IDS
    assert len(set(NODE_NAMES.values())) == len(NODE_NAMES)


@pytest.mark.parametrize("node_id", ALL_IDS)
def test_every_node_has_a_category_a_description_and_tooltips(node_id):
    cls = NODE_CLASS_MAPPINGS[node_id]
    assert cls.CATEGORY.startswith("HF Text Fine-Tune/") and cls.CATEGORY.count("/") == 1
    assert isinstance(cls.DESCRIPTION, str) and len(cls.DESCRIPTION) > 20
    spec = cls.INPUT_TYPES()
    for section in ("required", "optional"):
        for name, entry in spec.get(section, {}).items():
            assert len(entry) == 2 and entry[1].get("tooltip"), f"{node_id}.{name} has no tooltip"
    assert len(cls.RETURN_NAMES) == len(cls.RETURN_TYPES) == len(cls.OUTPUT_TOOLTIPS)
    assert all(cls.OUTPUT_TOOLTIPS)
    assert callable(getattr(cls, cls.FUNCTION))


@pytest.mark.parametrize("node_id", [n for n in ALL_IDS if hasattr(NODE_CLASS_MAPPINGS[n], "VALIDATE_INPUTS")])
def test_linked_inputs_pass_queue_time_checks(node_id):
    """ComfyUI passes nothing for a linked input (its value is known only at run time)."""
    assert NODE_CLASS_MAPPINGS[node_id].VALIDATE_INPUTS() is True


def _run_time_words(rule) -> str:
    with pytest.raises(UserInputError) as caught:
        rule()
    return str(caught.value)


class _Tokenizer:
    model_max_length = 512


class _Config:
    max_position_embeddings = 512


QUEUE_AND_RUN = [  # (node, widget values at queue time, the rule the run applies)
    ("PtDataLoader", {"batch_size": 0}, lambda: check_batch_size(0)),
    ("PtvTrainValidationSplit", {"validation_fraction": 0.95}, lambda: check_validation_fraction(0.95)),
    ("PtnHfFineTunedClassificationModel", {"num_outputs": 0}, lambda: check_head_settings(0, 0.1)),
    ("PtnHfFineTunedClassificationModel", {"dropout": 0.95}, lambda: check_head_settings(1, 0.95)),
    ("PtnLoraAdapter", {"r": 0}, lambda: LoraSettings(r=0).check()),
    ("PtnLoraAdapter", {"alpha": 0.0}, lambda: LoraSettings(alpha=0.0).check()),
    ("PtnLoraAdapter", {"dropout": 0.95}, lambda: LoraSettings(dropout=0.95).check()),
    ("PtoAdamW", {"learning_rate": 0.0}, lambda: OptimizerSpec("AdamW", 0.0)),
    ("PtoSGD", {"weight_decay": -0.1}, lambda: OptimizerSpec("SGD", 1e-3, -0.1)),
    ("PtoLrSchedulerWarmup", {"warmup_ratio": 1.5}, lambda: SchedulerSpec("linear", 1.5)),
    ("PtnBCEWithLogitsLoss", {"pos_weight": 0.0}, lambda: LossSpec("bce_with_logits", pos_weight=0.0)),
    ("PtnCrossEntropyLoss", {"class_weights": "1, heavy"}, lambda: cross_entropy_spec("mean", 0.0, "1, heavy")),
    ("PtTrainTransformerClassificationModel", {"epochs": 0}, lambda: TrainSettings(epochs=0).check()),
    ("PtTrainFineTuneClassificationTransformerModel", {"epochs": 4, "freeze_pretrained_module_epochs": 4},
     lambda: TrainSettings(epochs=4, freeze_pretrained_module_epochs=4).check()),
    ("PtTrainFineTuneClassificationTransformerModel", {"frozen_head_learning_rate": 0.0},
     lambda: TrainSettings(epochs=2, freeze_pretrained_module_epochs=1, frozen_head_learning_rate=0.0).check()),
    ("PtEvaluateClassificationModel", {"threshold": 1.0}, lambda: check_threshold(1.0)),
    ("PtPredictClassificationModel", {"threshold": 0.0}, lambda: check_threshold(0.0)),
    ("PtPredictClassificationModel", {"texts": " \n "}, lambda: check_texts(" \n ")),
]


@pytest.mark.parametrize("node_id, inputs, rule", QUEUE_AND_RUN,
                         ids=[f"{n}-{'-'.join(i)}" for n, i, _ in QUEUE_AND_RUN])
def test_queue_time_refusal_is_the_run_time_rule_word_for_word(node_id, inputs, rule):
    assert NODE_CLASS_MAPPINGS[node_id].VALIDATE_INPUTS(**inputs) == _run_time_words(rule)


def test_negative_max_length_is_refused_alike_and_the_run_names_the_models_maximum():
    verdict = NODE_CLASS_MAPPINGS["HfTokenizerEncode"].VALIDATE_INPUTS(max_length=-1)
    assert _run_time_words(lambda: resolve_max_length(-1, _Tokenizer(), _Config(), "m")) == f"{verdict} (512)"


def test_missing_dataset_file_is_refused_alike_at_queue_time_and_when_loading(tmp_path):
    from hf_text_finetune.modules.data.sources import load_split

    missing = str(tmp_path / "reviews.csv")
    verdict = NODE_CLASS_MAPPINGS["PtvHfDatasetWithTokenEncode"].VALIDATE_INPUTS(name=missing)
    assert verdict == _run_time_words(lambda: load_split(missing, "train"))
    assert missing in verdict and "was not found in" in verdict


@pytest.mark.parametrize("node_id", TRAINERS)
def test_trainer_widgets_are_train_settings_fields_with_the_same_defaults(node_id):
    """The trainers pass their widgets to TrainSettings by name: a workflow saved before an optional
    widget existed runs with the dataclass default, so it must equal the widget's."""
    cls = NODE_CLASS_MAPPINGS[node_id]
    fields = {f.name: f.default for f in dataclasses.fields(TrainSettings)}
    spec = cls.INPUT_TYPES()
    widgets = {**spec["required"], **spec["optional"]}
    for name, (_, options) in widgets.items():
        if name in TRAINER_CONNECTIONS:
            continue
        assert name in fields, f"{node_id}.{name} is not a TrainSettings field"
        if name in spec["optional"]:
            assert options["default"] == fields[name], f"{node_id}.{name}"
    train = inspect.signature(getattr(cls, cls.FUNCTION))
    assert list(train.parameters)[:7] == ["self", "model", "train_loader", "optimizer", "loss_function", "epochs",
                                          "seed"]  # the positional order Python callers use
