"""Command line of the headless runner (see run_workflow.py at the pack root)."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from ..modules.errors import TrainingDivergedError, UserInputError
from ..modules.termination import EXIT_CODE as TERMINATED_EXIT
from ..modules.termination import Terminated, stop_on_sigterm
from ..modules.training.distributed import end_process_group, is_main_process
from .console import ConsoleProgress, summary
from .core_nodes import CORE_NODES
from .executor import Executor, apply_override
from .pt_wrapper import convert_file
from .workflow_format import load_workflow, to_api_prompt

log = logging.getLogger("hf_text_finetune.run")


def node_classes() -> dict:
    from .. import NODE_CLASS_MAPPINGS

    return {**CORE_NODES, **NODE_CLASS_MAPPINGS}


def run_file(path: str, overrides: list[str] | None = None, executor: Executor | None = None):
    classes = node_classes()
    prompt = to_api_prompt(load_workflow(path), classes)
    for assignment in overrides or []:
        apply_override(prompt, assignment, classes)
    executor = executor or Executor(classes)
    return prompt, executor.run(prompt)


def convert_pt_wrapper(source: str, target: str) -> int:
    """The CLI's own output: what was written and what the user should check."""
    try:
        notes = convert_file(source, target, node_classes())
    except UserInputError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    print(f"converted {source} -> {target}")
    for line in notes:
        print(f"  note: {line}")
    print(f"run it with: python run_workflow.py {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a ComfyUI workflow of HF Text Fine-Tune headless.")
    parser.add_argument("workflow", nargs="?", help="workflow JSON (UI format as saved by ComfyUI, or API format)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.input=value",
                        help="override a node input; NODE is a node id, title, class name or display name "
                             "(repeatable); the value is JSON or a plain string")
    parser.add_argument("--quiet", action="store_true", help="log warnings only")
    parser.add_argument("--convert-pt-wrapper", nargs=2, metavar=("IN", "OUT"),
                        help="convert a ComfyUI-Pt-Wrapper fine-tuning workflow IN into this pack's format, "
                             "written to OUT (then run OUT), and stop")
    args = parser.parse_args(argv)
    if args.convert_pt_wrapper:
        return convert_pt_wrapper(*args.convert_pt_wrapper)
    if not args.workflow:
        parser.error("give a workflow file (or --convert-pt-wrapper IN OUT)")
    main_process = is_main_process()  # under torchrun only rank 0 logs and prints the result
    logging.basicConfig(level=logging.WARNING if args.quiet or not main_process else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    started = time.perf_counter()
    bar = main_process and not args.quiet and sys.stderr.isatty()  # a terminal: a bar, else log lines
    try:
        with ConsoleProgress(bar), stop_on_sigterm():
            prompt, result = run_file(args.workflow, args.overrides)
    except (UserInputError, TrainingDivergedError) as exc:
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        log.error("cancelled (Ctrl-C)")
        return 130
    except Terminated as exc:
        log.warning("%s", exc)
        return TERMINATED_EXIT
    finally:
        end_process_group()
    if not main_process:
        return 0
    sys.stdout.flush()
    print(summary(prompt, result, time.perf_counter() - started), flush=True)
    return 0
