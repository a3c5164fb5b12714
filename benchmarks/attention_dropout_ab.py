"""Does attention dropout matter for accuracy? Trains the real MiniLM-L6 on IMDB through the
example workflow's nodes with attention dropout 0.1 (fast_attention off) and 0 (on), several
seeds each, and reports the held-out accuracy's mean and spread per variant and per seed pair.

    nohup python benchmarks/attention_dropout_ab.py > benchmarks/results/attention_dropout_ab.log 2>&1 &
    python benchmarks/attention_dropout_ab.py --report      # summary of the runs finished so far
    python benchmarks/attention_dropout_ab.py --quick       # dry run (400 reviews, 128 tokens, 1 seed)

Every run is workflow 1 (examples/workflows/distilbert_classification.json) through the headless
runner: the same training sample (class-balanced, --train reviews, sample seed 0), the fixed
held-out 1,000 of benchmarks/time_to_accuracy.py, one epoch, mean pooling, lr 1e-4, precision
auto. A seed sets the model node's head initialisation, the train loader's shuffling and the
trainer's dropout; both variants run with the same seeds (paired), in the order
off/on for seed 0, on/off for seed 1, ... so a slow spell of the host hits both.

Each finished run is written to benchmarks/results/attention_dropout_ab/<variant>-seed<N>.json;
a restarted command skips the runs already there (delete the folder, or give --fresh, to rerun).
A run in progress holds a `<variant>-seed<N>.claim` file with its process id, so two copies of the
command started side by side share the runs between them (a claim of a dead process is ignored).
Times are recorded but only the accuracies are the result: on a shared host times mean little.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine_summary, save_results  # noqa: E402
from time_to_accuracy import WORKFLOW_1, overrides, prepare_data, run  # noqa: E402

VARIANTS = {"dropout": False, "fast": True}  # name -> fast_attention


def run_settings(args) -> SimpleNamespace:
    return SimpleNamespace(max_length=args.max_length, batch_size=args.batch_size, eval_batch_size=64,
                           pooling="mean", lr=args.lr, fast_attention=None,
                           # time_to_accuracy's levers, all at the nodes' defaults
                           layer_lr_decay=1.0, freeze_embeddings=False, freeze_layers=0, truncation=None, set=None)


def one_run(args, variant: str, seed: int, train_csv: Path, held_csv: Path) -> dict:
    settings = run_settings(args)
    settings.fast_attention = VARIANTS[variant]
    sets = overrides(settings, train_csv, held_csv, [
        "PtTrainTransformerClassificationModel.epochs=1", f"PtTrainTransformerClassificationModel.seed={seed}",
        f"PtnHfFineTunedClassificationModel.seed={seed}", f"Train loader.seed={seed}"])
    result = run(WORKFLOW_1, sets)
    return {"variant": variant, "seed": seed, "accuracy": result["accuracy"], "training_s": result["training_s"],
            "wall_s": result["wall_s"], "command": result["command"], "finished": time.strftime("%H:%M:%S")}


def claim(path: Path) -> bool:
    """Take the run at `path` for this process unless a live process holds it."""
    import os

    marker = path.with_suffix(".claim")
    if marker.exists():
        try:
            os.kill(int(marker.read_text()), 0)
            return False
        except (ValueError, ProcessLookupError):
            marker.unlink(missing_ok=True)
        except PermissionError:
            return False
    try:
        with marker.open("x") as handle:
            handle.write(str(os.getpid()))
        return True
    except FileExistsError:
        return False


def spread(values: list[float]) -> str:
    if not values:
        return "no runs"
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return (f"mean {100 * statistics.mean(values):.2f}%, sd {100 * sd:.2f} points, "
            f"min-max {100 * min(values):.1f}-{100 * max(values):.1f}% (n={len(values)})")


def summary(runs: list[dict], args) -> str:
    by = {v: {r["seed"]: r for r in runs if r["variant"] == v} for v in VARIANTS}
    lines = [f"Attention dropout A/B: MiniLM-L6, {args.train} IMDB reviews, max_length {args.max_length}, batch "
             f"{args.batch_size}, 1 epoch, lr {args.lr:g}, mean pooling; held-out = the fixed {args.held_out}",
             f"  dropout 0.1 (fast_attention off): {spread([r['accuracy'] for r in by['dropout'].values()])}",
             f"  dropout 0   (fast_attention on):  {spread([r['accuracy'] for r in by['fast'].values()])}"]
    pairs = sorted(set(by["dropout"]) & set(by["fast"]))
    diffs = [by["fast"][s]["accuracy"] - by["dropout"][s]["accuracy"] for s in pairs]
    if diffs:
        sd = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
        lines.append(f"  paired difference on - off, per seed {pairs}: "
                     + ", ".join(f"{100 * d:+.1f}" for d in diffs)
                     + f" points; mean {100 * statistics.mean(diffs):+.2f}, sd {100 * sd:.2f}")
        times = [by["dropout"][s]["training_s"] / by["fast"][s]["training_s"] for s in pairs]
        lines.append(f"  training time off/on per pair: {', '.join(f'{t:.2f}' for t in times)} "
                     "(measured on a shared host: indicative only)")
    for r in sorted(runs, key=lambda r: (r["seed"], r["variant"])):
        lines.append(f"  seed {r['seed']} {r['variant']:7}: {100 * r['accuracy']:.1f}%, training {r['training_s']:.0f} s")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--held-out", type=int, default=1000)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared host)")
    parser.add_argument("--quick", action="store_true", help="dry run: 400 reviews, 100 held-out, 128 tokens, seed 0")
    parser.add_argument("--fresh", action="store_true", help="rerun runs already finished")
    parser.add_argument("--report", action="store_true", help="only summarise the finished runs")
    args = parser.parse_args()
    if args.quick:
        args.train, args.held_out, args.max_length, args.seeds = 400, 100, 128, [0]
    folder = RESULTS / ("attention_dropout_ab" + ("_quick" if args.quick else ""))
    folder.mkdir(parents=True, exist_ok=True)

    def done() -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]

    if not args.report:
        import logging

        import torch

        torch.set_num_threads(args.threads)
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
        train_csv, held_csv = prepare_data(args.train, args.held_out, 0, RESULTS / "data")
        for i, seed in enumerate(args.seeds):
            for variant in (("dropout", "fast") if i % 2 == 0 else ("fast", "dropout")):
                path = folder / f"{variant}-seed{seed}.json"
                if path.exists() and not args.fresh:
                    print(f"skip {variant} seed {seed}: {path} exists", flush=True)
                    continue
                if not claim(path):
                    print(f"skip {variant} seed {seed}: another process runs it", flush=True)
                    continue
                print(f"== {variant} seed {seed} ({time.strftime('%H:%M:%S')})", flush=True)
                path.write_text(json.dumps(one_run(args, variant, seed, train_csv, held_csv), indent=2))
                path.with_suffix(".claim").unlink(missing_ok=True)
                print(summary(done(), args), flush=True)
    text = summary(done(), args)
    info = machine_summary()
    text = f"{text}\nmachine: {info.get('cpu', '?')}, load average {info.get('load_average')}"
    print("\n" + text)
    print(f"saved {save_results('attention_dropout_ab', {'args': vars(args), 'runs': done()}, text)}")


if __name__ == "__main__":
    main()
