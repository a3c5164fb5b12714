"""Training that cannot work stops with the cause and the fix: a loss that blows up (not only NaN),
a warmup longer than the run, a max_length with no room for text, training and validation labels
that do not correspond. The input model is untouched every time."""

from __future__ import annotations

import math

import pytest
from helpers.data import write_reviews_csv
from helpers.models import same_state, state_snapshot
from helpers.nodes import Pipeline, adamw_node, encode_node, run_node, warmup_node

from hf_text_finetune.modules.errors import TrainingDivergedError, UserInputError
from hf_text_finetune.modules.training.divergence import DivergenceGuard

TRAINERS = ["PtTrainTransformerClassificationModel", "PtTrainFineTuneClassificationTransformerModel"]
FIX_PARTS = ("Lower the learning rate", "warmup", "max_grad_norm 1.0", "input model is unchanged")


def _raises(call, *parts, error=UserInputError):
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    assert "Traceback" not in message
    return message


# --- Divergence -----------------------------------------------------------------------------------

@pytest.mark.parametrize("losses, stops_at", [
    ([0.69, 7.0], 1), ([0.69, 0.5, 80.0], 2), ([0.01, 4.5], 1), ([2.3, 24.0], 1), ([0.69, float("nan")], 1),
    ([0.69, float("inf")], 1), ([float("nan")], 0),
], ids=["bce-x10", "later-window", "low-start-margin", "ten-classes", "nan", "inf", "nan-at-start"])
def test_guard_stops_on_a_loss_far_above_its_start(losses, stops_at):
    guard = DivergenceGuard()
    for index, loss in enumerate(losses):
        if index == stops_at:
            message = _raises(lambda: guard.check(loss, "epoch 1, step 10", 10.0), "epoch 1, step 10",
                              "Lower the learning rate (now 10)", error=TrainingDivergedError)
            assert ("more than 10 times" in message) or not math.isfinite(loss)
            return
        guard.check(loss, "step", 1e-3)
    pytest.fail("the guard did not stop")


@pytest.mark.parametrize("losses", [[0.69, 0.7, 1.5, 0.3, 0.05], [0.01, 0.5, 3.9], [2.3, 3.0, 20.0], [0.0, 3.9]],
                         ids=["healthy-bce", "resumed-low", "noisy-ten-classes", "zero-start"])
def test_guard_never_stops_a_healthy_or_noisy_run(losses):
    guard = DivergenceGuard()
    for loss in losses:
        guard.check(loss, "step", 1e-3)


@pytest.mark.parametrize("trainer", TRAINERS)
def test_a_loss_that_grows_far_beyond_its_start_stops_training(trainer, pipelines, monkeypatch):
    from hf_text_finetune.modules.training.losses import LossSpec

    original, calls = LossSpec.build, []
    skip = 10 if "FineTune" in trainer else 1  # the frozen epoch (6 batches and a validation pass) stays healthy

    def growing_loss(self, device):
        loss = original(self, device)

        def grow(*args):
            calls.append(1)
            return loss(*args) * (1.0 if len(calls) <= skip else 1000.0)

        return grow

    monkeypatch.setattr(LossSpec, "build", growing_loss)
    pipeline = pipelines["bert"]
    before = state_snapshot(pipeline.model.network)
    extra = {"freeze_pretrained_module_epochs": 1} if "FineTune" in trainer else {}
    _raises(lambda: pipeline.train(trainer, epochs=2, **extra), "training stopped", "more than 10 times its start",
            *FIX_PARTS, error=TrainingDivergedError)
    assert same_state(before, state_snapshot(pipeline.model.network))


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_the_widgets_largest_learning_rate_stops_as_diverged(optimizer, pipelines):
    pipeline = pipelines["bert"]
    before = state_snapshot(pipeline.model.network)
    spec = (adamw_node(learning_rate=10.0) if optimizer == "adamw" else
            run_node("PtoSGD", learning_rate=10.0, momentum=0.9, weight_decay=0.0, nesterov=False)[0])
    _raises(lambda: pipeline.train(epochs=3, optimizer=spec, max_grad_norm=0.0, scheduler=None), "training stopped",
            "Lower the learning rate (now 10)", "input model is unchanged", error=TrainingDivergedError)
    assert same_state(before, state_snapshot(pipeline.model.network))


def test_a_healthy_run_of_the_tests_is_not_stopped(pipelines):
    model, metrics, *_ = pipelines["bert"].train(epochs=5)
    assert model is not pipelines["bert"].model


# --- Warmup longer than the run ----------------------------------------------------------------

