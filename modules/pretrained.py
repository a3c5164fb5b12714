"""Load Hugging Face tokenizers, configs and encoders by hub id or local folder.

Every failure becomes a `UserInputError` that names the value and the fix, so a
misspelt model name reads as such in ComfyUI instead of a 40-line OSError.
"""

from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from .cpu_attention import use_fp32_cpu_attention
from .errors import UserInputError
from .local_paths import ANY_PATH, Folders, PathRules, check_plain_text, confine, find_local, list_model_folders, not_found_error
from .model_folders import (check_remote_code, check_tokenizer_files, check_tokenizer_vocabulary,
                            file_instead_of_folder, local_load_failed, remote_code_refused)

log = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
# Architectures whose position ids start after the padding index (2 slots unusable).
_POSITION_OFFSET_TYPES = {"roberta", "xlm-roberta", "camembert", "longformer", "mpnet", "bart", "xlm-roberta-xl"}
_NO_LIMIT = 1_000_000  # tokenizers report 1e30 when they know no limit


def looks_like_path(name: str) -> bool:
    return (
        os.path.isabs(name)
        or name.startswith(("./", "../", "~", ".\\", "..\\"))
        or "\\" in name
        or name.count("/") > 1
    )


def normalize_model_name(model_name: str) -> str:
    """Check the shape of a model name; return it stripped (and with ~ expanded)."""
    name = (model_name or "").strip()
    if not name:
        raise UserInputError("model_name is empty; give a hub id such as distilbert-base-uncased or a local folder")
    expanded = os.path.expanduser(name)
    if os.path.isdir(expanded):
        if not (Path(expanded) / "config.json").is_file():
            raise UserInputError(
                f"model folder '{name}' has no config.json; give a folder written by save_pretrained "
                "(config.json, weights and tokenizer files)"
            )
        return expanded
    if os.path.isfile(expanded):
        raise file_instead_of_folder(name, Path(expanded))
    if looks_like_path(name) or os.path.exists(expanded):
        raise UserInputError(
            f"model folder '{name}' does not exist; check the path, or give a hub id such as distilbert-base-uncased"
        )
    if not _HUB_ID.match(name):
        raise UserInputError(
            f"model_name '{name}' is neither a local folder nor a valid Hugging Face hub id "
            "(letters, digits, '-', '_', '.', at most one '/'), e.g. distilbert-base-uncased or "
            "distilbert/distilbert-base-uncased"
        )
    return name


def resolve_model_name(name: Optional[str], folders: Folders, rules: PathRules = ANY_PATH,
                       must_be_local: bool = False) -> Optional[str]:
    """A local model folder as a path (its real path where paths are confined), or the hub id unchanged.

    A bare name is looked up in the models folders first, so one name typed into a String node feeds the
    tokenizer and the model node alike; a name found nowhere that reads as a path (or was picked from the
    list) is refused naming the folders searched; anything else is a hub id, checked when loading."""
    if name is None:
        return None
    text = name.strip()
    check_plain_text(text, "model_name")
    found = find_local(text, folders) if text else None
    if found is not None:
        return str(confine(found, text, "model folder", rules))
    expanded = Path(os.path.expanduser(text))
    if expanded.is_absolute():  # outside the allowed folders: say so first; else normalize says it is missing
        confine(expanded, text, "model folder", rules)
        return text
    if text and (must_be_local or looks_like_path(text)):
        raise not_found_error(text, "model folder", folders, list_model_folders(folders),
                              "Pick a folder from the node's local_model list, copy the model folder (config.json, "
                              "weights, tokenizer files) into one of them, or give a hub id such as "
                              "distilbert-base-uncased")
    return text


