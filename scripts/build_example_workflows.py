"""Write the example workflows (UI format, as ComfyUI's frontend saves it).

examples/workflows/ is the source of truth; example_workflows/ (where ComfyUI's
template browser looks) gets identical copies, and tests/runner/test_example_workflows.py
fails if they drift. Run: python scripts/build_example_workflows.py
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import run_workflow  # noqa: E402

run_workflow.load_pack()
from hf_text_finetune.runner.cli import node_classes  # noqa: E402
from hf_text_finetune.runner.workflow_format import has_control_widget, widget_inputs  # noqa: E402

CLASSES = node_classes()


class Graph:
    def __init__(self) -> None:
        self.nodes: list[dict] = []
        self.links: list[list] = []

    def node(self, kind: str, pos: tuple[int, int], title: str | None = None, **widgets) -> int:
        cls = CLASSES[kind]
        values = []
        defaults = {**cls.INPUT_TYPES().get("required", {}), **cls.INPUT_TYPES().get("optional", {})}
        for name, spec in widget_inputs(cls):
            value = widgets.pop(name, spec[1].get("default") if len(spec) > 1 else None)
            if value is None and isinstance(spec[0], list):
                value = spec[0][0]
            values.append(value)
            if has_control_widget(name, spec):
                values.append("fixed")
        if widgets:
            raise KeyError(f"{kind} has no widgets {list(widgets)}")
        sockets = [{"name": n, "type": s[0], "link": None} for n, s in defaults.items()
                   if not isinstance(s[0], list) and s[0] not in ("INT", "FLOAT", "STRING", "BOOLEAN")]
        names = getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES
        node = {
            "id": len(self.nodes) + 1, "type": kind, "pos": list(pos),
            "size": [420, 300] if kind == "PreviewAny" else [320, 60 + 26 * len(values)],
            "flags": {}, "order": len(self.nodes), "mode": 0, "inputs": sockets,
            "outputs": [{"name": n, "type": t, "links": []} for n, t in zip(names, cls.RETURN_TYPES)],
            "properties": {"Node name for S&R": kind}, "widgets_values": values,
        }
        if title:
            node["title"] = title
        self.nodes.append(node)
        return node["id"]

    def link(self, source: int, slot: int, target: int, input_name: str) -> None:
        link_id = len(self.links) + 1
        src, dst = self.nodes[source - 1], self.nodes[target - 1]
        kind = src["outputs"][slot]["type"]
        src["outputs"][slot]["links"].append(link_id)
        for item in dst["inputs"]:
            if item["name"] == input_name:
                item["link"] = link_id
                break
        else:  # a widget fed by a link: the frontend lists it as an input with a widget
            dst["inputs"].append({"name": input_name, "type": kind, "widget": {"name": input_name}, "link": link_id})
        self.links.append([link_id, source, slot, target, [i["name"] for i in dst["inputs"]].index(input_name), kind])

    def to_json(self) -> dict:
        return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(self.links))), "revision": 0,
                "last_node_id": len(self.nodes), "last_link_id": len(self.links), "nodes": self.nodes,
                "links": self.links, "groups": [], "config": {},
                "extra": {"ds": {"scale": 0.8, "offset": [0, 0]}}, "version": 0.4}


def pipeline(trainer: str, epochs: int, **trainer_widgets) -> Graph:
    """The guide's IMDB + DistilBERT pipeline, model name given once."""
    g = Graph()
    imdb_training(g, trainer=trainer, epochs=epochs, **trainer_widgets)
    return g


