"""The data check (Pt Data Check): its numbers equal a direct count on data with planted repeats,
leaks between the splits, empty texts, an imbalance, long texts and a label in one split only;
its recommendations follow from them; a second check reuses the token counts."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest
from helpers.checks import raises_with
from helpers.data import NEGATIVE, POSITIVE
from helpers.nodes import encode_node, run_node, validate_node

from hf_text_finetune.modules.data import token_lengths
from hf_text_finetune.modules.data.text_cleaning import strip_html

MAX_LENGTH = 24


def _write(path, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def _planted_rows(seed: int, counts: dict) -> list:
    rng = random.Random(seed)
    rows = []
    for label, count in counts.items():
        for i in range(count):
            words = " ".join(rng.choice(POSITIVE + NEGATIVE) for _ in range(rng.randint(1, 9)))
            rows.append([f"{words} number {seed}-{label}-{i}<br />", label])
    return rows


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Train: 40 a / 8 b / 4 c, plus 2 exact repeats, 1 repeat in other case and spacing, 1 repeat with another
    label and 1 empty text. Validation: 10 a / 5 b / 3 d (d only here, c missing), 2 training texts copied
    exactly and 1 copied in upper case."""
    folder = tmp_path_factory.mktemp("data_check")
    train = _planted_rows(0, {"a": 40, "b": 8, "c": 4})
    train += [list(train[0]), list(train[1]), [train[2][0].upper().replace(" ", "   "), train[2][1]],
              [train[3][0], "b"], ["", "a"]]
    val = _planted_rows(1, {"a": 10, "b": 5, "d": 3})
    val += [list(train[5]), list(train[6]), [train[7][0].upper(), train[7][1]]]
    return _write(folder / "train.csv", train), _write(folder / "val.csv", val), train, val


def _check(encode, train_path, val_path=None, **extra):
    optional = {"validation_split": "train", "validation_name": str(val_path)} if val_path else {}
    text, data = run_node("PtDataCheck", encode=encode, name=str(train_path), split="train", text_field="text",
                          label_field="label", **optional, **extra)
    return text, json.loads(data)


def _norm(text):
    return " ".join(text.lower().split())


def test_the_counts_equal_a_direct_count(tiny_bert, planted):
    train_path, val_path, train, val = planted
    encode = encode_node(tiny_bert, max_length=MAX_LENGTH)
    text, report = _check(encode, train_path, val_path)
    counted = report["train"]
    labels = [label for _, label in train]
    assert counted["class_counts"] == {name: labels.count(name) for name in sorted(set(labels))}
    assert counted["imbalance_ratio"] == pytest.approx(max(map(labels.count, set(labels)))
                                                       / min(map(labels.count, set(labels))))
    texts = [t for t, _ in train if t.strip()]
    assert counted["empty_texts"] == 1
    assert counted["duplicate_texts"] == len(texts) - len(set(texts)) == 3
    assert counted["duplicate_texts_normalised"] == len(texts) - len({_norm(t) for t in texts}) == 4
    assert counted["texts_with_conflicting_labels"] == 1
    overlap = report["overlap"]
    assert overlap["shared_texts"] == sum(t in set(texts) for t, _ in val) == 2
    assert overlap["shared_texts_normalised"] == sum(_norm(t) in {_norm(x) for x in texts} for t, _ in val) == 3
    assert overlap["labels_only_in_train"] == ["c"] and overlap["labels_only_in_validation"] == ["d"]
    assert report["validation"]["class_counts"] == {"a": 13, "b": 5, "d": 3}
    assert "d" in text and "recommendations:" in text


