"""What ComfyUI reads from the pack: the exact node names users follow in the guide, one category
root, a description on every node, a tooltip on every input, and an import that stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers.workflows import ROOT

import hf_text_finetune
from hf_text_finetune import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
GUIDE_NAMES = {  # issue 2: these keys and display names, exactly
    "HfTokenizerEncode": "Hf Tokenizer Encode",
    "PtvHfDatasetWithTokenEncode": "Ptv Hf Dataset With Token Encode",
    "PtDataLoader": "Pt Data Loader",
    "PtoAdamW": "Pto AdamW",
    "PtnBCEWithLogitsLoss": "Ptn BCE With Logits Loss",
    "PtnHfFineTunedClassificationModel": "Ptn Hf Fine Tuned Classification Model",
    "PtTrainTransformerClassificationModel": "Pt Train Transformer Classification Model",
    "PtTrainFineTuneClassificationTransformerModel": "Pt Train Fine Tune Classification Transformer Model",
}
CORE_EXTRAS = {"PtoAdam", "PtoSGD", "PtnCrossEntropyLoss", "PtoLrSchedulerWarmup", "PtoLrSchedulerStep",
               "PtoLrSchedulerCosineAnnealing", "PtoLrSchedulerReduceOnPlateau"}


def test_guide_node_ids_and_display_names_are_exact():
    for key, display in GUIDE_NAMES.items():
        assert key in NODE_CLASS_MAPPINGS, key
        assert NODE_DISPLAY_NAME_MAPPINGS[key] == display
    assert CORE_EXTRAS <= set(NODE_CLASS_MAPPINGS), "Adam, SGD, cross-entropy and the four schedulers"
    assert set(NODE_DISPLAY_NAME_MAPPINGS) == set(NODE_CLASS_MAPPINGS)
    assert len(set(NODE_DISPLAY_NAME_MAPPINGS.values())) == len(NODE_DISPLAY_NAME_MAPPINGS)


@pytest.mark.parametrize("key", sorted(NODE_CLASS_MAPPINGS))
def test_node_is_described_and_every_input_has_a_tooltip(key):
    cls = NODE_CLASS_MAPPINGS[key]
    assert isinstance(cls.DESCRIPTION, str) and len(cls.DESCRIPTION) > 20
    assert cls.CATEGORY.startswith("HF Text Fine-Tune/")
    assert callable(getattr(cls, cls.FUNCTION))
    spec = cls.INPUT_TYPES()
    for section in ("required", "optional"):
        for name, entry in spec.get(section, {}).items():
            options = entry[1] if len(entry) > 1 else {}
            assert options.get("tooltip"), f"{key}.{name} has no tooltip"
    names = getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)
    assert len(names) == len(cls.RETURN_TYPES)
    if hasattr(cls, "OUTPUT_TOOLTIPS"):
        assert len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES)


def test_web_directory_exists_when_declared():
    web = getattr(hf_text_finetune, "WEB_DIRECTORY", None)
    if web is not None:
        assert (ROOT / web).is_dir()


def test_importing_the_pack_stays_light():
    """ComfyUI imports every custom node pack at start-up: no transformers/datasets/peft there."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import run_workflow; run_workflow.load_pack(); "
            "heavy = [m for m in ('transformers', 'datasets', 'peft', 'matplotlib', 'sklearn', 'pandas') "
            "if m in sys.modules]; print(heavy)")
    completed = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
