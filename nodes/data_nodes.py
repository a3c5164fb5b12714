"""Data nodes: tokenizer encode function, tokenized dataset, and data loader."""

from __future__ import annotations

import os

from ..modules.data.batching import TextDataLoader, check_batch_size
from ..modules.data.encoding import build_token_encoder
from ..modules.data.sources import check_field_names, check_split_spec
from ..modules.data.tokenized import encode_text_dataset
from ..modules.data.truncation import (DEFAULT_HEAD_SHARE, HEAD, TRUNCATION_MODES, Truncation, check_head_share,
                                       check_truncation_mode)
from ..modules.data.windows import COMBINES, Windows, check_window_settings
from ..modules.errors import UserInputError
from ..modules.pretrained import check_max_length
from . import widgets
from .local_sources import (NO_FILE, NO_MODEL, allow_remote_code, check_model_source, data_file_widget, dataset_source,
                            local_model_widget, model_source)
from .widgets import category, validation


class HfTokenizerEncode:
    DESCRIPTION = ("Loads the tokenizer of a Hugging Face model and returns the encode function that "
                   "Ptv Hf Dataset With Token Encode uses. Texts are not padded here: each batch is padded "
                   "to its own longest text by the data loader. Longer texts are cut (head, tail or head+tail) "
                   "or read as sliding windows.")
    CATEGORY = category("data")
    RETURN_TYPES = ("HFTOKENENCODE",)
    RETURN_NAMES = ("encode",)
    OUTPUT_TOOLTIPS = ("Encode function: texts -> token ids and attention masks.",)
    FUNCTION = "build"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model_name": widgets.model_name(),
                "max_length": ("INT", {"default": 0, "min": 0, "max": 65536,
                                       "tooltip": "Longest token sequence kept. 0 = the model's own maximum "
                                                  "(512 for BERT-style models)."}),
                "truncation": ("BOOLEAN", {"default": True,
                                           "tooltip": "Cut texts longer than max_length. Off: longer texts are an error."}),
            },
            "optional": {
                "trust_remote_code": widgets.trust_remote_code(),
                "truncation_mode": (list(TRUNCATION_MODES), {
                    "default": HEAD,
                    "tooltip": "Which tokens of a longer text are kept: head (the first), tail (the last) or "
                               "head+tail (both ends; reviews often end with their verdict). max_length still "
                               "counts the special tokens."}),
                "head_share": ("FLOAT", {"default": DEFAULT_HEAD_SHARE, "min": 0.0, "max": 1.0, "step": 0.01,
                                         "tooltip": "head+tail: share of the kept tokens taken from the start "
                                                    "(0.25: the first 128 and last 382 of 510), the rest from the "
                                                    "end. Strictly between 0 and 1."}),
                "window": ("INT", {"default": 0, "min": 0, "max": 65536,
                                   "tooltip": "Sliding windows: tokens per window with the special tokens (at most "
                                              "max_length), 0 = off. Each window trains as a sample with its text's "
                                              "label; evaluation and Predict combine a text's windows into one "
                                              "prediction."}),
                "stride": ("INT", {"default": 0, "min": 0, "max": 65536,
                                   "tooltip": "Text tokens from one window's start to the next's, smaller than "
                                              "window (neighbours overlap by the rest). 0 = half a window."}),
                "max_windows": ("INT", {"default": 0, "min": 0, "max": 4096,
                                        "tooltip": "At most this many windows per text, from its start (in training, "
                                                   "evaluation and Predict alike). 0 = all."}),
                "window_combine": (list(COMBINES), {"default": "mean",
                                                    "tooltip": "How a text's windows become one prediction: mean of "
                                                               "their logits, or max (the strongest window)."}),
                "local_model": local_model_widget(),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, model_name=None, max_length=None, truncation_mode=None, head_share=None, window=None,
                        stride=None, max_windows=None, window_combine=None):
        # trust_remote_code is held to the server's rule at run time here (before anything loads) and at queue
        # time on the model node: this method is at its limit of parameters
        return validation(lambda: check_model_source(model_name, None),
                          lambda: check_max_length(max_length),
                          lambda: check_truncation_mode(truncation_mode), lambda: check_head_share(head_share),
                          lambda: check_window_settings(window, stride, max_windows, window_combine))

    def build(self, model_name: str, max_length: int, truncation: bool, trust_remote_code: bool = False,
              **long_texts):
        """`long_texts`: truncation_mode, head_share, window, stride, max_windows, window_combine, local_model
        (optional widgets)."""
        name = model_source(model_name, long_texts.get("local_model", NO_MODEL))
        trust_remote_code = allow_remote_code(trust_remote_code, name)
        rule = Truncation(long_texts.get("truncation_mode", HEAD), long_texts.get("head_share", DEFAULT_HEAD_SHARE))
        windows = Windows(long_texts.get("window", 0), long_texts.get("stride", 0), long_texts.get("max_windows", 0),
                          long_texts.get("window_combine", "mean"))
        return (build_token_encoder(name, max_length, truncation, trust_remote_code, rule, windows),)


