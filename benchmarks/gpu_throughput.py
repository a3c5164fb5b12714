"""Training throughput on a CUDA GPU: this pack's training path vs the Hugging Face Trainer.

    python benchmarks/gpu_throughput.py            # batch 16 and 32 x max_length 256 and 512, 3 rounds
    python benchmarks/gpu_throughput.py --steps 30 --rounds 2   # shorter

A DistilBERT-shaped model built from `DistilBertConfig()` (random weights: throughput does
not depend on them) trains on synthetic reviews whose token lengths follow the IMDB
training set's (percentiles measured with the BERT uncased tokenizer, HTML stripped).
Variants, each training a fresh model for one epoch over the same `--steps` batches of data:
  a       `train_classifier` with the objects the nodes build with their defaults (TextDataLoader
          with length grouping, our classifier, AdamW recipe, linear warmup, BCE), precision auto
          (bf16), fast_attention auto (off on CUDA, whose fused kernels apply attention dropout)
  a_fast  the same with fast_attention on (attention dropout 0)
  b       the Hugging Face Trainer: DistilBertForSequenceClassification, group_by_length sampling,
          DataCollatorWithPadding, fused AdamW, bf16
Timing runs from the first batch request to the end of the last optimizer step (CUDA
synchronised). Rounds interleave the variants; ratios are per round, then median [min-max].
Without a CUDA device the script says so and exits with status 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import EncoderShape, Spread, gemm_ceiling, load_pack, machine_summary, save_results  # noqa: E402

# Token counts of the 25,000 IMDB training reviews (HTML stripped, untruncated), percentiles 0, 5, ..., 100.
IMDB_LENGTH_PERCENTILES = [13, 83, 117, 140, 151, 161, 170, 181, 192, 206, 222, 240, 262, 289, 321, 361, 412, 480,
                           584, 763, 3047]
VARIANTS = ("a", "a_fast", "b")


def synthetic_reviews(count: int, max_length: int, seed: int, vocab: int = 30522) -> dict:
    """Token ids with [CLS] ... [SEP], lengths drawn from IMDB's length distribution, labels 0/1."""
    rng = np.random.default_rng(seed)
    lengths = np.interp(rng.uniform(0, 100, count), np.arange(0, 101, 5), IMDB_LENGTH_PERCENTILES)
    lengths = np.minimum(lengths.astype(int), max_length)
    ids = [[101] + rng.integers(1000, vocab, n - 2).tolist() + [102] for n in lengths]
    return {"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids], "length": lengths.tolist(),
            "labels": rng.integers(0, 2, count).tolist()}


class PackPath:
    """train_classifier with the objects the nodes build, on CUDA."""

    def __init__(self, config, fast_attention: bool, device: str = "cuda") -> None:
        load_pack()
        import torch
        from hf_text_finetune.modules.data import batching as data_loader
        from hf_text_finetune.modules.host import RuntimeHooks
        from training_paths import StepClock

        self.config, self.fast, self.device = config, fast_attention, device
        cuda = device.startswith("cuda")
        self.clock = clock = StepClock()
        self.steps = 0
        path = self

        class Hooks(RuntimeHooks):
            def progress(self, done, total, preview=None):
                if done == path.steps and clock.started is not None and len(clock.steps) < path.steps:
                    if cuda:
                        torch.cuda.synchronize()
                    clock.steps.extend([time.perf_counter()] * (path.steps - len(clock.steps)))

            def preferred_device(self):
                return torch.device(device)

        self.hooks = Hooks()
        original = data_loader.TextDataLoader.batches

        def timed_batches(loader, *args, **kwargs):
            clock.start()
            yield from original(loader, *args, **kwargs)

        data_loader.TextDataLoader.batches = timed_batches

    def run(self, columns: dict, batch_size: int, seed: int) -> float:
        import copy

        import datasets
        import torch
        from hf_text_finetune.modules.data.batching import TextDataLoader
        from hf_text_finetune.modules.data.dataset import EncodedTextDataset
        from hf_text_finetune.modules.model.classifier import TextClassifier
        from hf_text_finetune.modules.model.linear_head import LinearHeadNetwork
        from hf_text_finetune.modules.training.loop import train_classifier
        from hf_text_finetune.modules.training.losses import LossSpec
        from hf_text_finetune.modules.training.optimizers import OptimizerSpec
        from hf_text_finetune.modules.training.schedulers import SchedulerSpec
        from hf_text_finetune.modules.training.settings import TrainSettings
        from transformers import DistilBertModel

        config = copy.deepcopy(self.config)
        if self.fast:
            config.attention_dropout = 0.0
        torch.manual_seed(seed)
        model = TextClassifier(network=LinearHeadNetwork(DistilBertModel(config), 1, "cls", 0.1),
                               model_name="distilbert-random")
        data = EncodedTextDataset(datasets.Dataset.from_dict(columns), None, [0, 1], description="synthetic")
        loader = TextDataLoader(data, batch_size, shuffle=True, seed=seed)
        self.steps = len(loader)
        self.clock.reset()
        train_classifier(model, loader, OptimizerSpec("AdamW", 5e-5, 0.01), LossSpec("bce_with_logits"),
                         TrainSettings(epochs=1, device=self.device, precision="auto", seed=seed, live_plot_interval_s=0),
                         scheduler_spec=SchedulerSpec("linear", 0.06), hooks=self.hooks)
        return self.clock.seconds(self.steps)


