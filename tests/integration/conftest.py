"""What the real-ComfyUI tests share, one per test module: the server (each its own workdir) and the tiny
local model and data files the workflows are pointed at."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comfy_client import ComfyServer, set_up_harness  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    set_up_harness()
    comfy = ComfyServer(tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2] + "_server")).start()
    yield comfy
    comfy.stop()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    from helpers.data import write_glue_pairs_folder, write_reviews_csv, write_topics_csv
    from helpers.models import build_tiny_model

    root = tmp_path_factory.mktemp("comfy_tiny")
    return {"model": build_tiny_model("distilbert", root / "distilbert"),
            "train": write_reviews_csv(root / "train.csv", rows=48, seed=0),
            "val": write_reviews_csv(root / "val.csv", rows=24, seed=1),
            "mid_train": write_reviews_csv(root / "mid_train.csv", rows=400, seed=3),
            "long_train": write_reviews_csv(root / "long_train.csv", rows=2000, seed=2),
            # three text-labelled topics (pos/neg/meh) for the multi-class workflow
            "topics_train": write_topics_csv(root / "topics_train.csv", rows=45, seed=0),
            "topics_test": write_topics_csv(root / "topics_test.csv", rows=15, seed=1),
            # local folders shaped like nyu-mll/glue's mrpc and stsb subsets (train and validation splits)
            **{task: write_glue_pairs_folder(root / task, task) for task in ("mrpc", "stsb")}}
