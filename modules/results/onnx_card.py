"""The model card's ONNX section: how to run `onnx/` without PyTorch, and what the ONNX graph does not carry.

The graph maps token ids to logits. What happens before (cutting long texts, windows, stripping HTML)
and after (sigmoid or softmax, the decision threshold, a stored calibration) is the caller's; the
section says which of these this model needs, with code that reproduces them. `TORCH_FREE_SNIPPET` is
the ~15-line program tested in a virtual environment without torch or transformers
(tests/results/test_onnx_without_torch.py) and shown in docs/saving_and_loading.md.
"""

from __future__ import annotations

from pathlib import Path

from .onnx_session import INT8_FILE

SECTION_START = "<!-- onnx-export -->"
SECTION_END = "<!-- /onnx-export -->"

TORCH_FREE_SNIPPET = '''import json
import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

folder = "{folder}"
info = json.load(open(f"{{folder}}/onnx/export.json"))
tokenizer = Tokenizer.from_file(f"{{folder}}/tokenizer.json")
tokenizer.enable_truncation(info["max_length"])  # head truncation: see below for head+tail and windows
tokenizer.enable_padding(pad_id=info["pad_id"], pad_token=info["pad_token"])
session = ort.InferenceSession(f"{{folder}}/onnx/model.onnx", providers=["CPUExecutionProvider"])


def classify(texts, threshold=info["threshold"] or 0.5):
    rows = tokenizer.encode_batch(texts)  # pairs: encode_batch([(first, second), ...])
    feeds = {{name: np.array([getattr(r, field) for r in rows], dtype=np.int64) for name, field in info["inputs"].items()}}
    logits = session.run(["logits"], feeds)[0]
    if info["output_kind"] == "regression":
        return logits[:, 0].tolist()
    if info["output_kind"] == "multi_class" and logits.shape[1] > 2:
        return [info["labels"][i] for i in logits.argmax(-1)]
    if info["output_kind"] == "multi_class":  # two classes: softmax P(second) = sigmoid(difference)
        logits = logits[:, 1:] - logits[:, :1]
    probs = 1 / (1 + np.exp(-logits))  # binary: one logit; multi-label: one per label
    if info["output_kind"] != "multi_label":  # one or two classes: the threshold decides
        return [info["labels"][int(p >= threshold)] for p in probs[:, 0]]
    return [[n for n, p in zip(info["labels"], row) if p >= threshold] for row in probs]
'''

_HEAD_TAIL = '''Training kept the head and the tail of long texts ({share:g} of the kept tokens from the start, the
rest from the end); the tokenizer above keeps only the head. To repeat the cut (one special token at each
end, as BERT- and RoBERTa-like tokenizers add to a single text):

```python
tokenizer.no_truncation()
tokenizer.no_padding()


def head_tail(ids, max_length={max_length}, head_share={share}):
    if len(ids) <= max_length:
        return ids
    body, room = ids[1:-1], max_length - 2
    head = min(max(int(room * head_share + 0.5), 1), room - 1)
    return ids[:1] + body[:head] + body[len(body) - (room - head):] + ids[-1:]


rows = [head_tail(r.ids) for r in tokenizer.encode_batch(texts)]
width = max(map(len, rows))
input_ids = np.array([r + [info["pad_id"]] * (width - len(r)) for r in rows], dtype=np.int64)
attention_mask = np.array([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=np.int64)
```
(token_type_ids, where `info["inputs"]` lists them, are zeros of the same shape.)
'''

_WINDOWS = '''Training read long texts as sliding windows of {size} tokens (stride {stride}, 0 = half a window); the
graph sees one window at a time. Split a long text's tokens into such windows (each with the special
tokens), run them as rows of one batch, and take the {combine} of their logits, as Predict does.
'''


def _needs(info: dict) -> list[str]:
    truncation, windows = info.get("truncation") or {}, info.get("windows") or {}
    if windows.get("size"):
        return [_WINDOWS.format(size=windows["size"], stride=windows.get("stride", 0),
                                combine=windows.get("combine", "mean"))]
    if truncation.get("mode") == "head+tail":
        return [_HEAD_TAIL.format(max_length=info.get("max_length"), share=float(truncation.get("head_share", 0.25)))]
    if truncation.get("mode") == "tail":
        return ["Training kept the last tokens of long texts: call `tokenizer.enable_truncation(info[\"max_length\"], "
                "direction=\"left\")` instead.", ""]
    return []


def onnx_section(info: dict, folder_name: str) -> str:
    """The model card section for an export described by `info` (export.json)."""
    lines = [SECTION_START, "## ONNX (no PyTorch needed)", "",
             f"`onnx/model.onnx` (fp32, {info['exporter']}, opset {info['opset']}, dynamic batch and sequence axes) "
             f"gives the same logits as PyTorch within {info['max_abs_diff_fp32']:.1e} (checked at export).", ""]
    if info.get("int8"):
        lines += [f"`onnx/{INT8_FILE}`: dynamic int8 quantization (about 2x faster on CPUs without native bf16, "
                  f"labels equal fp32's on {info['int8']['label_agreement']:.0%} of the export's sample).", ""]
    lines += ["With `onnxruntime`, `tokenizers` and `numpy` only:", "", "```python",
              TORCH_FREE_SNIPPET.format(folder=folder_name).rstrip(), "```", "",
              "What the ONNX graph does not carry (token ids in, logits out):", "",
              "- Predict strips HTML tags such as `<br />` first (strip_html_tags on); do the same to your texts.",
              "- The decision threshold: binary and multi-label models decide at `threshold` in export.json when "
              "a calibration stored one (else 0.5, as `classify` does); a calibration's temperature is folded into "
              "the head's weights, so the exported logits already carry it.", ""]
    lines += _needs(info)
    return "\n".join(lines + [SECTION_END, ""])


def add_onnx_section(folder: Path, info: dict) -> None:
    """Write (or replace) the ONNX section of the folder's README.md model card."""
    card = Path(folder) / "README.md"
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    if SECTION_START in text and SECTION_END in text:
        text = text[:text.index(SECTION_START)] + text[text.index(SECTION_END) + len(SECTION_END):].lstrip("\n")
    section = onnx_section(info, Path(folder).name)
    card.write_text(text.rstrip("\n") + "\n\n" + section if text else section, encoding="utf-8")
