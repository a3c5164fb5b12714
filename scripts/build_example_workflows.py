"""Write the example workflows (UI format, as ComfyUI's frontend saves it).

examples/workflows/ is the source of truth; example_workflows/ (where ComfyUI's
template browser looks) gets identical copies, and tests/runner/test_example_workflows.py
fails if they drift. Every workflow carries a MarkdownNote (its text in NOTES: what it does,
what to change for your own data, what to expect; a workflow without one is an error), and
opens with its note in view. Thumbnails: scripts/build_template_thumbnails.py.
Run: python scripts/build_example_workflows.py
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
TITLE_HEIGHT = 30  # LiteGraph draws a node's title bar above its pos
GROUP_PADDING, GROUP_TITLE = 20, 40
NOTE_SIZE = (760, 330)
PREVIEW_SIZE = (420, 240)
NODE_GAP = 10  # the least space between two nodes' boxes
VIEW_SCALE = 0.8  # above the frontend's low-quality zoom (0.6), where node text is not drawn


def node_height(cls, values: list, sockets: list, outputs: tuple) -> int:
    """The body height the frontend gives the node on load (LGraphNode.computeSize: 20 px per slot row,
    widget height + 4 each, multiline text boxes at least 60, 14 px padding), so group boxes fit it."""
    multiline = sum(1 for _, spec in widget_inputs(cls) if spec[0] == "STRING" and spec[1].get("multiline"))
    widgets = 24 * len(values) + 40 * multiline
    widgets += 24 * sum(1 for _, spec in widget_inputs(cls) if spec[1].get("hf_text_finetune_upload"))  # its JS button
    return 20 * max(1, len(sockets), len(outputs)) + widgets + (8 if values else 0) + 6


class Graph:
    def __init__(self) -> None:
        self.nodes: list[dict] = []
        self.links: list[list] = []
        self.groups: list[dict] = []

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
            "size": list(PREVIEW_SIZE) if kind == "PreviewAny" else [320, node_height(cls, values, sockets, names)],
            "flags": {}, "order": len(self.nodes), "mode": 0, "inputs": sockets,
            "outputs": [{"name": n, "type": t, "links": []} for n, t in zip(names, cls.RETURN_TYPES)],
            "properties": {"Node name for S&R": kind}, "widgets_values": values,
        }
        if title:
            node["title"] = title
        self.nodes.append(node)
        return node["id"]

    def feed(self, target: int, **sources: int) -> None:
        """Link output 0 of each source node to the target's input of that name."""
        for input_name, source in sources.items():
            self.link(source, 0, target, input_name)

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

    def node_box(self, node: dict) -> tuple[float, float, float, float]:
        """x0, y0, x1, y1 of a node as drawn, title bar included."""
        (x, y), (w, h) = node["pos"], node["size"]
        return x, y - TITLE_HEIGHT, x + w, y + h

    def bounds(self) -> tuple[float, float, float, float]:
        boxes = [self.node_box(n) for n in self.nodes]
        boxes += [(x, y, x + w, y + h) for x, y, w, h in (g["bounding"] for g in self.groups)]
        return (min(b[0] for b in boxes), min(b[1] for b in boxes),
                max(b[2] for b in boxes), max(b[3] for b in boxes))

    def group(self, title: str, node_ids: list[int]) -> None:
        """A group box (as the frontend saves it) enclosing the given nodes with some padding."""
        boxes = [self.node_box(self.nodes[i - 1]) for i in node_ids]
        x0, y0 = min(b[0] for b in boxes) - GROUP_PADDING, min(b[1] for b in boxes) - GROUP_PADDING - GROUP_TITLE
        x1, y1 = max(b[2] for b in boxes) + GROUP_PADDING, max(b[3] for b in boxes) + GROUP_PADDING
        self.groups.append({"id": len(self.groups) + 1, "title": title, "bounding": [x0, y0, x1 - x0, y1 - y0],
                            "color": "#3f789e", "font_size": 24, "flags": {}})

    def note(self, text: str) -> int:
        """A MarkdownNote (frontend-only, never sent to the server) above the whole graph."""
        x0, y0, _, _ = self.bounds()
        node = {"id": len(self.nodes) + 1, "type": "MarkdownNote", "pos": [x0, y0 - 60 - NOTE_SIZE[1]],
                "size": list(NOTE_SIZE), "flags": {}, "order": len(self.nodes), "mode": 0, "inputs": [],
                "outputs": [], "properties": {}, "widgets_values": [text], "color": "#432", "bgcolor": "#653"}
        self.nodes.append(node)
        return node["id"]

    def overlapping(self) -> list[tuple[str, str]]:
        """Pairs of nodes whose drawn boxes (title bar included) come closer than NODE_GAP: one hides the other."""
        def name(node: dict) -> str:
            return node.get("title") or node["type"]

        pairs = []
        for i, a in enumerate(self.nodes):
            ax0, ay0, ax1, ay1 = self.node_box(a)
            for b in self.nodes[i + 1:]:
                bx0, by0, bx1, by1 = self.node_box(b)
                if ax0 < bx1 + NODE_GAP and bx0 < ax1 + NODE_GAP and ay0 < by1 + NODE_GAP and by0 < ay1 + NODE_GAP:
                    pairs.append((name(a), name(b)))
        return pairs

    def view(self) -> dict:
        """extra.ds (restored by the frontend on load): readable zoom, the note and the graph's start in view."""
        x0, y0, _, _ = self.bounds()
        return {"scale": VIEW_SCALE, "offset": [round(40 / VIEW_SCALE - x0, 1), round(40 / VIEW_SCALE - y0, 1)]}

    def to_json(self) -> dict:
        return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(self.links))), "revision": 0,
                "last_node_id": len(self.nodes), "last_link_id": len(self.links), "nodes": self.nodes,
                "links": self.links, "groups": self.groups, "config": {},
                "extra": {"ds": self.view()}, "version": 0.4}


