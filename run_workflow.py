"""Run a ComfyUI workflow file of this pack headless, in this process, without a server.

    python run_workflow.py examples/workflows/distilbert_classification.json \
        --set "Ptv Hf Dataset With Token Encode.name=reviews.csv" --set model_name=./my-model

See `python run_workflow.py --help` and docs/headless.md.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PACK_NAME = "hf_text_finetune"
ROOT = Path(__file__).resolve().parent


def load_pack():
    """Import this folder as the package `hf_text_finetune`, whatever the folder is called."""
    if PACK_NAME in sys.modules:
        return sys.modules[PACK_NAME]
    spec = importlib.util.spec_from_file_location(PACK_NAME, ROOT / "__init__.py",
                                                  submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = module
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    try:
        load_pack()
        from hf_text_finetune.runner.cli import main

        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C while the pack and torch are still being imported
        sys.stderr.write("cancelled (Ctrl-C)\n")
        sys.exit(130)
