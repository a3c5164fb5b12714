"""Checks that a model, its data and its loss fit together, run before training or evaluation."""

from __future__ import annotations

import logging
from typing import Any, Optional

from ..data.dataset import EncodedTextDataset
from ..data.labels import align_labels
from ..errors import UserInputError
from ..model.classifier import MULTI_LABEL, REGRESSION, SINGLE_LABEL, TextClassifier
from ..model.decoders import decoder_pad_mismatch
from ..model.weight_dtype import check_trains_in_fp32
from ..node_names import MODEL_NODE, NODE_NAMES, TOKENIZER_NODE
from .losses import LossSpec
from .settings import TrainSettings

log = logging.getLogger(__name__)

_BCE_NODE = NODE_NAMES["PtnBCEWithLogitsLoss"]
_CE_NODE = NODE_NAMES["PtnCrossEntropyLoss"]
_MSE_NODE = NODE_NAMES["PtnMSELoss"]
_DATASET_NODE = NODE_NAMES["PtvHfDatasetWithTokenEncode"]


def problem_type(model: TextClassifier, loss: LossSpec) -> str:
    """Hugging Face's name for the task: several sigmoid outputs are multi-label, a score is regression."""
    if loss.is_regression:
        return REGRESSION
    return MULTI_LABEL if loss.is_binary and model.num_outputs > 1 else SINGLE_LABEL


def _names_hint(data: EncodedTextDataset) -> str:
    return f" {data.label_names[:20]}" if data.label_names else ""


def check_model_labels(model: TextClassifier) -> None:
    """A model's label names must match its outputs (one per output; two for a single logit)."""
    names = model.label_names
    if not names:
        return
    fits = len(names) == model.num_outputs or (model.num_outputs == 1 and len(names) <= 2)
    if not fits:
        raise UserInputError(
            f"the model has {model.num_outputs} outputs but {len(names)} label names {list(names)[:20]}; "
            f"give one name per output (two for a single-logit binary model), or rebuild the model with "
            f"num_outputs {len(names)} on {MODEL_NODE}"
        )


def _check_bce(model: TextClassifier, data: EncodedTextDataset, where: str, exact: bool) -> None:
    outputs, width = model.num_outputs, data.num_classes
    if data.multi_label:
        if (exact and width != outputs) or width > outputs:
            raise UserInputError(
                f"{where} is multi-label with {width} labels{_names_hint(data)}, but the model has num_outputs "
                f"{outputs}; set num_outputs to {width} on {MODEL_NODE} (one sigmoid output per label)"
            )
        return
    if outputs != 1:
        raise UserInputError(
            f"BCE With Logits Loss with a model of num_outputs {outputs} needs multi-label targets (a label "
            f"column holding lists); for one label per text with {outputs} classes use the Cross Entropy Loss "
            f"node, or set num_outputs to 1 on {MODEL_NODE} for binary labels 0/1"
        )
    values = data.label_values
    bad = [v for v in values if v not in (0, 1)]
    if bad or (data.label_names and len(data.label_names) > 2):
        classes = data.num_classes
        raise UserInputError(
            f"labels {values[:10]}{_names_hint(data)} of {where} do not fit a single-logit BCE model, which needs "
            f"two classes (0/1); for {classes} classes set num_outputs to {classes} on {MODEL_NODE} and use the "
            "Cross Entropy Loss node"
        )


def _check_cross_entropy(model: TextClassifier, data: EncodedTextDataset, where: str, exact: bool) -> None:
    outputs, values = model.num_outputs, data.label_values
    if data.multi_label:
        raise UserInputError(
            f"{where} is multi-label (its label column holds lists), which Cross Entropy Loss cannot train; use "
            f"{_BCE_NODE} with num_outputs {data.num_classes} on {MODEL_NODE}"
        )
    if outputs < 2:
        raise UserInputError(
            f"Cross Entropy Loss needs one output per class, but the model has num_outputs {outputs}; "
            f"set num_outputs to {max(data.num_classes, 2)} on {MODEL_NODE}, or use {_BCE_NODE} "
            "with 1 output for binary labels"
        )
    too_big = [v for v in values if v >= outputs]
    if too_big:
        raise UserInputError(
            f"labels {too_big[:10]} of {where} are outside the model's {outputs} outputs (classes "
            f"0..{outputs - 1}): the model never learned them; set num_outputs to {data.num_classes} on "
            f"{MODEL_NODE}, or use data with the model's classes"
        )
    if exact and data.num_classes != outputs:
        raise UserInputError(
            f"{where} has {data.num_classes} classes{_names_hint(data)} but the model has num_outputs {outputs}; "
            f"set num_outputs to {data.num_classes} on {MODEL_NODE} so each class has one output"
        )


