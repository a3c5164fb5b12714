"""An exported folder runs without PyTorch: the model card's snippet (onnxruntime, tokenizers and numpy only),
run in a virtual environment that has neither torch nor transformers, gives Predict's labels; and optimum's
ORTModelForSequenceClassification + pipeline loads it where optimum is installable.

The environment is made once and kept under ~/.cache (pip installs from the configured index, offline here);
where pip cannot install the three packages the test is skipped with pip's reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import torch
from helpers.classifiers import TEXTS, ready_model

from hf_text_finetune.modules.model.classifier import MULTI_LABEL, SINGLE_LABEL
from hf_text_finetune.modules.results.backends import CACHE_ENV
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.onnx_card import TORCH_FREE_SNIPPET
from hf_text_finetune.modules.results.onnx_export import export_saved_folder
from hf_text_finetune.modules.results.prediction import predict_texts
from hf_text_finetune.modules.results.saving import save_classifier

pytest.importorskip("onnxruntime", reason="onnxruntime is an optional extra")
pytest.importorskip("onnxscript", reason="the exporter needs onnxscript (optional extra)")

VENV = Path(os.environ.get("HF_TEXT_FINETUNE_TEST_VENV",
                           Path.home() / ".cache" / "hf-text-finetune" / "test-venvs" / "onnx-without-torch"))
PACKAGES = ("onnxruntime", "tokenizers", "numpy")
MANY = [TEXTS[i % 4] + " " + TEXTS[(3 * i) % 4] * (i % 3 + 1) for i in range(12)]


def _python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


@pytest.fixture(scope="session")
def torch_free_python() -> Path:
    """A virtual environment with onnxruntime, tokenizers and numpy and without torch or transformers."""
    python = _python(VENV)
    probe = "import onnxruntime, tokenizers, numpy"
    if not (python.is_file() and subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0):
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:
            pytest.skip(f"pip could not install {PACKAGES} into a fresh environment: {done.stderr.strip()[-300:]}")
    check = "import importlib.util as u; print(u.find_spec('torch') is None and u.find_spec('transformers') is None)"
    assert subprocess.run([str(python), "-c", check], capture_output=True, text=True).stdout.strip() == "True"
    return python


def _exported(tiny_bert, tmp_path, outputs: int, problem: str, names: list[str]) -> Path:
    model = ready_model(tiny_bert, outputs, "hf_sequence_classification", names, problem)
    with torch.no_grad():
        for name, param in model.network.named_parameters():
            if "classifier" in name:
                param.mul_(30)  # decided logits, as a trained head gives
    folder = save_classifier(model, tmp_path / "out", "clf").folder
    export_saved_folder(folder)
    return folder


@pytest.mark.parametrize("outputs,problem", [(1, SINGLE_LABEL), (2, SINGLE_LABEL), (3, SINGLE_LABEL), (3, MULTI_LABEL)])
def test_the_card_snippet_gives_predicts_labels_without_torch(torch_free_python, tiny_bert, tmp_path, monkeypatch,
                                                                outputs, problem):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    names = ["neg", "pos"] if outputs <= 2 else ["sport", "film", "food"]
    folder = _exported(tiny_bert, tmp_path, outputs, problem, names)
    program = TORCH_FREE_SNIPPET.format(folder=folder) + f"\nimport json\nprint(json.dumps(classify({MANY!r})))\n"
    assert len(TORCH_FREE_SNIPPET.strip().splitlines()) <= 30  # short enough to copy from the card
    done = subprocess.run([str(torch_free_python), "-c", program], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    expected = [p.label for p in predict_texts(load_classifier(folder), MANY, strip_html_tags=True)]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == expected


def test_optimum_loads_the_export_with_pipeline_where_it_is_installable(tiny_bert, tmp_path, monkeypatch):
    try:
        from optimum.onnxruntime import ORTModelForSequenceClassification
    except Exception as exc:  # not installed, or optimum-onnx 0.1 on transformers 5 (it needs < 4.58)
        pytest.skip(f"optimum's ONNX Runtime classes cannot be imported here: {type(exc).__name__}: {exc}")
    from transformers import AutoTokenizer, pipeline

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    folder = _exported(tiny_bert, tmp_path, 1, SINGLE_LABEL, ["neg", "pos"])
    ort_model = ORTModelForSequenceClassification.from_pretrained(str(folder), subfolder="onnx",
                                                                  file_name="model.onnx")
    pipe = pipeline("text-classification", model=ort_model, tokenizer=AutoTokenizer.from_pretrained(str(folder)))
    expected = [p.label for p in predict_texts(load_classifier(folder), MANY)]
    assert [r["label"] for r in pipe(MANY)] == expected


def test_the_docs_show_the_snippet_tested_here():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "saving_and_loading.md").read_text(encoding="utf-8")
    assert TORCH_FREE_SNIPPET.format(folder="output/imdb_00001") in docs
