"""The model node, the optimizer and scheduler nodes, and the loss nodes."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_models import (ARCHITECTURES, LEARNING_LR, adamw_node, bce_node, loader_node, model_node, node_class,
                         run_node, validate_node)

from hf_text_finetune.modules.errors import UserInputError

# --- Ptn Hf Fine Tuned Classification Model ----------------------------------------------------------


def _batch(pipeline, size=6):
    batch = next(iter(loader_node(pipeline.val_data, size, shuffle=False).batches()))
    labels = batch.pop("labels")
    return batch, labels


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("num_outputs", [1, 3])
def test_model_gives_num_outputs_logits(pipelines, tiny_models, arch, num_outputs):
    model = model_node(tiny_models[arch], num_outputs=num_outputs)
    assert model.num_outputs == num_outputs
    batch, _ = _batch(pipelines[arch])
    with torch.no_grad():
        assert model(**batch).shape == (6, num_outputs)


POOLINGS = [(arch, pooling) for arch in ARCHITECTURES for pooling in ("cls", "pooler", "mean")
            if not (arch == "distilbert" and pooling == "pooler")]


@pytest.mark.parametrize("arch, pooling", POOLINGS)
def test_every_pooling_works_and_ignores_padding(pipelines, tiny_models, arch, pooling):
    """The pooled vector of a text is the same alone and inside a padded batch."""
    model = model_node(tiny_models[arch], pooling=pooling).eval()
    batch, _ = _batch(pipelines[arch])
    mask = batch["attention_mask"]
    padded_row = int((mask.sum(dim=1) < mask.shape[1]).nonzero()[0])  # a row that has padding
    n = int(mask[padded_row].sum())
    alone = {k: v[padded_row:padded_row + 1, :n] for k, v in batch.items()}
    alone.pop("attention_mask")
    with torch.no_grad():
        in_batch = model.pool(**batch)[padded_row]
        by_itself = model.pool(**alone)[0]
        if pooling == "pooler":
            assert torch.allclose(in_batch, model.encoder(**batch).pooler_output[padded_row])
        elif pooling == "cls":
            assert torch.allclose(in_batch, model.encoder(**batch).last_hidden_state[padded_row, 0])
    assert torch.allclose(in_batch, by_itself, atol=1e-4)


def test_mean_pooling_averages_only_real_tokens(pipelines, tiny_models):
    model = model_node(tiny_models["bert"], pooling="mean").eval()
    batch, _ = _batch(pipelines["bert"])
    with torch.no_grad():
        hidden = model.encoder(**batch).last_hidden_state
        pooled = model.pool(**batch)
    mask = batch["attention_mask"]
    for row in range(len(mask)):
        n = int(mask[row].sum())
        assert torch.allclose(pooled[row], hidden[row, :n].mean(dim=0), atol=1e-5)


def test_pooler_on_distilbert_is_a_clear_error(tiny_models):
    with pytest.raises(UserInputError) as error:
        model_node(tiny_models["distilbert"], pooling="pooler")
    message = str(error.value)
    assert "pooler" in message and "distilbert" in message and "'cls'" in message and "'mean'" in message


def test_head_starts_small_and_unbiased(tiny_models):
    model = model_node(tiny_models["albert"])
    assert model.head[1].weight.is_inference(), "built under inference mode, as ComfyUI runs nodes"
    with torch.inference_mode():
        assert 0 < float(model.head[1].weight.std()) < 0.1
        assert torch.equal(model.head[1].bias, torch.zeros(1))


def test_model_head_initialisation_follows_the_seed(tiny_models):
    first = model_node(tiny_models["bert"], seed=1)
    again = model_node(tiny_models["bert"], seed=1)
    other = model_node(tiny_models["bert"], seed=2)
    assert torch.equal(first.head[1].weight, again.head[1].weight)
    assert not torch.equal(first.head[1].weight, other.head[1].weight)


# --- Optimizers --------------------------------------------------------------------------------------

def test_learning_rate_widgets_keep_2e_5():
    """ComfyUI's frontend rounds a FLOAT to the precision of its `step` unless round is False."""
    for name in ("PtoAdamW", "PtoAdam", "PtoSGD"):
        kind, options = node_class(name).INPUT_TYPES()["required"]["learning_rate"]
        assert kind == "FLOAT" and options["round"] is False
        decimals = max(0, -math.floor(math.log10(options["step"])))
        assert round(2e-5, decimals) == 2e-5 and round(5e-5, decimals) == 5e-5
        assert options["min"] <= 2e-5 <= options["max"]
    spec = adamw_node(learning_rate=2e-5)
    assert spec.lr == 2e-5


