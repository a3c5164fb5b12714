"""Every tested family (docs/models.md), a tiny model each, through the example workflow's nodes with the
template's widget values (pooling auto, dropout 0.1, AdamW, linear warmup 0.06, BCE on one logit; the learning
rate raised for random-initialised weights) and Hugging Face's head, whose saved folder `pipeline` loads: it
learns a clearly separable set to at least 90% validation accuracy in 6 epochs, Save / Load / Predict /
Evaluate give the same answers, `transformers.pipeline` on the saved folder gives the pack's probabilities
within 1e-5 at fp32 (single texts and pairs), LoRA (default targets, gradient checkpointing where the family
has it) saves, loads, merges and predicts alike, and a run resumed from a checkpoint ends where the
uninterrupted one did; the pack's linear head learns on every encoder too. One training run per family feeds
every step. Cost (docs/models.md): 105 tests, 66 s of CPU time on one thread; 208 s wall on the shared 2-core
development machine at load average 17."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers.data import write_pairs_csv, write_reviews_csv
from helpers.models import same_state, state_snapshot
from helpers.families import DECODERS, ENCODERS, FAMILIES, build_family_model
from helpers.nodes import adamw_node, bce_node, dataset_node, encode_node, loader_node, run_node, warmup_node

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.model.lora import merged_copy
from hf_text_finetune.modules.model.network import HF_HEAD
from hf_text_finetune.modules.results.prediction import predict_texts
from hf_text_finetune.modules.training import checkpoints as checkpoint_files
from hf_text_finetune.nodes.comfy_services import OUTPUT_DIR_ENV

TRAINER = "PtTrainTransformerClassificationModel"
EPOCHS = 6
LEARNING_RATE = 3e-3  # the template's 5e-5 is for pretrained weights; these start random
NO_GRADIENT_CHECKPOINTING = ("albert", "mpnet")
TEXTS = ["a wonderful film and great acting", "boring plot and wooden acting", "I hated every minute",
         "superb direction, excellent cast"]
PAIRS = [("a terrible film", "the best movie this year"), ("brilliant and funny", "dull and stupid")]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("matrix_data")
    return {"train": write_reviews_csv(root / "train.csv", rows=96, seed=0),
            "val": write_reviews_csv(root / "val.csv", rows=24, seed=1),
            "pairs": write_pairs_csv(root / "pairs.csv", rows=32, seed=0)}


class FamilyRun:
    """One family's tiny model, data nodes and its training run, shared by every step of the matrix."""

    def __init__(self, family: str, root, data) -> None:
        self.family, self.root = family, root
        self.folder = build_family_model(family, root / "model")
        self.encode = encode_node(self.folder)
        self.train_loader = loader_node(dataset_node(data["train"], self.encode), 8)
        self.val_loader = loader_node(dataset_node(data["val"], self.encode), 8, shuffle=False)
        self.model = self.model_node()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(OUTPUT_DIR_ENV, str(root / "output"))
            # the resume step reads its checkpoints after Save ran: keep them
            self.trained, _, self.val_accuracy, _, _ = self.train(self.model, epochs=EPOCHS,
                                                                  keep_finished_checkpoints=True)

    def model_node(self, head: str = HF_HEAD, **widgets):
        return run_node("PtnHfFineTunedClassificationModel", model_name=str(self.folder), num_outputs=1,
                        pooling=widgets.pop("pooling", "auto"), dropout=0.1, head=head, **widgets)[0]

    def train(self, model, epochs: int, loader=None, **extra):
        inputs = dict(model=model, train_loader=loader or self.train_loader, optimizer=adamw_node(LEARNING_RATE),
                      loss_function=bce_node(), epochs=epochs, seed=0, val_loader=self.val_loader,
                      lr_scheduler=warmup_node(warmup_ratio=0.06), precision="fp32", device="cpu")
        return run_node(TRAINER, **{**inputs, **extra})

    def save(self, model, prefix: str):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(OUTPUT_DIR_ENV, str(self.root / "output"))
            return run_node("PtSaveClassificationModel", model=model, filename_prefix=prefix,
                            save_training_state=True)[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data):
    class TrainedOnFirstUse(dict):
        def __missing__(self, family):
            self[family] = FamilyRun(family, tmp_path_factory.mktemp(family), data)
            return self[family]

    return TrainedOnFirstUse()


def _pipeline_probabilities(folder, inputs) -> list[dict[str, float]]:
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(folder), device="cpu")
    return [{row["label"]: row["score"] for row in rows} for rows in classify(inputs, top_k=None)]


def _positive(predictions) -> list[float]:
    return [p.probabilities["1"] for p in predictions]


def _assert_pipeline_matches(folder, model, texts=TEXTS, pipeline_inputs=None):
    """One logit: the pipeline reports the sigmoid of the positive class, as Predict's probability of "1"."""
    theirs = _pipeline_probabilities(folder, pipeline_inputs or texts)
    ours = _positive(predict_texts(model, texts))
    assert [row["1"] for row in theirs] == pytest.approx(ours, abs=1e-5)


# --- the matrix --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_the_template_learns_a_separable_set(runs, family):
    run = runs[family]
    assert run.val_accuracy >= 0.9, f"{family}: {run.val_accuracy}"
    assert run.trained.pooling == ("last" if family in DECODERS else "hf")


