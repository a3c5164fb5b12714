"""Pretrained weights in bf16 (the model node's `weight_dtype`): the encoder loads in bf16 and the head stays fp32;
a bf16 decoder learns with LoRA and saves, loads, resumes, exports to ONNX and runs in `pipeline`; full fine-tuning
in bf16, a GPU without bf16 and fp16 autocast are refused with the fix named; the out-of-memory message offers bf16
weights for an fp32 decoder on a GPU that computes bf16; the memory estimate counts bf16 weights at two bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers.checks import raises_with
from helpers.data import write_reviews_csv
from helpers.families import build_family_model
from helpers.nodes import adamw_node, bce_node, dataset_node, encode_node, loader_node, run_node, warmup_node

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.model.build import WeightLoading, build_classification_model
from hf_text_finetune.modules.model.lora import LoraSettings, add_lora, merged_copy
from hf_text_finetune.modules.model.weight_dtype import (bf16_weights_would_help, check_device_computes,
                                                          weight_dtype_of)
from hf_text_finetune.modules.results.prediction import predict_texts
from hf_text_finetune.modules.training import checkpoints as checkpoint_files
from hf_text_finetune.modules.training.gpu_memory import out_of_memory_message, training_bytes
from hf_text_finetune.nodes.comfy_services import OUTPUT_DIR_ENV

HF = "hf_sequence_classification"
TRAINER = "PtTrainTransformerClassificationModel"
TEXTS = ["a wonderful film and great acting", "boring plot and wooden acting", "I hated every minute",
         "superb direction, excellent cast"]
BF16 = WeightLoading(weight_dtype="bf16")
BF16_TOLERANCE = 2e-2  # probabilities: bf16 keeps 8 bits of mantissa


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("weight_dtype")
    return {"qwen2": build_family_model("qwen2", root / "qwen2"), "bert": build_family_model("bert", root / "bert"),
            "train": write_reviews_csv(root / "train.csv", rows=96, seed=0),
            "val": write_reviews_csv(root / "val.csv", rows=24, seed=1)}


def _model_node(folder, **widgets):
    return run_node("PtnHfFineTunedClassificationModel", model_name=str(folder), num_outputs=1, dropout=0.1,
                    **{"head": HF, "pooling": "auto", **widgets})[0]


def _loaders(folders, family):
    encode = encode_node(folders[family])
    return (loader_node(dataset_node(folders["train"], encode), 8),
            loader_node(dataset_node(folders["val"], encode), 8, shuffle=False))


def _train(model, loaders, epochs=6, trainer=TRAINER, **extra):
    train, val = loaders
    return run_node(trainer, **{**dict(model=model, train_loader=train, optimizer=adamw_node(3e-3),
                                       loss_function=bce_node(), epochs=epochs, seed=0, val_loader=val,
                                       lr_scheduler=warmup_node(warmup_ratio=0.06), precision="fp32", device="cpu"),
                                **extra})


def _positive(model, texts=TEXTS) -> list[float]:
    return [p.probabilities["1"] for p in predict_texts(model, texts)]


def _dtypes(network) -> dict[str, set]:
    head = {id(p) for p in network.head.parameters()}
    kinds = {"encoder": set(), "adapters": set(), "head": set()}
    for name, param in network.named_parameters():
        kinds["head" if id(param) in head else "adapters" if "lora_" in name else "encoder"].add(param.dtype)
    return kinds


@pytest.fixture(scope="module")
def lora_run(folders, tmp_path_factory):
    """A tiny Qwen2 in bf16 with LoRA, trained 6 epochs with checkpoints kept, then saved."""
    output = tmp_path_factory.mktemp("bf16_output")
    loaders = _loaders(folders, "qwen2")
    model = run_node("PtnLoraAdapter", model=_model_node(folders["qwen2"], weight_dtype="bf16"), r=8, alpha=16.0,
                     dropout=0.0, target_modules="")[0]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(OUTPUT_DIR_ENV, str(output))
        trained, _, accuracy, _, _ = _train(model, loaders, keep_finished_checkpoints=True)
        saved = run_node("PtSaveClassificationModel", model=trained, filename_prefix="bf16",
                         save_training_state=True)[0]
    return {"model": model, "trained": trained, "accuracy": accuracy, "folder": Path(saved), "output": output,
            "loaders": loaders}


@pytest.mark.parametrize("family, head", [("qwen2", HF), ("bert", "linear"), ("bert", HF)])
def test_bf16_loads_the_pretrained_weights_in_bf16_and_keeps_the_head_in_fp32(folders, family, head):
    model = _model_node(folders[family], head=head, weight_dtype="bf16", pooling="auto" if head == HF else "cls")
    assert weight_dtype_of(model.network) == "bf16"
    assert _dtypes(model.network)["encoder"] == {torch.bfloat16} and _dtypes(model.network)["head"] == {torch.float32}
    network = model.network.eval()
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12]])
    with torch.no_grad():
        logits = network(ids, torch.ones_like(ids))
        assert logits.dtype == torch.float32
        # the frozen phase trains the head on cached features: they give the model's own logits
        torch.testing.assert_close(network.head(network.pool(ids, torch.ones_like(ids))), logits)
    fp32 = _model_node(folders[family], head=head, pooling="auto" if head == HF else "cls")
    assert weight_dtype_of(fp32.network) == "fp32"
    assert fp32.network.state_dict().keys() == model.network.state_dict().keys()


def test_a_bf16_decoder_learns_with_lora_and_only_fp32_weights_train(lora_run):
    assert lora_run["accuracy"] >= 0.9
    trained = lora_run["trained"].network
    assert _dtypes(trained) == {"encoder": {torch.bfloat16}, "adapters": {torch.float32}, "head": {torch.float32}}
    assert all(p.dtype == torch.float32 for p in trained.parameters() if p.requires_grad)
    untrained = dict(lora_run["model"].network.named_parameters())
    for name, param in trained.named_parameters():  # the pretrained weights are frozen: unchanged, not rounded
        if "lora_" not in name and not param.requires_grad:
            assert torch.equal(param, untrained[name]), name


def test_bf16_autocast_and_a_frozen_first_epoch_train_a_bf16_lora_decoder(folders, lora_run):
    trained, _, accuracy, _, _ = _train(lora_run["model"], lora_run["loaders"], epochs=3, precision="bf16",
                                        freeze_pretrained_module_epochs=1,
                                        trainer="PtTrainFineTuneClassificationTransformerModel")
    losses = [m["train_loss"] for m in trained.history]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert all(p.dtype == torch.float32 for p in trained.network.parameters() if p.requires_grad)


def test_a_saved_bf16_folder_keeps_its_dtypes_and_loads_back_to_the_same_answers(lora_run):
    folder, trained = lora_run["folder"], lora_run["trained"]
    assert json.loads((folder / "classifier.json").read_text())["weight_dtype"] == "bf16"
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as weights:
        dtypes = {key: weights.get_slice(key).get_dtype() for key in weights.keys()}
    assert {d for k, d in dtypes.items() if k.startswith("score.")} == {"F32"}
    assert {d for k, d in dtypes.items() if not k.startswith("score.")} == {"BF16"}
    loaded = run_node("PtLoadClassificationModel", saved_model="(none)", path=str(folder))[0]
    assert _dtypes(loaded.network) == _dtypes(trained.network)
    for key, value in trained.network.head.state_dict().items():  # the head comes back exactly
        assert torch.equal(loaded.network.head.state_dict()[key], value)
    # the saved folder holds the adapters merged into bf16 weights, which Load takes out again: bf16 rounding
    expected = _positive(lora_run["trained"])
    assert _positive(loaded) == pytest.approx(expected, abs=BF16_TOLERANCE)
    assert [p >= 0.5 for p in _positive(loaded)] == [p >= 0.5 for p in expected]
    merged = merged_copy(trained.network)  # what Save writes: the adapters folded into the bf16 weights
    assert _dtypes(merged) == {"encoder": {torch.bfloat16}, "adapters": set(), "head": {torch.float32}}
    assert _positive(trained.with_network(merged)) == pytest.approx(expected, abs=BF16_TOLERANCE)


def test_pipeline_on_a_saved_bf16_folder_gives_the_pack_s_probabilities_within_bf16_rounding(lora_run):
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(lora_run["folder"]), device="cpu")
    theirs = [{row["label"]: row["score"] for row in rows}["1"] for rows in classify(TEXTS, top_k=None)]
    assert theirs == pytest.approx(_positive(lora_run["trained"]), abs=BF16_TOLERANCE)


def test_a_bf16_lora_run_resumed_from_a_checkpoint_ends_where_the_uninterrupted_one_did(lora_run, tmp_path):
    (run_folder,) = (lora_run["output"] / checkpoint_files.CHECKPOINTS_DIR).iterdir()
    checkpoints = checkpoint_files.checkpoints_in(run_folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(OUTPUT_DIR_ENV, str(tmp_path))
        resumed = _train(lora_run["model"], lora_run["loaders"], resume=str(checkpoints[-2]))[0]
    assert _dtypes(resumed.network) == _dtypes(lora_run["trained"].network)
    reference = lora_run["trained"].network.state_dict()
    for key, value in resumed.network.state_dict().items():
        torch.testing.assert_close(value, reference[key], rtol=1e-5, atol=1e-5)


def test_onnx_export_and_int8_of_a_bf16_model_run_in_fp32(lora_run, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from hf_text_finetune.modules.results.onnx_export import export_saved_folder

    folder = tmp_path / "copy"
    import shutil

    shutil.copytree(lora_run["folder"], folder)
    export = export_saved_folder(folder, int8=True)
    assert export.max_abs_diff <= 1e-4 and export.int8_agreement is not None  # against the fp32 copy it exported
    loaded = run_node("PtLoadClassificationModel", saved_model="(none)", path=str(folder))[0]
    expected = _positive(lora_run["trained"])
    for precision, backend in (("fp32", "onnxruntime"), ("int8", "torch")):
        probabilities = run_node("PtPredictClassificationModel", model=loaded, texts="\n".join(TEXTS), threshold=0.5,
                                 precision=precision, device="cpu", backend=backend)[2]
        assert len(json.loads(probabilities)) == len(TEXTS)
    onnx = run_node("PtPredictClassificationModel", model=loaded, texts="\n".join(TEXTS), threshold=0.5,
                    precision="fp32", device="cpu", backend="onnxruntime")
    assert onnx[1].splitlines() == [str(int(p >= 0.5)) for p in expected]


def test_full_fine_tuning_of_bf16_weights_is_refused_with_lora_and_fp32_named(folders):
    model = _model_node(folders["qwen2"], weight_dtype="bf16")
    raises_with(lambda: _train(model, _loaders(folders, "qwen2"), epochs=1),
                "weight_dtype on Ptn Hf Fine Tuned Classification Model", "Add a Ptn LoRA Adapter",
                "set weight_dtype to fp32")


def test_a_gpu_without_bf16_and_fp16_autocast_are_refused_for_bf16_weights(folders, monkeypatch):
    network = build_classification_model(str(folders["qwen2"]), 1, head_type=HF, loading=BF16).network
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    raises_with(lambda: check_device_computes(network, torch.device("cuda"), "fp16"),
                "does not compute bf16", "set weight_dtype to fp32")
    raises_with(lambda: check_device_computes(network, torch.device("cpu"), "fp16"), "precision fp16",
                "set precision to bf16 or auto")
    check_device_computes(network, torch.device("cpu"), "fp32")  # runs on any CPU


def test_an_unknown_weight_dtype_names_the_choices(folders):
    with pytest.raises(UserInputError, match=r"weight_dtype 'fp8' is unknown; use one of \['fp32', 'bf16'\]"):
        build_classification_model(str(folders["qwen2"]), 1, head_type=HF, loading=WeightLoading(weight_dtype="fp8"))


def test_the_out_of_memory_message_offers_bf16_weights_for_an_fp32_decoder_on_a_gpu(folders, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    cuda = torch.device("cuda")
    decoder = build_classification_model(str(folders["qwen2"]), 1, head_type=HF).network
    assert bf16_weights_would_help(decoder, cuda)
    assert not bf16_weights_would_help(decoder, torch.device("cpu"))
    assert not bf16_weights_would_help(build_classification_model(str(folders["bert"]), 1).network, cuda)
    bf16 = build_classification_model(str(folders["qwen2"]), 1, head_type=HF, loading=BF16).network
    assert not bf16_weights_would_help(bf16, cuda)
    message = out_of_memory_message(cuda, 8, 256, "epoch 1, batch 1", False, "", offer_bf16_weights=True)
    assert "weight_dtype bf16 on Ptn Hf Fine Tuned Classification Model" in message
    assert "weight_dtype" not in out_of_memory_message(cuda, 8, 256, "epoch 1, batch 1", False, "")


def test_the_memory_estimate_counts_bf16_weights_at_two_bytes_and_states_only_for_what_trains(folders):
    def estimate(model):
        return training_bytes(model.network, "AdamW", 1, 1)

    fp32 = build_classification_model(str(folders["qwen2"]), 1, head_type=HF)
    bf16 = build_classification_model(str(folders["qwen2"]), 1, head_type=HF, loading=BF16)
    params = sum(p.numel() for p in fp32.network.parameters())
    activations = training_bytes(fp32.network, "AdamW", 1, 1) - params * 16
    assert estimate(fp32) - activations == params * 16  # fp32 weights, gradients and two AdamW states
    lora = add_lora(bf16, LoraSettings(r=2))
    trained = sum(p.numel() for p in lora.network.parameters() if p.requires_grad)
    weights = sum(p.numel() * p.element_size() for p in lora.network.parameters())
    assert estimate(lora) - activations == weights + trained * 12
    assert estimate(lora) < estimate(fp32) / 1.9


def test_the_model_node_offers_weight_dtype_last_in_optional():
    from hf_text_finetune.nodes.model_nodes import PtnHfFineTunedClassificationModel as node

    optional = node.INPUT_TYPES()["optional"]
    assert list(optional)[-1] == "weight_dtype"
    assert optional["weight_dtype"][0] == ["fp32", "bf16"] and optional["weight_dtype"][1]["default"] == "fp32"


@pytest.mark.skipif(not torch.cuda.is_available() or not torch.cuda.is_bf16_supported(),
                    reason="needs a CUDA GPU that computes bf16 (benchmarks/gpu_check.sh runs it)")
def test_a_bf16_lora_decoder_trains_and_predicts_on_cuda(folders):
    model = run_node("PtnLoraAdapter", model=_model_node(folders["qwen2"], weight_dtype="bf16"), r=8, alpha=16.0,
                     dropout=0.0, target_modules="")[0]
    trained, _, accuracy, _, _ = _train(model, _loaders(folders, "qwen2"), precision="auto", device="cuda",
                                        gradient_checkpointing=True)
    assert accuracy >= 0.9
    assert _dtypes(trained.network)["encoder"] == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in trained.network.parameters() if p.requires_grad)
    probabilities = run_node("PtPredictClassificationModel", model=trained, texts="\n".join(TEXTS), threshold=0.5,
                             precision="auto", device="cuda")[1]
    assert len(probabilities.splitlines()) == len(TEXTS)
