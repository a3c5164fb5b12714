"""One process of the data-parallel tests: trains the tiny pipeline through the trainer node and
writes its final weights and history to --out (run by torchrun, or by plain python for 1 process)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]  # tests/
sys.path[:0] = [str(TESTS.parent), str(TESTS)]

import run_workflow  # noqa: E402

run_workflow.load_pack()

import torch  # noqa: E402

torch.set_num_threads(1)

from helpers.nodes import Pipeline, adamw_node, bce_node, model_node, run_node, warmup_node  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("--model", "--train", "--val", "--out", "--checkpoints"):
        parser.add_argument(name, required=True)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--resume", default="off")
    parser.add_argument("--patience", type=int, default=0, help="early stopping on val_accuracy, best weights back")
    parser.add_argument("--step-delay", type=float, default=0.0,
                        help="seconds each progress step lasts longer; the steps done go to <out>/steps<rank>")
    parser.add_argument("--tracking", default="off", help="off, tensorboard or trackio (logs under --checkpoints)")
    args = parser.parse_args()
    attempts = block_network()
    os.environ["HF_TEXT_FINETUNE_OUTPUT_DIR"] = args.checkpoints
    from hf_text_finetune.modules.errors import UserInputError
    from hf_text_finetune.modules.termination import EXIT_CODE, Terminated, stop_on_sigterm

    if args.step_delay:
        _slow_steps(args.step_delay, Path(args.out))

    pipeline = Pipeline(args.model, args.train, args.val, batch_size=args.batch)
    pipeline.model = model_node(args.model, dropout=0.0)  # the head's dropout off too
    try:
        with stop_on_sigterm():  # as the headless runner does
            model = run_node("PtTrainTransformerClassificationModel", model=pipeline.model,
                             train_loader=pipeline.train_loader, optimizer=adamw_node(), loss_function=bce_node(),
                             epochs=args.epochs, seed=0, val_loader=pipeline.val_loader, lr_scheduler=warmup_node(),
                             precision="fp32", device="cpu", resume=args.resume,
                             early_stopping_patience=args.patience,
                             early_stopping_metric="val_accuracy", restore_best_weights=args.patience > 0,
                             keep_finished_checkpoints=True, tracking=args.tracking)[0]
    except UserInputError as exc:
        print(f"UserInputError: {exc}", flush=True)
        return 2
    except Terminated as exc:
        print(f"Terminated: {exc}", flush=True)
        return EXIT_CODE
    rank = int(os.environ.get("RANK", "0"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone() for k, v in model.network.state_dict().items()}, out / f"rank{rank}.pt")
    (out / f"history{rank}.json").write_text(json.dumps(model.history))
    (out / f"network{rank}.json").write_text(json.dumps(attempts))
    return 0


def _slow_steps(delay: float, out: Path) -> None:
    """Every progress step takes `delay` seconds more and is counted in <out>/steps<rank> (SIGTERM tests)."""
    import time

    from hf_text_finetune.modules.host import RuntimeHooks
    from hf_text_finetune.nodes import train_nodes

    marker = out / f"steps{os.environ.get('RANK', '0')}"
    out.mkdir(parents=True, exist_ok=True)

    class SlowHooks(RuntimeHooks):
        def progress(self, done, total, preview=None):
            marker.with_suffix(".tmp").write_text(str(done))
            marker.with_suffix(".tmp").replace(marker)  # whole, never read half-written
            time.sleep(delay)

    train_nodes.runtime_hooks = lambda node_id=None: SlowHooks()


def block_network() -> list:
    """Python-level connections (HTTP clients: the hub, a tracker) fail and are recorded; torch.distributed's
    own C++ sockets are not touched."""
    import socket

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[1:] or args)[:200])
        raise OSError("network blocked by the test")

    socket.socket.connect = refuse
    socket.create_connection = refuse
    return attempts


if __name__ == "__main__":
    sys.exit(main())
