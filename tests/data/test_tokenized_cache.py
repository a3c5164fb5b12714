"""Tokenization happens once: a second identical dataset node (or a new queue run) reuses this
session's tokens, a restarted ComfyUI reuses the datasets disk cache, and only a changed
file or setting is tokenized again."""

from __future__ import annotations

from helpers.data import write_reviews_csv
from helpers.nodes import dataset_node, encode_node

from hf_text_finetune.modules.data import tokenized as text_dataset
from hf_text_finetune.modules.data.encoding import TokenEncoder, build_token_encoder
from hf_text_finetune.modules.data.tokenized import encode_text_dataset


def test_tokenization_runs_once_and_a_second_identical_call_reuses_it(tiny_bert, tmp_path, monkeypatch):
    csv_path = write_reviews_csv(tmp_path / "fresh.csv", rows=20, seed=7)
    text_dataset.clear_cache()
    calls: list[int] = []
    original = TokenEncoder.__call__

    def counting(self, texts, return_dict=True):
        calls.append(len(texts))
        return original(self, texts, return_dict)

    monkeypatch.setattr(TokenEncoder, "__call__", counting)
    encode = encode_node(tiny_bert)
    first = dataset_node(csv_path, encode)
    assert sum(calls) == 20, "one batched pass over the 20 rows"
    assert not first.from_cache
    second = dataset_node(csv_path, encode)
    assert sum(calls) == 20, "the second identical call must not tokenize again"
    assert second.from_cache and second.data["input_ids"] == first.data["input_ids"]
    # a new encode node with the same settings (a new queue run) also reuses it
    third = dataset_node(csv_path, encode_node(tiny_bert))
    assert sum(calls) == 20 and third.from_cache
    # a different max_length is a different tokenization
    dataset_node(csv_path, encode_node(tiny_bert, max_length=8))
    assert sum(calls) == 40


class CountingEncoder(TokenEncoder):
    """The node's encode function, counting the texts it tokenizes."""

    texts = 0

    def __call__(self, texts, return_dict=True):
        CountingEncoder.texts += len(texts)
        return super().__call__(texts, return_dict)


def counting_encoder(folder) -> CountingEncoder:
    base = build_token_encoder(str(folder), 0)
    return CountingEncoder(base.model_name, base.tokenizer, base.max_length, base.truncation)


def test_an_unchanged_file_is_tokenized_once_even_after_a_restart(tiny_bert, tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    path = write_reviews_csv(tmp_path / "reviews.csv", rows=30, seed=9)
    text_dataset.clear_cache()
    CountingEncoder.texts = 0

    def encode():
        return encode_text_dataset(str(path), "train", "text", "label", counting_encoder(tiny_bert))

    first = encode()
    assert CountingEncoder.texts == 30 and not first.from_cache
    second = encode()  # the next queue run: this process's cache
    assert CountingEncoder.texts == 30 and second.from_cache
    text_dataset.clear_cache()  # a restarted ComfyUI: only the datasets disk cache is left
    third = encode()
    assert CountingEncoder.texts == 30, "the datasets cache file must be reused, not a second tokenization"
    assert third.data["input_ids"] == first.data["input_ids"] and third.data["labels"] == first.data["labels"]
    # an edited file is tokenized again
    write_reviews_csv(path, rows=31, seed=9)
    text_dataset.clear_cache()
    assert len(encode()) == 31 and CountingEncoder.texts == 61
