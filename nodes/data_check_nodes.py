"""Data check node: what in the data would make a run worse, before any training."""

from __future__ import annotations

from ..modules.data.data_check import run_data_check
from ..modules.data.data_check_advice import report_json, report_text
from ..modules.data.sources import check_field_names, check_split_spec
from .local_sources import dataset_source
from .widgets import category, validation


class PtDataCheck:
    DESCRIPTION = ("Checks one or two dataset splits before training: rows per class and the imbalance ratio, "
                   "token lengths (percentiles, the share max_length cuts, what head+tail or windows would keep), "
                   "empty and repeated texts, texts in both splits (exactly and ignoring case and spaces) and labels "
                   "in one split only. Gives recommendations in the nodes' terms: class weights, the max_length "
                   "that covers 95%, head+tail, windows, a stratified split. Token counts are cached, so a second "
                   "check of the same data takes seconds.")
    CATEGORY = category("data")
    RETURN_TYPES = ("STRING", "STRING")
    RETURN_NAMES = ("report", "report_json")
    OUTPUT_TOOLTIPS = ("The counts and the recommendations, as text.",
                       "Every count and each recommendation (code and advice) as JSON.")
    FUNCTION = "check"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "encode": ("HFTOKENENCODE", {"tooltip": "Encode function from Hf Tokenizer Encode: its tokenizer "
                                                        "counts the tokens, its max_length, truncation_mode and "
                                                        "window are the settings judged."}),
                "name": ("STRING", {"default": "stanfordnlp/imdb",
                                    "tooltip": "Dataset: hub id, local .csv/.tsv/.json/.jsonl/.parquet file, or a "
                                               "save_to_disk folder (as on the dataset node)."}),
                "split": ("STRING", {"default": "train", "tooltip": "The training split or slice, e.g. train[:2000]."}),
                "text_field": ("STRING", {"default": "text", "tooltip": "Column holding the text."}),
                "label_field": ("STRING", {"default": "label", "tooltip": "Column holding the labels."}),
            },
            "optional": {
                "validation_split": ("STRING", {"default": "",
                                                "tooltip": "The validation split or slice, e.g. test[:1000]. Empty "
                                                           "= check the training split alone."}),
                "validation_name": ("STRING", {"default": "",
                                               "tooltip": "Dataset of the validation split when it is another file "
                                                          "or hub id. Empty = the same as name."}),
                "subset": ("STRING", {"default": "", "tooltip": "Dataset subset (config), e.g. sst2 for "
                                                                "nyu-mll/glue. Empty for none."}),
                "strip_html": ("BOOLEAN", {"default": True,
                                           "tooltip": "Count tokens after removing HTML tags, as the dataset node "
                                                      "does by default."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, name=None, split=None, text_field=None, label_field=None, validation_split=None,
                        validation_name=None):
        return validation(lambda: dataset_source(name), lambda: split is None or check_split_spec(split),
                          lambda: check_field_names(text_field, label_field),
                          lambda: not (validation_split or "").strip() or check_split_spec(validation_split),
                          lambda: not (validation_name or "").strip() or dataset_source(validation_name))

    def check(self, encode, name, split, text_field, label_field, **optional):
        """`optional`: validation_split, validation_name, subset, strip_html (widgets)."""
        source = dataset_source(name)  # inside ComfyUI: confined, and a bare name found in its input folder
        other = (optional.get("validation_split") or "").strip()
        other_name = (optional.get("validation_name") or "").strip()
        second = (dataset_source(other_name) if other_name else source, other) if other else None
        report = run_data_check(encode, (source, split.strip()), second, (optional.get("subset") or "").strip(),
                                (text_field.strip(), label_field.strip()), optional.get("strip_html", True))
        text = report_text(report)
        return {"ui": {"text": [text]}, "result": (text, report_json(report))}
