"""Calling the pack's nodes the way ComfyUI does (a fresh instance, under inference mode,
VALIDATE_INPUTS with only the inputs it declares), shortcuts for the nodes of the example
workflow, and `Pipeline`: those nodes run once on a tiny model and local csv files."""

from __future__ import annotations

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
                 encode_return_dict: bool = True, strip_html: bool = True, **optional):
    """`optional`: the node's optional widgets (subset, text_pair_field), passed only when given, as ComfyUI does."""
    return run_node("PtvHfDatasetWithTokenEncode", name=str(name), split=split, text_field=text_field,
                    label_field=label_field, encode=encode, encode_return_dict=encode_return_dict,
                    strip_html=strip_html, **optional)[0]


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
