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

classifier = pipeline("text-classification", model="{folder}"{tokenizer})
classifier(["{example}"], top_k=None, truncation=True{max_length})
```
"""

_PACK_USE = """```python
from hf_text_finetune.modules.results.loading import load_classifier
from hf_text_finetune.modules.results.prediction import predict_texts

model = load_classifier("{folder}")
predict_texts(model, ["{example}"])
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


def _long_texts(manifest: dict) -> tuple[str, str]:
    """(how training read long texts, or '' for the first max_length tokens; what pipeline lacks, or '')."""
    windows, truncation = manifest.get("windows") or {}, manifest.get("truncation") or {}
    length = manifest.get("max_length") or "the model's maximum"
    if windows.get("size"):
        stride = windows.get("stride") or "half a window"
        most = f", at most {windows['max_windows']} per text" if windows.get("max_windows") else ""
        how = (f"Long texts were read as sliding windows of {windows['size']} tokens (stride {stride}{most}); a "
               f"text's prediction is the {windows.get('combine', 'mean')} of its windows' logits.")
        return how, ("`pipeline` does NOT split texts into windows: it reads only the first tokens of a long text, so "
                     "its predictions on long texts differ. The Predict node, or `predict_texts`, repeats the windows:")
    mode = truncation.get("mode", "head")
    if mode == "head+tail":
        share = truncation.get("head_share", 0.25)
        how = (f"Texts longer than {length} tokens kept their head and their tail ({share:g} of the kept tokens from "
               "the start, the rest from the end).")
        return how, ("`pipeline` does NOT keep head and tail: it keeps only the first tokens of a long text, so its "
                     "predictions on long texts differ. The Predict node, or `predict_texts`, repeats the cut:")
    if mode == "tail":
        return f"Texts longer than {length} tokens kept their last tokens (tail).", ""
    return "", ""


def _pipeline_snippet(manifest: dict, folder_name: str, example: str) -> str:
    tail = (manifest.get("truncation") or {}).get("mode") == "tail" and not (manifest.get("windows") or {}).get("size")
    tokenizer = (f', tokenizer=AutoTokenizer.from_pretrained("{folder_name}", truncation_side="left")'
                 if tail else "")
    length = manifest.get("max_length")
    snippet = _PIPELINE_USE.format(folder=folder_name, example=example, tokenizer=tokenizer,
                                   max_length=f", max_length={length}" if length else "")
    return snippet.replace("import pipeline", "import AutoTokenizer, pipeline") if tail else snippet


def _usage(manifest: dict, folder_name: str) -> list[str]:
    names, example = manifest["output_labels"], "a wonderful film"
    pairs = bool(manifest.get("text_pairs"))
    how, pipeline_lacks = _long_texts(manifest)  # pairs are always cut longest-first, so these stay empty
    intro = [how, ""] if how else []
    if manifest["head_type"] != "hf_sequence_classification":
        example_input = repr(_EXAMPLE_PAIR) if pairs else f'"{example}"'
        return intro + [_LINEAR_USE.format(folder=folder_name, example_input=example_input,
                                           pooling=manifest.get("pooling", "cls"), load_node=LOAD_NODE)]
    lines = intro + ["The head is Hugging Face's own sequence-classification head, so transformers loads it:", ""]
    if pairs:
        lines += [_PAIR_PIPELINE_USE.format(folder=folder_name, example=_EXAMPLE_PAIR[0],
                                            example_pair=_EXAMPLE_PAIR[1]),
                  "The model reads pairs of texts: give each as `{\"text\": first, \"text_pair\": second}` "
                  "(a list of such dicts for several). In the Predict node, one pair a line, the two texts "
                  "separated by a tab.", ""]
    else:
        lines.append(_pipeline_snippet(manifest, folder_name, example))
    if pipeline_lacks:
        lines += [pipeline_lacks, "", _PACK_USE.format(folder=folder_name, example=example)]
    if manifest["problem_type"] == "regression":
        lines += ["The model predicts a score (regression, `problem_type: regression` in `config.json`): the "
                  "pipeline's score is the raw predicted value, with no sigmoid or softmax applied.", ""]
    elif manifest["problem_type"] == "binary":
        lines += [f"The model has one output (sigmoid): the pipeline's score is the probability of "
                  f"`{names[-1]}`; below 0.5 the prediction is `{names[0]}`.", ""]
    return lines


def _calibration(manifest: dict) -> list[str]:
    """The temperature and threshold calibration fitted, with the expected calibration error before and after."""
    record = manifest.get("calibration")
    if not record:
        return []
    temperature = record["temperature"]
    shown = ", ".join(f"{t:.4f}" for t in temperature) if isinstance(temperature, list) else f"{temperature:.4f}"
    lines = ["## Calibration", "",
             f"Temperature scaling fitted on {record.get('texts', '?')} texts of `{record.get('data', '?')}`: "
             f"temperature {shown}, already folded into the last layer's weights and bias, so every loader of "
             "this folder (the Load node, `pipeline`) gives the calibrated probabilities.", "",
             "| | before | after |", "| --- | --- | --- |",
             f"| expected calibration error ({record.get('ece_bins', 15)} bins) | {record['ece_before']:.4f} | "
             f"{record['ece_after']:.4f} |",
             f"| negative log-likelihood | {record['nll_before']:.4f} | {record['nll_after']:.4f} |", ""]
    if record.get("threshold") is not None:
        lines += [f"Decision threshold {record['threshold']:.4f} (best {record['threshold_metric']} on that data: "
                  f"{record['metric_at_threshold']:.4f}, against {record['metric_at_0.5']:.4f} at 0.5). Predict and "
                  "Evaluate use it; with `pipeline`, call a text positive when its probability reaches it "
                  "(`calibration.threshold` in `config.json`).", ""]
    return lines


def _files(manifest: dict) -> list[str]:
    lines = ["## Files", "",
             "- `config.json`, `model.safetensors`: the model (label names in `id2label`/`label2id`)",
             "- tokenizer files",
             "- `classifier.json`: head type, labels, pooling, max length, truncation and windows (read by the "
             "Load node)",
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
    lines += _calibration(manifest)
    lines += _files(manifest)
    header = card_data(manifest, history, folder_name, settings or {}).to_yaml()
    return str(ModelCard(f"---\n{header}\n---\n" + "\n".join(lines)))
