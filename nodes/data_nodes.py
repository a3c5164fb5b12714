"""Data nodes: tokenizer encode function, tokenized dataset, and data loader."""

from __future__ import annotations

import os

from ..modules.data.batching import TextDataLoader, check_batch_size
from ..modules.data.encoding import build_token_encoder
from ..modules.data.sources import check_dataset_name, check_field_names, check_split_spec
from ..modules.data.tokenized import encode_text_dataset
from ..modules.pretrained import check_max_length, normalize_model_name
from . import widgets
from .widgets import category, validation


class HfTokenizerEncode:
    DESCRIPTION = ("Loads the tokenizer of a Hugging Face model and returns the encode function that "
                   "Ptv Hf Dataset With Token Encode uses. Texts are not padded here: each batch is padded "
                   "to its own longest text by the data loader.")
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
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, model_name=None, max_length=None):
        return validation(lambda: model_name is None or normalize_model_name(model_name),
                          lambda: check_max_length(max_length))

    def build(self, model_name: str, max_length: int, truncation: bool, trust_remote_code: bool = False):
        return (build_token_encoder(model_name, max_length, truncation, trust_remote_code),)


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
                                    "tooltip": "Hub dataset id (stanfordnlp/imdb, nyu-mll/glue), a local "
                                               ".csv/.tsv/.json/.jsonl/.parquet file, or a folder written by "
                                               "save_to_disk."}),
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
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, name=None, split=None, text_field=None, label_field=None):
        return validation(lambda: check_dataset_name(name), lambda: split is None or check_split_spec(split),
                          lambda: check_field_names(text_field, label_field))

    @classmethod
    def IS_CHANGED(cls, name, **_):
        """A local file edited on disk must be re-read; hub datasets are versioned by the hub cache."""
        path = os.path.expanduser((name or "").strip())
        if os.path.isfile(path):
            stat = os.stat(path)
            return f"{stat.st_mtime_ns}-{stat.st_size}"
        return ""

    def load(self, name, split, text_field, label_field, encode, encode_return_dict, strip_html, **optional):
        """`optional`: subset and text_pair_field, both "" when not given."""
        pair = (optional.get("text_pair_field") or "").strip()
        fields = (text_field.strip(), pair) if pair else text_field.strip()
        return (encode_text_dataset(name, split, fields, label_field.strip(), encode,
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
