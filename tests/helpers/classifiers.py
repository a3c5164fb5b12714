"""Classifiers built and trained directly with modules/ (no nodes): quick tiny-model training
runs on the CPU, classifiers ready to predict without training, and dropout-free ones whose
training is deterministic."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.model.classifier import TextClassifier
from hf_text_finetune.modules.model.linear_head import LinearHeadNetwork
from hf_text_finetune.modules.pretrained import load_config, load_encoder, load_tokenizer
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.training.schedulers import SchedulerSpec
from hf_text_finetune.modules.training.settings import TrainResult, TrainSettings

TEXTS = ["a wonderful film and great acting", "boring plot and wooden acting", "the movie was okay",
         "I loved every minute"]


def loader(model_folder: Path, data: Path, batch_size: int = 16, label_field: str = "label") -> TextDataLoader:
    encoder = build_token_encoder(str(model_folder), 64)
    return TextDataLoader(encode_text_dataset(str(data), "train", "text", label_field, encoder), batch_size, seed=0)


def train_tiny(model_folder: Path, data: Path, *, model: Optional[TextClassifier] = None, head: str = "linear",
               num_outputs: int = 1, loss: str = "bce_with_logits", epochs: int = 1, lr: float = 1e-3,
               freeze: int = 0, optimizer: str = "AdamW", scheduler: Optional[str] = None,
               label_field: str = "label", val_data: Optional[Path] = None) -> TrainResult:
    """Fine-tune (a copy of) `model`, or a new one from `model_folder`, on the csv `data` on the CPU."""
    if model is None:
        model = build_classification_model(str(model_folder), num_outputs, head_type=head, seed=0)
    settings = TrainSettings(epochs=epochs, freeze_pretrained_module_epochs=freeze, device="cpu",
                             precision="fp32", seed=0)
    val = loader(model_folder, val_data, label_field=label_field) if val_data else None
    return train_classifier(model, loader(model_folder, data, label_field=label_field), OptimizerSpec(optimizer, lr),
                            LossSpec(loss), settings, val, SchedulerSpec(scheduler) if scheduler else None)


def ready_model(model_folder: Path, num_outputs: int = 1, head: str = "linear", label_names=None,
                problem_type: Optional[str] = None, seed: int = 0) -> TextClassifier:
    """An untrained classifier with its tokenizer attached, as training would leave it (network in eval mode)."""
    model = build_classification_model(str(model_folder), num_outputs, head_type=head, seed=seed)
    model.network.eval()
    return dataclasses.replace(model, tokenizer=load_tokenizer(str(model_folder)), max_length=64,
                               label_names=label_names, problem_type=problem_type)


def dropout_free_classifier(folder: Path, seed: int = 0) -> TextClassifier:
    """The model node's classifier with every dropout at 0: training is deterministic."""
    import torch

    config = load_config(str(folder))
    for key, value in config.to_dict().items():
        if "dropout" in key and isinstance(value, float):
            setattr(config, key, 0.0)
    torch.manual_seed(seed)
    network = LinearHeadNetwork(load_encoder(str(folder), config), 1, "cls", 0.0, init_seed=seed)
    return TextClassifier(network=network, model_name=str(folder))
