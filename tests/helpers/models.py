"""Tiny real Hugging Face models for tests: configs of each architecture, random
weights, and a tokenizer of the architecture's own kind trained here with
`tokenizers` on a small corpus, all saved with `save_pretrained` to a folder.
Nothing is downloaded. Also: snapshots of a network's weights, to check what changed."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from .data import NEGATIVE, POSITIVE

ARCHITECTURES = ("bert", "roberta", "distilbert", "albert")
MAX_POSITIONS = 128


def corpus() -> list[str]:
    extra = ["<br /> the movie was okay", "plot characters scene ending", "not good not bad"]
    return (POSITIVE + NEGATIVE + extra) * 5


def _wordpiece(special: list[str], lowercase: bool = True) -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(corpus(), trainers.WordPieceTrainer(vocab_size=200, special_tokens=special))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def _byte_bpe() -> Tokenizer:
    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus(), trainers.BpeTrainer(vocab_size=300, special_tokens=special,
                                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
    return tok


def _unigram() -> Tokenizer:
    special = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.Replace("``", '"'), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(corpus(), trainers.UnigramTrainer(vocab_size=150, special_tokens=special, unk_token="<unk>"))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def build_tiny_model(arch: str, folder: Path, seed: int = 0) -> Path:
    """Save a tiny `arch` encoder and its tokenizer to `folder`; returns the folder."""
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    small = dict(num_hidden_layers=2, num_attention_heads=2, hidden_size=32, intermediate_size=64)
    if arch == "bert":
        raw = _wordpiece(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        tokenizer = tf.BertTokenizerFast(tokenizer_object=raw, model_max_length=MAX_POSITIONS)
        config = tf.BertConfig(vocab_size=raw.get_vocab_size(), max_position_embeddings=MAX_POSITIONS, **small)
    elif arch == "distilbert":
        raw = _wordpiece(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        tokenizer = tf.DistilBertTokenizerFast(tokenizer_object=raw, model_max_length=MAX_POSITIONS)
        config = tf.DistilBertConfig(vocab_size=raw.get_vocab_size(), max_position_embeddings=MAX_POSITIONS,
                                     n_layers=2, n_heads=2, dim=32, hidden_dim=64)
    elif arch == "roberta":
        raw = _byte_bpe()
        tokenizer = tf.RobertaTokenizerFast(tokenizer_object=raw, model_max_length=MAX_POSITIONS)
        config = tf.RobertaConfig(vocab_size=raw.get_vocab_size(), max_position_embeddings=MAX_POSITIONS + 2,
                                  pad_token_id=1, bos_token_id=0, eos_token_id=2, **small)
    elif arch == "albert":
        raw = _unigram()
        tokenizer = tf.AlbertTokenizerFast(tokenizer_object=raw, model_max_length=MAX_POSITIONS)
        config = tf.AlbertConfig(vocab_size=raw.get_vocab_size(), max_position_embeddings=MAX_POSITIONS,
                                 embedding_size=16, pad_token_id=0, **small)
    else:
        raise ValueError(f"unknown architecture {arch}")
    model = tf.AutoModel.from_config(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def state_snapshot(module) -> dict:
    """Detached copies of every tensor in a module's state dict (for a classifier: its `network`)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same_state(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
