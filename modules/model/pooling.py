"""Which vector of the encoder the linear head reads, and `auto`: the one the model was trained to give.

A sentence-transformers model (all-MiniLM, mpnet-base-v2, ...) is trained with the pooling its
`1_Pooling/config.json` states (MiniLM: the mean of the real tokens), and its first token was
never trained to summarise the text; ModernBERT states `classifier_pooling` in its config. A
decoder summarises a text in its last real token (decoders.py). Everything else keeps the
long-standing `cls`. A saved folder records the resolved value, never `auto`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional

from ..errors import UserInputError
from ..model_folders import read_json as _read_json
from .decoders import check_decoder_choices, is_decoder

log = logging.getLogger(__name__)

AUTO = "auto"
LAST = "last"  # a decoder's last real token (Hugging Face's own head reads it)
POOLINGS = ("cls", "pooler", "mean")  # what the linear head computes
POOLING_CHOICES = (AUTO,) + POOLINGS  # the model node's widget: auto first, older workflows' values kept
_SENTENCE_TRANSFORMERS_MODES = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
_STATED_FIELDS = ("classifier_pooling",)  # config fields that name the model's own pooling (ModernBERT)


def check_pooling_choice(pooling: Optional[str]) -> None:
    if pooling is not None and pooling not in POOLING_CHOICES:
        raise UserInputError(f"pooling '{pooling}' is unknown; use one of {list(POOLING_CHOICES)} (auto = the "
                             "model's own)")


def _model_file(name: str, relative: str) -> Optional[Path]:
    """A small file of a local model folder, or of a hub model (downloaded or cached; None when unavailable)."""
    if os.path.isdir(name):
        path = Path(name) / relative
        return path if path.is_file() else None
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(name, relative))
    except Exception:  # no such file in the repository, offline, private: the model states nothing
        return None


def sentence_transformers_pooling(name: str) -> Optional[str]:
    """`mean` or `cls` where the folder is a sentence-transformers model whose Pooling module states one."""
    modules = _read_json(_model_file(name, "modules.json"))
    if not isinstance(modules, list):
        return None
    for module in modules:
        if isinstance(module, dict) and str(module.get("type", "")).endswith(".Pooling"):
            settings = _read_json(_model_file(name, f"{module.get('path', '')}/config.json".lstrip("/")))
            if not isinstance(settings, dict):
                return None
            chosen = [mode for key, mode in _SENTENCE_TRANSFORMERS_MODES.items() if settings.get(key)]
            if len(chosen) == 1 and not any(v for k, v in settings.items()
                                            if k.startswith("pooling_mode_") and k not in _SENTENCE_TRANSFORMERS_MODES):
                return chosen[0]
            log.info("%s: its sentence-transformers pooling %s has no linear-head equivalent; using cls", name,
                     {k: v for k, v in settings.items() if k.startswith("pooling_mode_") and v})
            return None
    return None


def stated_pooling(name: str, config: Any) -> Optional[str]:
    """The pooling the model's folder or config states, if any."""
    found = sentence_transformers_pooling(name)
    if found:
        return found
    for field in _STATED_FIELDS:
        value = getattr(config, field, None)
        if value in POOLINGS:
            return value
    return None


def resolve_pooling(name: str, config: Any, pooling: str = AUTO, head_type: Optional[str] = None) -> str:
    """The pooling a new classifier uses: `auto` becomes the model's own (decoders: `last`), an explicit
    value stays; values that cannot work on this model are refused with the fix."""
    check_pooling_choice(pooling)
    check_decoder_choices(name, config, pooling, head_type)
    if pooling != AUTO:
        return pooling
    if is_decoder(config):
        return LAST
    resolved = stated_pooling(name, config) or "cls"
    log.info("%s: pooling auto -> %s", name, resolved)
    return resolved
