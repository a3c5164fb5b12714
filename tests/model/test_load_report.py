"""Loading pretrained weights says, in the pack's words, what the checkpoint did not provide."""

from __future__ import annotations

import logging
import shutil

from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from hf_text_finetune.modules.pretrained import load_pretrained

PACK_LOGGER = "hf_text_finetune.modules.pretrained"


def _load(auto_class, folder, caplog):
    config = AutoConfig.from_pretrained(folder, num_labels=2)
    with caplog.at_level(logging.INFO):
        return load_pretrained(auto_class, str(folder), config)


def test_a_new_classification_head_is_reported_as_expected_not_as_a_fault(tiny_models, caplog):
    _load(AutoModelForSequenceClassification, tiny_models["distilbert"], caplog)
    ours = [r for r in caplog.records if r.name == PACK_LOGGER]
    assert any("new classification head" in r.getMessage() and "classifier" in r.getMessage() for r in ours)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [r.getMessage() for r in caplog.records]
    assert not any("LOAD REPORT" in r.getMessage() for r in caplog.records)


def test_encoder_weights_missing_from_the_checkpoint_are_a_warning_that_names_them(tiny_bert, tmp_path, caplog):
    folder = tmp_path / "damaged"
    shutil.copytree(tiny_bert, folder)
    weights = load_file(folder / "model.safetensors")
    dropped = next(key for key in weights if "layer.0.attention.self.query.weight" in key)
    save_file({k: v for k, v in weights.items() if k != dropped}, folder / "model.safetensors",
              metadata={"format": "pt"})
    _load(AutoModel, folder, caplog)
    warnings = [r.getMessage() for r in caplog.records if r.name == PACK_LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "query.weight" in warnings[0] and "check that the model id" in warnings[0]


def test_the_filter_is_removed_after_loading(tiny_bert, caplog):
    _load(AutoModel, tiny_bert, caplog)
    assert not logging.getLogger("transformers.modeling_utils").filters
