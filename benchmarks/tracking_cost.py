"""What experiment tracking costs a training step: off, TensorBoard and Trackio side by side on the
real MiniLM-L6 and IMDB reviews (issue 21: tensorboard is the trainer's default only if it costs
under 1% of step time).

    python benchmarks/tracking_cost.py                     # 3 rounds x 3 variants, 20 steps of batch 16 x 128 tokens
    python benchmarks/tracking_cost.py --rounds 5 --steps 40 --max-length 256

Each round trains the same 1-epoch run once per variant (off, tensorboard, trackio; the order
rotates every round), through the real `train_classifier`. Two measurements:
- step time: the time between the trainer's progress calls for the training batches (the
  first step is a warm-up and is left out), median over the run's steps;
- the tracker's own time: every call the loop makes into the tracker (opening the writer,
  the per-log-step scalars, the per-epoch metrics and confusion counts, the confusion image
  and closing at the end), timed where it happens. Its share = that time / (the run's training
  steps x the off variant's median step time of the same round), so opening and the final image
  count against the steps of this short run (a longer run divides them over more steps).
Logs go to a temporary output folder. The machine is shared: compare only within a round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import balanced_sample, imdb_reviews, load_pack, minilm_folder, write_csv  # noqa: E402

VARIANTS = ("off", "tensorboard", "trackio")


def _timed(owner, name: str, spent: dict[str, list[float]]) -> None:
    """Wrap owner.name so the time of each call is appended to spent[name]."""
    original = getattr(owner, name)
    spent[name] = []

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[name].append(time.perf_counter() - started)

    setattr(owner, name, timed)


def one_run(parts: dict, variant: str, root: Path, steps: int) -> dict:
    from hf_text_finetune.modules.data.batching import TextDataLoader
    from hf_text_finetune.modules.host import RuntimeHooks
    from hf_text_finetune.modules.training import loop, preparation, tracking
    from hf_text_finetune.modules.training.losses import LossSpec
    from hf_text_finetune.modules.training.optimizers import OptimizerSpec
    from hf_text_finetune.modules.training.settings import TrainSettings

    stamps: list[float] = []

    class Clock(RuntimeHooks):
        def progress(self, done, total, preview=None):
            stamps.append(time.perf_counter())

    spent: dict[str, list[float]] = {}
    saved = {name: getattr(tracking.Tracker, name) for name in ("train_window", "keep_validation", "epoch", "finish")}
    start = preparation.start_tracking
    for name in saved:
        _timed(tracking.Tracker, name, spent)
    _timed(preparation, "start_tracking", spent)
    try:
        settings = TrainSettings(epochs=1, seed=0, device="cpu", precision="auto", tracking=variant,
                                 tracking_root=str(root), live_plot_interval_s=0)
        started = time.perf_counter()
        loop.train_classifier(parts["model"], TextDataLoader(parts["train"], 16, shuffle=True, seed=0),
                              OptimizerSpec("AdamW", 5e-5), LossSpec("cross_entropy"), settings,
                              TextDataLoader(parts["val"], 32, shuffle=False), hooks=Clock())
        total = time.perf_counter() - started
    finally:
        for name, method in saved.items():
            setattr(tracking.Tracker, name, method)
        preparation.start_tracking = start
    step_times = [b - a for a, b in zip(stamps[:steps], stamps[1:steps])]  # training steps after the first
    return {"median_step": statistics.median(step_times), "tracker_s": sum(map(sum, spent.values())),
            "total_s": total, "calls": {k: (len(v), sum(v)) for k, v in spent.items()}}


def build_parts(max_length: int, steps: int, folder: Path) -> dict:
    from hf_text_finetune.modules.data.encoding import build_token_encoder
    from hf_text_finetune.modules.data.tokenized import encode_text_dataset
    from hf_text_finetune.modules.model.build import build_classification_model

    reviews = imdb_reviews()
    train_rows = balanced_sample(reviews, steps * 16, seed=0)
    val_rows = balanced_sample(reviews, min(64, steps * 16), seed=1, exclude=train_rows)
    train = write_csv(folder / "train.csv", [reviews[i] for i in train_rows])
    val = write_csv(folder / "val.csv", [reviews[i] for i in val_rows])
    model_name = str(minilm_folder())
    encoder = build_token_encoder(model_name, max_length)
    return {"train": encode_text_dataset(str(train), "train", "text", "label", encoder),
            "val": encode_text_dataset(str(val), "train", "text", "label", encoder),
            "model": build_classification_model(model_name, 2, pooling="mean", seed=0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    load_pack()
    with tempfile.TemporaryDirectory(prefix="tracking_cost_") as tmp:
        warm = build_parts(args.max_length, 2, Path(tmp) / "warm")
        one_run(warm, "tensorboard", Path(tmp) / "warm", 2)  # imports (tensorboard, matplotlib), first-run caches
        one_run(warm, "trackio", Path(tmp) / "warm", 2)
        parts = build_parts(args.max_length, args.steps, Path(tmp))
        rows = []
        for round_ in range(args.rounds):
            order = VARIANTS[round_ % 3:] + VARIANTS[:round_ % 3]
            results = {v: one_run(parts, v, Path(tmp) / f"r{round_}", args.steps) for v in order}
            base = results["off"]["median_step"]
            for variant in VARIANTS:
                r = results[variant]
                share = r["tracker_s"] / (args.steps * base)
                rows.append((variant, r["median_step"] / base, share, r["median_step"], r["tracker_s"]))
                print(f"round {round_ + 1} {variant:12s} median step {r['median_step'] * 1000:7.1f} ms "
                      f"(x{r['median_step'] / base:.3f} of off), tracker {r['tracker_s'] * 1000:7.1f} ms in all = "
                      f"{share:.3%} of {args.steps} steps, run {r['total_s']:.1f} s", flush=True)
                print("    tracker calls: " + ", ".join(f"{k} {n} x {t / max(n, 1) * 1000:.2f} ms"
                                                        for k, (n, t) in r["calls"].items()), flush=True)
    print("\nsummary (median [min-max] over rounds):")
    for variant in VARIANTS:
        ratios = [r[1] for r in rows if r[0] == variant]
        shares = [r[2] for r in rows if r[0] == variant]
        steps = [r[3] * 1000 for r in rows if r[0] == variant]
        print(f"  {variant:12s} step {statistics.median(steps):.1f} ms [{min(steps):.1f}-{max(steps):.1f}], "
              f"step ratio to off {statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}], "
              f"tracker share of step time {statistics.median(shares):.3%} [{min(shares):.3%}-{max(shares):.3%}]")


if __name__ == "__main__":
    main()