def test_token_lengths_and_cuts_equal_the_tokenizer_count(tiny_bert, planted):
    train_path, _, train, _ = planted
    encode = encode_node(tiny_bert, max_length=MAX_LENGTH)
    _, report = _check(encode, train_path)
    tokens = report["train"]["tokens"]
    tokenizer = encode.tokenizer
    lengths = np.array([len(tokenizer(strip_html(t))["input_ids"]) for t, _ in train])
    assert tokens["max"] == lengths.max()
    assert tokens["percentiles"]["95"] == int(np.percentile(lengths, 95, method="higher"))
    assert tokens["cut_rows"] == int((lengths > MAX_LENGTH).sum()) > 0
    assert tokens["cut_share"] == pytest.approx((lengths > MAX_LENGTH).mean())
    covers = tokens["covers_95"]
    assert (lengths <= covers).mean() >= 0.95 and (lengths < covers).mean() < 0.95
    room = MAX_LENGTH - 2
    cut = lengths[lengths > MAX_LENGTH] - 2
    assert tokens["kept_token_share_of_cut_texts"] == pytest.approx(room * len(cut) / cut.sum())
    step = room // 2
    windows = sum(1 if n <= room else -(-(n - room) // step) + 1 for n in lengths - 2)
    assert tokens["windows"]["windows"] == windows and tokens["windows"]["token_share_read"] == pytest.approx(1.0)


def test_the_recommendations_name_the_settings(tiny_bert, planted):
    train_path, val_path, _, _ = planted
    _, report = _check(encode_node(tiny_bert, max_length=MAX_LENGTH), train_path, val_path)
    advice = {row["code"]: row["advice"] for row in report["recommendations"]}
    assert set(advice) >= {"class_weights", "max_length", "head_tail", "windows", "leaks", "stratified_split",
                           "duplicates", "empty_texts"}
    assert f"max_length {report['train']['tokens']['covers_95']} covers 95%" in advice["max_length"]
    assert "class_weights auto on Ptn Cross Entropy Loss" in advice["class_weights"]
    assert "Ptv Train Validation Split" in advice["stratified_split"]


def test_clean_balanced_data_gets_no_advice_but_a_split(tiny_bert, reviews_csv):
    _, report = _check(encode_node(tiny_bert), reviews_csv)
    codes = [row["code"] for row in report["recommendations"]]
    assert "class_weights" not in codes and "max_length" not in codes and "stratified_split" in codes


def test_a_second_check_reuses_the_token_counts(tiny_bert, planted, monkeypatch):
    train_path, _, _, _ = planted
    encode = encode_node(tiny_bert, max_length=MAX_LENGTH)
    token_lengths.clear_cache()
    _, first = _check(encode, train_path)
    calls = []
    monkeypatch.setattr(token_lengths, "_counter", lambda *a: calls.append(a) or (_ for _ in ()).throw(
        AssertionError("tokenized again")))
    _, second = _check(encode, train_path)
    assert first == second and not calls


def test_a_missing_column_and_a_bad_split_are_refused(tiny_bert, planted):
    train_path, _, _, _ = planted
    encode = encode_node(tiny_bert, max_length=MAX_LENGTH)
    raises_with(lambda: run_node("PtDataCheck", encode=encode, name=str(train_path), split="train",
                                 text_field="text", label_field="stars"), "label_field 'stars'", "columns are")
    refusal = validate_node("PtDataCheck", name=str(train_path), split="train", validation_split="test[:x",
                            text_field="text", label_field="label")
    assert refusal is not True and "test[:x" in str(refusal)


def test_multi_label_rows_count_once_per_label(tiny_bert, tmp_path):
    from helpers.data import write_multilabel_jsonl

    path = write_multilabel_jsonl(tmp_path / "tags.jsonl", rows=40)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    text, data = run_node("PtDataCheck", encode=encode_node(tiny_bert), name=str(path), split="train",
                          text_field="text", label_field="labels")
    counted = json.loads(data)["train"]
    names = sorted({name for row in rows for name in row["labels"]})
    assert counted["class_counts"] == {name: sum(name in row["labels"] for row in rows) for name in names}
    assert counted["multi_label"] and counted["rows"] == 40