@pytest.fixture
def built_optimizers(monkeypatch):
    """Every optimizer a trainer builds, captured as it is built."""
    from hf_text_finetune.modules.training.optimizers import OptimizerSpec

    built = []
    original = OptimizerSpec.build

    def build(self, groups, device):
        optimizer = original(self, groups, device)
        built.append(optimizer)
        return optimizer

    monkeypatch.setattr(OptimizerSpec, "build", build)
    return built


OPTIMIZERS = [
    ("PtoAdamW", dict(learning_rate=2e-5, beta1=0.85, beta2=0.99, weight_decay=0.05, amsgrad=True),
     torch.optim.AdamW, dict(lr=2e-5, betas=(0.85, 0.99), amsgrad=True)),
    ("PtoAdam", dict(learning_rate=3e-4, beta1=0.9, beta2=0.999, weight_decay=0.0, amsgrad=False),
     torch.optim.Adam, dict(lr=3e-4, betas=(0.9, 0.999), amsgrad=False)),
    ("PtoSGD", dict(learning_rate=0.05, momentum=0.8, weight_decay=0.001, nesterov=True),
     torch.optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True)),
]


@pytest.mark.parametrize("node, inputs, kind, settings", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_trainer_builds_the_chosen_optimizer_with_its_settings(pipelines, built_optimizers, node, inputs, kind,
                                                              settings):
    spec = run_node(node, **inputs)[0]
    pipelines["distilbert"].train(optimizer=spec, epochs=1, scheduler=None)
    (optimizer,) = built_optimizers
    assert type(optimizer) is kind
    for group in optimizer.param_groups:
        for key, value in settings.items():
            assert group[key] == value, key
    decays = {group["name"]: group["weight_decay"] for group in optimizer.param_groups}
    assert decays["encoder_no_decay"] == decays["head_no_decay"] == 0.0, "no decay on biases and LayerNorm"
    assert decays["encoder_decay"] == decays["head_decay"] == inputs["weight_decay"]
    assert optimizer.state, "the optimizer was used"


def test_nesterov_without_momentum_is_a_clear_error():
    with pytest.raises(UserInputError, match="nesterov needs momentum"):
        run_node("PtoSGD", learning_rate=0.1, momentum=0.0, weight_decay=0.0, nesterov=True)


# --- LR schedulers -----------------------------------------------------------------------------------

def _full_phase_lrs(optimizer_steps):
    return [lrs[0] for _, lrs in optimizer_steps]


def test_warmup_linear_steps_every_optimizer_step(pipelines, optimizer_steps):
    pipeline = pipelines["distilbert"]
    schedule = run_node("PtoLrSchedulerWarmup", schedule="linear", warmup_ratio=0.0, warmup_steps=2)[0]
    pipeline.train(optimizer=adamw_node(1e-3), scheduler=schedule, epochs=2)
    steps = 2 * len(pipeline.train_loader)
    lrs = _full_phase_lrs(optimizer_steps)
    assert len(lrs) == steps == 12
    expected = [1e-3 * s / 2 if s < 2 else 1e-3 * (steps - s) / (steps - 2) for s in range(steps)]
    assert lrs == pytest.approx(expected)


def test_warmup_ratio_and_cosine(pipelines, optimizer_steps):
    pipeline = pipelines["distilbert"]
    schedule = run_node("PtoLrSchedulerWarmup", schedule="cosine", warmup_ratio=0.25, warmup_steps=0)[0]
    pipeline.train(optimizer=adamw_node(1e-3), scheduler=schedule, epochs=2)
    lrs = _full_phase_lrs(optimizer_steps)
    warmup, steps = 3, 12  # ceil(0.25 * 12)
    expected = [1e-3 * s / warmup if s < warmup else
                1e-3 * 0.5 * (1 + math.cos(math.pi * (s - warmup) / (steps - warmup))) for s in range(steps)]
    assert lrs == pytest.approx(expected)


def _epoch_lrs(pipeline, schedule, epochs, optimizer_steps):
    outputs = pipeline.train(optimizer=adamw_node(1e-3), scheduler=schedule, epochs=epochs)
    per_epoch = len(pipeline.train_loader)
    lrs = _full_phase_lrs(optimizer_steps)
    chunks = [lrs[i:i + per_epoch] for i in range(0, len(lrs), per_epoch)]
    assert all(len(set(chunk)) == 1 for chunk in chunks), "epoch schedules do not change within an epoch"
    history = [m["learning_rate"] for m in outputs[0].history]
    assert history == pytest.approx([chunk[0] for chunk in chunks])
    return history


def test_step_lr_decays_once_per_epoch(pipelines, optimizer_steps):
    schedule = run_node("PtoLrSchedulerStep", step_size=1, gamma=0.5)[0]
    assert _epoch_lrs(pipelines["distilbert"], schedule, 3, optimizer_steps) == pytest.approx([1e-3, 5e-4, 2.5e-4])


def test_cosine_annealing_per_epoch(pipelines, optimizer_steps):
    schedule = run_node("PtoLrSchedulerCosineAnnealing", t_max=0, eta_min=1e-5)[0]
    lrs = _epoch_lrs(pipelines["distilbert"], schedule, 3, optimizer_steps)
    expected = [1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)]
    assert lrs == pytest.approx(expected)


