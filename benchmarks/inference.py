"""Inference speed, side by side in one run: this pack's Predict and Evaluate vs
`transformers.pipeline("text-classification")` on the same saved folder, texts, batch size
and max_length (real MiniLM-L6, IMDB reviews).

    python benchmarks/inference.py                       # 500 reviews, 256 tokens, batch 32, 5 rounds
    python benchmarks/inference.py --texts 200 --rounds 3 --threads 1
    python benchmarks/inference.py --folder output/runs/imdb_00001   # a folder saved with Hugging Face's head

The folder must have Hugging Face's head (model node `head` = hf_sequence_classification) so
that the pipeline can load it; without --folder the script saves one: MiniLM with a new
single-logit head (random weights: only the speed and the agreement of the two are measured).
Texts are held-out IMDB reviews with HTML stripped beforehand, so both sides get the same input.

Variants, each timed on all texts per round, in rotating order:
  pipeline     transformers.pipeline on the folder (fp32, texts batched in their given order)
  predict      the Predict node's function, precision auto (bf16 where the CPU computes it natively)
  predict_fp32 the same in fp32 (what length-sorted batches alone give)
  evaluate     the Evaluate node's function, precision auto, on the texts as a dataset already
               tokenized by the dataset node (tokenization is timed once, separately)
  predict_int8 Predict with precision int8: a copy whose nn.Linear layers are dynamically quantized
               (for CPUs without native bf16; labels may differ from fp32's near the threshold)
Ratios are taken within each round, then median [min-max] over rounds.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (RESULTS, Spread, balanced_sample, imdb_reviews, load_pack, machine_summary,  # noqa: E402
                    minilm_folder, save_results, write_csv)

VARIANTS = ("pipeline", "predict", "predict_fp32", "evaluate", "predict_int8")


def saved_folder(args) -> Path:
    """The folder both sides load: --folder, or MiniLM with a new Hugging Face head saved here."""
    if args.folder:
        return Path(args.folder)
    from hf_text_finetune.modules.model.build import build_classification_model
    from hf_text_finetune.modules.pretrained import load_tokenizer
    from hf_text_finetune.modules.results.saving import save_classifier

    model = build_classification_model(str(minilm_folder()), 1, head_type="hf_sequence_classification", seed=0)
    model = dataclasses.replace(model, tokenizer=load_tokenizer(str(minilm_folder())), max_length=args.max_length,
                                label_names=["negative", "positive"])
    return save_classifier(model, RESULTS / "inference_model", "minilm_hf_head").folder


def evaluate_node(model, dataset, batch: int):
    """The Evaluate node's work as ComfyUI runs it (nodes run under inference_mode)."""
    import torch
    from hf_text_finetune.modules.results.evaluation import evaluate_classifier

    with torch.inference_mode():
        return evaluate_classifier(model, dataset, batch_size=batch, device="cpu", precision="auto")


