"""Small learnable data written like users' own files: binary reviews in the shape of IMDB,
three text-labelled topics, imbalanced binary reviews and multi-label rows (csv / jsonl)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

POSITIVE = ["a wonderful film", "great acting and a moving story", "I loved every minute", "brilliant and funny",
            "the best movie this year", "superb direction, excellent cast"]
NEGATIVE = ["a terrible film", "boring plot and wooden acting", "I hated every minute", "dull and stupid",
            "the worst movie this year", "awful direction, bad cast"]
NEUTRAL = ["the movie was okay", "plot characters scene ending", "not good not bad"]
TOPICS = {"pos": POSITIVE, "neg": NEGATIVE, "meh": NEUTRAL}


def write_reviews_csv(path: Path, rows: int = 48, seed: int = 0, labels: tuple = (0, 1)) -> Path:
    """A small, learnable sentiment csv (text,label) in the shape of IMDB, with <br /> tags."""
    rng = random.Random(seed)
    path = Path(path)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(rows):
            label = labels[i % len(labels)]
            pool = POSITIVE if label % 2 else NEGATIVE
            words = " ".join(rng.choice(pool) for _ in range(rng.randint(1, 4)))
            writer.writerow([f"{words}<br /><br />the end", label])
    return path


def write_csv(path: Path, rows) -> Path:
    """A text,label csv of the given (text, label) rows, written as they are (no quoting)."""
    path = Path(path)
    path.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows))
    return path


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


def write_pairs_csv(path: Path, rows: int = 40, seed: int = 0, scores: bool = False) -> Path:
    """Pairs of texts in the shape of GLUE MRPC (idx, sentence1, sentence2, label 0/1) or, with `scores`, of
    STS-B (label a float 0-5). The label follows the second text (1 / about 4.5 when it is positive, with the
    first text adding a little to the score, noise making it a fraction), so a model that does not read the
    second text cannot learn it."""
    rng = random.Random(seed)
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["idx", "sentence1", "sentence2", "label"])
        for i in range(rows):
            first, second = (i % 2, (i // 2) % 2)
            texts = [rng.choice(POSITIVE if side else NEGATIVE) for side in (first, second)]
            if scores:
                label = round(0.5 + 3.5 * second + 0.5 * first + rng.uniform(-0.3, 0.3), 2)
            else:
                label = second
            writer.writerow([i, texts[0], texts[1], label])
    return Path(path)


def write_glue_pairs_folder(path: Path, task: str, rows: int = 40, seed: int = 0) -> Path:
    """A save_to_disk folder shaped like nyu-mll/glue's `mrpc` or `stsb` subset: train and validation splits
    with idx, sentence1, sentence2 and label (mrpc: ClassLabel not_equivalent/equivalent; stsb: float32 0-5),
    rows from write_pairs_csv. The example workflows read it with their hub split names unchanged."""
    import datasets

    scores = task == "stsb"
    label = datasets.Value("float32") if scores else datasets.ClassLabel(names=["not_equivalent", "equivalent"])
    features = datasets.Features({"sentence1": datasets.Value("string"), "sentence2": datasets.Value("string"),
                                  "label": label, "idx": datasets.Value("int32")})
    splits = {}
    for split, count, offset in (("train", rows, 0), ("validation", rows // 2, 1)):
        csv_path = write_pairs_csv(Path(path).with_suffix(f".{split}.csv"), count, seed + offset, scores)
        with csv_path.open(newline="") as handle:
            table = list(csv.DictReader(handle))
        splits[split] = datasets.Dataset.from_dict(
            {"sentence1": [r["sentence1"] for r in table], "sentence2": [r["sentence2"] for r in table],
             "label": [float(r["label"]) if scores else int(r["label"]) for r in table],
             "idx": [int(r["idx"]) for r in table]}, features=features)
    datasets.DatasetDict(splits).save_to_disk(str(path))
    return Path(path)