def test_reduce_on_plateau_lowers_the_rate_when_validation_loss_stalls(pipelines, optimizer_steps):
    # threshold 1.0: only a loss below 0 would count as an improvement, so every epoch stalls
    schedule = run_node("PtoLrSchedulerReduceOnPlateau", factor=0.5, patience=0, threshold=1.0)[0]
    lrs = _epoch_lrs(pipelines["distilbert"], schedule, 3, optimizer_steps)
    assert lrs == pytest.approx([1e-3, 5e-4, 2.5e-4])


def test_reduce_on_plateau_follows_the_validation_loss(pipelines, optimizer_steps):
    schedule = run_node("PtoLrSchedulerReduceOnPlateau", factor=0.5, patience=0, threshold=0.0)[0]
    outputs = pipelines["distilbert"].train(optimizer=adamw_node(1e-3), scheduler=schedule, epochs=3)
    history = outputs[0].history
    expected, best = [1e-3], float("inf")
    for metrics in history[:-1]:
        improved = metrics["val_loss"] < best
        best = min(best, metrics["val_loss"])
        expected.append(expected[-1] * (1.0 if improved else 0.5))
    assert [m["learning_rate"] for m in history] == pytest.approx(expected)


def test_warmup_ratio_out_of_range_is_refused_at_queue_time():
    message = validate_node("PtoLrSchedulerWarmup", warmup_ratio=1.5)
    assert isinstance(message, str) and "warmup_ratio 1.5" in message


# --- Losses ------------------------------------------------------------------------------------------

def test_bce_pos_weight_weighs_positive_samples():
    spec = bce_node(pos_weight=3.0)
    loss = spec.build(torch.device("cpu"))
    logits, labels = torch.zeros(2, 1), torch.tensor([1, 0])
    per_sample = torch.nn.functional.binary_cross_entropy_with_logits(torch.zeros(2), torch.tensor([1.0, 0.0]),
                                                                       reduction="none")
    assert float(loss(*spec.targets(labels, logits))) == pytest.approx(float((3 * per_sample[0] + per_sample[1]) / 2))
    plain = bce_node(pos_weight=1.0)
    assert plain.pos_weight is None
    summed = bce_node(reduction="sum")
    assert float(summed.build(torch.device("cpu"))(*summed.targets(labels, logits))) == pytest.approx(2 * math.log(2))


def test_bce_pos_weight_zero_is_refused_at_queue_time():
    message = validate_node("PtnBCEWithLogitsLoss", pos_weight=0.0)
    assert isinstance(message, str) and "pos_weight 0.0" in message and "above 0" in message


def test_cross_entropy_node_settings():
    spec = run_node("PtnCrossEntropyLoss", reduction="mean", label_smoothing=0.1, class_weights="1, 2.5, 1")[0]
    loss = spec.build(torch.device("cpu"))
    assert isinstance(loss, torch.nn.CrossEntropyLoss)
    assert loss.label_smoothing == 0.1 and loss.weight.tolist() == [1.0, 2.5, 1.0]
    message = validate_node("PtnCrossEntropyLoss", class_weights="1, heavy")
    assert isinstance(message, str) and "'1, heavy'" in message and "comma" in message


def test_cross_entropy_trains_a_three_class_model(tiny_models, three_class_csv):
    from tiny_models import Pipeline

    pipeline = Pipeline(tiny_models["distilbert"], three_class_csv, three_class_csv, num_outputs=3)
    loss = run_node("PtnCrossEntropyLoss", reduction="mean", label_smoothing=0.0, class_weights="")[0]
    model, metrics, val_accuracy, val_loss, train_loss = pipeline.train(loss=loss, epochs=3,
                                                                        optimizer=adamw_node(LEARNING_LR))
    assert model.num_outputs == 3 and 0.0 <= val_accuracy <= 1.0
    assert model.history[-1]["train_loss"] < model.history[0]["train_loss"]
    assert "epoch 3/3" in metrics