# The guide's three groups of nodes (Pt-Wrapper, docs/fine_tuning_hugging_face_models_for_classification.md).
GUIDE_GROUPS = {
    "Loading data": ("PrimitiveString", "HfTokenizerEncode", "PtvHfDatasetWithTokenEncode", "PtDataLoader"),
    "Setting up the model, loss, optimizer, and scheduler": (
        "PtnHfFineTunedClassificationModel", "PtnBCEWithLogitsLoss", "PtoAdamW", "PtoLrSchedulerWarmup"),
    "Training": ("PtTrainTransformerClassificationModel", "PtTrainFineTuneClassificationTransformerModel",
                 "PreviewAny"),
}


# Every other template: the same first three boxes, and one for what uses the trained model.
ROLE_GROUPS = {
    "Loading data": (*GUIDE_GROUPS["Loading data"], "PtvTrainValidationSplit", "PtDataCheck"),
    "Setting up the model, loss, optimizer, and scheduler": (
        "PtnHfFineTunedClassificationModel", "PtnLoraAdapter", "PtnBCEWithLogitsLoss", "PtnCrossEntropyLoss",
        "PtnMSELoss", "PtoAdamW", "PtoLrSchedulerWarmup"),
    "Training": ("PtTrainTransformerClassificationModel", "PtTrainFineTuneClassificationTransformerModel"),
}
RESULTS_GROUP = "Using the trained model"


def role_groups(g: Graph) -> None:
    """A box per role (data, model setup, training, results: every other node but the note)."""
    placed: set[int] = set()
    for title, kinds in ROLE_GROUPS.items():
        members = [n["id"] for n in g.nodes if n["type"] in kinds]
        placed.update(members)
        g.group(title, members)
    rest = [n["id"] for n in g.nodes if n["id"] not in placed and n["type"] != "MarkdownNote"]
    if rest:
        g.group(RESULTS_GROUP, rest)


def overlapping_groups(g: Graph) -> list[tuple[str, str]]:
    pairs = []
    for i, a in enumerate(g.groups):
        ax, ay, aw, ah = a["bounding"]
        for b in g.groups[i + 1:]:
            bx, by, bw, bh = b["bounding"]
            if ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah:
                pairs.append((a["title"], b["title"]))
    return pairs