def build_runners(args, folder: Path, texts: list[str], labels: list[int]) -> tuple[dict, dict]:
    import torch
    from hf_text_finetune.modules.data.encoding import build_token_encoder
    from hf_text_finetune.modules.data.tokenized import encode_text_dataset
    from hf_text_finetune.modules.results.loading import load_classifier
    from hf_text_finetune.modules.results.prediction import predict_texts
    from transformers import pipeline

    model = dataclasses.replace(load_classifier(folder), max_length=args.max_length)
    pipe = pipeline("text-classification", model=str(folder), tokenizer=str(folder), device=-1)
    csv_path = write_csv(RESULTS / "data" / f"inference_{len(texts)}_{time.time_ns()}.csv", zip(texts, labels))
    started = time.perf_counter()
    dataset = encode_text_dataset(str(csv_path), "train", "text", "label",
                                  build_token_encoder(str(folder), args.max_length), strip_html_tags=False)
    tokenize_s = time.perf_counter() - started
    csv_path.unlink()
    batch = args.batch_size
    cpu = torch.device("cpu")
    threshold = 0.5

    def pipeline_labels(some: list[str]) -> list[str]:
        scores = pipe(some, batch_size=batch, truncation=True, max_length=args.max_length)
        return [model.output_labels(None)[int(r["score"] >= threshold)] for r in scores]  # one logit: P(positive)

    runners = {
        "pipeline": pipeline_labels,
        "predict": lambda some: [p.label for p in predict_texts(model, some, threshold, None, batch, cpu,
                                                                precision="auto")],
        "predict_fp32": lambda some: [p.label for p in predict_texts(model, some, threshold, None, batch, cpu,
                                                                     precision="fp32")],
        "evaluate": lambda some: evaluate_node(model, dataset, batch),
        "predict_int8": lambda some: [p.label for p in predict_texts(model, some, threshold, None, batch, cpu,
                                                                     precision="int8")],
    }
    return runners, {"tokenize_s": tokenize_s, "pipeline_labels": pipe.model.config.id2label}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=500)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's default; 1 on a shared host)")
    parser.add_argument("--folder", help="a saved folder with Hugging Face's head (default: one saved here)")
    args = parser.parse_args()
    import logging

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    load_pack()
    from hf_text_finetune.modules.data.text_cleaning import strip_html
    from hf_text_finetune.modules.precision import cpu_has_native_bf16

    reviews = imdb_reviews()
    picked = balanced_sample(reviews, args.texts, 1000)  # the held-out draw of time_to_accuracy.py
    texts, labels = [strip_html(reviews[i][0]) for i in picked], [reviews[i][1] for i in picked]
    folder = saved_folder(args)
    runners, extra = build_runners(args, folder, texts, labels)
    for name in (v for v in VARIANTS if v != "evaluate"):  # warm-up: first calls allocate and pick kernels
        runners[name](texts[:2 * args.batch_size])
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    outputs: dict[str, list] = {}
    for r in range(args.rounds):
        order = list(VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)])
        for name in order:
            started = time.perf_counter()
            outputs[name] = runners[name](texts)
            times[name].append(time.perf_counter() - started)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{v} {times[v][-1]:.1f} s" for v in VARIANTS), flush=True)
    info = machine_summary()
    info["threads"] = torch.get_num_threads()
    agree = sum(a == b for a, b in zip(outputs["predict"], outputs["pipeline"])) / len(texts)
    agree_fp32 = sum(a == b for a, b in zip(outputs["predict_fp32"], outputs["pipeline"])) / len(texts)
    agree_int8 = sum(a == b for a, b in zip(outputs["predict_int8"], outputs["pipeline"])) / len(texts)
    lines = [f"Inference, MiniLM-L6 saved with Hugging Face's head ({folder}), {len(texts)} held-out IMDB reviews, "
             f"max_length {args.max_length}, batch {args.batch_size}, {args.rounds} rounds",
             f"machine: {info.get('cpu', '?')}, {info['threads']} threads, torch {info['torch']}, transformers "
             f"{info.get('transformers')}, bf16 native {cpu_has_native_bf16()}, load average {info.get('load_average')}",
             f"{'variant':13} {'texts/s median [min-max]':>28}"]
    for v in VARIANTS:
        lines.append(f"{v:13} {Spread.of([len(texts) / s for s in times[v]]).show('{:.1f}'):>28}")
    for v in VARIANTS[1:]:
        ratio = Spread.of([p / t for p, t in zip(times["pipeline"], times[v])])
        lines.append(f"  {v}/pipeline (texts/s): {ratio.show()}   (target for predict and evaluate: >= 2)")
    lines += [f"evaluate's dataset was tokenized once beforehand: {extra['tokenize_s']:.1f} s "
              f"({len(texts) / extra['tokenize_s']:.0f} texts/s), not in its time",
              f"labels equal to the pipeline's: predict (auto) {agree:.1%}, predict_fp32 {agree_fp32:.1%}, "
              f"predict_int8 {agree_int8:.1%}"]
    text = "\n".join(lines)
    print("\n" + text)
    print(f"saved {save_results('inference', {'args': vars(args), 'machine': info, 'times': times}, text)}")


if __name__ == "__main__":
    main()
