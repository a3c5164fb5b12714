"""GPU memory: gradient checkpointing gives the same gradients; an out-of-memory error stops with
the fixes named, frees the memory, checkpoints the last clean point and leaves the next run
working; the host is asked to free only an estimate of what the run needs."""

from __future__ import annotations

import pytest
import torch
from helpers.checkpoints import train, use_output

from hf_text_finetune.modules.host import RuntimeHooks
from hf_text_finetune.modules.training import checkpoints as checkpoint_files
from hf_text_finetune.modules.training.gpu_memory import (DeviceOutOfMemoryError, set_gradient_checkpointing,
                                                          training_bytes)
from hf_text_finetune.modules.training.run import trainable_copy


@pytest.mark.parametrize("arch", ["bert", "distilbert"])
def test_gradient_checkpointing_gives_the_same_gradients(pipelines, arch):
    pipeline = pipelines[arch]
    batch = next(pipeline.train_loader.batches(0))
    labels = batch.pop("labels").float()
    grads = []
    for on in (False, True):
        with torch.inference_mode(False):
            network = trainable_copy(pipeline.model.network, torch.device("cpu"))
            set_gradient_checkpointing(network, on)
            network.train()
            torch.manual_seed(0)  # the same dropout masks: checkpointing replays the generator state
            logits = network(**batch).squeeze(-1)
            torch.nn.functional.binary_cross_entropy_with_logits(logits, labels).backward()
            grads.append({n: p.grad.clone() for n, p in network.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-5, atol=1e-6)


def test_the_trainer_option_trains_with_gradient_checkpointing(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path)
    plain = train(pipelines["bert"], epochs=1, checkpoint_every_epoch=False)[0]
    checkpointed = train(pipelines["bert"], epochs=1, checkpoint_every_epoch=False, gradient_checkpointing=True)[0]
    for key, value in plain.network.state_dict().items():
        torch.testing.assert_close(checkpointed.network.state_dict()[key], value, rtol=1e-4, atol=1e-5)
    assert not checkpointed.network.encoder.is_gradient_checkpointing


def test_out_of_memory_names_the_fixes_writes_a_checkpoint_and_the_next_run_works(pipelines, tmp_path,
                                                                                  monkeypatch):
    pipeline = pipelines["bert"]
    use_output(monkeypatch, tmp_path)
    encoder_class = type(pipeline.model.network.encoder)
    real_forward, calls = encoder_class.forward, []

    def forward(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 12:  # epoch 2's 3rd batch (6 training + 3 validation batches an epoch)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(encoder_class, "forward", forward)
    with pytest.raises(DeviceOutOfMemoryError) as raised:
        train(pipeline, epochs=2)
    message = str(raised.value)
    for fix in ("batch_size", "max_length", "gradient_checkpointing", "gradient_accumulation_steps",
                "fast_attention", "set resume latest", "LoRA: a Ptn LoRA Adapter"):
        assert fix in message, message
    assert "CUDA out of memory" not in message, "no raw CUDA text"
    run = next((tmp_path / checkpoint_files.CHECKPOINTS_DIR).iterdir())
    names = [p.name for p in checkpoint_files.checkpoints_in(run)]
    assert names == ["epoch-0001-batch-000000", "epoch-0001-batch-000002"], "the last clean batch"
    monkeypatch.setattr(encoder_class, "forward", real_forward)
    use_output(monkeypatch, tmp_path)
    resumed = train(pipeline, epochs=2, resume="latest")[0]
    reference = train(pipeline, epochs=2)[0]
    for key, value in reference.network.state_dict().items():
        torch.testing.assert_close(resumed.network.state_dict()[key], value, rtol=1e-6, atol=1e-6)


def test_the_host_is_asked_for_an_estimate_of_what_the_run_needs(pipelines, tmp_path, monkeypatch):
    asked = []

    class Hooks(RuntimeHooks):
        def prepare_for_training(self, device, bytes_needed=0):
            asked.append((device, bytes_needed))

    use_output(monkeypatch, tmp_path, Hooks())
    train(pipelines["bert"], epochs=1)
    network = pipelines["bert"].model.network
    params = sum(p.numel() for p in network.parameters())
    assert asked and asked[0][1] > params * 16, "weights, gradients and two AdamW moments at least"
    assert training_bytes(network, "AdamW", 8, 64, True) < training_bytes(network, "AdamW", 8, 64, False)


def test_comfyui_frees_only_the_bytes_needed(monkeypatch):
    from hf_text_finetune.nodes import comfy_services

    calls = []

    class FakeManagement:
        def free_memory(self, memory_required, device, keep_loaded=()):
            calls.append(("free_memory", memory_required, device))

        def unload_all_models(self):
            calls.append(("unload_all_models",))

        def soft_empty_cache(self):
            calls.append(("soft_empty_cache",))

    hooks = comfy_services.ComfyHooks.__new__(comfy_services.ComfyHooks)
    hooks._mm = FakeManagement()
    hooks.prepare_for_training(torch.device("cuda"), 3_000_000_000)
    assert calls == [("free_memory", 3_000_000_000, torch.device("cuda")), ("soft_empty_cache",)]
    calls.clear()
    hooks.prepare_for_training(torch.device("cpu"), 3_000_000_000)
    assert calls == []


def test_out_of_memory_names_lora_only_for_a_model_without_adapters():
    from hf_text_finetune.modules.training.gpu_memory import out_of_memory_message

    args = (torch.device("cuda"), 8, 256, "epoch 1, batch 1", False, "")
    assert "LoRA: a Ptn LoRA Adapter between the model node and the trainer" in out_of_memory_message(*args)
    with_adapters = out_of_memory_message(*args, has_lora=True)
    assert "LoRA:" not in with_adapters and "gradient_checkpointing on the trainer" in with_adapters
