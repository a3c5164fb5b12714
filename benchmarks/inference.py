"""Inference speed, side by side in one run: this pack's Predict and Evaluate on PyTorch and on ONNX
Runtime (fp32 and int8) vs `transformers.pipeline("text-classification")` on the same saved folder,
texts, batch size and max_length (real MiniLM-L6, IMDB reviews), against the fp32 ceiling of the host.

    python benchmarks/inference.py --folder output/minilm_imdb3000_00001 \\
        --heldout ~/.cache/hf-text-finetune/demo/imdb_val_1000.csv --texts 256 --rounds 3
    python benchmarks/inference.py                        # no trained model: MiniLM with a new head

The folder must have Hugging Face's head (so the pipeline loads it): e.g. the Save node's folder of
`examples/workflows/save_load_predict.json` run headless with scripts/main_job.sh's settings (3,000
reviews; scripts/prepare_demo_data.py writes the csv files under ~/.cache/hf-text-finetune/demo). It is copied into the results
folder and exported to ONNX there (fp32 + int8, timed once). Texts have HTML stripped beforehand, so
every variant gets the same input. Variants, each on the same texts per round, in rotating order:
  pipeline       transformers.pipeline (fp32, batches in the texts' given order)
  predict_torch  Predict's function, backend torch, fp32 (length-sorted batches)
  predict_ort    Predict, backend onnxruntime, fp32
  predict_auto   Predict as the node's defaults run it: backend auto, precision auto
  evaluate_auto  Evaluate on the texts as a dataset tokenized beforehand, backend auto, precision auto
  torch_int8     Predict, backend torch, int8 (dynamically quantized copy, made once)
  ort_int8       Predict, backend onnxruntime, int8 (ONNX Runtime's dynamic int8 model, made once)
Batch 1: --single texts, one call per text, for the pipeline and the Predict variants (the classify
node's common case). Ceiling: the forward FLOPs of the texts' real tokens divided by the fp32 GEMM rate
at the model's shapes, measured in each round. Held-out accuracy (with --heldout): fp32 and both int8
variants on every held-out review. Ratios are taken within each round, then median [min-max].
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (RESULTS, EncoderShape, Spread, balanced_sample, imdb_reviews, load_pack,  # noqa: E402
                    machine_summary, minilm_folder, save_results, write_csv)

VARIANTS = ("pipeline", "predict_torch", "predict_ort", "predict_auto", "evaluate_auto", "torch_int8", "ort_int8")
SINGLE = ("pipeline", "predict_torch", "predict_ort", "ort_int8")
SETTINGS = {"predict_torch": ("fp32", "torch"), "predict_ort": ("fp32", "onnxruntime"), "predict_auto": ("auto", "auto"),
            "torch_int8": ("int8", "torch"), "ort_int8": ("int8", "onnxruntime")}


def working_folder(args) -> Path:
    """A copy of --folder (the export writes into it), or MiniLM with a new Hugging Face head saved here."""
    target = RESULTS / "inference_model" / "classifier"
    if args.folder:
        if not (target / "onnx" / "model.onnx").is_file() or args.fresh_export:
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(args.folder, target, ignore=shutil.ignore_patterns("training_state.pt"))
        return target
    from hf_text_finetune.modules.model.build import build_classification_model
    from hf_text_finetune.modules.pretrained import load_tokenizer
    from hf_text_finetune.modules.results.saving import save_classifier

    model = build_classification_model(str(minilm_folder()), 2, head_type="hf_sequence_classification", seed=0)
    model = dataclasses.replace(model, tokenizer=load_tokenizer(str(minilm_folder())), max_length=args.max_length)
    return save_classifier(model, RESULTS / "inference_model", "minilm_hf_head").folder


def read_heldout(path: Path) -> tuple[list[str], list[int]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [(r["text"], int(r["label"])) for r in csv.DictReader(handle)]
    return [t for t, _ in rows], [y for _, y in rows]


def build_runners(args, folder: Path, texts: list[str], labels: list[int], model) -> tuple[dict, dict]:
    import torch
    from hf_text_finetune.modules.data.encoding import build_token_encoder
    from hf_text_finetune.modules.data.tokenized import encode_text_dataset
    from hf_text_finetune.modules.results.backends import Runtime
    from hf_text_finetune.modules.results.evaluation import evaluate_classifier
    from hf_text_finetune.modules.results.prediction import predict_texts
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(folder), tokenizer=str(folder), device=-1)
    csv_path = write_csv(RESULTS / "data" / f"inference_{len(texts)}_{time.time_ns()}.csv", zip(texts, labels))
    encoder = build_token_encoder(str(folder), args.max_length, truncation_rule=model.truncation_rule)
    dataset = encode_text_dataset(str(csv_path), "train", "text", "label", encoder, strip_html_tags=False)
    csv_path.unlink()
    names, batch, cpu = model.output_labels(), args.batch_size, torch.device("cpu")
    label2id = pipe.model.config.label2id

    def pipeline_indices(some: list[str], size: int = batch) -> list[int]:
        out = pipe(some, batch_size=size, truncation=True, max_length=args.max_length)
        return [label2id[r["label"]] for r in out]

    def predict(precision: str, backend: str, size: int = batch):
        runtime = Runtime(precision, backend)
        return lambda some: [names.index(p.label) for p in predict_texts(model, some, 0.5, None, size, cpu,
                                                                         precision=runtime)]

    def evaluate(_some):
        with torch.inference_mode():
            report = evaluate_classifier(model, dataset, batch_size=batch, device="cpu",
                                         precision=Runtime("auto", "auto"))
        return report.accuracy

    runners = {"pipeline": pipeline_indices, "evaluate_auto": evaluate}
    runners.update({name: predict(*SETTINGS[name]) for name in SETTINGS})
    singles = {"pipeline": lambda some: pipeline_indices(some, 1)}
    singles.update({name: predict(*SETTINGS[name], size=1) for name in SINGLE if name != "pipeline"})
    return runners, singles


def forward_gemm_rate(shape: EncoderShape, rows: int, seconds: float = 0.6) -> float:
    """GFLOP/s of one layer's forward matrix multiplies at the model's shapes (`rows` tokens), fp32."""
    import torch

    d, ff = shape.hidden, shape.intermediate
    x, h = torch.randn(rows, d), torch.randn(rows, ff)
    pairs = [(x, torch.randn(d, d))] * 4 + [(x, torch.randn(d, ff)), (h, torch.randn(ff, d))]
    flops = sum(2 * rows * w.shape[0] * w.shape[1] for _, w in pairs)
    for a, w in pairs:
        a @ w
    best = 0.0
    for _ in range(3):
        started, calls = time.perf_counter(), 0
        while time.perf_counter() - started < seconds / 3:
            for a, w in pairs:
                a @ w
            calls += 1
        best = max(best, flops * calls / (time.perf_counter() - started) / 1e9)
    return best


def timed_rounds(args, runners, singles, texts, shape, avg_len) -> tuple[dict, dict, list, dict]:
    times = {v: [] for v in VARIANTS}
    single_times = {v: [] for v in SINGLE}
    gemm, outputs = [], {}
    few = texts[:args.single]
    for r in range(args.rounds):
        gemm.append(forward_gemm_rate(shape, args.batch_size * avg_len))
        order = list(VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)])
        for name in order:
            started = time.perf_counter()
            outputs[name] = runners[name](texts)
            times[name].append(time.perf_counter() - started)
        for name in SINGLE[r % len(SINGLE):] + SINGLE[:r % len(SINGLE)]:
            started = time.perf_counter()
            for text in few:
                singles[name]([text])
            single_times[name].append((time.perf_counter() - started) / len(few))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{v} {times[v][-1]:.1f} s" for v in VARIANTS)
              + f"; GEMM {gemm[-1]:.0f} GFLOP/s", flush=True)
    return times, single_times, gemm, outputs


def accuracies(args, runners, model) -> dict:
    """Held-out accuracy of fp32 and both int8 variants on every held-out review."""
    from hf_text_finetune.modules.data.text_cleaning import strip_html

    texts, truth = read_heldout(Path(args.heldout).expanduser())
    texts, truth = [strip_html(t) for t in texts[:args.heldout_count]], truth[:args.heldout_count]
    result = {}
    for name in ("predict_ort", "torch_int8", "ort_int8"):
        started = time.perf_counter()
        predicted = runners[name](texts)
        result[name] = (sum(p == y for p, y in zip(predicted, truth)) / len(truth), time.perf_counter() - started)
        print(f"held-out accuracy {name}: {result[name][0]:.2%} ({result[name][1]:.0f} s)", flush=True)
    return {"count": len(truth), "cut": model.truncation_rule.describe(), **result}


def report(args, folder, texts, times, single_times, gemm, outputs, flops, held, export_s) -> str:
    import torch
    from hf_text_finetune.modules.precision import cpu_has_native_bf16

    info = machine_summary()
    ceiling = statistics.median(gemm) * 1e9 / (flops / len(texts))
    lines = [f"Inference, {folder.name} (MiniLM-L6, Hugging Face head), {len(texts)} IMDB reviews, max_length "
             f"{args.max_length}, batch {args.batch_size}, {args.rounds} rounds; export fp32+int8: "
             f"{'reused' if export_s is None else f'{export_s:.0f} s'}",
             f"machine: {info.get('cpu', '?')}, {torch.get_num_threads()} threads, torch {info['torch']}, "
             f"bf16 native {cpu_has_native_bf16()}, load average {info.get('load_average')} (shared host)",
             f"fp32 ceiling: {flops / 1e12:.2f} TFLOP for the texts' real tokens / fp32 GEMM "
             f"{Spread.of(gemm).show('{:.0f}')} GFLOP/s = {ceiling:.1f} texts/s",
             f"{'variant':14} {'texts/s median [min-max]':>26} {'x pipeline':>18} {'ceiling':>8} {'labels=pipe':>11}"]
    for v in VARIANTS:
        rate = Spread.of([len(texts) / s for s in times[v]])
        ratio = Spread.of([p / t for p, t in zip(times["pipeline"], times[v])])
        same = "" if v == "evaluate_auto" else \
            f"{sum(a == b for a, b in zip(outputs[v], outputs['pipeline'])) / len(texts):.1%}"
        lines.append(f"{v:14} {rate.show('{:.1f}'):>26} {ratio.show():>18} {rate.median / ceiling:>8.0%} {same:>11}")
    lines.append(f"batch 1 ({args.single} texts, one call each): latency ms median [min-max], speed-up over pipeline")
    for v in SINGLE:
        ms = Spread.of([s * 1000 for s in single_times[v]])
        ratio = Spread.of([p / t for p, t in zip(single_times["pipeline"], single_times[v])])
        lines.append(f"  {v:14} {ms.show('{:.0f}'):>20} {ratio.show():>18}")
    if held:
        lines.append(f"held-out accuracy ({held['count']} reviews, read as trained: {held['cut']}): " + ", ".join(
            f"{k} {v[0]:.2%}" for k, v in held.items() if k not in ("count", "cut")))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--single", type=int, default=16, help="texts for the batch-1 latency")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's default)")
    parser.add_argument("--folder", help="a saved folder with Hugging Face's head (default: one saved here)")
    parser.add_argument("--heldout", help="csv (text,label) of held-out reviews: accuracy of fp32 and int8")
    parser.add_argument("--heldout-count", type=int, default=1000, help="held-out reviews the accuracy is taken on")
    parser.add_argument("--fresh-export", action="store_true", help="export again even if the copy has one")
    args = parser.parse_args()
    import logging

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    load_pack()
    logging.getLogger("hf_text_finetune.modules.results.backends").setLevel(logging.INFO)
    from hf_text_finetune.modules.data.text_cleaning import strip_html
    from hf_text_finetune.modules.data.truncation import Truncation
    from hf_text_finetune.modules.pretrained import load_config
    from hf_text_finetune.modules.results.encoded_texts import encoded_rows
    from hf_text_finetune.modules.results.loading import load_classifier
    from hf_text_finetune.modules.results.onnx_export import export_saved_folder

    if args.heldout:
        all_texts, all_labels = read_heldout(Path(args.heldout).expanduser())
        texts, labels = [strip_html(t) for t in all_texts[:args.texts]], all_labels[:args.texts]
    else:
        reviews = imdb_reviews()
        picked = balanced_sample(reviews, args.texts, 1000)
        texts, labels = [strip_html(reviews[i][0]) for i in picked], [reviews[i][1] for i in picked]
    folder = working_folder(args)
    export_s = None  # None: the copy kept an earlier run's export (--fresh-export times a new one)
    if not (folder / "onnx" / "model_int8.onnx").is_file():
        started = time.perf_counter()
        export_saved_folder(folder, int8=True)
        export_s = time.perf_counter() - started
    trained = dataclasses.replace(load_classifier(folder, restore_training_state=False), max_length=args.max_length)
    # timed variants read texts as the pipeline does (the first max_length tokens), so labels can be compared;
    # held-out accuracy reads them as the model was trained (its own truncation, e.g. head+tail)
    model = dataclasses.replace(trained, truncation_rule=Truncation())
    shape = EncoderShape.from_config(load_config(str(folder)))
    lengths = [len(r["input_ids"]) for r in encoded_rows(model, texts)[0]]
    flops = sum(shape.inference_flops(n) for n in lengths)
    runners, singles = build_runners(args, folder, texts, labels, model)
    for name in VARIANTS:  # warm-up: first calls allocate, pick kernels, build the int8 copies, time auto
        runners[name](texts[:args.batch_size])
    times, single_times, gemm, outputs = timed_rounds(args, runners, singles, texts, shape,
                                                      int(sum(lengths) / len(lengths)))
    held = {}
    if args.heldout and args.heldout_count:
        held = accuracies(args, build_runners(args, folder, texts, labels, trained)[0], trained)
    text = report(args, folder, texts, times, single_times, gemm, outputs, flops, held, export_s)
    print("\n" + text)
    payload = {"args": vars(args), "machine": machine_summary(), "times": times, "single": single_times,
               "gemm": gemm, "flops": flops, "heldout": held}
    print(f"saved {save_results('inference', payload, text)}")


if __name__ == "__main__":
    main()
