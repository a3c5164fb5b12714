"""Small learnable data for the issue-4 tests: three text-labelled topics, imbalanced
binary reviews and multi-label rows, written to csv/jsonl like users' own files."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from tiny_models import NEGATIVE, POSITIVE

NEUTRAL = ["the movie was okay", "plot characters scene ending", "not good not bad"]
TOPICS = {"pos": POSITIVE, "neg": NEGATIVE, "meh": NEUTRAL}


def write_topics_csv(path: Path, rows: int = 45, seed: int = 0, labels: tuple = ("pos", "neg", "meh")) -> Path:
    """`rows` texts cycling through `labels` in a text,label csv (names outside TOPICS get neutral text)."""
    rng = random.Random(seed)
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(rows):
            label = labels[i % len(labels)]
            writer.writerow([" ".join(rng.choice(TOPICS.get(label, NEUTRAL)) for _ in range(2)), label])
    return Path(path)


def write_imbalanced_csv(path: Path, positives: int, negatives: int, seed: int = 0) -> Path:
    """Binary 0/1 reviews with the given counts (positives first, then negatives, shuffled)."""
    rng = random.Random(seed)
    rows = [(rng.choice(POSITIVE), 1) for _ in range(positives)] + [(rng.choice(NEGATIVE), 0) for _ in range(negatives)]
    rng.shuffle(rows)
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return Path(path)


def write_multilabel_jsonl(path: Path, rows: int = 40, seed: int = 0) -> Path:
    """Rows whose `labels` list names every topic their text mixes (0 to 2 of pos/neg/meh)."""
    rng = random.Random(seed)
    names = list(TOPICS)
    with Path(path).open("w") as handle:
        for i in range(rows):
            chosen = sorted(rng.sample(names, k=1 + i % 2)) if i % 7 else []
            parts = [rng.choice(TOPICS[name]) for name in chosen] or ["and then"]
            handle.write(json.dumps({"text": " ".join(parts), "labels": chosen}) + "\n")
    return Path(path)