@pytest.mark.parametrize("family", FAMILIES)
def test_save_load_predict_evaluate_and_pipeline_agree(runs, family):
    run = runs[family]
    folder = run.save(run.trained, "matrix")
    loaded = run_node("PtLoadClassificationModel", saved_model="(none)", path=folder)[0]
    expected = _positive(predict_texts(run.trained, TEXTS))
    assert _positive(predict_texts(loaded, TEXTS)) == pytest.approx(expected, abs=1e-6)
    labels = run_node("PtPredictClassificationModel", model=loaded, texts="\n".join(TEXTS), threshold=0.5,
                      precision="fp32")[1]
    assert labels.splitlines() == [str(int(p >= 0.5)) for p in expected]
    accuracy = run_node("PtEvaluateClassificationModel", model=loaded, data=run.val_loader, precision="fp32")[1]
    assert accuracy == pytest.approx(run.val_accuracy)
    _assert_pipeline_matches(folder, run.trained)
    if family in DECODERS:  # the pad token the head looks for travels in both files
        config = json.loads((Path(folder) / "config.json").read_text())
        pad = loaded.tokenizer.pad_token_id
        assert pad is not None and config["pad_token_id"] == pad


@pytest.mark.parametrize("family", FAMILIES)
def test_pairs_train_and_match_the_pipeline(runs, data, family):
    run = runs[family]
    pairs_loader = loader_node(dataset_node(data["pairs"], run.encode, text_field="sentence1",
                                            text_pair_field="sentence2"), 8)
    trained = run.train(run.model_node(), epochs=1, loader=pairs_loader, val_loader=None)[0]
    assert trained.text_pairs
    folder = run.save(trained, "pairs")
    theirs = _pipeline_probabilities(folder, [{"text": a, "text_pair": b} for a, b in PAIRS])
    ours = _positive(predict_texts(trained, PAIRS))
    assert [row["1"] for row in theirs] == pytest.approx(ours, abs=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_with_gradient_checkpointing_saves_loads_merges_and_predicts(runs, family):
    run = runs[family]
    wrapped = run_node("PtnLoraAdapter", model=run.model, r=8, alpha=16.0, dropout=0.1, target_modules="")[0]
    head = wrapped.network.head
    assert all(p.requires_grad for p in head.parameters())  # the head trains fully, like modules_to_save
    targets = wrapped.lora["target_modules"]
    if family in DECODERS:  # attention and MLP projections
        assert len(targets) >= 3, targets
    if family in NO_GRADIENT_CHECKPOINTING:  # transformers has none for them: a clear refusal, then without
        with pytest.raises(UserInputError, match="does not support it; turn gradient_checkpointing off"):
            run.train(wrapped, epochs=1, gradient_checkpointing=True)
    checkpointing = family not in NO_GRADIENT_CHECKPOINTING
    trained = run.train(wrapped, epochs=1, gradient_checkpointing=checkpointing)[0]
    untrained_head = state_snapshot(run.model.network.head)
    assert not same_state(state_snapshot(trained.network.head), untrained_head)
    adapters = [p for n, p in trained.network.encoder.named_parameters() if "lora_B" in n]
    assert adapters and any(p.abs().sum() > 0 for p in adapters)  # lora_B starts at zero
    folder = run.save(trained, "lora")
    loaded = run_node("PtLoadClassificationModel", saved_model="(none)", path=folder)[0]
    assert loaded.lora["target_modules"] == targets
    expected = _positive(predict_texts(trained, TEXTS))
    assert _positive(predict_texts(loaded, TEXTS)) == pytest.approx(expected, abs=1e-5)
    merged = trained.with_network(merged_copy(trained.network))
    assert _positive(predict_texts(merged, TEXTS)) == pytest.approx(expected, abs=1e-5)
    _assert_pipeline_matches(folder, trained)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_run_resumed_from_a_checkpoint_ends_where_the_uninterrupted_one_did(runs, family, tmp_path):
    run = runs[family]
    (run_folder,) = (run.root / "output" / checkpoint_files.CHECKPOINTS_DIR).iterdir()
    checkpoints = checkpoint_files.checkpoints_in(run_folder)  # the last two epochs' (keep_checkpoints 2)
    assert [p.name for p in checkpoints][-2:] == [f"epoch-{EPOCHS - 1:04d}-batch-000000",
                                                  f"epoch-{EPOCHS:04d}-batch-000000"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(OUTPUT_DIR_ENV, str(tmp_path))
        resumed = run.train(run.model, epochs=EPOCHS, resume=str(checkpoints[-2]))[0]
    ours, reference = resumed.network.state_dict(), run.trained.network.state_dict()
    for key, value in reference.items():
        torch.testing.assert_close(ours[key], value, rtol=1e-6, atol=1e-6)
    assert [m["val_loss"] for m in resumed.history] == pytest.approx([m["val_loss"] for m in run.trained.history])


@pytest.mark.parametrize("family", ENCODERS)
def test_the_linear_head_learns_on_encoders(runs, family):
    run = runs[family]
    accuracy = run.train(run.model_node(head="linear"), epochs=EPOCHS)[2]
    assert accuracy >= 0.9, f"{family}: {accuracy}"
