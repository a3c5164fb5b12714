"""The example workflows (examples/workflows/) run headless on tiny local models and csv files."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "examples" / "workflows"


def tiny_overrides(model_folder: Path, train_csv: Path, val_csv: Path) -> list[str]:
    """Point an IMDB example workflow at a tiny local model and csv files."""
    return [f"Model name.value={model_folder}", f"Train dataset.name={train_csv}",
            f"Validation dataset.name={val_csv}", "Validation dataset.split=train",
            "Train loader.batch_size=16", "Validation loader.batch_size=16"]


def run_example(filename: str, overrides: list[str]):
    from hf_text_finetune.runner.cli import run_file

    return run_file(str(WORKFLOWS / filename), overrides)


def node_output(prompt: dict, result, title: str) -> tuple:
    """Outputs of the node with this title in a headless run."""
    ids = [nid for nid, node in prompt.items() if node.get("_meta", {}).get("title") == title]
    assert len(ids) == 1, f"no single node titled {title}"
    return result.outputs[ids[0]]
