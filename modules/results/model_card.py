"""The README.md model card of a saved classifier: Hugging Face metadata and how to use the folder.

The YAML header is written by huggingface_hub's `ModelCardData` and carries what the hub
and its tools read (library_name, pipeline_tag, base_model, datasets, metrics, and the
last epoch's validation results as `model-index`). The body says how to load the folder, which depends on the
head: Hugging Face's own head loads with `pipeline`, our linear head only with the
Load node (or `load_classifier`), because transformers has no class for it.
"""

from __future__ import annotations

import os
from typing import Optional

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..node_names import LOAD_NODE

_PIPELINE_USE = """```python
from transformers import pipeline

classifier = pipeline("text-classification", model="{folder}")
classifier(["{example}"], top_k=None, truncation=True)
```
"""

_PAIR_PIPELINE_USE = """```python
from transformers import pipeline

classifier = pipeline("text-classification", model="{folder}")
classifier({{"text": "{example}", "text_pair": "{example_pair}"}}, top_k=None, truncation=True)
```
"""

_LINEAR_USE = """This folder uses the node pack's own head (a dropout + linear layer on the
encoder's {pooling} vector). Transformers has no class for that head, so
`pipeline("text-classification", model=...)` would load the encoder with a new, untrained
head and give meaningless predictions. Load it with the **{load_node}** node in
ComfyUI, or in Python:

```python
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.prediction import predict_texts

model = load_classifier("{folder}")
predict_texts(model, [{example_input}])
```

To get a folder that `pipeline` loads, build the model with head `hf_sequence_classification`
on the model node and train it again.
"""


def _final_metrics(history: list[dict]) -> dict[str, float]:
    """The last epoch's numbers: validation metrics when there are any, else the training loss."""
    if not history:
        return {}
    last = history[-1]
    wanted = [k for k in last if k.startswith("val_") and isinstance(last[k], (int, float))]
    wanted = wanted or (["train_loss"] if isinstance(last.get("train_loss"), (int, float)) else [])
    return {k: float(last[k]) for k in wanted}


def _is_hub_id(name: str) -> bool:
    """Hub ids go in the metadata; a local folder or file is not one, so it only appears in the text."""
    return bool(name) and not (os.path.isabs(name) or name.startswith((".", "~")) or os.path.exists(name))


def _datasets(settings: dict) -> dict[str, str]:
    """{role: hub dataset id} of the data the last run trained and validated on (local files left out)."""
    data = (settings or {}).get("data") or {}
    return {role: info["name"] for role, info in data.items() if info and _is_hub_id(info.get("name", ""))}


def _eval_results(metrics: dict[str, float], datasets: dict[str, str]) -> list[EvalResult]:
    """model-index entries: the last epoch's validation metrics on the validation data."""
    name = datasets.get("validation") or datasets.get("train") or "local data"
    return [EvalResult(task_type="text-classification", dataset_type=name, dataset_name=name,
                       dataset_split="validation", metric_type=key[4:], metric_value=value)
            for key, value in metrics.items() if key.startswith("val_")]


def card_data(manifest: dict, history: list[dict], folder_name: str, settings: dict) -> ModelCardData:
    """The YAML header the hub and its tools read."""
    metrics = _final_metrics(history)
    datasets = _datasets(settings)
    base = manifest.get("base_model", "")
    tags = ["text-classification", "hf-text-finetune"] + (["peft", "lora"] if manifest.get("lora") else [])
    return ModelCardData(
        library_name="transformers", pipeline_tag="text-classification", model_name=folder_name,
        base_model=base if _is_hub_id(base) else None, datasets=sorted(set(datasets.values())) or None,
        tags=tags, metrics=sorted({k[4:] if k.startswith("val_") else k for k in metrics}) or None,
        eval_results=_eval_results(metrics, datasets) or None)


_EXAMPLE_PAIR = ("The company said profits rose.", "Profits went up, the company said.")


