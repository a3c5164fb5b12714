"""Export a saved classifier folder to ONNX without ComfyUI: the headless path of the Pt Export
Classification Model ONNX node (same module function, same checks).

    python scripts/export_onnx.py path/to/saved_folder [--int8] [--sample-texts texts.txt]

Writes onnx/model.onnx (and onnx/model_int8.onnx with --int8), onnx/export.json and the ONNX section
of the folder's README.md; logs the measured difference from PyTorch. Exit status 1 with one clear
line when the folder, the optional packages or the check say no.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a folder written by Pt Save Classification Model")
    parser.add_argument("--int8", action="store_true", help="also write onnx/model_int8.onnx")
    parser.add_argument("--sample-texts", type=Path, help="a text file, one sample text per line, to check on")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.path.insert(0, str(ROOT))
    import run_workflow

    run_workflow.load_pack()
    from hf_text_finetune.modules.errors import UserInputError
    from hf_text_finetune.modules.results.onnx_export import export_saved_folder

    texts = None
    if args.sample_texts:
        texts = [t.strip() for t in args.sample_texts.read_text(encoding="utf-8").splitlines() if t.strip()]
    try:
        export_saved_folder(args.folder, args.int8, texts)
    except UserInputError as exc:
        logging.getLogger("export_onnx").error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