def pipeline(trainer: str, epochs: int, **trainer_widgets) -> Graph:
    """The guide's IMDB + DistilBERT pipeline, model name given once, in the guide's three groups."""
    g = Graph()
    imdb_training(g, trainer=trainer, epochs=epochs, **trainer_widgets)
    for title, kinds in GUIDE_GROUPS.items():
        g.group(title, [n["id"] for n in g.nodes if n["type"] in kinds])
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
    test = g.node("PtvHfDatasetWithTokenEncode", (760, 350), "Test dataset", name="fancyzhx/ag_news",
                  split="test", strip_html=False)
    split = g.node("PtvTrainValidationSplit", (1140, 20), "Validation split", validation_fraction=0.1)
    train_loader = g.node("PtDataLoader", (1520, 20), "Train loader", batch_size=32, shuffle=True)
    val_loader = g.node("PtDataLoader", (1520, 250), "Validation loader", batch_size=64, shuffle=False)
    test_loader = g.node("PtDataLoader", (1140, 330), "Test loader", batch_size=64, shuffle=False)
    model = g.node("PtnHfFineTunedClassificationModel", (380, 760), model_name="distilbert-base-uncased",
                   num_outputs=4, head="hf_sequence_classification")
    optim = g.node("PtoAdamW", (760, 780), learning_rate=5e-5)
    sched = g.node("PtoLrSchedulerWarmup", (760, 1100), schedule="linear", warmup_ratio=0.06)
    loss = g.node("PtnCrossEntropyLoss", (1140, 780))
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
    g.feed(trainer, model=model, train_loader=train_loader, optimizer=optim, loss_function=loss,
           val_loader=val_loader, lr_scheduler=sched)
    g.link(trainer, 1, metrics, "source")
    g.link(trainer, 0, evaluate, "model")
    g.link(test_loader, 0, evaluate, "data")
    g.link(evaluate, 0, test_metrics, "source")
    g.link(trainer, 0, curves, "model")
    return g


# The IMDB templates' training recipe (benchmarks/small_data.py, docs/performance.md): the new head at its own
# rate, so it learns within the few dozen steps of a user's few hundred rows; 1e-4 and batch 16 for the encoder.
HEAD_LR = 3e-3


def imdb_training(g: Graph, head: str = "linear", num_outputs: int = 1, loss: str = "PtnBCEWithLogitsLoss",
                  lora: bool = False, learning_rate: float = 1e-4, epochs: int = 2,
                  trainer: str = "PtTrainTransformerClassificationModel", encode: dict | None = None,
                  **trainer_widgets) -> int:
    """The guide's IMDB pipeline (same node titles, so the same --set overrides work) with a
    choice of head, outputs, loss, LoRA and tokenizer settings (`encode`); returns the trainer's node id."""
    name = g.node("PrimitiveString", (20, 300), "Model name", value="distilbert-base-uncased")
    tok = g.node("HfTokenizerEncode", (380, 60), model_name="distilbert-base-uncased", **(encode or {}))
    train = g.node("PtvHfDatasetWithTokenEncode", (760, 20), "Train dataset", split="train")
    val = g.node("PtvHfDatasetWithTokenEncode", (760, 350), "Validation dataset", split="test")
    train_loader = g.node("PtDataLoader", (1140, 20), "Train loader", batch_size=16, shuffle=True)
    val_loader = g.node("PtDataLoader", (1140, 330), "Validation loader", batch_size=32, shuffle=False)
    model = g.node("PtnHfFineTunedClassificationModel", (380, 740), model_name="distilbert-base-uncased",
                   num_outputs=num_outputs, head=head)
    optim = g.node("PtoAdamW", (760, 740), learning_rate=learning_rate, head_learning_rate=HEAD_LR)
    sched = g.node("PtoLrSchedulerWarmup", (760, 1060), schedule="linear", warmup_ratio=0.06)
    loss_id = g.node(loss, (1140, 740))
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
        model_out = g.node("PtnLoraAdapter", (1140, 920), "LoRA", r=8, alpha=16.0, dropout=0.1)
        g.link(model, 0, model_out, "model")
    g.feed(trainer, model=model_out, train_loader=train_loader, optimizer=optim, loss_function=loss_id,
           val_loader=val_loader, lr_scheduler=sched)
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


