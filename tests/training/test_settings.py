"""Trainer settings checked before anything runs: frozen epochs below epochs, a device the
machine has, and a precision the device computes (auto: bf16 exactly where the CPU has it)."""

from __future__ import annotations

import pytest
import torch
from helpers.checks import raises_with, refused
from helpers.nodes import validate_node

from hf_text_finetune.modules.precision import choose_precision, cpu_has_native_bf16


@pytest.mark.parametrize("freeze, epochs", [(4, 4), (5, 4), (1, 1)])
def test_freeze_epochs_not_below_epochs_are_refused(freeze, epochs, pipelines):
    trainer = "PtTrainFineTuneClassificationTransformerModel"
    refused(validate_node(trainer, epochs=epochs, freeze_pretrained_module_epochs=freeze),
            f"freeze_pretrained_module_epochs {freeze}", f"less than epochs {epochs}")
    raises_with(lambda: pipelines["distilbert"].train(trainer, epochs=epochs, freeze_pretrained_module_epochs=freeze),
                f"freeze_pretrained_module_epochs {freeze}", f"epochs {epochs}")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_chosen_on_a_machine_without_a_gpu_is_refused(pipelines):
    raises_with(lambda: pipelines["distilbert"].train(epochs=1, device="cuda"), "device 'cuda'", "no CUDA GPU",
                "use auto or cpu")


def test_fp16_on_the_cpu_is_refused(pipelines):
    raises_with(lambda: pipelines["distilbert"].train(epochs=1, device="cpu", precision="fp16"), "'fp16'",
                "needs a GPU", "bf16 or fp32")


def test_auto_precision_is_bf16_exactly_where_the_cpu_computes_it_natively():
    chosen = choose_precision("auto", torch.device("cpu")).name
    assert chosen == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert choose_precision("fp32", torch.device("cpu")).dtype is None
