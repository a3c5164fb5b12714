"""Checks that a model, its data and its loss fit together, run before any training step."""

from __future__ import annotations

import logging

from .classification_model import HfEncoderClassifier
from .errors import UserInputError
from .losses import LossSpec
from .text_dataset import EncodedTextDataset

log = logging.getLogger(__name__)

_MODEL_NODE = "Ptn Hf Fine Tuned Classification Model"


def check_labels_fit(model: HfEncoderClassifier, data: EncodedTextDataset, loss: LossSpec, role: str) -> None:
    values = data.label_values
    where = f"the {role} data {data.description}"
    if loss.is_binary:
        if model.num_outputs != 1:
            raise UserInputError(
                f"BCE With Logits Loss with a model of num_outputs {model.num_outputs} needs multi-label targets; "
                f"for one label per text with {model.num_outputs} classes use the Cross Entropy Loss node, "
                f"or set num_outputs to 1 on {_MODEL_NODE} for binary labels 0/1"
            )
        bad = [v for v in values if v not in (0, 1)]
        if bad:
            raise UserInputError(
                f"labels {values[:10]} of {where} do not fit a single-logit BCE model, which needs labels 0 or 1; "
                f"for {max(values) + 1} classes set num_outputs to {max(values) + 1} on {_MODEL_NODE} and use "
                "the Cross Entropy Loss node"
            )
        return
    if model.num_outputs < 2:
        raise UserInputError(
            f"Cross Entropy Loss needs one output per class, but the model has num_outputs {model.num_outputs}; "
            f"set num_outputs to {max(max(values) + 1, 2)} on {_MODEL_NODE}, or use Ptn BCE With Logits Loss "
            "with 1 output for binary labels"
        )
    too_big = [v for v in values if v >= model.num_outputs]
    if too_big:
        raise UserInputError(
            f"labels {too_big[:10]} of {where} are outside the model's {model.num_outputs} outputs "
            f"(classes 0..{model.num_outputs - 1}); set num_outputs to {max(values) + 1} on {_MODEL_NODE}"
        )


def check_tokenizer_fits(model: HfEncoderClassifier, data: EncodedTextDataset) -> None:
    encoder = data.encoder
    if encoder is None:
        return
    tok_name, model_name = encoder.model_name, model.model_name
    tok_vocab, model_vocab = encoder.vocab_size, model.vocab_size
    fix = ("use the same model_name on Hf Tokenizer Encode and on " + _MODEL_NODE +
           " (wire one String node to both)")
    if tok_vocab > model_vocab:
        raise UserInputError(
            f"the tokenizer of '{tok_name}' ({tok_vocab} tokens) does not fit model '{model_name}' "
            f"({model_vocab} token embeddings): {fix}"
        )
    if tok_name != model_name:
        if tok_vocab != model_vocab:
            raise UserInputError(
                f"tokenizer '{tok_name}' ({tok_vocab} tokens) and model '{model_name}' ({model_vocab} tokens) "
                f"are different models: {fix}"
            )
        log.warning("tokenizer '%s' and model '%s' have different names but the same vocabulary size (%d); "
                    "training goes on, but make sure they are the same model", tok_name, model_name, tok_vocab)


def check_ready(model: HfEncoderClassifier, train: EncodedTextDataset, val: EncodedTextDataset | None,
                loss: LossSpec) -> None:
    check_tokenizer_fits(model, train)
    check_labels_fit(model, train, loss, "training")
    if val is not None:
        check_tokenizer_fits(model, val)
        check_labels_fit(model, val, loss, "validation")