def multiclass_pipeline() -> Graph:
    """AG News (4 topics) from the hub with Hugging Face's own classification head: a
    seeded stratified validation split for early stopping and the best epoch, the test
    split only for the final Evaluate, and the training curves."""
    g = Graph()
    name = g.node("PrimitiveString", (20, 300), "Model name", value="distilbert-base-uncased")
    tok = g.node("HfTokenizerEncode", (380, 60), model_name="distilbert-base-uncased", max_length=128)
    train = g.node("PtvHfDatasetWithTokenEncode", (760, 20), "Train dataset", name="fancyzhx/ag_news",
                   split="train[:12000]", strip_html=False)
    test = g.node("PtvHfDatasetWithTokenEncode", (760, 330), "Test dataset", name="fancyzhx/ag_news",
                  split="test", strip_html=False)
    split = g.node("PtvTrainValidationSplit", (1140, 20), "Validation split", validation_fraction=0.1)
    train_loader = g.node("PtDataLoader", (1520, 20), "Train loader", batch_size=32, shuffle=True)
    val_loader = g.node("PtDataLoader", (1520, 250), "Validation loader", batch_size=64, shuffle=False)
    test_loader = g.node("PtDataLoader", (1140, 330), "Test loader", batch_size=64, shuffle=False)
    model = g.node("PtnHfFineTunedClassificationModel", (380, 420), model_name="distilbert-base-uncased",
                   num_outputs=4, head="hf_sequence_classification")
    optim = g.node("PtoAdamW", (760, 620), learning_rate=5e-5)
    sched = g.node("PtoLrSchedulerWarmup", (760, 860), schedule="linear", warmup_ratio=0.06)
    loss = g.node("PtnCrossEntropyLoss", (1140, 620))
    trainer = g.node("PtTrainTransformerClassificationModel", (1900, 200), epochs=3, early_stopping_patience=1,
                     early_stopping_metric="val_loss", restore_best_weights=True)
    metrics = g.node("PreviewAny", (2280, 20), "Training metrics")
    evaluate = g.node("PtEvaluateClassificationModel", (2280, 300), "Evaluate on test")
    test_metrics = g.node("PreviewAny", (2660, 300), "Test metrics")
    curves = g.node("PtPlotTrainingCurves", (2280, 700), "Training curves")
    g.link(name, 0, tok, "model_name")
    g.link(name, 0, model, "model_name")
    for dataset in (train, test):
        g.link(tok, 0, dataset, "encode")
    g.link(train, 0, split, "dataset")
    g.link(split, 0, train_loader, "dataset")
    g.link(split, 1, val_loader, "dataset")
    g.link(test, 0, test_loader, "dataset")
    for source, slot_name in ((model, "model"), (train_loader, "train_loader"), (optim, "optimizer"),
                              (loss, "loss_function"), (val_loader, "val_loader"), (sched, "lr_scheduler")):
        g.link(source, 0, trainer, slot_name)
    g.link(trainer, 1, metrics, "source")
    g.link(trainer, 0, evaluate, "model")
    g.link(test_loader, 0, evaluate, "data")
    g.link(evaluate, 0, test_metrics, "source")
    g.link(trainer, 0, curves, "model")
    return g


def imdb_training(g: Graph, head: str = "linear", num_outputs: int = 1, loss: str = "PtnBCEWithLogitsLoss",
                  lora: bool = False, learning_rate: float = 5e-5, epochs: int = 2,
                  trainer: str = "PtTrainTransformerClassificationModel", **trainer_widgets) -> int:
    """The guide's IMDB pipeline (same node titles, so the same --set overrides work) with a
    choice of head, outputs, loss and LoRA; returns the trainer's node id."""
    name = g.node("PrimitiveString", (20, 300), "Model name", value="distilbert-base-uncased")
    tok = g.node("HfTokenizerEncode", (380, 60), model_name="distilbert-base-uncased")
    train = g.node("PtvHfDatasetWithTokenEncode", (760, 20), "Train dataset", split="train")
    val = g.node("PtvHfDatasetWithTokenEncode", (760, 330), "Validation dataset", split="test")
    train_loader = g.node("PtDataLoader", (1140, 20), "Train loader", batch_size=32, shuffle=True)
    val_loader = g.node("PtDataLoader", (1140, 330), "Validation loader", batch_size=32, shuffle=False)
    model = g.node("PtnHfFineTunedClassificationModel", (380, 420), model_name="distilbert-base-uncased",
                   num_outputs=num_outputs, head=head)
    optim = g.node("PtoAdamW", (760, 620), learning_rate=learning_rate)
    sched = g.node("PtoLrSchedulerWarmup", (760, 860), schedule="linear", warmup_ratio=0.06)
    loss_id = g.node(loss, (1140, 620))
    trainer = g.node(trainer, (1520, 200), epochs=epochs, **trainer_widgets)
    metrics = g.node("PreviewAny", (1900, 20), "Metrics")
    g.link(name, 0, tok, "model_name")
    g.link(name, 0, model, "model_name")
    for dataset in (train, val):
        g.link(tok, 0, dataset, "encode")
    g.link(train, 0, train_loader, "dataset")
    g.link(val, 0, val_loader, "dataset")
    model_out = model
    if lora:
        model_out = g.node("PtnLoraAdapter", (760, 420), "LoRA", r=8, alpha=16.0, dropout=0.1)
        g.link(model, 0, model_out, "model")
    for source, slot_name in ((model_out, "model"), (train_loader, "train_loader"), (optim, "optimizer"),
                              (loss_id, "loss_function"), (val_loader, "val_loader"), (sched, "lr_scheduler")):
        g.link(source, 0, trainer, slot_name)
    g.link(trainer, 1, metrics, "source")
    return trainer