def load_failed(kind: str, name: str, exc: Exception) -> UserInputError:
    """The reason a config, tokenizer or weights did not load, in the user's terms."""
    if isinstance(exc, UserInputError):
        return exc  # already says what is wrong and the fix: never wrapped in itself
    if os.path.isdir(name):
        return local_load_failed(kind, Path(name), exc)
    if "trust_remote_code" in str(exc):
        return remote_code_refused(name)
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return UserInputError(
        f"could not load the {kind} for model '{name}': it is not a local folder and the Hugging Face hub "
        f"did not provide it (unknown id, private repository, or no network and not cached). Check the "
        f"spelling (e.g. distilbert-base-uncased, roberta-base) or give a local folder. Details: {first_line}"
    )


def load_config(model_name: str, trust_remote_code: bool = False) -> Any:
    from transformers import AutoConfig

    name = normalize_model_name(model_name)
    if os.path.isdir(name):
        check_remote_code(Path(name), trust_remote_code)
    try:
        return AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as exc:
        raise load_failed("config", name, exc) from exc


def load_tokenizer(model_name: str, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    name = normalize_model_name(model_name)
    local = os.path.isdir(name)
    if local:
        check_remote_code(Path(name), trust_remote_code)
        check_tokenizer_files(Path(name))
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
    except Exception as exc:  # a damaged local file raises whatever its parser raises
        if not local and not isinstance(exc, (OSError, ValueError, KeyError, TypeError)):
            raise
        raise load_failed("tokenizer", name, exc) from exc
    check_tokenizer_vocabulary(tokenizer, name)
    ensure_pad_token(tokenizer)
    if not getattr(tokenizer, "is_fast", False):
        log.warning("tokenizer for %s is a slow (Python) tokenizer; tokenization will be slower", name)
    return tokenizer


def ensure_pad_token(tokenizer: Any) -> None:
    """A tokenizer without a pad token (Llama, GPT-2, Mistral) pads with its end-of-text token, as their model
    cards do: batches then mark where a text ends with a token the model knows (modules/model/decoders.py)."""
    if getattr(tokenizer, "pad_token", None) is not None or getattr(tokenizer, "eos_token", None) is None:
        return
    tokenizer.pad_token = tokenizer.eos_token
    log.info("the tokenizer has no pad token; padding with its end-of-text token %r", tokenizer.eos_token)


def load_pretrained(auto_class: Any, model_name: str, config: Any, trust_remote_code: bool = False,
                    dtype: Any = None) -> Any:
    """`auto_class.from_pretrained` in fp32 (or `dtype`) with PyTorch's fused attention where the model supports it.

    fp32 master weights: transformers v5 would otherwise keep a checkpoint's half-precision dtype; bf16 only
    when asked (modules/model/weight_dtype.py), loaded so directly, never through an fp32 copy.
    A ValueError that is not about attention (e.g. no such head for this architecture) propagates.
    """
    import torch

    name = normalize_model_name(model_name)
    local = os.path.isdir(name)
    if local:
        check_remote_code(Path(name), trust_remote_code)
    kwargs: dict[str, Any] = {"config": config, "trust_remote_code": trust_remote_code, "dtype": dtype or torch.float32,
                              "output_loading_info": True}
    try:
        with _own_load_report():
            try:
                model, info = auto_class.from_pretrained(name, attn_implementation="sdpa", **kwargs)
            except ValueError as exc:
                if "sdpa" not in str(exc).lower() and "attn_implementation" not in str(exc):
                    raise
                log.info("%s does not support SDPA attention; using its default attention", name)
                model, info = auto_class.from_pretrained(name, **kwargs)
        report_loading(model, name, info)
        use_fp32_cpu_attention(model)
        return model
    except (OSError, KeyError) as exc:
        raise load_failed("model weights", name, exc) from exc
    except UserInputError:
        raise
    except Exception as exc:  # safetensors and torch raise their own error types for a damaged file
        if not local or (isinstance(exc, ValueError) and "Unrecognized configuration class" in str(exc)):
            raise
        raise load_failed("model weights", name, exc) from exc


class _HoldBackLoadReport(logging.Filter):
    """Drops transformers' load report (v5 "LOAD REPORT" table, v4 "Some weights of ..." lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return "LOAD REPORT" not in message and not message.startswith("Some weights of")


@contextmanager
def _own_load_report() -> Iterator[None]:
    """Hold back transformers' own load report: `report_loading` says the same in the pack's words.

    Its table (a WARNING) lists the new classification head as MISSING on every fine-tuning run,
    which reads as a fault; with CI=true it even reaches the runner's summary through the root logger.
    A filter, not a raised level: transformers runs extra checks when that logger's level is WARNING or more.
    """
    hf_logger = logging.getLogger("transformers.modeling_utils")
    hold_back = _HoldBackLoadReport()
    hf_logger.addFilter(hold_back)
    try:
        yield
    finally:
        hf_logger.removeFilter(hold_back)


def report_loading(model: Any, name: str, info: dict[str, Any]) -> None:
    """Say which weights the checkpoint did not provide: a new head is expected, a missing encoder part is not."""
    prefix = getattr(model, "base_model_prefix", "") or ""
    has_head = prefix and hasattr(model, prefix) and getattr(model, prefix) is not model
    missing = sorted(info.get("missing_keys") or [])
    head = [key for key in missing if has_head and not key.startswith(prefix + ".")]
    encoder = [key for key in missing if key not in head]
    if head:
        log.info("%s: new classification head %s starts from random weights (expected: fine-tuning trains it)",
                 name, ", ".join(sorted({key.rsplit(".", 1)[0] for key in head})))
    if encoder:
        shown = ", ".join(encoder[:5]) + (f" and {len(encoder) - 5} more" if len(encoder) > 5 else "")
        log.warning("%s: %d encoder weight(s) are not in the checkpoint and start from random values (%s); "
                    "check that the model id or folder is the encoder you meant", name, len(encoder), shown)
    unused = info.get("unexpected_keys") or []
    if unused:
        log.info("%s: %d checkpoint weight(s) not used by this model (e.g. a pretraining head): %s",
                 name, len(unused), ", ".join(sorted(unused)[:5]))


def load_encoder(model_name: str, config: Any, trust_remote_code: bool = False, dtype: Any = None) -> Any:
    """The bare encoder (no task head)."""
    from transformers import AutoModel

    try:
        return load_pretrained(AutoModel, model_name, config, trust_remote_code, dtype)
    except ValueError as exc:
        raise load_failed("model weights", model_name, exc) from exc


def model_max_positions(config: Any) -> int | None:
    """How many tokens the encoder's position embeddings can take (None: no limit)."""
    positions = getattr(config, "max_position_embeddings", None)
    if positions is None:
        return None
    if getattr(config, "model_type", "") in _POSITION_OFFSET_TYPES:
        positions -= (getattr(config, "pad_token_id", 1) or 1) + 1
    return int(positions)


def check_max_length(requested: Optional[int], maximum: Optional[int] = None) -> None:
    """0 or more (None: linked); the model's maximum, once known, is named in the fix."""
    if requested is not None and requested < 0:
        known = f" ({maximum})" if maximum else ""
        raise UserInputError(f"max_length {requested} is negative; use 0 for the model's maximum{known}")


def resolve_max_length(requested: int, tokenizer: Any, config: Any, model_name: str) -> int:
    """0 means the model's own maximum; more than the maximum is an error, not a silent crop."""
    limits = [model_max_positions(config)]
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if tok_limit is not None and tok_limit < _NO_LIMIT:
        limits.append(int(tok_limit))
    known = [limit for limit in limits if limit]
    maximum = min(known) if known else 512
    check_max_length(requested, maximum)
    if requested == 0:
        return maximum
    if requested > maximum:
        raise UserInputError(
            f"max_length {requested} is above the maximum of model '{model_name}' ({maximum} tokens); "
            f"use {maximum} or less, or 0 for the model's maximum"
        )
    return requested
