"""Tiny models of every architecture family the pack is tested on (docs/models.md), each built from
its config with random weights and a tokenizer trained here on the test corpus, saved to a folder
like a downloaded model. Encoders beyond the four of models.py, and decoders whose tokenizers are
shaped like the real ones: Qwen pads with <|endoftext|> but its config names no pad token; Llama,
Mistral and GPT-2 tokenizers have no pad token at all; Gemma has one; Phi-3's config names its
<|endoftext|>. Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from .models import ARCHITECTURES, MAX_POSITIONS, _unigram, _wordpiece, build_tiny_model, corpus

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
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok.train_from_iterator(corpus(), trainers.UnigramTrainer(vocab_size=150, special_tokens=special,
                                                              unk_token="<unk>"))
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return tok


def _fast(raw: Tokenizer, **special):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=raw, model_max_length=MAX_POSITIONS, **special)


_BERT_SPECIAL = dict(unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")
_ROBERTA_SPECIAL = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", sep_token="</s>", pad_token="<pad>",
                        cls_token="<s>", mask_token="<mask>")


def _encoder_parts(family: str):
    """(tokenizer, config) of the encoders beyond models.ARCHITECTURES."""
    import transformers as tf

    if family in ("modernbert", "electra"):
        raw = _wordpiece(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        if family == "electra":
            return _fast(raw, **_BERT_SPECIAL), tf.ElectraConfig(vocab_size=raw.get_vocab_size(), embedding_size=16,
                                                                 **SMALL)
        return _fast(raw, **_BERT_SPECIAL), tf.ModernBertConfig(
            vocab_size=raw.get_vocab_size(), pad_token_id=0, cls_token_id=2, sep_token_id=3, bos_token_id=2,
            eos_token_id=3, global_attn_every_n_layers=2, local_attention=16, **SMALL)
    if family == "deberta-v2":
        raw = _unigram()
        return _fast(raw, unk_token="<unk>", sep_token="[SEP]", pad_token="<pad>", cls_token="[CLS]",
                     mask_token="[MASK]"), tf.DebertaV2Config(vocab_size=raw.get_vocab_size(), pad_token_id=0,
                                                              relative_attention=True, position_buckets=16,
                                                              pos_att_type=["p2c", "c2p"], **SMALL)
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

    if family in ARCHITECTURES:
        return build_tiny_model(family, folder, seed)
    torch.manual_seed(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer, config = _decoder_parts(family) if family in DECODERS else _encoder_parts(family)
    tf.AutoModel.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