def classify_and_route() -> Graph:
    """Train on IMDB, then classify texts one by one: the label decides something downstream with core nodes
    only (a Compare per text, its true/false shown), and each text's probability is a FLOAT of its own."""
    g = Graph()
    trainer = imdb_training(g)
    classify = g.node("PtClassifyTexts", (1900, 300), "Classify texts", texts=PREDICT_TEXTS)
    compare = g.node("StringCompare", (2280, 300), "Is it positive?", string_a="", string_b="pos", mode="Equal")
    verdict = g.node("PreviewAny", (2660, 300), "Positive? (one per text)")
    probability = g.node("PreviewAny", (2280, 640), "Probability (one per text)")
    g.link(trainer, 0, classify, "model")
    g.link(classify, 0, compare, "string_a")
    g.link(compare, 0, verdict, "source")
    g.link(classify, 2, probability, "source")
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
    datasets = [g.node("PtvHfDatasetWithTokenEncode", (760, 20 + 350 * i), title, name="nyu-mll/glue", split=split,
                       text_field="sentence1", strip_html=False, subset=subset, text_pair_field="sentence2")
                for i, (title, split) in enumerate((("Train dataset", "train"), ("Validation dataset", "validation")))]
    train_loader = g.node("PtDataLoader", (1140, 20), "Train loader", batch_size=32, shuffle=True)
    val_loader = g.node("PtDataLoader", (1140, 330), "Validation loader", batch_size=64, shuffle=False)
    model = g.node("PtnHfFineTunedClassificationModel", (380, 760), model_name="distilbert-base-uncased",
                   num_outputs=num_outputs, head="hf_sequence_classification")
    optim = g.node("PtoAdamW", (760, 780), learning_rate=3e-5)
    sched = g.node("PtoLrSchedulerWarmup", (760, 1100), schedule="linear", warmup_ratio=0.1)
    loss_id = g.node(loss, (1140, 780), **loss_widgets)
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
    g.feed(trainer, model=model, train_loader=train_loader, optimizer=optim, loss_function=loss_id,
           val_loader=val_loader, lr_scheduler=sched)
    g.link(trainer, 1, metrics, "source")
    g.link(trainer, 0, evaluate, "model")
    g.link(val_loader, 0, evaluate, "data")
    g.link(evaluate, 0, eval_metrics, "source")
    g.link(trainer, 0, save, "model")
    g.link(trainer, 0, predict, "model")
    return g


LONG_REVIEW = ("I went in expecting very little. " + "The first hour drags: scene after scene of people talking in "
               "rooms, a subplot about a missing dog that goes nowhere, and a score that tells you what to feel. "
               * 12 + "And yet the last half hour is extraordinary, moving and beautifully acted: by the end I "
               "was in tears. A flawed film, but one I will remember and recommend.")

def long_reviews_head_tail() -> Graph:
    """IMDB at 512 tokens keeping the head and the tail of long reviews (Hugging Face's head, 2 classes),
    evaluated on the test split, saved (the model card says what `pipeline` does not repeat) and used
    to classify a long review read the same way."""
    g = Graph()
    trainer = imdb_training(g, head="hf_sequence_classification", num_outputs=2, loss="PtnCrossEntropyLoss",
                            encode={"max_length": 512, "truncation_mode": "head+tail", "head_share": 0.25})
    evaluate = g.node("PtEvaluateClassificationModel", (1900, 300), "Evaluate on test")
    test_metrics = g.node("PreviewAny", (2280, 300), "Test metrics")
    save = g.node("PtSaveClassificationModel", (1900, 700), "Save model", filename_prefix="imdb_head_tail")
    predict = g.node("PtPredictClassificationModel", (2280, 700), "Predict", texts=LONG_REVIEW + "\n" + PREDICT_TEXTS)
    g.link(trainer, 0, evaluate, "model")
    val_loader = next(node["id"] for node in g.nodes if node.get("title") == "Validation loader")
    g.link(val_loader, 0, evaluate, "data")  # the test split
    g.link(evaluate, 0, test_metrics, "source")
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


SETUP_Y = 900  # below the data check in the data box


