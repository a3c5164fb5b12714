"""A tokenizer of the same vocabulary size as the model but with other ids trained silently (the fit
check compared sizes only). Now the special tokens and an even sample of the vocabulary are compared
with the model's own tokenizer, and a mismatch is refused saying what differs; a copy of the model's
own tokenizer under another name still trains."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers.nodes import adamw_node, bce_node, dataset_node, encode_node, loader_node, model_node, run_node

from hf_text_finetune.modules.errors import UserInputError
from hf_text_finetune.modules.training.fit_checks import check_tokenizer_fits


def _renumbered(tiny_bert, folder, swap_special):
    """A copy of the model's tokenizer whose ids are the same set, numbered differently."""
    shutil.copytree(tiny_bert, folder)
    spec = json.loads((folder / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    if swap_special:
        vocab["[CLS]"], vocab["[SEP]"] = vocab["[SEP]"], vocab["[CLS]"]
        for token in spec["added_tokens"]:
            token["id"] = vocab[token["content"]]
    else:
        words = sorted((t for t in vocab if not t.startswith("[")), key=vocab.get)
        for token, index in zip(words, sorted((vocab[t] for t in words), reverse=True)):
            vocab[token] = index
    (folder / "tokenizer.json").write_text(json.dumps(spec))
    return folder


def _train(tokenizer_folder, model_folder, reviews_csv):
    loader = loader_node(dataset_node(reviews_csv, encode_node(tokenizer_folder)))
    return run_node("PtTrainTransformerClassificationModel", model=model_node(model_folder), train_loader=loader,
                    optimizer=adamw_node(), loss_function=bce_node(), epochs=1, seed=0, device="cpu",
                    checkpoint_every_epoch=False)


@pytest.mark.parametrize("swap_special, differs", [
    (False, r"of \d+ sampled tokens have other ids, e\.g\. '.+' is \d+ in the tokenizer and \d+ in the model's"),
    (True, r"cls_token is '\[CLS\]' \(id 3\) in the tokenizer, '\[CLS\]' \(id 2\) in the model's"),
], ids=["words-renumbered", "special-tokens-swapped"])
def test_a_tokenizer_numbering_tokens_differently_is_refused_with_what_differs(tiny_bert, reviews_csv, tmp_path,
                                                                              swap_special, differs):
    other = _renumbered(tiny_bert, tmp_path / "other_tokenizer", swap_special)
    with pytest.raises(UserInputError, match=r"have the same vocabulary size \(\d+\) but number their tokens "
                                             r"differently \(.*" + differs):
        _train(other, tiny_bert, reviews_csv)


def test_the_models_own_tokenizer_under_another_name_still_fits(tiny_bert, reviews_csv, tmp_path):
    same = shutil.copytree(tiny_bert, tmp_path / "same_tokenizer")
    data = dataset_node(reviews_csv, encode_node(same))
    check_tokenizer_fits(model_node(tiny_bert), data)  # no error
