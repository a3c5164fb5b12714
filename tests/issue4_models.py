"""Shared steps of the issue-4 model I/O tests: quick tiny-model training runs, models ready
to predict without training, and headless runs of the example workflows."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.data.batching import TextDataLoader
from hf_text_finetune.modules.training.losses import LossSpec
from hf_text_finetune.modules.pretrained import load_tokenizer
from hf_text_finetune.modules.training.optimizers import OptimizerSpec
from hf_text_finetune.modules.training.schedulers import SchedulerSpec
from hf_text_finetune.modules.data.tokenized import encode_text_dataset
from hf_text_finetune.modules.data.encoding import build_token_encoder
from hf_text_finetune.modules.training.loop import train_classifier
from hf_text_finetune.modules.training.settings import TrainResult, TrainSettings

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["a wonderful film and great acting", "boring plot and wooden acting", "the movie was okay",
         "I loved every minute"]


def loader(model_folder: Path, data: Path, batch_size: int = 16, label_field: str = "label") -> TextDataLoader:
    encoder = build_token_encoder(str(model_folder), 64)
    return TextDataLoader(encode_text_dataset(str(data), "train", "text", label_field, encoder), batch_size, seed=0)


def train_tiny(model_folder: Path, data: Path, *, model=None, head: str = "linear", num_outputs: int = 1,
               loss: str = "bce_with_logits", epochs: int = 1, lr: float = 1e-3, freeze: int = 0,
               optimizer: str = "AdamW", scheduler: Optional[str] = None, label_field: str = "label",
               val_data: Optional[Path] = None) -> TrainResult:
    """Fine-tune (a copy of) `model`, or a new one from `model_folder`, on the csv `data` on the CPU."""
    if model is None:
        model = build_classification_model(str(model_folder), num_outputs, head_type=head, seed=0)
    settings = TrainSettings(epochs=epochs, freeze_pretrained_module_epochs=freeze, device="cpu",
                             precision="fp32", seed=0)
    val = loader(model_folder, val_data, label_field=label_field) if val_data else None
    return train_classifier(model, loader(model_folder, data, label_field=label_field), OptimizerSpec(optimizer, lr),
                            LossSpec(loss), settings, val, SchedulerSpec(scheduler) if scheduler else None)


def ready_model(model_folder: Path, num_outputs: int = 1, head: str = "linear", label_names=None,
                problem_type: Optional[str] = None, seed: int = 0):
    """An untrained classifier with its tokenizer attached, as training would leave it."""
    model = build_classification_model(str(model_folder), num_outputs, head_type=head, seed=seed)
    model.tokenizer = load_tokenizer(str(model_folder))
    model.max_length = 64
    model.label_names = label_names
    model.problem_type = problem_type
    return model.eval()


def tiny_overrides(model_folder: Path, train_csv: Path, val_csv: Path) -> list[str]:
    """Point an IMDB example workflow at a tiny local model and csv files."""
    return [f"Model name.value={model_folder}", f"Train dataset.name={train_csv}",
            f"Validation dataset.name={val_csv}", "Validation dataset.split=train",
            "Train loader.batch_size=16", "Validation loader.batch_size=16"]


def run_example(filename: str, overrides: list[str]):
    from hf_text_finetune.runner.cli import run_file

    return run_file(str(ROOT / "examples" / "workflows" / filename), overrides)


def node_output(prompt: dict, result, title: str) -> tuple:
    """Outputs of the node with this title in a headless run."""
    ids = [nid for nid, node in prompt.items() if node.get("_meta", {}).get("title") == title]
    assert len(ids) == 1, f"no single node titled {title}"
    return result.outputs[ids[0]]