def padding_tokenizer():
    """The smallest tokenizer DataCollatorWithPadding accepts (it only pads ids with 0)."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1}, "[UNK]")),
                                   pad_token="[PAD]", unk_token="[UNK]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--max-lengths", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda", help="cuda (or cpu, only to smoke-test this script)")
    args = parser.parse_args()
    import torch

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        print("No CUDA device: gpu_throughput.py compares the training paths on a CUDA GPU; "
              "on this machine run benchmarks/throughput.py instead.")
        return
    import copy

    import datasets
    from training_paths import HfTrainerPath
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    config = DistilBertConfig()
    shape = EncoderShape.from_config(config)
    load_pack()
    from hf_text_finetune.modules.precision import choose_precision
    from hf_text_finetune.modules.model.build import resolve_fast_attention
    from hf_text_finetune.nodes.model_nodes import FAST_ATTENTION_DEFAULT

    bf16 = choose_precision("auto", torch.device(args.device)).name == "bf16"
    info = machine_summary()
    info["gpu"] = torch.cuda.get_device_name() if cuda else "no GPU (smoke test on the CPU)"
    torch.manual_seed(args.seed)
    hf_base = DistilBertForSequenceClassification(copy.deepcopy(config)).to(torch.float32)
    defaults = resolve_fast_attention(FAST_ATTENTION_DEFAULT)
    paths = {"a": PackPath(config, defaults, args.device), "a_fast": PackPath(config, True, args.device),
             "b": HfTrainerPath(lambda: copy.deepcopy(hf_base), padding_tokenizer(), bf16, device=args.device)}
    memory = torch.cuda if cuda else None
    started = time.perf_counter()
    lines = [f"GPU training throughput, DistilBERT-shaped model (random weights, {shape.matmul_params / 1e6:.1f}M "
             f"matmul weights), synthetic IMDB-length data; {info['gpu']}, torch {info['torch']}, "
             f"transformers {info.get('transformers')}", shape.describe(), ""]
    payload: dict = {"machine": info, "configs": []}
    for batch_size in args.batch_sizes:
        for max_length in args.max_lengths:
            rounds = []
            for r in range(args.rounds + 1):  # round 0 warms up
                columns = synthetic_reviews(args.steps * batch_size, max_length, args.seed + r)
                result = {}
                for v in VARIANTS[r % 3:] + VARIANTS[:r % 3]:
                    if memory:
                        memory.reset_peak_memory_stats()
                    if v == "b":
                        data = datasets.Dataset.from_dict(columns)
                        result[v] = paths[v].run_dataset(data, batch_size, args.seed + r)
                    else:
                        result[v] = paths[v].run(columns, batch_size, args.seed + r)
                    result[f"{v}_memory"] = memory.max_memory_allocated() if memory else 0
                result["tokens"] = int(sum(columns["length"]))
                result["flops"] = sum(shape.training_flops(n) for n in columns["length"])
                result["ceiling_bf16"] = gemm_ceiling(shape, "bf16", rows=8192 if cuda else 1024, device=args.device)
                if r:
                    rounds.append(result)
                print(f"batch {batch_size}, max_length {max_length}, round {r}{' (warm-up)' if not r else ''}: "
                      + ", ".join(f"{v} {result[v]:.2f} s" for v in VARIANTS), flush=True)
            lines.append(f"== batch {batch_size}, max_length {max_length}: {args.rounds} rounds of {args.steps} steps; "
                         f"bf16 GEMM ceiling {Spread.of([r['ceiling_bf16'] for r in rounds]).show('{:.0f}')} GFLOP/s")
            for v in VARIANTS:
                tokens = Spread.of([r["tokens"] / r[v] for r in rounds])
                share = Spread.of([100 * r["flops"] / r[v] / 1e9 / r["ceiling_bf16"] for r in rounds])
                memory = max(r[f"{v}_memory"] for r in rounds) / 2 ** 30
                lines.append(f"  {v:7} real tokens/s {tokens.show('{:.0f}'):>26}   % bf16 ceiling {share.show('{:.0f}'):>14}"
                             f"   peak GPU memory {memory:.2f} GiB")
            for top in ("a", "a_fast"):
                ratio = Spread.of([r["b"] / r[top] for r in rounds])
                lines.append(f"  {top}/b (real tokens/s): {ratio.show()}")
            lines.append("")
            payload["configs"].append({"batch_size": batch_size, "max_length": max_length, "rounds": rounds})
    lines.append(f"total wall time {time.perf_counter() - started:.0f} s")
    text = "\n".join(lines)
    print("\n" + text)
    print(f"saved {save_results('gpu_throughput', payload, text)}")


if __name__ == "__main__":
    main()