PREDICT_TEXTS = ("One of the best films I have seen this year: moving, funny and beautifully acted.\n"
                 "A dull, predictable plot and wooden acting. I wanted my two hours back.\n"
                 "The soundtrack was great but the story never really took off.")


def predict_after_training() -> Graph:
    """Train on IMDB, then classify new reviews with label names and probabilities."""
    g = Graph()
    trainer = imdb_training(g)
    predict = g.node("PtPredictClassificationModel", (1900, 300), "Predict", texts=PREDICT_TEXTS)
    g.link(trainer, 0, predict, "model")
    return g


def save_load_predict() -> Graph:
    """Train with Hugging Face's own head (2 classes), save to the output folder (loadable with
    transformers.pipeline too), load the saved folder back and predict with it."""
    g = Graph()
    trainer = imdb_training(g, head="hf_sequence_classification", num_outputs=2, loss="PtnCrossEntropyLoss")
    save = g.node("PtSaveClassificationModel", (1900, 300), "Save model", filename_prefix="imdb_distilbert",
                  save_training_state=True)
    load = g.node("PtLoadClassificationModel", (2280, 300), "Load model")
    info = g.node("PreviewAny", (2660, 120), "Loaded model")
    predict = g.node("PtPredictClassificationModel", (2660, 400), "Predict", texts=PREDICT_TEXTS)
    g.link(trainer, 0, save, "model")
    g.link(save, 0, load, "path")
    g.link(load, 1, info, "source")
    g.link(load, 0, predict, "model")
    return g


def lora_run() -> Graph:
    """LoRA adapters on DistilBERT: only the adapters and the head train (higher learning rate);
    saved with adapters merged plus the adapters themselves, then used to predict."""
    g = Graph()
    trainer = imdb_training(g, lora=True, learning_rate=5e-4)
    save = g.node("PtSaveClassificationModel", (1900, 300), "Save model", filename_prefix="imdb_distilbert_lora")
    predict = g.node("PtPredictClassificationModel", (1900, 560), "Predict", texts=PREDICT_TEXTS)
    g.link(trainer, 0, save, "model")
    g.link(trainer, 0, predict, "model")
    return g


MRPC_PAIRS = ("The company said its profits rose sharply last year.\tLast year the company's profits went up a lot, "
              "it said.\n"
              "The film opens in theatres on Friday.\tThe weather was cold and rainy all week.")
STS_PAIRS = ("A man is playing a guitar.\tA man plays the guitar.\n"
             "A woman is slicing an onion.\tTwo dogs run across a field.")


