"""Where a training step of this pack's path spends its time: tokenize / collate / forward /
backward / gradient clipping / optimizer, on the real MiniLM-L6 and IMDB reviews.

    python benchmarks/profile_training.py                          # batch 16, max_length 256, precision auto
    python benchmarks/profile_training.py --fast-attention --ops   # plus the top operators (torch.profiler)

The real `train_classifier` runs unchanged; the script only listens: it times the
collate function, the model's forward (module hooks), gradient clipping and the
optimizer step (optimizer hooks), and takes backward + loss + bookkeeping as the rest
of each step (steps end at the trainer's progress call). Tokenization is timed on the
same reviews through the dataset module; it runs once per dataset, not per epoch.
The first step is a warm-up and is left out.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, imdb_reviews, load_pack, minilm_folder, write_csv  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    parser.add_argument("--fast-attention", action="store_true")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--ops", action="store_true", help="also list the top operators of two steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import numpy as np
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load_pack()
    from hf_text_finetune.modules.data import batching as data_loader, tokenized as text_dataset
    from hf_text_finetune.modules.model.build import build_classification_model
    from hf_text_finetune.modules.training.losses import LossSpec
    from hf_text_finetune.modules.training.optimizers import OptimizerSpec
    from hf_text_finetune.modules.host import RuntimeHooks
    from hf_text_finetune.modules.training.schedulers import SchedulerSpec
    from hf_text_finetune.modules.data.encoding import build_token_encoder
    from hf_text_finetune.modules.training.loop import train_classifier
    from hf_text_finetune.modules.training.settings import TrainSettings

    rows = args.steps * args.batch_size
    reviews = imdb_reviews()
    picked = np.random.default_rng(args.seed).permutation(len(reviews))[:rows]
    path = write_csv(RESULTS / "data" / f"profile_{rows}_{args.seed}_{time.time_ns()}.csv", [reviews[i] for i in picked])
    encoder = build_token_encoder(str(minilm_folder()), args.max_length)
    started = time.perf_counter()
    data = text_dataset.encode_text_dataset(str(path), "train", "text", "label", encoder)
    tokenize = time.perf_counter() - started
    path.unlink()
    loader = data_loader.TextDataLoader(data, args.batch_size, seed=args.seed)
    model = build_classification_model(str(minilm_folder()), fast_attention=args.fast_attention)

    spent: dict[str, list[float]] = defaultdict(list)
    marks: dict[str, float] = {}
    step_ends: list[float] = []

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            out = fn(*a, **k)
            spent[name].append(time.perf_counter() - t)
            return out
        return wrapper

    data_loader.pad_batch = timed("collate", data_loader.pad_batch)
    torch.nn.utils.clip_grad_norm_ = timed("clip", torch.nn.utils.clip_grad_norm_)
    # the trainer deep-copies the network, hooks included
    model.network.register_forward_pre_hook(lambda *_: marks.__setitem__("forward", time.perf_counter()))
    model.network.register_forward_hook(lambda *_: spent["forward"].append(time.perf_counter() - marks["forward"]))
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

    register_optimizer_step_pre_hook(lambda *_: marks.__setitem__("optim", time.perf_counter()))
    register_optimizer_step_post_hook(lambda *_: spent["optimizer step"].append(time.perf_counter() - marks["optim"]))
    original_batches = data_loader.TextDataLoader.batches

    def batches(self, *a, **k):
        step_ends.append(time.perf_counter())  # the start of the first step
        yield from original_batches(self, *a, **k)

    data_loader.TextDataLoader.batches = batches

    class Hooks(RuntimeHooks):
        def progress(self, done, total, preview=None):
            if len(step_ends) <= args.steps:
                step_ends.append(time.perf_counter())

    settings = TrainSettings(epochs=1, precision=args.precision, device="cpu", seed=args.seed, live_plot_interval_s=0)
    run = lambda: train_classifier(model, loader, OptimizerSpec("AdamW", 5e-5, 0.01),  # noqa: E731
                                   LossSpec("bce_with_logits"), settings, scheduler_spec=SchedulerSpec("linear", 0.06),
                                   hooks=Hooks())
    result = run()
    steps = np.diff(step_ends)[1:]  # leave the warm-up step out
    parts = {k: float(np.sum(v[1:len(steps) + 1])) for k, v in spent.items()}
    total = float(np.sum(steps))
    parts["backward + loss + rest"] = total - sum(parts.values())
    real = loader.real_tokens() * len(steps) / len(loader)
    print(f"batch {args.batch_size}, max_length {args.max_length}, precision {result.precision}, fast_attention "
          f"{args.fast_attention}, {torch.get_num_threads()} threads: {len(steps)} steps, {total / len(steps):.2f} s "
          f"per step, about {real / total:.0f} real tokens/s, padding efficiency {loader.padding_efficiency():.3f}")
    for name, seconds in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {name:24} {seconds / len(steps) * 1000:8.1f} ms/step  {100 * seconds / total:5.1f}%")
    per_epoch = tokenize / (total / len(steps) * len(loader))
    print(f"  {'tokenize (once)':24} {tokenize / len(loader) * 1000:8.1f} ms/batch  = {100 * per_epoch:.1f}% of one "
          "epoch's training time, paid once per dataset (cached after)")
    if args.ops:
        from torch.profiler import ProfilerActivity, profile

        loader.dataset.data = loader.dataset.data.select(range(2 * args.batch_size))
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            run()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