def check_train_calibrate() -> Graph:
    """Check the data first (Pt Data Check), train DistilBERT with Hugging Face's head (2 classes,
    head+tail at 256 tokens), calibrate it on a stratified validation split carved from the training data,
    evaluate the calibrated model on the test split (ECE and reliability diagram) and save it."""
    g = Graph()
    name = g.node("PrimitiveString", (20, 330), "Model name", value="distilbert-base-uncased")
    tok = g.node("HfTokenizerEncode", (380, 60), model_name="distilbert-base-uncased", max_length=256,
                 truncation_mode="head+tail")
    check = g.node("PtDataCheck", (1140, 250), "Data check", name="stanfordnlp/imdb", split="train",
                   validation_split="test")
    train = g.node("PtvHfDatasetWithTokenEncode", (760, 20), "Train dataset", split="train")
    test = g.node("PtvHfDatasetWithTokenEncode", (760, 350), "Test dataset", split="test")
    split = g.node("PtvTrainValidationSplit", (1140, 20), "Validation split", validation_fraction=0.1)
    train_loader = g.node("PtDataLoader", (1520, 20), "Train loader", batch_size=32, shuffle=True)
    val_loader = g.node("PtDataLoader", (1520, 250), "Validation loader", batch_size=64, shuffle=False)
    model = g.node("PtnHfFineTunedClassificationModel", (380, SETUP_Y), model_name="distilbert-base-uncased",
                   num_outputs=2, head="hf_sequence_classification")
    optim = g.node("PtoAdamW", (760, SETUP_Y), learning_rate=5e-5)
    sched = g.node("PtoLrSchedulerWarmup", (1140, SETUP_Y), schedule="linear", warmup_ratio=0.06)
    loss = g.node("PtnCrossEntropyLoss", (1140, SETUP_Y + 160))
    trainer = g.node("PtTrainTransformerClassificationModel", (1900, 200), epochs=2)
    metrics = g.node("PreviewAny", (2280, 20), "Metrics")
    calibrate = g.node("PtCalibrateClassificationModel", (2280, 320), "Calibrate")
    evaluate = g.node("PtEvaluateClassificationModel", (2660, 320), "Evaluate on test")
    test_metrics = g.node("PreviewAny", (3040, 320), "Test metrics")
    save = g.node("PtSaveClassificationModel", (2660, 720), "Save model", filename_prefix="imdb_calibrated")
    for target in (tok, model):
        g.link(name, 0, target, "model_name")
    for target in (train, test, check):
        g.link(tok, 0, target, "encode")
    g.link(train, 0, split, "dataset")
    g.link(split, 0, train_loader, "dataset")
    g.link(split, 1, val_loader, "dataset")
    g.feed(trainer, model=model, train_loader=train_loader, optimizer=optim, loss_function=loss,
           val_loader=val_loader, lr_scheduler=sched)
    g.link(trainer, 1, metrics, "source")
    g.link(trainer, 0, calibrate, "model")
    g.link(val_loader, 0, calibrate, "data")
    g.link(calibrate, 0, evaluate, "model")
    g.link(test, 0, evaluate, "data")
    g.link(evaluate, 0, test_metrics, "source")
    g.link(calibrate, 0, save, "model")
    return g


WORKFLOWS = {
    "long_reviews_head_tail.json": long_reviews_head_tail,
    "predict_after_training.json": predict_after_training,
    "classify_and_route.json": classify_and_route,
    "save_load_predict.json": save_load_predict,
    "lora_run.json": lora_run,
    "distilbert_classification.json": lambda: pipeline("PtTrainTransformerClassificationModel", 2),
    "distilbert_classification_2.json": lambda: pipeline("PtTrainFineTuneClassificationTransformerModel", 4,
                                                         freeze_pretrained_module_epochs=1),
    "ag_news_multiclass.json": multiclass_pipeline,
    "text_pair_mrpc.json": text_pair_mrpc,
    "sts_regression.json": sts_regression,
    "check_train_calibrate.json": check_train_calibrate,
}


OWN_DATA = ("**Your own data:** on **Train dataset** and **Validation dataset** click *choose data file to upload* "
            "(or pick a file of ComfyUI's input folder in `file`), or set `name` to a hub dataset id (a local "
            "file's `split` is `train`; slices such as `train[:2000]` work), and `text_field`/`label_field` to its "
            "columns. Another encoder (BERT, RoBERTa, ALBERT, a folder in models/hf_text_encoders): change "
            "**Model name** only; it feeds both the tokenizer and the model.")