def glue_pairs(subset: str, num_outputs: int, loss: str, prefix: str, texts: str, **loss_widgets) -> Graph:
    """A GLUE task on pairs of texts (sentence1 + sentence2 from nyu-mll/glue) with Hugging Face's own head:
    train on the train split, validate and evaluate on the validation split (GLUE's test labels are hidden),
    save the folder (transformers.pipeline loads it) and predict new pairs, one a line, split by a tab."""
    g = Graph()
    name = g.node("PrimitiveString", (20, 300), "Model name", value="distilbert-base-uncased")
    tok = g.node("HfTokenizerEncode", (380, 60), model_name="distilbert-base-uncased", max_length=128)
    datasets = [g.node("PtvHfDatasetWithTokenEncode", (760, 20 + 330 * i), title, name="nyu-mll/glue", split=split,
                       text_field="sentence1", strip_html=False, subset=subset, text_pair_field="sentence2")
                for i, (title, split) in enumerate((("Train dataset", "train"), ("Validation dataset", "validation")))]
    train_loader = g.node("PtDataLoader", (1140, 20), "Train loader", batch_size=32, shuffle=True)
    val_loader = g.node("PtDataLoader", (1140, 330), "Validation loader", batch_size=64, shuffle=False)
    model = g.node("PtnHfFineTunedClassificationModel", (380, 420), model_name="distilbert-base-uncased",
                   num_outputs=num_outputs, head="hf_sequence_classification")
    optim = g.node("PtoAdamW", (760, 680), learning_rate=3e-5)
    sched = g.node("PtoLrSchedulerWarmup", (760, 920), schedule="linear", warmup_ratio=0.1)
    loss_id = g.node(loss, (1140, 620), **loss_widgets)
    trainer = g.node("PtTrainTransformerClassificationModel", (1520, 200), epochs=3)
    metrics = g.node("PreviewAny", (1900, 20), "Metrics")
    evaluate = g.node("PtEvaluateClassificationModel", (1900, 300), "Evaluate")
    eval_metrics = g.node("PreviewAny", (2280, 300), "Validation metrics")
    save = g.node("PtSaveClassificationModel", (1900, 700), "Save model", filename_prefix=prefix)
    predict = g.node("PtPredictClassificationModel", (2280, 700), "Predict", texts=texts)
    g.link(name, 0, tok, "model_name")
    g.link(name, 0, model, "model_name")
    for dataset, loader in zip(datasets, (train_loader, val_loader)):
        g.link(tok, 0, dataset, "encode")
        g.link(dataset, 0, loader, "dataset")
    for source, slot_name in ((model, "model"), (train_loader, "train_loader"), (optim, "optimizer"),
                              (loss_id, "loss_function"), (val_loader, "val_loader"), (sched, "lr_scheduler")):
        g.link(source, 0, trainer, slot_name)
    g.link(trainer, 1, metrics, "source")
    g.link(trainer, 0, evaluate, "model")
    g.link(val_loader, 0, evaluate, "data")
    g.link(evaluate, 0, eval_metrics, "source")
    g.link(trainer, 0, save, "model")
    g.link(trainer, 0, predict, "model")
    return g


def text_pair_mrpc() -> Graph:
    """GLUE MRPC: is the second sentence a paraphrase of the first? Two classes (label 1 = paraphrase) read
    from pairs of texts, cross-entropy, accuracy and F1 on the validation split."""
    return glue_pairs("mrpc", 2, "PtnCrossEntropyLoss", "mrpc_distilbert", MRPC_PAIRS)


def sts_regression() -> Graph:
    """GLUE STS-B: how similar are two sentences, as a score from 0 to 5? Regression with one output and the
    MSE loss; Pearson and Spearman correlation (GLUE's STS-B metrics), MSE and MAE on the validation split."""
    return glue_pairs("stsb", 1, "PtnMSELoss", "stsb_distilbert", STS_PAIRS)


WORKFLOWS = {
    "predict_after_training.json": predict_after_training,
    "save_load_predict.json": save_load_predict,
    "lora_run.json": lora_run,
    "distilbert_classification.json": lambda: pipeline("PtTrainTransformerClassificationModel", 2),
    "distilbert_classification_2.json": lambda: pipeline("PtTrainFineTuneClassificationTransformerModel", 4,
                                                         freeze_pretrained_module_epochs=1),
    "ag_news_multiclass.json": multiclass_pipeline,
    "text_pair_mrpc.json": text_pair_mrpc,
    "sts_regression.json": sts_regression,
}


def main() -> None:
    source, templates = ROOT / "examples" / "workflows", ROOT / "example_workflows"
    source.mkdir(parents=True, exist_ok=True)
    templates.mkdir(exist_ok=True)
    for filename, build in WORKFLOWS.items():
        (source / filename).write_text(json.dumps(build().to_json(), indent=2) + "\n")
    for path in sorted(source.glob("*.json")):
        shutil.copyfile(path, templates / path.name)


if __name__ == "__main__":
    main()