def _check_regression(model: TextClassifier, data: EncodedTextDataset, loss: LossSpec, where: str) -> None:
    """A regression loss learns float scores with one output; class labels need a classification loss."""
    if data.score_range is None:
        kind = "lists of labels (multi-label)" if data.multi_label else (
            f"class labels{_names_hint(data) or ' ' + str(list(data.label_values)[:10])}")
        classes = max(data.num_classes, 2)
        raise UserInputError(
            f"{where} holds {kind}, but {loss.kind.upper()} (regression) learns float scores: for classes use "
            f"{_CE_NODE} with num_outputs {classes} (or {_BCE_NODE} with num_outputs 1 for two classes); for "
            "scores, give the label column as floats (e.g. 3.8, 5.0)"
        )
    if model.num_outputs != 1:
        raise UserInputError(
            f"regression needs one output (the score), but the model has num_outputs {model.num_outputs}; set "
            f"num_outputs to 1 on {MODEL_NODE}"
        )


def check_labels_fit(model: TextClassifier, data: EncodedTextDataset, loss: LossSpec, role: str,
                     exact: bool = False) -> None:
    """Labels against the model's outputs and the loss. `exact` (training data): the number
    of classes must equal the outputs; other data may hold a subset of the classes."""
    where = f"the {role} data {data.description}"
    if loss.is_regression:
        _check_regression(model, data, loss, where)
        return
    if data.fractional_labels:
        low, high = data.score_range
        raise UserInputError(
            f"{where} holds float scores ({low:g} to {high:g}), not classes, which {loss.kind} cannot learn; use "
            f"{_MSE_NODE} (regression) with num_outputs 1 on {MODEL_NODE}, or give class labels (integers 0..N-1 "
            "or names)"
        )
    if loss.is_binary:
        _check_bce(model, data, where, exact)
    else:
        _check_cross_entropy(model, data, where, exact)


def align_for_model(model: TextClassifier, data: EncodedTextDataset, role: str,
                    names: Optional[list[str]] = None) -> EncodedTextDataset:
    """`data` renumbered to the label names the model uses (or `names` for a model
    about to adopt them); labels the model never saw are an error."""
    check_model_labels(model)
    target = names if names is not None else model.label_names
    return align_labels(data, target, model.num_outputs, role)


def check_label_sets(train: EncodedTextDataset, val: EncodedTextDataset) -> None:
    """Training and validation labels must be of one kind (both lists or neither; names against
    integers only where the integers can be the names' ids); both sets are shown when they are not."""
    both = (f"training labels {_shown(train)} ({train.description}), validation labels {_shown(val)} "
            f"({val.description})")
    if train.multi_label != val.multi_label:
        kinds = ["lists of labels (multi-label)", "one label per text"]
        raise UserInputError(
            f"the training data holds {kinds[not train.multi_label]} but the validation data holds "
            f"{kinds[not val.multi_label]}: {both}; give both the same label column kind"
        )
    named, numbered = (train, val) if train.label_names and not val.label_names else (val, train)
    if bool(train.label_names) == bool(val.label_names):
        return
    outside = [v for v in numbered.label_values if v >= len(named.label_names)]
    if outside:
        raise UserInputError(
            f"one split has label names and the other integer labels that are not their ids: {both}; use the same "
            "labels in both (the same names, or integers 0..N-1 in both)"
        )
    log.warning("%s: integers are read as ids of the names in this order: %s", both,
                ", ".join(f"{i}={n}" for i, n in enumerate(named.label_names[:20])))


def _shown(data: EncodedTextDataset) -> str:
    return str(list(data.label_names)[:20]) if data.label_names else str(list(data.label_values)[:20])


def _check_token_ids_fit(model: TextClassifier, data: EncodedTextDataset) -> None:
    """An encode function that is not the tokenizer node's: its ids must index the model's embeddings."""
    largest = max((max(row) for row in data.data["input_ids"] if row), default=-1)
    if largest >= model.vocab_size:
        raise UserInputError(
            f"the encode function of {data.description} gives token id {largest}, but model '{model.model_name}' "
            f"has {model.vocab_size} token embeddings: encode the texts with the model's own tokenizer "
            f"({TOKENIZER_NODE} with the same model_name as {MODEL_NODE})"
        )


def check_tokenizer_fits(model: TextClassifier, data: EncodedTextDataset) -> None:
    encoder = data.encoder
    if encoder is None:
        return
    if not (hasattr(encoder, "model_name") and hasattr(encoder, "vocab_size")):
        _check_token_ids_fit(model, data)
        return
    tok_name, model_name = encoder.model_name, model.model_name
    tok_vocab, model_vocab = encoder.vocab_size, model.vocab_size
    fix = (f"use the same model_name on {TOKENIZER_NODE} and on " + MODEL_NODE +
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
        _check_same_numbering(model, encoder, fix)
    hf_model = getattr(model.network, "hf_model", None)
    mismatch = decoder_pad_mismatch(hf_model.config, getattr(encoder, "tokenizer", None)) if hf_model else None
    if mismatch:
        raise UserInputError(f"{mismatch} ({TOKENIZER_NODE} with the same model_name as {MODEL_NODE})")


def _check_same_numbering(model: TextClassifier, encoder: Any, fix: str) -> None:
    """A tokenizer and model of other names but the same vocabulary size must number their tokens alike."""
    tok_name, model_name, tok_vocab = encoder.model_name, model.model_name, encoder.vocab_size
    own = _models_tokenizer(model)
    if own is None:
        log.warning("tokenizer '%s' and model '%s' have different names but the same vocabulary size (%d), and "
                    "the model has no tokenizer to compare with; training goes on, but make sure they are the same "
                    "model", tok_name, model_name, tok_vocab)
        return
    differ = vocabulary_differences(encoder.tokenizer, own)
    if differ:
        raise UserInputError(
            f"tokenizer '{tok_name}' and model '{model_name}' have the same vocabulary size ({tok_vocab}) but "
            f"number their tokens differently ({'; '.join(differ)}), so the model would read other words: {fix}"
        )


SAMPLED_TOKENS = 256
_SPECIAL = ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token", "bos_token", "eos_token")


def _models_tokenizer(model: TextClassifier) -> Optional[Any]:
    """The tokenizer the model was trained or saved with, else the one in its folder (None: none found)."""
    if model.tokenizer is not None:
        return model.tokenizer
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model.base_model)
    except Exception:  # no tokenizer files beside the weights, or not cached (offline)
        return None