# The MarkdownNote of each workflow: what it does, what to change for your own data, what to expect.
NOTES = {
    "distilbert_classification.json": f"""
## Fine-tune DistilBERT on IMDB (the guide's workflow)
**What it does:** loads `distilbert-base-uncased` and the IMDB reviews from the Hugging Face hub, tokenizes
them, fine-tunes the encoder with a linear head (one logit, BCE-with-logits loss, AdamW 1e-4 with the new head
at 3e-3, batch 16, linear warm-up) for 2 epochs and shows each epoch's loss and accuracy in **Metrics**.

{OWN_DATA} More than two classes: `num_outputs` = the number of classes and Ptn Cross Entropy Loss.
A few hundred rows: the trainer says so when a run has fewer than 100 optimizer steps and names the levers
(more epochs, a smaller batch, the rates on Pto AdamW); benchmarks/small_data.py measures 400 rows.

**Expect:** about 92-93% validation accuracy (a GPU is strongly recommended; the first run downloads the
model and the dataset).
""",
    "distilbert_classification_2.json": f"""
## Fine-tune DistilBERT on IMDB, encoder frozen first
**What it does:** the guide's second workflow: like `distilbert_classification`, but the trainer keeps the
pretrained encoder frozen for `freeze_pretrained_module_epochs` (1) epochs, training only the head, then
fine-tunes everything until `epochs` (4). **Metrics** marks each epoch `[frozen]` or `[full]`.

{OWN_DATA} Change the freeze and total epochs on the trainer.

**Expect:** about 92-93% validation accuracy after the 4 epochs.
""",
    "predict_after_training.json": f"""
## Train, then classify new texts
**What it does:** fine-tunes DistilBERT on IMDB as `distilbert_classification` does, then **Predict** labels
the reviews in its `texts` box (one per line) with label names and probabilities.

{OWN_DATA} Write your own texts in **Predict**; `label_names` (comma-separated, negative class first)
replaces the dataset's names.

**Expect:** one line per text, `label (probability): text`, e.g. `pos (0.98): One of the best films...`;
about 92-93% validation accuracy in **Metrics**.
""",
    "classify_and_route.json": f"""
## Classify, then decide per text
**What it does:** fine-tunes DistilBERT on IMDB as `distilbert_classification` does, then **Classify texts**
answers each line of its `texts` box with values other nodes can use: `label` (STRING), `class_index` (INT)
and `probability` (FLOAT), one item per text, so ComfyUI runs each linked node once per text. Here the core
**Compare** node asks "is the label `pos`?" for every review and **Positive?** shows one true/false per
text; **Probability** shows each text's probability.

{OWN_DATA} Set `string_b` on **Is it positive?** to one of your label names (numeric labels are `0`/`1`).
ComfyUI 0.3.64 has no core node that compares numbers; `probability` feeds any FLOAT input.

**Expect:** three texts -> three booleans (`true`, `false`, ...) and three probabilities; multi-label
models give the kept labels joined with `, `, regression models the score (docs/nodes.md).
""",
    "save_load_predict.json": f"""
## Train, save, load back, predict
**What it does:** fine-tunes DistilBERT on IMDB with Hugging Face's own classification head (2 outputs,
cross entropy), **Save model** writes it to a new folder in ComfyUI's output directory (with its training
state), **Load model** reads that folder back and **Predict** uses the loaded model.

{OWN_DATA} Change `filename_prefix` to name the folder (a counter is added).

**Expect:** a folder `output/imdb_distilbert_00001/` that `transformers.pipeline("text-classification", ...)`
also loads, its description in **Loaded model**, and labelled predictions.
""",
    "lora_run.json": f"""
## LoRA fine-tuning
**What it does:** adds LoRA adapters (r 8, alpha 16, dropout 0.1) to DistilBERT's encoder, so only the
adapters and the head train (hence the higher learning rate, 5e-4), then saves the model (adapters merged,
plus the adapters themselves) and predicts with it.

{OWN_DATA} Tune `r`/`alpha` on the **LoRA** node and the learning rate on Pto AdamW.

**Expect:** a much smaller set of trained weights and an accuracy usually a little below full fine-tuning;
the saved folder holds an `adapter/` subfolder in PEFT format.
""",
    "long_reviews_head_tail.json": f"""
## Long reviews: head + tail truncation
**What it does:** fine-tunes DistilBERT on IMDB at 512 tokens with Hugging Face's head (2 outputs), keeping
the head and the tail of longer reviews (`truncation_mode` = `head+tail`, `head_share` 0.25: a quarter of the
kept tokens from the start, the rest from the end, where the verdict often is; Sun et al. 2019).
**Evaluate on test** scores the test split, **Save model** writes the folder (its model card says what
`pipeline` does not repeat) and **Predict** classifies a long review read the same way.

{OWN_DATA} Sliding windows instead: `window` and `stride` on Hf Tokenizer Encode (docs/long_documents.md).

**Expect:** Sun et al. report head+tail beating the first 510 tokens on IMDB with BERT; on a small budget
the difference is within noise (docs/performance.md has our MiniLM measurement).
""",
    "text_pair_mrpc.json": """
## Pairs of texts: GLUE MRPC paraphrases
**What it does:** fine-tunes DistilBERT on GLUE MRPC (`nyu-mll/glue`, subset `mrpc`): each example is a pair,
`sentence1` + `sentence2`, and the label says whether the second is a paraphrase of the first (2 outputs,
cross entropy). **Evaluate** scores the validation split (GLUE's test labels are hidden), **Save model**
writes the folder and **Predict** labels new pairs (one pair a line, the two texts split by a tab).

**Your own data:** set `name`, `split`, `text_field`, `text_pair_field` and `label_field` on both dataset
nodes to your files and columns; `num_outputs` on the model to your number of classes. Another encoder:
change **Model name**.

**Expect:** per-epoch metrics, then accuracy and F1 in **Validation metrics** (the DistilBERT paper reports
about 87 on MRPC).
""",
    "sts_regression.json": """
## Regression on pairs: GLUE STS-B similarity
**What it does:** fine-tunes DistilBERT on GLUE STS-B (`nyu-mll/glue`, subset `stsb`): a similarity score from
0 to 5 for each pair of sentences, one output with Ptn MSE Loss. **Evaluate** reports Pearson and Spearman
correlation (GLUE's STS-B metrics), MSE and MAE on the validation split; **Predict** scores new pairs (one
pair a line, split by a tab).

**Your own data:** set the dataset nodes' `name`, `split` and text/label columns to your files (labels are
numbers); keep one output and the MSE loss. Another encoder: change **Model name**.

**Expect:** scores in **Validation metrics** (the DistilBERT paper reports about 0.87 Pearson on STS-B) and
a saved folder that `transformers` loads as a regression model.
""",
    "check_train_calibrate.json": """
## Check the data, train, calibrate, save
**What it does:** **Data check** looks at IMDB before training (rows per class, token lengths and the share
`max_length` 256 cuts, repeated texts, reviews in both splits) and recommends settings. DistilBERT with
Hugging Face's head (2 outputs, head+tail at 256 tokens) trains on 90% of the training split; **Calibrate**
fits temperature scaling and the F1-best threshold on the other 10% (a stratified split the model never
trained on); **Evaluate on test** scores the calibrated model on the test split, with its expected
calibration error (ECE) and reliability diagram; **Save model** writes it (temperature in the weights, so
`transformers.pipeline` gives the calibrated probabilities; threshold and ECE in the model card).

**Your own data:** set `name` and the columns on **Data check**, **Train dataset** and **Test dataset** (a
local file's `split` is `train`; on **Data check**, `validation_split` and `validation_name` name the second
split). Another encoder: change **Model name**.

**Expect:** a data report (on IMDB: balanced classes, about 40% of the reviews longer than 256 tokens, a few
repeated reviews), about 90% test accuracy, and an ECE after calibration below the one before (a fine-tuned
transformer is usually over-confident; docs/evaluation_and_training_options.md has the MiniLM measurement).
""",
    "ag_news_multiclass.json": """
## Four topics: AG News, with a test set
**What it does:** fine-tunes DistilBERT on 12,000 AG News articles (World, Sports, Business, Sci/Tech) with
Hugging Face's head (4 outputs, cross entropy). A stratified 10% validation split drives early stopping
(patience 1, best weights restored); the 7,600-article test split is used only by **Evaluate on test**;
**Training curves** plots loss and accuracy per epoch.

**Your own data:** set **Train dataset** / **Test dataset** `name` to your files (csv with `text,label`
columns, labels may be names; a local file's `split` is `train`) and `num_outputs` on the model to your
number of classes. Another encoder: change **Model name**.

**Expect:** per-epoch metrics, test accuracy with per-class scores and a confusion matrix in
**Test metrics**, and the curves image.
""",
}


