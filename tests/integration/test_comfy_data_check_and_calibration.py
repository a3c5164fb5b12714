"""Real ComfyUI (harness in ../shared/comfy): the check-train-calibrate template runs on the tiny model and
data. The data check shows its counts and advice on the node, Calibrate shows the temperature and ECE,
Evaluate's summary ends with the ECE, and the saved folder's model card records the calibration."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comfy_client import ROOT, harness_ready, trainer_text  # noqa: E402

pytestmark = [pytest.mark.comfy, pytest.mark.skipif(harness_ready() is not None, reason=str(harness_ready()))]
TEMPLATE = ROOT / "examples" / "workflows" / "check_train_calibrate.json"


def _shown(history: dict, title: str) -> str:
    nodes = json.loads(TEMPLATE.read_text())["nodes"]
    (node,) = [str(n["id"]) for n in nodes if n.get("title") == title]
    return trainer_text(history, node)


def test_check_train_calibrate_template_runs_in_comfyui(server, tiny, tmp_path):
    settings = {"Model name.value": str(tiny["model"]), "Hf Tokenizer Encode.max_length": 32,
                "Train dataset.name": str(tiny["train"]), "Test dataset.name": str(tiny["val"]),
                "Test dataset.split": "train", "Data check.name": str(tiny["train"]),
                "Data check.validation_name": str(tiny["val"]), "Data check.validation_split": "train",
                "Validation split.validation_fraction": 0.25, "Train loader.batch_size": 8,
                "Validation loader.batch_size": 8, "Pto AdamW.learning_rate": 0.005}
    done = server.run_workflow(TEMPLATE, tmp_path, settings)
    assert done.returncode == 0 and "RESULT: PASS" in done.stdout, done.stdout[-5000:]
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["status"]["status_str"] == "success"
    report = _shown(history, "Data check")
    assert report.startswith(f"train: {tiny['train']}[train], 48 rows") and "recommendations:" in report
    calibration = _shown(history, "Calibrate")
    assert calibration.startswith("temperature ") and "ECE (15 bins):" in calibration and "threshold" in calibration
    assert "\nECE (15 bins): " in _shown(history, "Evaluate on test")
    saved = _shown(history, "Save model")
    folder = Path(saved.splitlines()[0][len("saved to "):])
    card = (folder / "README.md").read_text()
    assert "## Calibration" in card and json.loads((folder / "classifier.json").read_text())["calibration"]