@pytest.mark.parametrize("epochs, freeze, warmup_steps, warmup_ratio, shown", [
    (5, 0, 500, 0.0, ["warmup_steps 500", "30 optimizer steps", "warmup_steps 3 or fewer"]),
    (5, 0, 30, 0.0, ["warmup_steps 30", "30 optimizer steps"]),
    (1, 0, 0, 0.99, ["warmup_ratio 0.99 (6 steps)", "6 optimizer steps"]),
    (2, 1, 6, 0.0, ["warmup_steps 6", "1 fine-tuning epoch x 6 batches"]),
], ids=["far-longer", "as-long", "ratio", "after-a-frozen-epoch"])
def test_warmup_longer_than_the_run_is_refused(epochs, freeze, warmup_steps, warmup_ratio, shown, pipelines):
    pipeline = pipelines["distilbert"]
    trainer = TRAINERS[1] if freeze else TRAINERS[0]
    extra = {"freeze_pretrained_module_epochs": freeze} if freeze else {}
    scheduler = warmup_node(warmup_ratio=warmup_ratio, warmup_steps=warmup_steps)
    _raises(lambda: pipeline.train(trainer, epochs=epochs, scheduler=scheduler, **extra), *shown,
            "would hardly train", "warmup_ratio 0.1")


def test_warmup_shorter_than_the_run_trains(pipelines):
    pipelines["distilbert"].train(epochs=1, scheduler=warmup_node(warmup_ratio=0.0, warmup_steps=5))


# --- max_length with no room for text ---------------------------------------------------------------

@pytest.mark.parametrize("arch, max_length", [("bert", 1), ("bert", 2), ("roberta", 1), ("roberta", 2)])
def test_max_length_below_the_special_tokens_is_refused(arch, max_length, tiny_models):
    _raises(lambda: encode_node(tiny_models[arch], max_length=max_length), f"max_length {max_length}",
            "no room for text", "adds 2 special tokens", "use at least 3")


def test_the_smallest_max_length_with_room_truncates(tiny_bert, tmp_path):
    from helpers.nodes import dataset_node

    encode = encode_node(tiny_bert, max_length=3)
    data = dataset_node(write_reviews_csv(tmp_path / "long.csv", rows=4), encode)
    assert max(data.data["length"]) == 3


# --- Training and validation labels that do not correspond ---------------------------------------

def _labels_csv(path, labels):
    write_reviews_csv(path, rows=12)
    lines = path.read_text().splitlines()
    rows = [line.rsplit(",", 1)[0] + f",{labels[i % len(labels)]}" for i, line in enumerate(lines[1:])]
    path.write_text("\n".join([lines[0]] + rows) + "\n")
    return path


@pytest.mark.parametrize("train_labels, val_labels, shown", [
    (["neg", "pos"], ["negative", "positive"], ["['negative', 'positive']", "['neg', 'pos']"]),
    (["neg", "pos"], [0, 1, 2], ["['neg', 'pos']", "[0, 1, 2]", "not their ids"]),
    ([0, 1, 2], ["neg", "pos"], ["[0, 1, 2]", "['neg', 'pos']"]),
], ids=["other-names", "ints-beyond-names", "names-against-more-ints"])
def test_training_and_validation_labels_that_differ_are_refused(train_labels, val_labels, shown, tiny_models,
                                                                tmp_path):
    train = _labels_csv(tmp_path / "train.csv", train_labels)
    val = _labels_csv(tmp_path / "val.csv", val_labels)
    pipeline = Pipeline(tiny_models["bert"], train, val)
    before = state_snapshot(pipeline.model.network)
    _raises(lambda: pipeline.train(epochs=1), *shown)
    assert same_state(before, state_snapshot(pipeline.model.network))


def test_names_against_integers_that_can_be_their_ids_warn_and_train(tiny_models, tmp_path, caplog):
    """Documented handling: integers 0..N-1 beside N names are read as the names' ids (sorted order),
    and a warning shows both label sets and the mapping."""
    train = _labels_csv(tmp_path / "train.csv", [0, 1])
    val = _labels_csv(tmp_path / "val.csv", ["neg", "pos"])
    Pipeline(tiny_models["bert"], train, val).train(epochs=1)
    assert any("0=neg, 1=pos" in record.getMessage() for record in caplog.records)


def test_multi_label_validation_for_single_label_training_is_refused(tiny_models, tmp_path):
    import json

    train = _labels_csv(tmp_path / "train.csv", [0, 1])
    val = tmp_path / "val.jsonl"
    val.write_text("".join(json.dumps({"text": "a fine film", "label": [0, 1]}) + "\n" for _ in range(4)))
    pipeline = Pipeline(tiny_models["bert"], train, val)
    _raises(lambda: pipeline.train(epochs=1), "one label per text", "lists of labels (multi-label)",
            "validation labels", "the same label column kind")
