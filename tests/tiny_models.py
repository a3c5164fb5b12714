"""Tiny real Hugging Face models for tests: configs of each architecture, random
weights, and a tokenizer of the architecture's own kind trained here with
`tokenizers` on a small corpus, all saved with `save_pretrained` to a folder.
Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ARCHITECTURES = ("bert", "roberta", "distilbert", "albert")
MAX_POSITIONS = 128

POSITIVE = ["a wonderful film", "great acting and a moving story", "I loved every minute", "brilliant and funny",
            "the best movie this year", "superb direction, excellent cast"]
NEGATIVE = ["a terrible film", "boring plot and wooden acting", "I hated every minute", "dull and stupid",
            "the worst movie this year", "awful direction, bad cast"]


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


def write_reviews_csv(path: Path, rows: int = 48, seed: int = 0, labels: tuple = (0, 1)) -> Path:
    """A small, learnable sentiment csv (text,label) in the shape of IMDB."""
    import csv
    import random

    rng = random.Random(seed)
    path = Path(path)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(rows):
            label = labels[i % len(labels)]
            pool = POSITIVE if label % 2 else NEGATIVE
            words = " ".join(rng.choice(pool) for _ in range(rng.randint(1, 4)))
            writer.writerow([f"{words}<br /><br />the end", label])
    return path


# --- Calling nodes the way ComfyUI does ------------------------------------------------------------

LEARNING_LR = 1e-2  # random-init tiny models need a far higher rate than a pretrained encoder


def node_class(class_name: str):
    from hf_text_finetune import NODE_CLASS_MAPPINGS

    return NODE_CLASS_MAPPINGS[class_name]


def run_node(class_name: str, **inputs):
    """A fresh node instance's FUNCTION under torch.inference_mode(), as ComfyUI runs it.
    Returns the outputs tuple (the 'result' part for nodes that also return 'ui')."""
    import torch

    cls = node_class(class_name)
    with torch.inference_mode():
        returned = getattr(cls(), cls.FUNCTION)(**inputs)
    return tuple(returned["result"]) if isinstance(returned, dict) else tuple(returned)


def validate_node(class_name: str, **inputs):
    """VALIDATE_INPUTS as ComfyUI calls it: only the inputs it declares (True or the error text)."""
    import inspect

    validate = node_class(class_name).VALIDATE_INPUTS
    wanted = inspect.signature(validate).parameters
    return validate(**{k: v for k, v in inputs.items() if k in wanted})


def encode_node(model_folder, max_length: int = 0, truncation: bool = True):
    return run_node("HfTokenizerEncode", model_name=str(model_folder), max_length=max_length,
                    truncation=truncation)[0]


def dataset_node(name, encode, split: str = "train", text_field: str = "text", label_field: str = "label",
                 encode_return_dict: bool = True, strip_html: bool = True):
    return run_node("PtvHfDatasetWithTokenEncode", name=str(name), split=split, text_field=text_field,
                    label_field=label_field, encode=encode, encode_return_dict=encode_return_dict,
                    strip_html=strip_html)[0]


def loader_node(dataset, batch_size: int = 8, shuffle: bool = True, seed: int = 0, group_by_length: bool = True):
    return run_node("PtDataLoader", dataset=dataset, batch_size=batch_size, shuffle=shuffle, seed=seed,
                    group_by_length=group_by_length)[0]


def model_node(model_folder, num_outputs: int = 1, pooling: str = "cls", dropout: float = 0.1, **extra):
    return run_node("PtnHfFineTunedClassificationModel", model_name=str(model_folder), num_outputs=num_outputs,
                    pooling=pooling, dropout=dropout, **extra)[0]


def adamw_node(learning_rate: float = LEARNING_LR, weight_decay: float = 0.01, amsgrad: bool = False):
    return run_node("PtoAdamW", learning_rate=learning_rate, beta1=0.9, beta2=0.999, weight_decay=weight_decay,
                    amsgrad=amsgrad)[0]


def bce_node(pos_weight: float = 1.0, reduction: str = "mean"):
    return run_node("PtnBCEWithLogitsLoss", reduction=reduction, pos_weight=pos_weight)[0]


def warmup_node(schedule: str = "linear", warmup_ratio: float = 0.1, warmup_steps: int = 0):
    return run_node("PtoLrSchedulerWarmup", schedule=schedule, warmup_ratio=warmup_ratio,
                    warmup_steps=warmup_steps)[0]


class Pipeline:
    """The data and model nodes of the example workflow, run on a tiny model and local csv files."""

    def __init__(self, model_folder, train_csv, val_csv=None, batch_size: int = 8, num_outputs: int = 1,
                 pooling: str = "cls", seed: int = 0):
        self.model_folder = model_folder
        self.encode = encode_node(model_folder)
        self.train_data = dataset_node(train_csv, self.encode)
        self.val_data = dataset_node(val_csv, self.encode) if val_csv is not None else None
        self.train_loader = loader_node(self.train_data, batch_size, shuffle=True, seed=seed)
        self.val_loader = loader_node(self.val_data, batch_size, shuffle=False) if val_csv is not None else None
        self.model = model_node(model_folder, num_outputs=num_outputs, pooling=pooling)

    def train(self, trainer: str = "PtTrainTransformerClassificationModel", epochs: int = 5, optimizer=None,
              loss=None, scheduler="linear", seed: int = 0, model=None, **extra):
        """Run a trainer node; returns (model, metrics, val_accuracy, val_loss, train_loss)."""
        if scheduler == "linear":
            scheduler = warmup_node()
        inputs = dict(model=model if model is not None else self.model, train_loader=self.train_loader,
                      optimizer=optimizer if optimizer is not None else adamw_node(),
                      loss_function=loss if loss is not None else bce_node(), epochs=epochs, seed=seed,
                      val_loader=self.val_loader, lr_scheduler=scheduler, precision="fp32")
        inputs.update(extra)
        return run_node(trainer, **inputs)


def state_snapshot(module) -> dict:
    """Detached copies of every tensor in a module's state dict."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same_state(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