def _usage(manifest: dict, folder_name: str) -> list[str]:
    names, example = manifest["output_labels"], "a wonderful film"
    pairs = bool(manifest.get("text_pairs"))
    if manifest["head_type"] != "hf_sequence_classification":
        example_input = repr(_EXAMPLE_PAIR) if pairs else f'"{example}"'
        return [_LINEAR_USE.format(folder=folder_name, example_input=example_input,
                                   pooling=manifest.get("pooling", "cls"), load_node=LOAD_NODE)]
    lines = ["The head is Hugging Face's own sequence-classification head, so transformers loads it:", ""]
    if pairs:
        lines += [_PAIR_PIPELINE_USE.format(folder=folder_name, example=_EXAMPLE_PAIR[0],
                                            example_pair=_EXAMPLE_PAIR[1]),
                  "The model reads pairs of texts: give each as `{\"text\": first, \"text_pair\": second}` "
                  "(a list of such dicts for several). In the Predict node, one pair a line, the two texts "
                  "separated by a tab.", ""]
    else:
        lines.append(_PIPELINE_USE.format(folder=folder_name, example=example))
    if manifest["problem_type"] == "regression":
        lines += ["The model predicts a score (regression, `problem_type: regression` in `config.json`): the "
                  "pipeline's score is the raw predicted value, with no sigmoid or softmax applied.", ""]
    elif manifest["problem_type"] == "binary":
        lines += [f"The model has one output (sigmoid): the pipeline's score is the probability of "
                  f"`{names[-1]}`; below 0.5 the prediction is `{names[0]}`.", ""]
    return lines


def _files(manifest: dict) -> list[str]:
    lines = ["## Files", "",
             "- `config.json`, `model.safetensors`: the model (label names in `id2label`/`label2id`)",
             "- tokenizer files",
             "- `classifier.json`: head type, labels, pooling, max length (read by the Load node)",
             "- `training_settings.json`, `metrics_history.json`: how it was trained, metrics per epoch"]
    if manifest["head_type"] != "hf_sequence_classification":
        lines.append("- `head.safetensors`: the linear head")
    if manifest.get("lora"):
        lines.append("- `adapter/`: the LoRA adapters (PEFT format)")
    if manifest.get("has_training_state"):
        lines.append("- `training_state.pt`: optimizer state and epoch count, to resume training")
    return lines + [""]


def _task(manifest: dict) -> str:
    names = manifest["output_labels"]
    task = ("regression: one score per text" if manifest["problem_type"] == "regression" else
            f"{manifest['problem_type'].replace('_', '-')} classification over {len(names)} labels "
            f"({', '.join(map(str, names[:20]))})")
    return task + (", reading pairs of texts" if manifest.get("text_pairs") else "")


def model_card(manifest: dict, history: list[dict], folder_name: str, settings: Optional[dict] = None) -> str:
    """README.md of a saved folder: metadata from `card_data`, then how to use it and what it holds."""
    lines = ["", f"# {folder_name}", "",
             f"A text classifier fine-tuned from `{manifest.get('base_model', '?')}` with the HF Text Fine-Tune "
             f"ComfyUI nodes: {_task(manifest)}.", ""]
    if manifest.get("lora"):
        lora = manifest["lora"]
        lines += [f"Trained with LoRA (r {lora['r']}, alpha {lora['alpha']}, on {', '.join(lora['target_modules'])}): "
                  "the weights here have the adapters merged in, so no PEFT is needed to use them; the adapters "
                  "themselves are in `adapter/` and the Load node puts them back for further training.", ""]
    lines += ["## Use", ""] + _usage(manifest, folder_name)
    metrics = _final_metrics(history)
    if metrics:
        lines += ["## Results (last epoch)", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {v:.4f} |" for k, v in metrics.items()] + [""]
    lines += _files(manifest)
    header = card_data(manifest, history, folder_name, settings or {}).to_yaml()
    return str(ModelCard(f"---\n{header}\n---\n" + "\n".join(lines)))
