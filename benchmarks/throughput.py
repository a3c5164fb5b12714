"""Training throughput, side by side: this pack's nodes vs the Hugging Face Trainer vs a
reference-style loop, on the real MiniLM-L6 and IMDB reviews.

    python benchmarks/throughput.py            # full: batch 16 and 32 x max_length 256 and 512, 5 rounds
    python benchmarks/throughput.py --quick    # batch 16 x 256 and 512, 3 rounds, a few minutes

Variants (see training_paths.py):
  a         the pack's nodes with the example workflow's settings, i.e. the nodes' defaults
            (precision auto, fast_attention auto = on on a CPU)
  a_off     the same with fast_attention off (attention dropout 0.1, the math attention kernel)
  a_fp32    fast_attention on, precision fp32 (to compare with the fp32 GEMM ceiling)
  a_freeze  the defaults plus the optimizer's freeze_embeddings and freeze_layers 2 (less backward work)
  b       the Hugging Face Trainer, best CPU settings (length grouping, dynamic padding, fused AdamW, bf16)
  c       reference-style loop: every review tokenized per access and padded to max_length, fp32

Method. Each variant lives in its own worker process (so its peak memory is its own),
loaded once. The IMDB reviews are tokenized once to know their lengths; a length-grouped
epoch is formed from them, and each round takes one batch of that epoch. In a
round every variant trains one fresh copy of the pretrained model on exactly that batch
(variants in rotating order); the stopwatch runs from the request for the batch to the end
of the optimizer step. Around every round the parent measures the GEMM ceiling (fp32 and
bf16 matmuls at the model's shapes, same thread count; the better of the measurements
before and after the round, so a burst of other work does not lower it). Ratios are taken within a round,
then medians and min-max over rounds; "all rounds' batches together" divides the summed
times (the ratio for an epoch made of those batches). The batches are stratified by size
(round r takes the batch at the (r + 0.5) / rounds quantile of tokens per batch), so a few
rounds still cover short and long reviews. Results go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (RESULTS, EncoderShape, Spread, gemm_ceiling, imdb_reviews, load_pack,  # noqa: E402
                    machine_summary, minilm_folder, peak_rss_bytes, reset_peak_rss, save_results, write_csv)

VARIANTS = ("a", "a_off", "a_fp32", "a_freeze", "b", "c")
RATIOS = (("a", "b"), ("a", "c"), ("a_off", "b"), ("a", "a_off"), ("a_freeze", "a"), ("a_fp32", "c"))
FREEZE = {"freeze_embeddings": True, "freeze_layers": 2}


# --- worker process ---------------------------------------------------------------------------------

def build_path(variant: str, model_dir: Path, bf16: bool):
    from training_paths import HfTrainerPath, NodePath, ReferencePath, hf_sequence_classifier

    if variant == "a":
        return NodePath(model_dir, fast_attention=None, precision="auto")
    if variant == "a_off":
        return NodePath(model_dir, fast_attention="off", precision="auto")
    if variant == "a_fp32":
        return NodePath(model_dir, fast_attention="on", precision="fp32")
    if variant == "a_freeze":
        return NodePath(model_dir, fast_attention=None, precision="auto", optimizer_settings=FREEZE)
    if variant == "b":
        from transformers import AutoTokenizer

        return HfTrainerPath(hf_sequence_classifier(model_dir), AutoTokenizer.from_pretrained(str(model_dir)), bf16,
                             work_dir=Path(tempfile.mkdtemp(prefix="hf_trainer_")))
    if variant == "c":
        return ReferencePath(model_dir)
    raise SystemExit(f"unknown variant {variant}; use {VARIANTS}")


def worker(variant: str, threads: int, bf16: bool) -> None:
    """Answer JSON commands on stdin; anything a library prints goes to stderr."""
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    import ctypes

    import torch

    torch.set_num_threads(threads)
    trim = getattr(ctypes.CDLL("libc.so.6"), "malloc_trim", None) if sys.platform.startswith("linux") else None
    path = build_path(variant, minilm_folder(), bf16)
    protocol.write(json.dumps({"ready": True}) + "\n")
    protocol.flush()
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "quit":
            break
        if command["cmd"] == "reset_rss":
            answer = {"reset": reset_peak_rss()}
        elif command["cmd"] == "rss":
            answer = {"peak_rss": peak_rss_bytes()}
        else:
            seconds = path.run(Path(command["csv"]), command["batch_size"], command["max_length"], command["seed"])
            answer = {"seconds": seconds}
        if trim is not None:
            trim(0)  # hand freed memory back, so the next measurement starts from the model alone
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()


class Worker:
    def __init__(self, variant: str, threads: int, bf16: bool, log_dir: Path) -> None:
        self.variant = variant
        self.log_path = log_dir / f"worker-{variant}.log"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", variant, "--threads", str(threads)] + (["--bf16"] if bf16 else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log_path.open("w"), text=True)

    def ask(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.answer()

    def answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            tail = self.log_path.read_text()[-3000:]
            raise SystemExit(f"worker {self.variant} stopped; the end of {self.log_path}:\n{tail}")
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.process.stdin.flush()
            self.process.wait(timeout=60)


# --- parent -----------------------------------------------------------------------------------------

@dataclass
class Config:
    batch_size: int
    max_length: int
    rounds: list = field(default_factory=list)  # per round: {variant: seconds, "ceiling_fp32", ...}
    batches: list = field(default_factory=list)  # per round: token lengths of the batch
    peak_rss: dict = field(default_factory=dict)
    padding: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"batch {self.batch_size}, max_length {self.max_length}"


def epoch_padding(lengths: np.ndarray, batch_size: int, seed: int) -> dict:
    """Real / computed tokens over one epoch of the whole pool, for each way of batching."""
    import torch
    from hf_text_finetune.modules.data.batching import length_grouped_batches
    from transformers.trainer_pt_utils import get_length_grouped_indices

    def efficiency(batches) -> float:
        return float(lengths.sum() / sum(lengths[b].max() * len(b) for b in batches))

    ours = [np.asarray(b) for b in length_grouped_batches(lengths, batch_size, torch.Generator().manual_seed(seed))]
    hf = get_length_grouped_indices(lengths.tolist(), batch_size, generator=torch.Generator().manual_seed(seed))
    shuffled = np.random.default_rng(seed).permutation(len(lengths))
    return {"pack (a)": efficiency(ours),
            "HF Trainer (b)": efficiency([np.asarray(hf[i:i + batch_size]) for i in range(0, len(hf), batch_size)]),
            "random batches": efficiency([shuffled[i:i + batch_size] for i in range(0, len(shuffled), batch_size)]),
            "static max_length (c)": float(lengths.sum() / (len(lengths) * lengths.max()))}


def precision_of(variant: str, bf16: bool) -> str:
    return "fp32" if variant in ("a_fp32", "c") or not bf16 else "bf16"


def report(configs: list[Config], variants: list[str], shape: EncoderShape, bf16: bool, info: dict) -> tuple[str, dict]:
    lines = [f"Training throughput, MiniLM-L6 ({shape.matmul_params / 1e6:.2f}M matmul weights), IMDB reviews",
             f"machine: {info.get('cpu', '?')}, {info['threads']} threads, torch {info['torch']}, "
             f"transformers {info.get('transformers', '?')}, bf16 native: {info['bf16_native']}",
             shape.describe(),
             "GFLOP/s counts useful work only (real tokens); % ceiling = GFLOP/s / GEMM ceiling of the "
             "variant's precision measured in the same round. Values: median [min-max] over rounds.", ""]
    payload = {"machine": info, "flops": shape.describe(), "configs": []}
    for cfg in configs:
        rounds = len(cfg.rounds)
        real = [int(sum(b)) for b in cfg.batches]
        lines.append(f"== {cfg.name}: {rounds} rounds, one batch of {cfg.batch_size} per round "
                     f"(real tokens per batch: {Spread.of(real).show('{:.0f}')})")
        ceilings = {p: Spread.of([r[f"ceiling_{p}"] for r in cfg.rounds]) for p in ("fp32", "bf16")}
        lines.append(f"GEMM ceiling: fp32 {ceilings['fp32'].show('{:.0f}')} GFLOP/s, "
                     f"bf16 {ceilings['bf16'].show('{:.0f}')} GFLOP/s")
        best = max(r["ceiling_fp32"] for r in cfg.rounds)
        busy = [i + 1 for i, r in enumerate(cfg.rounds) if r.get("ceiling_low_fp32", best) < 0.75 * best]
        if busy:
            lines.append(f"WARNING: other work slowed the host around round(s) {busy} (the fp32 GEMM rate fell below "
                         "75% of its best); their times are unreliable: rerun on an idle host or with --threads 1")
        lines.append("epoch padding efficiency (real/computed tokens, whole pool): "
                     + ", ".join(f"{k} {v:.3f}" for k, v in cfg.padding.items()))
        lines.append(f"{'variant':8} {'prec':5} {'samples/s':>20} {'real tokens/s':>22} {'GFLOP/s':>18} "
                     f"{'% ceiling':>16} {'peak RSS':>9}")
        entry = {"batch_size": cfg.batch_size, "max_length": cfg.max_length, "rounds": cfg.rounds,
                 "batch_lengths": cfg.batches, "padding": cfg.padding, "peak_rss": cfg.peak_rss, "variants": {},
                 "ratios": {}}
        for v in variants:
            seconds = [r[v] for r in cfg.rounds]
            flops = [sum(shape.training_flops(n) for n in b) for b in cfg.batches]
            samples = Spread.of([cfg.batch_size / s for s in seconds])
            tokens = Spread.of([t / s for t, s in zip(real, seconds)])
            gflops = Spread.of([f / s / 1e9 for f, s in zip(flops, seconds)])
            prec = precision_of(v, bf16)
            share = Spread.of([100 * f / s / 1e9 / r[f"ceiling_{prec}"] for f, s, r in zip(flops, seconds, cfg.rounds)])
            rss = cfg.peak_rss.get(v, 0) / 2 ** 30
            lines.append(f"{v:8} {prec:5} {samples.show():>20} {tokens.show('{:.0f}'):>22} {gflops.show('{:.1f}'):>18} "
                         f"{share.show('{:.0f}'):>16} {rss:8.2f}G")
            entry["variants"][v] = {"precision": prec, "samples_per_s": samples.__dict__,
                                    "real_tokens_per_s": tokens.__dict__, "gflops": gflops.__dict__,
                                    "percent_of_ceiling": share.__dict__, "peak_rss_gib": rss}
        for top, bottom in RATIOS:
            if top in variants and bottom in variants:
                ratio = Spread.of([r[bottom] / r[top] for r in cfg.rounds])
                pooled = sum(r[bottom] for r in cfg.rounds) / sum(r[top] for r in cfg.rounds)
                lines.append(f"  {top}/{bottom} (real tokens/s): {ratio.show()}   all rounds' batches together: "
                             f"{pooled:.2f}")
                entry["ratios"][f"{top}/{bottom}"] = {**ratio.__dict__, "pooled": pooled}
        lines.append("")
        payload["configs"].append(entry)
    return "\n".join(lines), payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="batch 16 only, 3 rounds, a 2,000-review pool")
    parser.add_argument("--batch-sizes", type=int, nargs="+")
    parser.add_argument("--max-lengths", type=int, nargs="+")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--pool", type=int, help="IMDB reviews the epoch is formed from (default: all 25,000)")
    parser.add_argument("--threads", type=int, help="torch threads per variant (default: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--bf16", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    if args.worker:
        return worker(args.worker, args.threads or torch.get_num_threads(), args.bf16)
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    batch_sizes = args.batch_sizes or ([16] if args.quick else [16, 32])
    max_lengths = args.max_lengths or [256, 512]
    rounds = args.rounds or (3 if args.quick else 5)
    pool_size = args.pool or (2000 if args.quick else 25_000)
    started = time.perf_counter()

    load_pack()
    from hf_text_finetune.modules.precision import cpu_has_native_bf16
    from hf_text_finetune.modules.data.text_cleaning import strip_html
    from transformers import AutoConfig, AutoTokenizer

    model_dir = minilm_folder()
    shape = EncoderShape.from_config(AutoConfig.from_pretrained(str(model_dir)))
    bf16 = cpu_has_native_bf16()
    info = machine_summary()
    info["threads"] = threads
    RESULTS.mkdir(parents=True, exist_ok=True)
    workers = {v: Worker(v, threads, bf16, RESULTS) for v in args.variants}  # they load while we tokenize

    reviews = imdb_reviews()
    rng = np.random.default_rng(args.seed)
    pool = [reviews[i] for i in rng.permutation(len(reviews))[:pool_size]]
    texts = [strip_html(t) for t, _ in pool]
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    full_lengths = np.asarray([len(ids) for ids in tokenizer(texts, truncation=False)["input_ids"]])
    print(f"{len(pool)} IMDB reviews: median {np.median(full_lengths):.0f} tokens, "
          f"{np.mean(full_lengths > 256):.0%} above 256, {np.mean(full_lengths > 512):.0%} above 512", flush=True)
    for w in workers.values():
        w.answer()  # ready
    print(f"workers ready after {time.perf_counter() - started:.0f} s", flush=True)

    data_dir = Path(tempfile.mkdtemp(prefix="throughput_"))
    configs = sorted((Config(b, m) for b in batch_sizes for m in max_lengths),
                     key=lambda c: (c.max_length, c.batch_size))
    import torch as _torch
    from hf_text_finetune.modules.data.batching import length_grouped_batches

    for cfg in configs:
        lengths = np.minimum(full_lengths, cfg.max_length)
        cfg.padding = epoch_padding(lengths, cfg.batch_size, args.seed)
        epoch = length_grouped_batches(lengths, cfg.batch_size, _torch.Generator().manual_seed(args.seed), True)
        by_tokens = sorted(range(len(epoch)), key=lambda i: int(lengths[epoch[i]].sum()))
        picks = [by_tokens[int((r + 0.5) / rounds * len(epoch))] for r in range(rounds)]  # length-stratified
        rng.shuffle(picks)
        shortest = np.argsort(full_lengths)[:cfg.batch_size]
        warmup = write_csv(data_dir / f"warmup_{cfg.batch_size}_{cfg.max_length}.csv", [pool[i] for i in shortest])
        for w in workers.values():
            w.ask(cmd="reset_rss")
            w.ask(cmd="run", csv=str(warmup), batch_size=cfg.batch_size, max_length=cfg.max_length, seed=args.seed)
        before = {prec: gemm_ceiling(shape, prec, rows=4096) for prec in ("fp32", "bf16")}
        for r, pick in enumerate(picks):
            batch = epoch[pick]
            path = write_csv(data_dir / f"batch_{cfg.batch_size}_{cfg.max_length}_{r}.csv", [pool[i] for i in batch])
            result = {}
            order = args.variants[r % len(args.variants):] + args.variants[:r % len(args.variants)]
            for v in order:
                result[v] = workers[v].ask(cmd="run", csv=str(path), batch_size=cfg.batch_size,
                                           max_length=cfg.max_length, seed=args.seed + r)["seconds"]
            for prec in ("fp32", "bf16"):  # the better of the measurements before and after the round
                after = gemm_ceiling(shape, prec, rows=4096)
                result[f"ceiling_{prec}"], result[f"ceiling_low_{prec}"] = max(before[prec], after), min(before[prec], after)
                before[prec] = after
            cfg.rounds.append(result)
            cfg.batches.append([int(n) for n in lengths[batch]])
            print(f"{cfg.name}, round {r + 1}/{rounds}: "
                  + ", ".join(f"{v} {result[v]:.2f} s" for v in args.variants)
                  + f"; ceiling fp32 {result['ceiling_fp32']:.0f}, bf16 {result['ceiling_bf16']:.0f} GFLOP/s", flush=True)
        cfg.peak_rss = {v: w.ask(cmd="rss")["peak_rss"] for v, w in workers.items()}
    for w in workers.values():
        w.close()

    text, payload = report(configs, list(args.variants), shape, bf16, info)
    payload["settings"] = {"rounds": rounds, "pool": len(pool), "seed": args.seed, "quick": args.quick,
                           "wall_seconds": time.perf_counter() - started}
    text += f"\ntotal wall time {time.perf_counter() - started:.0f} s\n"
    print("\n" + text)
    print(f"saved {save_results('throughput', payload, text)}")


if __name__ == "__main__":
    main()