# --- a small decoder LLM with LoRA (docs/models.md) ----------------------------------------------------------------
DECODER_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


def _set_widget(g: Graph, node_id: int, name: str, value) -> None:
    """Change one widget value of a built node (its place in widgets_values, control widgets counted)."""
    node = g.nodes[node_id - 1]
    index = 0
    for widget, spec in widget_inputs(CLASSES[node["type"]]):
        if widget == name:
            node["widgets_values"][index] = value
            return
        index += 2 if has_control_widget(widget, spec) else 1
    raise KeyError(f"{node['type']} has no widget {name}")


def decoder_lora_classification() -> Graph:
    """Qwen2.5-0.5B-Instruct as a classifier: Hugging Face's head on the last real token (pooling auto), LoRA on
    every attention and MLP projection (the node's default for decoders), gradient checkpointing, then saved
    (pipeline-ready) and used to predict."""
    g = Graph()
    trainer = imdb_training(g, head="hf_sequence_classification", lora=True, learning_rate=2e-4, epochs=1,
                            encode={"max_length": 256}, gradient_checkpointing=True)
    for node in g.nodes:
        node["widgets_values"] = [DECODER_MODEL if v == "distilbert-base-uncased" else v
                                  for v in node["widgets_values"]]
        if node.get("title") == "Train dataset":
            _set_widget(g, node["id"], "split", "train[:4000]")
        if node.get("title") == "Validation dataset":
            _set_widget(g, node["id"], "split", "test[:1000]")
        if node.get("title") in ("Train loader", "Validation loader"):
            _set_widget(g, node["id"], "batch_size", 8)
        if node["type"] == "PtTrainTransformerClassificationModel":
            _set_widget(g, node["id"], "gradient_accumulation_steps", 4)
    save = g.node("PtSaveClassificationModel", (1900, 300), "Save model", filename_prefix="imdb_qwen_lora")
    predict = g.node("PtPredictClassificationModel", (1900, 560), "Predict", texts=PREDICT_TEXTS)
    g.link(trainer, 0, save, "model")
    g.link(trainer, 0, predict, "model")
    for title, kinds in {"Loading data": GUIDE_GROUPS["Loading data"],
                         "Decoder model, LoRA, loss, optimizer, scheduler": GUIDE_GROUPS[
                             "Setting up the model, loss, optimizer, and scheduler"] + ("PtnLoraAdapter",),
                         "Training, saving, predicting": GUIDE_GROUPS["Training"] + (
                             "PtSaveClassificationModel", "PtPredictClassificationModel")}.items():
        g.group(title, [n["id"] for n in g.nodes if n["type"] in kinds])
    return g


