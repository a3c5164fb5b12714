"""Shared fixtures: the pack imported as `hf_text_finetune`, tiny models of the four
architectures (built once per session), and small review datasets."""

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

from tiny_models import ARCHITECTURES, build_tiny_model, write_reviews_csv  # noqa: E402


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
def pipelines(tiny_models, reviews_csv, val_csv):
    """{arch: Pipeline}: encode, datasets, loaders and an untrained model, built once per session.
    Tests must not change these objects (the trainers never do)."""
    from tiny_models import Pipeline

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
