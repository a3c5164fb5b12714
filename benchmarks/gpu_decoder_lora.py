"""A decoder with LoRA next to DistilBERT on a GPU: real tokens/s and peak GPU memory (part of gpu_check.sh).

    python benchmarks/gpu_decoder_lora.py                  # 20 steps, 2 rounds after a warm-up
    python benchmarks/gpu_decoder_lora.py --device cpu --tiny --steps 2 --rounds 1   # smoke test of the script

Models, random weights (throughput and memory do not depend on them), built from their configs, no download:
  distilbert       DistilBERT-shaped, the pack's linear head, full fine-tuning (the guide's reference)
  qwen_lora_fp32   Qwen2.5-0.5B-shaped (24 layers, 896 wide, 151,936-token vocabulary), Hugging Face's head,
                   LoRA r 16 on every attention and MLP projection (the decoder template's settings), gradient
                   checkpointing, fp32 pretrained weights
  qwen_lora_bf16   the same with weight_dtype bf16 (the pretrained weights in bf16; adapters and head fp32)
Each trains one epoch of `--steps` batches (batch 8, synthetic reviews of IMDB's token lengths cut at 256) through
`train_classifier`, precision auto. Timing covers the whole call, CUDA synchronised; rounds interleave the models;
figures are medians [min-max] over rounds. Without CUDA (and no --device cpu) the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Spread, load_pack, machine_summary, save_results  # noqa: E402
from gpu_throughput import synthetic_reviews  # noqa: E402

MODELS = ("distilbert", "qwen_lora_fp32", "qwen_lora_bf16")
QWEN_05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, tie_word_embeddings=True)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            vocab_size=32000, max_position_embeddings=512)


def build(name: str, tiny: bool):
    """The classifier a variant trains: what the model node (and the LoRA node) would hand the trainer."""
    import torch
    import transformers as tf
    from hf_text_finetune.modules.model.classifier import TextClassifier
    from hf_text_finetune.modules.model.hf_head import HfSequenceNetwork
    from hf_text_finetune.modules.model.linear_head import LinearHeadNetwork
    from hf_text_finetune.modules.model.lora import LoraSettings, add_lora
    from hf_text_finetune.modules.model.weight_dtype import use_weight_dtype

    torch.manual_seed(0)
    if name == "distilbert":
        config = tf.DistilBertConfig(**(dict(dim=64, hidden_dim=128, n_layers=2, n_heads=4) if tiny else {}))
        return TextClassifier(network=LinearHeadNetwork(tf.DistilBertModel(config), 1, "cls", 0.1),
                              model_name="distilbert-shaped")
    config = tf.Qwen2Config(**(TINY if tiny else QWEN_05B), num_labels=1, pad_token_id=0, use_cache=False)
    network = HfSequenceNetwork(tf.Qwen2ForSequenceClassification(config))
    if name.endswith("bf16"):
        use_weight_dtype(network, torch.bfloat16)
    model = TextClassifier(network=network, model_name="qwen2.5-0.5b-shaped")
    return add_lora(model, LoraSettings(r=16, alpha=32.0, dropout=0.05))


def train_seconds(model, columns: dict, device: str, decoder: bool) -> float:
    import datasets
    import torch
    from hf_text_finetune.modules.data.batching import TextDataLoader
    from hf_text_finetune.modules.data.dataset import EncodedTextDataset
    from hf_text_finetune.modules.host import RuntimeHooks
    from hf_text_finetune.modules.training.loop import train_classifier
    from hf_text_finetune.modules.training.losses import LossSpec
    from hf_text_finetune.modules.training.optimizers import OptimizerSpec
    from hf_text_finetune.modules.training.schedulers import SchedulerSpec
    from hf_text_finetune.modules.training.settings import TrainSettings

    class Hooks(RuntimeHooks):
        def preferred_device(self):
            return torch.device(device)

    data = EncodedTextDataset(datasets.Dataset.from_dict(columns), None, [0, 1], description="synthetic")
    loader = TextDataLoader(data, 8, shuffle=True, seed=0)
    settings = TrainSettings(epochs=1, device=device, precision="auto", seed=0, live_plot_interval_s=0,
                             gradient_checkpointing=decoder)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    train_classifier(model, loader, OptimizerSpec("AdamW", 2e-4 if decoder else 5e-5, 0.01),
                     LossSpec("bce_with_logits"), settings, scheduler_spec=SchedulerSpec("linear", 0.06),
                     hooks=Hooks())
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--device", default="cuda", help="cuda (or cpu, only to smoke-test this script)")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes (smoke test)")
    args = parser.parse_args()
    import torch

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        print("No CUDA device: gpu_decoder_lora.py measures a decoder with LoRA on a CUDA GPU.")
        return
    load_pack()
    info = machine_summary()
    info["gpu"] = torch.cuda.get_device_name() if cuda else "no GPU (smoke test on the CPU)"
    results: dict[str, list[dict]] = {name: [] for name in MODELS}
    for r in range(args.rounds + 1):  # round 0 warms up
        columns = synthetic_reviews(args.steps * 8, args.max_length, seed=r)
        tokens = int(sum(columns["length"]))
        for name in MODELS[r % 3:] + MODELS[:r % 3]:
            model = build(name, args.tiny)
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            seconds = train_seconds(model, columns, args.device, decoder=name != "distilbert")
            memory = torch.cuda.max_memory_allocated() if cuda else 0
            print(f"round {r}{' (warm-up)' if not r else ''}: {name} {seconds:.2f} s, {tokens / seconds:.0f} "
                  f"tokens/s, peak {memory / 2 ** 30:.2f} GiB", flush=True)
            if r:
                results[name].append({"seconds": seconds, "tokens": tokens, "peak_bytes": memory})
            del model
    lines = [f"Decoder with LoRA next to DistilBERT: {info['gpu']}, torch {info['torch']}; batch 8, max_length "
             f"{args.max_length}, {args.steps} steps x {args.rounds} rounds, precision auto"]
    for name in MODELS:
        rounds = results[name]
        speed = Spread.of([x["tokens"] / x["seconds"] for x in rounds])
        peak = max(x["peak_bytes"] for x in rounds) / 2 ** 30
        lines.append(f"  {name:15} real tokens/s {speed.show('{:.0f}'):>24}   peak GPU memory {peak:.2f} GiB")
    text = "\n".join(lines)
    print("\n" + text)
    print(f"saved {save_results('gpu_decoder_lora', {'machine': info, 'results': results}, text)}")


if __name__ == "__main__":
    main()
