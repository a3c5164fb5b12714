"""Tiny models of every architecture family the pack is tested on (docs/models.md), each built from
its config with random weights and a tokenizer trained here on the test corpus, saved to a folder
like a downloaded model. Decoders' tokenizers are shaped like the real ones: Qwen pads with
<|endoftext|> but its config names no pad token; Llama, Mistral and GPT-2 tokenizers have no pad token
at all; Gemma has one; Phi-3's config names its <|endoftext|>. Nothing is downloaded.

WordPiece and unigram vocabularies are written out here from the corpus's words rather than trained:
`tokenizers`' trainers break ties in hash order, so a trained vocabulary (and with it how fast a tiny
model learns) changes from run to run. Byte-level BPE training is deterministic and is kept."""

from __future__ import annotations

from pathlib import Path

import re

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from .models import ARCHITECTURES, MAX_POSITIONS, corpus

ENCODERS = ARCHITECTURES + ("modernbert", "deberta-v2", "electra", "mpnet", "xlm-roberta", "camembert")
DECODERS = ("qwen2", "qwen3", "llama", "gemma", "gemma2", "gemma3_text", "mistral", "phi3", "gpt2")
FAMILIES = ENCODERS + DECODERS
SMALL = dict(num_hidden_layers=2, num_attention_heads=2, hidden_size=32, intermediate_size=64,
             max_position_embeddings=MAX_POSITIONS)