def vocabulary_differences(tokenizer: Any, reference: Any) -> list[str]:
    """What differs between two tokenizers' numbering: their special tokens, and an even sample of the
    reference's vocabulary (same size is not enough: another tokenizer of that size gives other ids)."""
    differ = []
    for name in _SPECIAL:
        ours, theirs = getattr(tokenizer, name, None), getattr(reference, name, None)
        ours_id = tokenizer.convert_tokens_to_ids(ours) if ours else None
        theirs_id = reference.convert_tokens_to_ids(theirs) if theirs else None
        if (ours, ours_id) != (theirs, theirs_id):
            differ.append(f"{name} is {ours!r} (id {ours_id}) in the tokenizer, {theirs!r} (id {theirs_id}) in the "
                          "model's")
    vocab, expected = tokenizer.get_vocab(), reference.get_vocab()
    ordered = sorted(expected.items(), key=lambda item: item[1])
    sample = ordered[::max(1, len(ordered) // SAMPLED_TOKENS)]
    wrong = [(token, index) for token, index in sample if vocab.get(token) != index]
    if wrong:
        token, index = wrong[0]
        differ.append(f"{len(wrong)} of {len(sample)} sampled tokens have other ids, e.g. {token!r} is "
                      f"{vocab.get(token)} in the tokenizer and {index} in the model's")
    return differ


def check_loss_weights(model: TextClassifier, loss: LossSpec) -> None:
    """Explicit weights need one value per output (auto weights are sized by the trainer)."""
    outputs = model.num_outputs
    if not loss.is_binary and loss.class_weights is not None and len(loss.class_weights) != outputs:
        raise UserInputError(
            f"class_weights {list(loss.class_weights)} has {len(loss.class_weights)} values but the model has "
            f"{outputs} outputs; give one weight per class, or 'auto' to weigh by label counts"
        )
    if loss.is_binary and isinstance(loss.pos_weight, tuple) and len(loss.pos_weight) != outputs:
        raise UserInputError(
            f"pos_weight has {len(loss.pos_weight)} values but the model has {outputs} outputs; give one per label"
        )


def _inputs(pairs: bool) -> str:
    return "pairs of texts" if pairs else "single texts"


def check_text_inputs(model: TextClassifier, data: EncodedTextDataset, role: str) -> None:
    """A model trained on pairs of texts reads pairs, a single-text model single texts: data of the other kind
    would be read wrongly without an error. An untrained model (no tokenizer yet) takes either."""
    if model.tokenizer is None or model.text_pairs == data.pairs:
        return
    fix = (f"leave text_pair_field empty on {_DATASET_NODE}" if not model.text_pairs else
           f"set text_pair_field on {_DATASET_NODE} to the column of the second texts")
    raise UserInputError(
        f"the model reads {_inputs(model.text_pairs)}, but the {role} data {data.description} holds "
        f"{_inputs(data.pairs)}; {fix}, or train a new model on this data"
    )


def check_stopping_metric(settings: TrainSettings, loss: LossSpec) -> None:
    """Regression has no accuracy: early stopping and the best epoch go by val_loss."""
    stopping = settings.early_stopping()
    if loss.is_regression and stopping.active and stopping.metric == "val_accuracy":
        raise UserInputError(
            f"early_stopping_metric val_accuracy does not exist for regression ({loss.kind} loss): set "
            "early_stopping_metric to val_loss (lower is better)"
        )


def check_ready(model: TextClassifier, train: EncodedTextDataset, val: EncodedTextDataset | None,
                loss: LossSpec) -> None:
    check_text_inputs(model, train, "training")
    if val is not None and val.pairs != train.pairs:
        raise UserInputError(
            f"the training data {train.description} holds {_inputs(train.pairs)} but the validation data "
            f"{val.description} holds {_inputs(val.pairs)}; give both the same text_pair_field on {_DATASET_NODE}"
        )
    check_loss_weights(model, loss)
    check_trains_in_fp32(model.network, model.lora is not None)
    check_tokenizer_fits(model, train)
    check_labels_fit(model, train, loss, "training", exact=True)
    if val is not None:
        check_tokenizer_fits(model, val)
        check_labels_fit(model, val, loss, "validation")
