"""Shared fixtures: the pack imported as `hf_text_finetune`, tiny models of the four
architectures (built once per session), and small review datasets. The builders behind
them live in tests/helpers/ (importable as `helpers`, since tests/ is put on sys.path)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Trainer nodes write checkpoints under the output folder: keep them out of the source tree.
os.environ.setdefault("HF_TEXT_FINETUNE_OUTPUT_DIR", tempfile.mkdtemp(prefix="hf_text_finetune_test_output_"))

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import run_workflow  # noqa: E402

run_workflow.load_pack()

import torch  # noqa: E402

# The tiny models do microsecond-sized matmuls: with several threads on 2 shared cores, thread
# hand-offs cost 10-50x the work itself. Tests that need more threads set them themselves.
torch.set_num_threads(int(os.environ.get("HF_TEXT_FINETUNE_TEST_THREADS", "1")))

from helpers.data import write_reviews_csv  # noqa: E402
from helpers.models import ARCHITECTURES, build_tiny_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """{arch: folder} for bert, roberta, distilbert and albert."""
    root = tmp_path_factory.mktemp("tiny_models")
    return {arch: build_tiny_model(arch, root / arch) for arch in ARCHITECTURES}


@pytest.fixture(scope="session")
def tiny_bert(tiny_models) -> Path:
    return tiny_models["bert"]


@pytest.fixture(scope="session")
def reviews_csv(tmp_path_factory) -> Path:
    """48 learnable binary reviews (text,label) with IMDB-style <br /> tags."""
    return write_reviews_csv(tmp_path_factory.mktemp("data") / "reviews.csv", rows=48, seed=0)


@pytest.fixture(scope="session")
def val_csv(tmp_path_factory) -> Path:
    return write_reviews_csv(tmp_path_factory.mktemp("data") / "val.csv", rows=24, seed=1)


@pytest.fixture(scope="session")
def three_class_csv(tmp_path_factory) -> Path:
    """48 reviews with labels 0, 1 and 2 (for cross-entropy and for 'labels outside BCE')."""
    return write_reviews_csv(tmp_path_factory.mktemp("data") / "three.csv", rows=48, seed=2, labels=(0, 1, 2))


@pytest.fixture(scope="session")
def encoded_reviews(tiny_bert, reviews_csv, val_csv):
    """(train, validation) EncodedTextDatasets of the reviews, tokenized for the tiny BERT."""
    from hf_text_finetune.modules.data.encoding import build_token_encoder
    from hf_text_finetune.modules.data.tokenized import encode_text_dataset

    encoder = build_token_encoder(str(tiny_bert))
    return (encode_text_dataset(str(reviews_csv), "train", "text", "label", encoder),
            encode_text_dataset(str(val_csv), "train", "text", "label", encoder))


@pytest.fixture(scope="session")
def trained_bert(tiny_bert, encoded_reviews):
    """The TrainResult of 2 epochs of the tiny BERT on the reviews (CPU, fp32). Tests must not change it."""
    from hf_text_finetune.modules.data.batching import TextDataLoader
    from hf_text_finetune.modules.model.build import build_classification_model
    from hf_text_finetune.modules.training.loop import train_classifier
    from hf_text_finetune.modules.training.losses import LossSpec
    from hf_text_finetune.modules.training.optimizers import OptimizerSpec
    from hf_text_finetune.modules.training.settings import TrainSettings

    train, val = encoded_reviews
    model = build_classification_model(str(tiny_bert), 1)
    return train_classifier(model, TextDataLoader(train, 8), OptimizerSpec("AdamW", 1e-3), LossSpec("bce_with_logits"),
                            TrainSettings(epochs=2, precision="fp32", device="cpu"),
                            TextDataLoader(val, 16, shuffle=False))


@pytest.fixture(scope="session")
def pipelines(tiny_models, reviews_csv, val_csv):
    """{arch: Pipeline}: encode, datasets, loaders and an untrained model, built once per session.
    Tests must not change these objects (the trainers never do)."""
    from helpers.nodes import Pipeline

    class BuiltOnFirstUse(dict):
        def __missing__(self, arch):
            self[arch] = Pipeline(tiny_models[arch], reviews_csv, val_csv)
            return self[arch]

    return BuiltOnFirstUse()


@pytest.fixture
def optimizer_steps():
    """Records (optimizer, learning rate of each group) at every optimizer step of any torch optimizer."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    steps: list = []

    def record(optimizer, args, kwargs):
        steps.append((optimizer, [group["lr"] for group in optimizer.param_groups]))

    handle = register_optimizer_step_pre_hook(record)
    yield steps
    handle.remove()


@pytest.fixture(scope="session")
def encoder(tiny_bert):
    """The tiny BERT's encode function at its full length."""
    from hf_text_finetune.modules.data.encoding import build_token_encoder

    return build_token_encoder(str(tiny_bert))


@pytest.fixture(scope="session")
def topics(tmp_path_factory, encoder):
    """30 rows of three text-labelled topics (pos/neg/meh), tokenized."""
    from hf_text_finetune.modules.data.tokenized import encode_text_dataset
    from helpers.data import write_topics_csv

    path = write_topics_csv(tmp_path_factory.mktemp("topics") / "topics.csv", rows=30)
    return encode_text_dataset(str(path), "train", "text", "label", encoder)


@pytest.fixture(scope="session")
def imbalanced(tmp_path_factory, encoder):
    """48 binary rows, 12 positive and 36 negative, tokenized."""
    from hf_text_finetune.modules.data.tokenized import encode_text_dataset
    from helpers.data import write_imbalanced_csv

    path = write_imbalanced_csv(tmp_path_factory.mktemp("imbalanced") / "skewed.csv", positives=12, negatives=36)
    return encode_text_dataset(str(path), "train", "text", "label", encoder)