# (special tokens in id order, bos prepended, eos/pad/unk names) of each decoder tokenizer
_DECODER_TOKENS = {
    "qwen": (["<|endoftext|>", "<|im_start|>", "<|im_end|>"], None,
             dict(eos_token="<|im_end|>", pad_token="<|endoftext|>")),
    "llama": (["<unk>", "<s>", "</s>"], "<s>", dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>")),
    "gemma": (["<pad>", "<eos>", "<bos>", "<unk>"], "<bos>",
              dict(bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>")),
    "phi3": (["<unk>", "<s>", "</s>", "<|endoftext|>"], "<s>",
             dict(bos_token="<s>", eos_token="<|endoftext|>", pad_token="<|endoftext|>", unk_token="<unk>")),
    "gpt2": (["<|endoftext|>"], None, dict(bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                           unk_token="<|endoftext|>")),
}
_TOKENIZER_OF = {"qwen2": "qwen", "qwen3": "qwen", "llama": "llama", "mistral": "llama", "gemma": "gemma",
                 "gemma2": "gemma", "gemma3_text": "gemma", "phi3": "phi3", "gpt2": "gpt2"}


def _words() -> list[str]:
    return sorted({w for text in corpus() for w in re.findall(r"\w+|[^\w\s]", text.lower())})


def _wordpiece(special: list[str]) -> Tokenizer:
    """BERT-style WordPiece over a fixed vocabulary: the specials, every character (alone and as ##piece), every word."""
    words = _words()
    chars = sorted(set("".join(words)))
    vocab = special + chars + [f"##{c}" for c in chars] + [w for w in words if len(w) > 1]
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def _unigram(special: list[str], unk: str) -> Tokenizer:
    """A sentencepiece-like unigram over a fixed vocabulary: whole words (preferred) and single characters."""
    words = _words()
    chars = sorted(set("".join(words))) + ["\u2581"]
    vocab = [(t, 0.0) for t in special] + [(f"\u2581{w}", -1.0) for w in words] + [(c, -8.0) for c in chars]
    tok = Tokenizer(models.Unigram(vocab, unk_id=special.index(unk), byte_fallback=False))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    return tok


def _bert_unigram() -> Tokenizer:
    """ALBERT / DeBERTa-v2: a unigram with [CLS] ... [SEP] around the text."""
    tok = _unigram(["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"], "<unk>")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return tok


def _byte_bpe(special: list[str], bos: str | None, vocab_size: int = 320) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus(), trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if bos is not None:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A $B:1", special_tokens=[(bos, tok.token_to_id(bos))])
    return tok


def _roberta_unigram() -> Tokenizer:
    """XLM-RoBERTa / CamemBERT: a sentencepiece-like unigram with <s> </s> around the text, <pad> = 1."""
    tok = _unigram(["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "<unk>")
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return tok


def _fast(raw: Tokenizer, **special):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=raw, model_max_length=MAX_POSITIONS, **special)


_BERT_SPECIAL = dict(unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")
_ROBERTA_SPECIAL = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", sep_token="</s>", pad_token="<pad>",
                        cls_token="<s>", mask_token="<mask>")


def _encoder_parts(family: str):
    """(tokenizer, config) of an encoder."""
    import transformers as tf

    if family in ("bert", "distilbert", "modernbert", "electra"):
        raw = _wordpiece(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        vocab = raw.get_vocab_size()
        config = {
            "bert": lambda: tf.BertConfig(vocab_size=vocab, **SMALL),
            "distilbert": lambda: tf.DistilBertConfig(vocab_size=vocab, max_position_embeddings=MAX_POSITIONS,
                                                      n_layers=2, n_heads=2, dim=32, hidden_dim=64),
            "electra": lambda: tf.ElectraConfig(vocab_size=vocab, embedding_size=16, **SMALL),
            "modernbert": lambda: tf.ModernBertConfig(vocab_size=vocab, pad_token_id=0, cls_token_id=2, sep_token_id=3,
                                                      bos_token_id=2, eos_token_id=3, global_attn_every_n_layers=2,
                                                      local_attention=16, **SMALL),
        }[family]()
        return _fast(raw, **_BERT_SPECIAL), config
    if family in ("albert", "deberta-v2"):
        raw = _bert_unigram()
        tokenizer = _fast(raw, unk_token="<unk>", sep_token="[SEP]", pad_token="<pad>", cls_token="[CLS]",
                          mask_token="[MASK]")
        if family == "albert":
            return tokenizer, tf.AlbertConfig(vocab_size=raw.get_vocab_size(), embedding_size=16, pad_token_id=0,
                                              **SMALL)
        return tokenizer, tf.DebertaV2Config(vocab_size=raw.get_vocab_size(), pad_token_id=0, relative_attention=True,
                                             position_buckets=16, pos_att_type=["p2c", "c2p"], **SMALL)
    if family == "roberta":
        raw = _byte_bpe(["<s>", "<pad>", "</s>", "<unk>", "<mask>"], None, 300)
        raw.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
        return _fast(raw, **_ROBERTA_SPECIAL), tf.RobertaConfig(
            vocab_size=raw.get_vocab_size(), pad_token_id=1, bos_token_id=0, eos_token_id=2,
            **{**SMALL, "max_position_embeddings": MAX_POSITIONS + 2})
    if family == "mpnet":
        raw = _byte_bpe(["<s>", "<pad>", "</s>", "<unk>", "<mask>"], None, 300)
        raw.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
        config = tf.MPNetConfig(vocab_size=raw.get_vocab_size(), pad_token_id=1, bos_token_id=0, eos_token_id=2,
                                **{**SMALL, "max_position_embeddings": MAX_POSITIONS + 2})
        return _fast(raw, **_ROBERTA_SPECIAL), config
    raw = _roberta_unigram()
    config_class = tf.XLMRobertaConfig if family == "xlm-roberta" else tf.CamembertConfig
    return _fast(raw, **_ROBERTA_SPECIAL), config_class(
        vocab_size=raw.get_vocab_size(), pad_token_id=1, bos_token_id=0, eos_token_id=2,
        **{**SMALL, "max_position_embeddings": MAX_POSITIONS + 2})


def _decoder_parts(family: str):
    """(tokenizer, config) of a decoder; configs name no pad token, except Gemma's and Phi-3's (as released)."""
    import transformers as tf

    special, bos, names = _DECODER_TOKENS[_TOKENIZER_OF[family]]
    raw = _byte_bpe(special, bos)
    tokenizer = _fast(raw, **names)
    vocab = raw.get_vocab_size()
    ids = {key.replace("_token", "_token_id"): raw.token_to_id(value) for key, value in names.items()
           if key in ("bos_token", "eos_token")}
    attention = dict(num_key_value_heads=1, head_dim=16)
    if family == "gpt2":
        return tokenizer, tf.GPT2Config(vocab_size=vocab, n_positions=MAX_POSITIONS, n_embd=32, n_layer=2, n_head=2,
                                        **ids)
    if family.startswith("gemma"):
        ids["pad_token_id"] = raw.token_to_id("<pad>")
        config_class = {"gemma": tf.GemmaConfig, "gemma2": tf.Gemma2Config, "gemma3_text": tf.Gemma3TextConfig}[family]
        extra = {} if family == "gemma" else dict(sliding_window=16, query_pre_attn_scalar=16)
        return tokenizer, config_class(vocab_size=vocab, **SMALL, **attention, **extra, **ids)
    if family == "phi3":
        ids["pad_token_id"] = raw.token_to_id("<|endoftext|>")
        return tokenizer, tf.Phi3Config(vocab_size=vocab, **SMALL, num_key_value_heads=1, **ids)
    config_class = {"qwen2": tf.Qwen2Config, "qwen3": tf.Qwen3Config, "llama": tf.LlamaConfig,
                    "mistral": tf.MistralConfig}[family]
    extra = attention if family != "qwen2" else dict(num_key_value_heads=1)
    return tokenizer, config_class(vocab_size=vocab, **SMALL, **extra, **ids)


def build_family_model(family: str, folder: Path, seed: int = 0) -> Path:
    """Save a tiny model of `family` and its tokenizer to `folder`; returns the folder."""
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer, config = _decoder_parts(family) if family in DECODERS else _encoder_parts(family)
    tf.AutoModel.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