class PtvHfDatasetWithTokenEncode:
    DESCRIPTION = ("Loads a text classification dataset (hub id, local csv/json/parquet file, or save_to_disk "
                   "folder), checks its text and label columns, and tokenizes it once with the encode function. "
                   "The tokenized result is cached and reused by later runs.")
    CATEGORY = category("data")
    RETURN_TYPES = ("PTVDATASET",)
    RETURN_NAMES = ("dataset",)
    OUTPUT_TOOLTIPS = ("Tokenized dataset with class ids (and the label names, when the labels had names).",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "name": ("STRING", {"default": "stanfordnlp/imdb",
                                    "tooltip": "Hub dataset id (stanfordnlp/imdb, nyu-mll/glue), or a local "
                                               ".csv/.tsv/.json/.jsonl/.parquet/.txt file or save_to_disk folder: a "
                                               "bare name such as reviews.csv or imdb/train.csv is looked up in "
                                               "ComfyUI's input folder (and its datasets folder). Picking from the "
                                               "file list below, or uploading, fills it in."}),
                "split": ("STRING", {"default": "train",
                                     "tooltip": "Split or slice: train, test, train[:2000], train[10%:20%]. A single "
                                                "local file has the split 'train'."}),
                "text_field": ("STRING", {"default": "text", "tooltip": "Column holding the text."}),
                "label_field": ("STRING", {"default": "label",
                                            "tooltip": "Column holding the labels: integers 0..N-1, text names "
                                                       "(numbered in sorted order, names kept), or lists of "
                                                       "either for multi-label."}),
                "encode": ("HFTOKENENCODE", {"tooltip": "Encode function from Hf Tokenizer Encode."}),
                "encode_return_dict": ("BOOLEAN", {"default": True,
                                                   "tooltip": "True for Hugging Face tokenizers (they return a "
                                                              "dict). False for encoders returning (ids, mask)."}),
                "strip_html": ("BOOLEAN", {"default": True,
                                           "tooltip": "Remove HTML tags such as IMDB's <br /> before tokenizing."}),
            },
            "optional": {
                "subset": ("STRING", {"default": "",
                                      "tooltip": "Dataset subset (config) for hub datasets that have several, e.g. "
                                                 "sst2 for nyu-mll/glue. Empty for none."}),
                "text_pair_field": ("STRING", {"default": "",
                                               "tooltip": "Column holding the second text of each row, for tasks "
                                                          "on pairs of texts (e.g. sentence2 for MRPC, with "
                                                          "text_field sentence1): both are encoded together, the "
                                                          "longer one truncated first. Empty = one text per row."}),
                "file": data_file_widget(),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, name=None):
        """Only name: ComfyUI repeats a refusal once per input this method takes, and a wrong name is the
        common mistake; the split and column names are checked as the node starts running."""
        return validation(lambda: dataset_source(name))

    @classmethod
    def IS_CHANGED(cls, name=None, file=NO_FILE, **_):
        """A local file edited on disk must be re-read; hub datasets are versioned by the hub cache."""
        try:
            path = dataset_source(name, file)
        except UserInputError:
            return ""
        if path and os.path.isfile(path):
            stat = os.stat(path)
            return f"{path}-{stat.st_mtime_ns}-{stat.st_size}"
        return path or ""

    def load(self, name, split, text_field, label_field, encode, encode_return_dict, strip_html, **optional):
        """`optional`: subset and text_pair_field ("" when not given), file (the list's choice)."""
        check_split_spec(split)
        check_field_names(text_field, label_field)
        source = dataset_source(name, optional.get("file", NO_FILE))
        pair = (optional.get("text_pair_field") or "").strip()
        fields = (text_field.strip(), pair) if pair else text_field.strip()
        return (encode_text_dataset(source, split, fields, label_field.strip(), encode,
                                    encode_return_dict, strip_html, optional.get("subset") or ""),)


class PtDataLoader:
    DESCRIPTION = ("Batches a tokenized dataset for training or validation. Each batch is padded to its own "
                   "longest text; grouping texts of similar length removes most padding and speeds training up.")
    CATEGORY = category("data")
    RETURN_TYPES = ("PTDATALOADER",)
    RETURN_NAMES = ("data_loader",)
    OUTPUT_TOOLTIPS = ("Batches for a trainer (train_loader or val_loader).",)
    FUNCTION = "build"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "dataset": ("PTVDATASET", {"tooltip": "Tokenized dataset."}),
                "batch_size": widgets.batch_size("Texts per batch. 16 or 32 suit fine-tuning; lower it if memory "
                                                "runs out."),
                "shuffle": ("BOOLEAN", {"default": True,
                                        "tooltip": "New order each epoch (for training). Off for validation."}),
                "seed": widgets.seed("Seed of the shuffling order; the same seed gives the same batches."),
                "group_by_length": ("BOOLEAN", {"default": True,
                                                "tooltip": "Put texts of similar length in a batch (much less padding, "
                                                           "faster). Applies when shuffle is on."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, batch_size=None):
        return validation(lambda: check_batch_size(batch_size))

    def build(self, dataset, batch_size, shuffle, seed, group_by_length):
        return (TextDataLoader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed,
                               group_by_length=group_by_length),)