WORKFLOWS["decoder_lora_classification.json"] = decoder_lora_classification
NOTES["decoder_lora_classification.json"] = f"""
## A small decoder LLM as a classifier, with LoRA
**What it does:** fine-tunes `{DECODER_MODEL}` (a 0.5B decoder) on 4,000 IMDB reviews with Hugging Face's own
classification head, which reads each text's last real token (`pooling` auto; the pad token comes from the
tokenizer). The **LoRA** node adapts every attention and MLP projection (its default for decoders) while the
head trains fully; gradient checkpointing and batch 8 x 4 accumulation keep the memory low. AdamW 2e-4, 1 epoch,
256 tokens. Then **Save model** writes a folder that `transformers.pipeline` loads, and **Predict** labels new
reviews.

{OWN_DATA} Other decoders (Qwen3, Llama 3.2 1B, Gemma 3 1B, Phi-3 mini, SmolLM2): change **Model name**; the
`head` must stay `hf_sequence_classification`. docs/models.md lists what each family needs.

**Expect:** a 1 GB download on the first run and a GPU to run it in reasonable time (on a CPU it runs,
slowly); validation loss and accuracy in **Metrics** after the epoch. The pack's tests run this workflow on a
tiny local decoder only: its IMDB accuracy with the real model is not measured yet.
"""


def build(filename: str) -> dict:
    """One workflow as saved JSON, with its note; a workflow without a note text is an error."""
    if not NOTES.get(filename, "").strip():
        raise SystemExit(f"{filename} has no note: add NOTES['{filename}'] in {Path(__file__).name} (what the "
                         "workflow does, what to change for your own data, the result to expect)")
    graph = WORKFLOWS[filename]()
    if not graph.groups:
        role_groups(graph)
    if overlapping_groups(graph):
        raise SystemExit(f"{filename}: these groups overlap on the canvas: {overlapping_groups(graph)}; move nodes")
    graph.note(NOTES[filename].strip())
    if graph.overlapping():
        raise SystemExit(f"{filename}: these nodes overlap on the canvas: {graph.overlapping()}; move one of each pair")
    return graph.to_json()


def main() -> None:
    source, templates = ROOT / "examples" / "workflows", ROOT / "example_workflows"
    source.mkdir(parents=True, exist_ok=True)
    templates.mkdir(exist_ok=True)
    unknown = set(NOTES) - set(WORKFLOWS)
    if unknown:
        raise SystemExit(f"NOTES for workflows that do not exist: {sorted(unknown)}")
    for filename in WORKFLOWS:
        (source / filename).write_text(json.dumps(build(filename), indent=2) + "\n")
    for path in sorted(source.glob("*.json")):
        shutil.copyfile(path, templates / path.name)


if __name__ == "__main__":
    main()
