"""Hf Tokenizer Encode, Ptv Hf Dataset With Token Encode and Pt Data Loader, called as ComfyUI calls them."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_models import (ARCHITECTURES, MAX_POSITIONS, adamw_node, bce_node, dataset_node, encode_node, loader_node,
                         model_node, run_node, validate_node, write_reviews_csv)

from hf_text_finetune.modules.data import tokenized as text_dataset
from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.pretrained import normalize_model_name
from hf_text_finetune.modules.data.text_cleaning import strip_html
from hf_text_finetune.modules.data.encoding import TokenEncoder

LONG_TEXT = " ".join(["a wonderful film with great acting and a moving story"] * 40)


# --- Hf Tokenizer Encode --------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_max_length_zero_is_the_models_own_maximum(tiny_models, arch):
    encode = encode_node(tiny_models[arch], max_length=0)
    assert encode.max_length == MAX_POSITIONS
    ids = encode([LONG_TEXT])["input_ids"][0]
    assert len(ids) == MAX_POSITIONS, "long texts are truncated to the model's maximum"


def test_explicit_max_length_truncates_and_nothing_is_padded(tiny_bert):
    encode = encode_node(tiny_bert, max_length=16)
    encoded = encode([LONG_TEXT, "brilliant"])
    assert [len(ids) for ids in encoded["input_ids"]] == [16, 3], "per-sample padding must not be forced"
    assert encoded["attention_mask"][1] == [1, 1, 1]


@pytest.mark.parametrize("name", ["distilbert-base-uncased", "distilbert/distilbert-base-uncased",
                                  "FacebookAI/roberta-base", "sentence-transformers/all-MiniLM-L6-v2"])
def test_hub_ids_with_and_without_namespace_are_accepted(name):
    assert normalize_model_name(f"  {name} ") == name
    assert validate_node("HfTokenizerEncode", model_name=name, max_length=0) is True
    assert validate_node("PtnHfFineTunedClassificationModel", model_name=name, num_outputs=1, dropout=0.1) is True


def test_local_folder_is_used_as_is(tiny_bert):
    assert normalize_model_name(str(tiny_bert)) == str(tiny_bert)
    assert validate_node("HfTokenizerEncode", model_name=str(tiny_bert), max_length=0) is True
    assert encode_node(tiny_bert).model_name == str(tiny_bert)


@pytest.fixture
def fake_hub(monkeypatch, tiny_models):
    """Hub ids resolved to the tiny local folders (no network); records the ids asked for."""
    import transformers

    hub = {"distilbert/distilbert-base-uncased": str(tiny_models["distilbert"]),
           "distilbert-base-uncased": str(tiny_models["distilbert"])}
    asked: list[str] = []
    for auto in (transformers.AutoTokenizer, transformers.AutoConfig, transformers.AutoModel):
        original = auto.from_pretrained

        def from_pretrained(name, *args, _original=original, **kwargs):
            asked.append(name)
            return _original(hub.get(name, name), *args, **kwargs)

        monkeypatch.setattr(auto, "from_pretrained", staticmethod(from_pretrained))
    return asked


def test_namespaced_hub_id_reaches_the_hub_unchanged_for_tokenizer_and_model(fake_hub, reviews_csv):
    name = "distilbert/distilbert-base-uncased"
    encode = run_node("HfTokenizerEncode", model_name=name, max_length=0, truncation=True)[0]
    model = run_node("PtnHfFineTunedClassificationModel", model_name=name, num_outputs=1, pooling="cls",
                     dropout=0.1)[0]
    assert fake_hub.count(name) >= 3, "tokenizer, config and weights asked for by the namespaced id"
    assert "distilbert-base-uncased" not in fake_hub
    assert encode.model_name == model.model_name == name
    data = dataset_node(reviews_csv, encode)
    with torch.no_grad():
        batch = next(iter(loader_node(data, 4, shuffle=False).batches()))
        batch.pop("labels")
        assert model(**batch).shape == (4, 1)


# --- Ptv Hf Dataset With Token Encode: sources and splits ---------------------------------------------

def _rows(reviews_csv):
    import csv

    with open(reviews_csv, newline="") as handle:
        return list(csv.DictReader(handle))


def _write_source(kind: str, reviews_csv, folder):
    import datasets

    rows = _rows(reviews_csv)
    table = datasets.Dataset.from_dict({"text": [r["text"] for r in rows], "label": [int(r["label"]) for r in rows]})
    if kind == "csv":
        return reviews_csv
    if kind == "json":  # one JSON array of records
        path = folder / "reviews.json"
        path.write_text(json.dumps([{"text": r["text"], "label": int(r["label"])} for r in rows]))
        return path
    if kind == "jsonl":
        path = folder / "reviews.jsonl"
        path.write_text("".join(json.dumps({"text": r["text"], "label": int(r["label"])}) + "\n" for r in rows))
        return path
    if kind == "parquet":
        path = folder / "reviews.parquet"
        table.to_parquet(str(path))
        return path
    if kind == "save_to_disk":
        path = folder / "saved"
        table.save_to_disk(str(path))
        return path
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["csv", "json", "jsonl", "parquet", "save_to_disk"])
def test_every_local_source_gives_the_same_tokens_and_labels(kind, tiny_bert, reviews_csv, tmp_path):
    encode = encode_node(tiny_bert)
    data = dataset_node(_write_source(kind, reviews_csv, tmp_path), encode)
    rows = _rows(reviews_csv)
    assert len(data) == len(rows)
    assert data.data["labels"] == [int(r["label"]) for r in rows]
    assert data.data["input_ids"] == encode([strip_html(r["text"]) for r in rows])["input_ids"]
    assert data.label_values == [0, 1] and data.num_classes == 2
    assert data.data["length"] == [len(ids) for ids in data.data["input_ids"]]


@pytest.fixture(scope="module")
def dataset_dict_folder(tmp_path_factory, reviews_csv):
    import datasets

    rows = _rows(reviews_csv)
    table = datasets.Dataset.from_dict({"text": [r["text"] for r in rows], "label": [int(r["label"]) for r in rows]})
    folder = tmp_path_factory.mktemp("dict") / "reviews_dict"
    datasets.DatasetDict({"train": table.select(range(40)), "test": table.select(range(40, 48))}).save_to_disk(
        str(folder))
    return folder


@pytest.mark.parametrize("split, expected_rows", [
    ("train", list(range(40))), ("test", list(range(40, 48))), ("train[:10]", list(range(10))),
    ("test[50%:]", list(range(44, 48))), ("train[:3]+test[:2]", [0, 1, 2, 40, 41]),
])
def test_dataset_dict_folder_splits_and_slices(dataset_dict_folder, reviews_csv, tiny_bert, split, expected_rows):
    encode = encode_node(tiny_bert)
    data = dataset_node(dataset_dict_folder, encode, split=split)
    rows = _rows(reviews_csv)
    assert data.data["input_ids"] == encode([strip_html(rows[i]["text"]) for i in expected_rows])["input_ids"]


@pytest.mark.parametrize("split, count", [("train[:10]", 10), ("train[50%:]", 24), ("train[-5:]", 5), ("train", 48)])
def test_file_split_slices(tiny_bert, reviews_csv, split, count):
    """Each slice is its own dataset: a slice never reuses the cached tokens of the whole split."""
    encode = encode_node(tiny_bert)
    whole = dataset_node(reviews_csv, encode)
    part = dataset_node(reviews_csv, encode, split=split)
    assert len(part) == count
    expected = {"train[:10]": slice(0, 10), "train[50%:]": slice(24, 48), "train[-5:]": slice(43, 48),
                "train": slice(0, 48)}[split]
    assert part.data["input_ids"] == whole.data["input_ids"][expected]


def test_html_tags_are_stripped_only_when_asked(tiny_bert, reviews_csv):
    encode = encode_node(tiny_bert)
    raw_text = _rows(reviews_csv)[0]["text"]
    assert "<br />" in raw_text
    stripped = dataset_node(reviews_csv, encode, split="train[:1]", strip_html=True)
    kept = dataset_node(reviews_csv, encode, split="train[:1]", strip_html=False)
    assert stripped.data["input_ids"][0] == encode([raw_text.replace("<br /><br />", " ")])["input_ids"][0]
    assert kept.data["input_ids"][0] == encode([raw_text])["input_ids"][0]
    assert len(kept.data["input_ids"][0]) > len(stripped.data["input_ids"][0])
    assert strip_html("great<br /><br />film &amp; cast<p>!</p>") == "great film & cast !"


def test_encode_return_dict_false_with_the_tokenizer_node(tiny_bert, reviews_csv):
    encode = encode_node(tiny_bert)
    as_dict = dataset_node(reviews_csv, encode, encode_return_dict=True)
    as_tuple = dataset_node(reviews_csv, encode, encode_return_dict=False)
    assert as_tuple.data["input_ids"] == as_dict.data["input_ids"]
    assert as_tuple.data["attention_mask"] == as_dict.data["attention_mask"]


def test_encode_return_dict_false_with_an_encoder_returning_a_tuple(tiny_bert, reviews_csv):
    """An encode function from elsewhere that returns (ids, mask) instead of a dict."""
    tokenizer = encode_node(tiny_bert).tokenizer

    def encode_pairs(texts):
        encoded = tokenizer(list(texts), truncation=True, max_length=32)
        return encoded["input_ids"], encoded["attention_mask"]

    data = dataset_node(reviews_csv, encode_pairs, encode_return_dict=False)
    rows = _rows(reviews_csv)
    assert data.data["input_ids"] == encode_pairs([strip_html(r["text"]) for r in rows])[0]
    assert data.data["labels"] == [int(r["label"]) for r in rows]
    # and it trains (the loader pads with id 0: a plain function carries no tokenizer)
    outputs = run_node("PtTrainTransformerClassificationModel", model=model_node(tiny_bert),
                       train_loader=loader_node(data, 8), optimizer=adamw_node(), loss_function=bce_node(),
                       epochs=1, seed=0, precision="fp32")
    assert outputs[4] > 0


def test_an_encoder_whose_ids_do_not_fit_the_model_is_refused(tiny_models, reviews_csv):
    tokenizer = encode_node(tiny_models["roberta"]).tokenizer  # 300 tokens; the tiny BERT has about 180
    bert = model_node(tiny_models["bert"])

    def encode_pairs(texts):
        encoded = tokenizer(list(texts))
        return encoded["input_ids"], encoded["attention_mask"]

    data = dataset_node(reviews_csv, encode_pairs, encode_return_dict=False)
    with pytest.raises(UserInputError) as error:
        run_node("PtTrainTransformerClassificationModel", model=bert,
                 train_loader=loader_node(data, 8), optimizer=adamw_node(), loss_function=bce_node(),
                 epochs=1, seed=0)
    assert "token id" in str(error.value) and f"{bert.vocab_size} token embeddings" in str(error.value)


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


# --- Pt Data Loader ---------------------------------------------------------------------------------

def _epoch(loader, epoch=0):
    return list(loader.batches(epoch))


def test_batches_are_padded_to_their_longest_member(pipelines):
    data = pipelines["bert"].train_data
    pad_id = pipelines["bert"].encode.tokenizer.pad_token_id
    loader = loader_node(data, batch_size=8, shuffle=True, seed=3, group_by_length=False)
    widths = set()
    for batch in _epoch(loader):
        mask = batch.get("attention_mask")
        real = mask.sum(dim=1) if mask is not None else torch.full((len(batch["labels"]),), batch["input_ids"].shape[1])
        width = batch["input_ids"].shape[1]
        widths.add(width)
        assert width == int(real.max()), "padded to the longest text of this batch, not to max_length"
        if mask is not None:
            assert (batch["input_ids"][mask == 0] == pad_id).all()
            assert set(batch) >= {"input_ids", "attention_mask", "labels"}
    assert len(widths) > 1 and max(widths) < MAX_POSITIONS


def test_a_batch_without_padding_has_no_attention_mask(tiny_bert, tmp_path):
    path = tmp_path / "same.csv"
    path.write_text("text,label\n" + "".join(f"a wonderful film,{i % 2}\n" for i in range(8)))
    loader = loader_node(dataset_node(path, encode_node(tiny_bert)), batch_size=4)
    for batch in _epoch(loader):
        assert "attention_mask" not in batch, "no padding -> no mask, so SDPA can take its fast path"
        assert batch["input_ids"].shape == (4, batch["input_ids"].shape[1])


def test_same_seed_gives_the_same_batches_and_epochs_differ(pipelines):
    data = pipelines["bert"].train_data
    first = loader_node(data, batch_size=8, seed=5)
    again = loader_node(data, batch_size=8, seed=5)
    other = loader_node(data, batch_size=8, seed=6)
    ids = lambda loader, epoch=0: [b["input_ids"].tolist() for b in _epoch(loader, epoch)]  # noqa: E731
    assert ids(first) == ids(again)
    assert ids(first, 1) == ids(again, 1)
    assert ids(first) != ids(first, 1), "a new order each epoch"
    assert ids(first) != ids(other)
    labels = sorted(int(v) for b in _epoch(first) for v in b["labels"])
    assert labels == sorted(data.data["labels"]), "every row exactly once per epoch"


def test_validation_loader_keeps_dataset_order(pipelines):
    data = pipelines["bert"].val_data
    loader = loader_node(data, batch_size=5, shuffle=False)
    labels = [int(v) for b in _epoch(loader) for v in b["labels"]]
    assert labels == data.data["labels"]
    assert len(_epoch(loader)) == len(loader) == 5


def test_length_grouping_reduces_padding(tiny_bert, tmp_path):
    # Like the HF Trainer's sampler, grouping sorts mega-batches of up to 50 batches (a quarter of
    # the data at most), so it needs more than a few batches of data to show.
    data = dataset_node(write_reviews_csv(tmp_path / "many.csv", rows=320, seed=4), encode_node(tiny_bert))

    def padding(group):
        loader = loader_node(data, batch_size=8, seed=1, group_by_length=group)
        total = 0
        for epoch in range(3):
            for batch in _epoch(loader, epoch):
                mask = batch.get("attention_mask")
                total += 0 if mask is None else int((mask == 0).sum())
        return total

    grouped, random_order = padding(True), padding(False)
    assert grouped < 0.5 * random_order, (grouped, random_order)
