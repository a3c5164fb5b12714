"""Part of gpu_check.sh: a DistilBERT-shaped model (6 layers, 768 wide, random weights, no download)
trained 2 epochs on a GPU with checkpoints; then the same run cancelled in epoch 2 and resumed with
resume latest. Prints one JSON line: seconds, checkpoint size and time, the metric differences."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "training")]
import run_workflow  # noqa: E402

run_workflow.load_pack()


def distilbert_shaped(folder: Path) -> Path:
    import transformers as tf
    from tiny_models import MAX_POSITIONS, _wordpiece

    raw = _wordpiece(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tf.DistilBertTokenizerFast(tokenizer_object=raw, model_max_length=MAX_POSITIONS).save_pretrained(folder)
    config = tf.DistilBertConfig(vocab_size=raw.get_vocab_size(), max_position_embeddings=MAX_POSITIONS)
    tf.AutoModel.from_config(config).save_pretrained(folder)
    return folder


def main() -> int:
    import torch
    from checkpoint_helpers import CancelAt, Cancelled
    from tiny_models import Pipeline, adamw_node, bce_node, run_node, warmup_node, write_reviews_csv

    from hf_text_finetune.nodes import train_nodes

    tmp = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    os.environ["HF_TEXT_FINETUNE_OUTPUT_DIR"] = str(tmp / "out")
    model = distilbert_shaped(tmp / "distilbert")
    rows, device = int(os.environ.get("GPU_CHECK_ROWS", "2048")), os.environ.get("GPU_CHECK_DEVICE", "cuda")
    pipe = Pipeline(model, write_reviews_csv(tmp / "t.csv", rows=rows),
                    write_reviews_csv(tmp / "v.csv", rows // 4, 1), batch_size=32)

    def train(hooks, **extra):
        train_nodes.runtime_hooks = lambda node_id=None: hooks
        return run_node("PtTrainTransformerClassificationModel", model=pipe.model, train_loader=pipe.train_loader,
                        optimizer=adamw_node(5e-5), loss_function=bce_node(), epochs=2, seed=0,
                        val_loader=pipe.val_loader, lr_scheduler=warmup_node(), device=device, **extra)

    started = time.perf_counter()
    reference = train(CancelAt())
    seconds = time.perf_counter() - started
    run = next((tmp / "out" / "hf_text_finetune_checkpoints").iterdir())
    size = sum(f.stat().st_size for f in next(run.iterdir()).rglob("*")) / 2**20
    per_epoch = len(pipe.train_loader) + len(pipe.val_loader)  # progress steps of one epoch
    try:
        train(CancelAt(per_epoch + len(pipe.train_loader) // 2))  # half-way through epoch 2
        cancelled = False
    except Cancelled:
        cancelled = True
    resumed = train(CancelAt(), resume="latest")
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else device
    print(json.dumps({"gpu": gpu, "two_epochs_s": round(seconds, 1),
                      "checkpoint_MiB": round(size, 1), "cancel_wrote_checkpoint": cancelled,
                      "val_loss": reference[3], "resumed_val_loss": resumed[3],
                      "val_loss_difference": abs(reference[3] - resumed[3]),
                      "val_accuracy": reference[2], "resumed_val_accuracy": resumed[2]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
