"""Export a trained classifier to ONNX: `onnx/model.onnx` (fp32) and, when asked, `onnx/model_int8.onnx`, with
`onnx/export.json` saying what a program outside ComfyUI needs (inputs, labels, max length, output kind).

The exporter is PyTorch's own `torch.onnx.export(dynamo=True)` (torch.export + onnxscript): the
maintained path for transformers 5; optimum's exporter (optimum-onnx 0.1) requires transformers < 4.58
and does not import with transformers 5. LoRA adapters are merged first; batch and sequence axes are
dynamic. Every export is checked on the spot: ONNX Runtime's logits must equal PyTorch's within 1e-4 on a
sample of texts, or the file is not kept. int8 is ONNX Runtime's dynamic quantization (per-channel int8
weights of the matrix multiplies), made once and reused while the fp32 file is unchanged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import torch

from ..errors import UserInputError
from ..model.classifier import TextClassifier
from ..model.inference import length_sorted_batches, logits_in_order, torch_forward
from ..model.lora import merged_copy
from ..model_folders import short_detail
from ..precision import Precision
from .encoded_texts import encoded_rows, model_max_length, pad_id
from .onnx_card import add_onnx_section
from .onnx_session import (FP32_FILE, INFO_FILE, INT8_FILE, ONNX_FOLDER, network_digest, open_session, read_info,
                           require_onnxruntime, session_forward)

log = logging.getLogger(__name__)

TOLERANCE = 1e-4  # fp32 logits, ONNX Runtime against PyTorch
OPSET = 18
SAMPLE_TEXTS = ("A wonderful film with a moving story.", "Boring plot and wooden acting, I hated it.",
                "ok", "The acting was fine but the ending dragged on and on, and the second half never found "
                "the energy of the first; still, the music and the photography are worth seeing it for.")
_TOKEN_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}


@dataclass
class OnnxExport:
    folder: Path  # the onnx/ folder
    max_abs_diff: float  # fp32: ONNX Runtime against PyTorch on the sample
    sample_size: int
    int8_agreement: Optional[float] = None  # share of sample rows whose int8 label equals fp32's
    int8_max_abs_diff: Optional[float] = None

    def summary(self) -> str:
        lines = [f"exported {self.folder / FP32_FILE}: ONNX Runtime's logits equal PyTorch's within "
                 f"{self.max_abs_diff:.1e} (limit {TOLERANCE:.0e}) on {self.sample_size} sample texts"]
        if self.int8_agreement is not None:
            lines.append(f"int8 {self.folder / INT8_FILE}: same label as fp32 on {self.int8_agreement:.0%} of the "
                         f"sample, logits within {self.int8_max_abs_diff:.3f}")
        return "\n".join(lines)


def check_exporter() -> None:
    """onnxruntime, onnx and onnxscript are optional extras: one clear message when one is missing."""
    require_onnxruntime("ONNX export")
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise UserInputError("ONNX export needs the optional packages onnx and onnxscript, which are not installed; "
                             "install them with `pip install onnxruntime onnx onnxscript`") from None


def input_names(network: torch.nn.Module, row: dict) -> list[str]:
    """Token inputs the graph takes: what the tokenizer gives and the encoder reads (token type ids only where
    the architecture takes them)."""
    ids = torch.zeros(1, 1, dtype=torch.long)
    takes = network.encoder_inputs(ids, ids, ids)
    return [k for k in _TOKEN_FIELDS if k in row and k in takes]


def _sample(model: TextClassifier, texts: Optional[Sequence[str]]) -> list[dict]:
    texts = [t for t in (texts or SAMPLE_TEXTS) if t.strip()] or list(SAMPLE_TEXTS)
    pairs = list(reversed(texts)) if model.text_pairs else None
    rows, _ = encoded_rows(model, texts, pairs)
    return rows


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter and the quantizer log each graph pass at INFO (dozens of lines); only warnings pass."""
    names = ("onnx_ir", "onnxscript", "torch.onnx", "torch.export", "")  # "": the quantizer logs to the root
    loggers = [logging.getLogger(name) for name in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _write_graph(network: torch.nn.Module, names: list[str], rows: list[dict], model: TextClassifier,
                 path: Path) -> None:
    batch = next(length_sorted_batches(rows, pad_id(model), len(rows)))[1]
    batch.setdefault("attention_mask", torch.ones_like(batch["input_ids"]))  # left out when nothing is padded
    axes = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad(), _quiet_exporter():
        warnings.simplefilter("ignore")
        torch.onnx.export(network, (), str(path), kwargs={k: batch[k] for k in names}, input_names=names,
                          output_names=["logits"], dynamic_shapes={k: axes for k in names}, opset_version=OPSET,
                          dynamo=True, external_data=False, verbose=False)


def _check_fp32(path: Path, network: torch.nn.Module, rows: list[dict], model: TextClassifier) -> float:
    """Largest |ONNX Runtime - PyTorch| over the sample's logits, batched as Predict batches them."""
    expected = _logits(torch_forward(network, torch.device("cpu"), Precision("fp32", "cpu")), rows, model)
    got = _logits(session_forward(open_session(path)), rows, model)
    return float((got - expected).abs().max())


def _logits(forward, rows: list[dict], model: TextClassifier) -> torch.Tensor:
    batches = length_sorted_batches(rows, pad_id(model), 3)  # several batches of several lengths
    return logits_in_order(forward, batches, len(rows), model.num_outputs)


def quantize_int8(source: Path, target: Path) -> None:
    """ONNX Runtime's dynamic int8 quantization of `source` into `target` (written whole, then renamed)."""
    require_onnxruntime("int8 ONNX")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = target.with_name(f".{target.name}.partial")
    with warnings.catch_warnings(), _quiet_exporter():
        warnings.simplefilter("ignore")
        quantize_dynamic(str(source), str(partial), per_channel=True, reduce_range=False,
                         weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
    os.replace(partial, target)


def _labels(logits: torch.Tensor, kind: str) -> torch.Tensor:
    """One row of decisions per text: argmax for multi-class, each logit's sign otherwise."""
    return logits.argmax(-1, keepdim=True) if kind == "multi_class" else (logits > 0).long()


def export_info(model: TextClassifier, names: list[str], digest: str, fp32_diff: float) -> dict:
    """What export.json records: enough for the torch-free snippet, and the weights it came from."""
    import onnxruntime

    tokenizer = model.tokenizer
    return {"format": "hf-text-finetune-onnx", "exporter": f"torch.onnx dynamo (torch {torch.__version__})",
            "opset": OPSET, "onnxruntime": onnxruntime.__version__, "weights_digest": digest,
            "inputs": {k: _TOKEN_FIELDS[k] for k in names}, "output": "logits",
            "output_kind": model.output_kind, "labels": model.output_labels(), "max_length": model_max_length(model),
            "pad_id": pad_id(model), "pad_token": getattr(tokenizer, "pad_token", None) or "[PAD]",
            "text_pairs": model.text_pairs, "truncation": model.truncation_rule.to_dict(),
            "windows": asdict(model.windows) if model.windows.enabled else None, "strip_html": True,
            "threshold": getattr(model, "calibrated_threshold", None),  # a calibration's stored threshold
            "max_abs_diff_fp32": fp32_diff, "int8": None}


def export_classifier_onnx(model: TextClassifier, folder: Path | str, int8: bool = False,
                           sample_texts: Optional[Sequence[str]] = None) -> OnnxExport:
    """Write `folder/onnx/model.onnx` (and model_int8.onnx with `int8`) for `model`, checked against PyTorch on
    `sample_texts` (a few built-in ones when None); the classifier is not changed."""
    check_exporter()
    model.require_tokenizer("be exported")
    out = Path(folder) / ONNX_FOLDER
    out.mkdir(parents=True, exist_ok=True)
    network = merged_copy(model.network, torch.float32).eval()
    rows = _sample(model, sample_texts)
    names = input_names(network, rows[0])
    partial = out / f".{FP32_FILE}.partial"
    try:
        _write_graph(network, names, rows, model, partial)
        diff = _check_fp32(partial, network, rows, model)
    except UserInputError:
        raise
    except Exception as exc:
        partial.unlink(missing_ok=True)
        raise UserInputError(f"exporting {model.model_name} to ONNX failed ({type(exc).__name__}: "
                             f"{short_detail(exc, 300)}); use backend torch for this model") from exc
    if not diff <= TOLERANCE:
        partial.unlink(missing_ok=True)
        raise UserInputError(f"the ONNX export of {model.model_name} differs from PyTorch by {diff:.2e} (more than "
                             f"{TOLERANCE:.0e}) on the sample texts, so it was not kept; use backend torch")
    os.replace(partial, out / FP32_FILE)
    (out / INT8_FILE).unlink(missing_ok=True)  # an int8 file of earlier weights must not survive
    info = export_info(model, names, network_digest(model.network), diff)
    result = OnnxExport(out, diff, len(rows))
    if int8:
        info["int8"] = _add_int8(out, rows, model, result)
    (out / INFO_FILE).write_text(json.dumps(info, indent=2))
    log.info("%s", result.summary())
    return result


def _add_int8(out: Path, rows: list[dict], model: TextClassifier, result: OnnxExport) -> dict:
    quantize_int8(out / FP32_FILE, out / INT8_FILE)
    fp32 = _logits(session_forward(open_session(out / FP32_FILE)), rows, model)
    int8 = _logits(session_forward(open_session(out / INT8_FILE)), rows, model)
    kind = model.output_kind
    same = (_labels(fp32, kind) == _labels(int8, kind)).all(-1) if kind != "regression" else torch.ones(len(fp32))
    result.int8_agreement = float(same.float().mean())
    result.int8_max_abs_diff = float((fp32 - int8).abs().max())
    return {"file": INT8_FILE, "quantization": "dynamic int8, per-channel weights", "label_agreement":
            result.int8_agreement, "max_abs_diff": result.int8_max_abs_diff}


def export_saved_folder(folder: Path | str, int8: bool = False,
                        sample_texts: Optional[Sequence[str]] = None) -> OnnxExport:
    """Export the classifier saved in `folder` into its own `onnx/`, and add the ONNX section to its model card
    (the Export node and scripts/export_onnx.py)."""
    from .loading import load_classifier, saved_folder

    folder = saved_folder(folder)
    model = load_classifier(folder, restore_training_state=False)
    result = export_classifier_onnx(model, folder, int8, sample_texts)
    add_onnx_section(folder, read_info(result.folder) or {})
    return result
