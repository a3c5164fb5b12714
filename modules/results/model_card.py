"""The README.md model card of a saved classifier: Hugging Face metadata and how to use the folder.

The YAML header carries what the hub and its tools read (library_name, pipeline_tag,
base_model, metrics). The body says how to load the folder, which depends on the
head: Hugging Face's own head loads with `pipeline`, our linear head only with the
Load node (or `load_classifier`), because transformers has no class for it.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

_PIPELINE_USE = """```python
from transformers import pipeline

classifier = pipeline("text-classification", model="{folder}")
classifier(["{example}"], top_k=None, truncation=True)
```
"""

_LINEAR_USE = """This folder uses the node pack's own head (a dropout + linear layer on the
encoder's {pooling} vector). Transformers has no class for that head, so
`pipeline("text-classification", model=...)` would load the encoder with a new, untrained
head and give meaningless predictions. Load it with the **Pt Load Classification Model** node in
ComfyUI, or in Python:

```python
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.prediction import predict_texts

model = load_classifier("{folder}")
predict_texts(model, ["{example}"])
```

To get a folder that `pipeline` loads, build the model with head `hf_sequence_classification`
on the model node and train it again.
"""


def _yaml_value(value: Any) -> str:
    return json.dumps(value)  # JSON scalars and lists are valid YAML


def _final_metrics(history: list[dict]) -> dict[str, float]:
    """The last epoch's numbers: validation metrics when there are any, else the training loss."""
    if not history:
        return {}
    last = history[-1]
    wanted = [k for k in last if k.startswith("val_") and isinstance(last[k], (int, float))]
    wanted = wanted or (["train_loss"] if isinstance(last.get("train_loss"), (int, float)) else [])
    return {k: float(last[k]) for k in wanted}


def _base_model_line(base_model: str) -> Optional[str]:
    """Hub ids go in base_model; a local folder is not a hub id, so it only appears in the text."""
    if not base_model or os.path.isabs(base_model) or base_model.startswith((".", "~")):
        return None
    return f"base_model: {_yaml_value(base_model)}"


def model_card(manifest: dict, history: list[dict], folder_name: str) -> str:
    head_type = manifest["head_type"]
    names = manifest["output_labels"]
    metrics = _final_metrics(history)
    tags = ["text-classification", "hf-text-finetune"] + (["peft", "lora"] if manifest.get("lora") else [])
    lines = ["---", "library_name: transformers", "pipeline_tag: text-classification"]
    base_line = _base_model_line(manifest.get("base_model", ""))
    if base_line:
        lines.append(base_line)
    lines.append(f"tags: {_yaml_value(tags)}")
    metric_ids = sorted({k[4:] if k.startswith("val_") else k for k in metrics})
    if metric_ids:
        lines.append(f"metrics: {_yaml_value(metric_ids)}")
    lines += ["---", "", f"# {folder_name}", ""]
    lines.append(f"A text classifier fine-tuned from `{manifest.get('base_model', '?')}` with the HF Text Fine-Tune "
                 f"ComfyUI nodes: {manifest['problem_type'].replace('_', '-')} classification over "
                 f"{len(names)} labels ({', '.join(map(str, names[:20]))}).")
    lines.append("")
    if manifest.get("lora"):
        lora = manifest["lora"]
        targets = ", ".join(lora["target_modules"])
        lines.append(f"Trained with LoRA (r {lora['r']}, alpha {lora['alpha']}, on {targets}): "
                     "the weights here have the adapters merged in, so no PEFT is needed to use them; "
                     "the adapters themselves are in `adapter/` and the Load node puts them back for further training.")
        lines.append("")
    lines += ["## Use", ""]
    example = "a wonderful film"
    if head_type == "hf_sequence_classification":
        lines.append("The head is Hugging Face's own sequence-classification head, so transformers loads it:")
        lines.append("")
        lines.append(_PIPELINE_USE.format(folder=folder_name, example=example))
        if manifest["problem_type"] == "binary":
            lines.append(f"The model has one output (sigmoid): the pipeline's score is the probability of "
                         f"`{names[-1]}`; below 0.5 the prediction is `{names[0]}`.")
            lines.append("")
    else:
        lines.append(_LINEAR_USE.format(folder=folder_name, example=example, pooling=manifest.get("pooling", "cls")))
    if metrics:
        lines += ["## Results (last epoch)", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {v:.4f} |" for k, v in metrics.items()]
        lines.append("")
    lines += ["## Files", "",
              "- `config.json`, `model.safetensors`: the model (label names in `id2label`/`label2id`)",
              "- tokenizer files",
              "- `classifier.json`: head type, labels, pooling, max length (read by the Load node)",
              "- `training_settings.json`, `metrics_history.json`: how it was trained, metrics per epoch"]
    if head_type != "hf_sequence_classification":
        lines.append("- `head.safetensors`: the linear head")
    if manifest.get("lora"):
        lines.append("- `adapter/`: the LoRA adapters (PEFT format)")
    if manifest.get("has_training_state"):
        lines.append("- `training_state.pt`: optimizer state and epoch count, to resume training")
    lines.append("")
    return "\n".join(lines)
