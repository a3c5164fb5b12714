"""Turn a ComfyUI-Pt-Wrapper Hugging Face fine-tuning workflow into this pack's format.

Pt-Wrapper (HowToSD/ComfyUI-Pt-Wrapper) registers many of this pack's node ids with other
inputs, so its saved workflows do not open here as they are. This maps each of its nodes
to ours by widget *name* (its saved `widgets_values` follow its own INPUT_TYPES order, listed
in `THEIR_WIDGETS`), rewires the links to our input names and output slots, replaces its
save node with Pt Save Classification Model, its text/tensor display nodes (and those of its
companion pack ComfyUI-Data-Analysis) with core Preview Any, and its string/number nodes with
core Primitive nodes. What has no equivalent is said in a note node (and returned), and a node
type it cannot convert stops it with an error naming the type and the node ids.

    python run_workflow.py --convert-pt-wrapper their_workflow.json ours.json
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..modules.errors import UserInputError
from .workflow_format import has_control_widget, is_ui_format, load_workflow, widget_inputs

# Their widget inputs in the order of their INPUT_TYPES (required, then optional), with defaults.
THEIR_WIDGETS: dict[str, tuple[tuple[str, Any], ...]] = {
    "HfTokenizerEncode": (("model_name", ""), ("padding", True), ("padding_method", "max_length"),
                          ("truncation", True), ("max_length", 512)),
    "PtvHfDatasetWithTokenEncode": (("name", ""), ("split", "train"), ("sample_field_name", "text"),
                                    ("label_field_name", "label"), ("remove_html_tags", False),
                                    ("encode_return_dict", False)),
    "PtvHfLocalDataset": (("file_path", ""), ("file_format", "json"), ("sample_field_name", "text"),
                          ("label_field_name", "label"), ("remove_html_tags", False),
                          ("encode_return_dict", False)),
    "PtDataLoader": (("batch_size", 1), ("shuffle", False), ("parameters", "")),
    "PtoAdam": (("learning_rate", 0.001), ("beta1", 0.9), ("beta2", 0.999)),
    "PtoAdamW": (("learning_rate", 0.001), ("beta1", 0.9), ("beta2", 0.999), ("weight_decay", 0.01),
                 ("amsgrad", False)),
    "PtoSGD": (("learning_rate", 0.001), ("momentum", 0.0), ("dampening", 0.0), ("weight_decay", 0.0),
               ("nesterov", False)),
    "PtoLrSchedulerStep": (("step_size", 10), ("gamma", 0.1)),
    "PtoLrSchedulerCosineAnnealing": (("num_epochs", 10), ("minimum_lr", 0.0)),
    "PtoLrSchedulerReduceOnPlateau": (("grace_period", 10), ("gamma", 0.1)),
    "PtnBCEWithLogitsLoss": (("reduction", "mean"),),
    "PtnCrossEntropyLoss": (("reduction", "mean"),),
    "PtnHfFineTunedClassificationModel": (("model_name", ""), ("use_mean_pooling", True), ("dropout", 0.0)),
    "PtnHfLoraClassificationModel": (("model_name", ""), ("use_mean_pooling", True), ("dropout", 0.0),
                                     ("lora_r", 8), ("lora_alpha", 16), ("lora_dropout", 0.1)),
    "PtTrainClassificationTransformerModel": (("epochs", 1), ("use_gpu", False), ("early_stopping", False),
                                              ("early_stopping_rounds", 10), ("output_best_val_model", True),
                                              ("classification_metrics", True), ("unpack_input", False)),
    "PtTrainFineTuneClassificationTransformerModel": (
        ("epochs", 2), ("freeze_pretrained_module_epochs", 1), ("use_gpu", False), ("early_stopping", False),
        ("early_stopping_rounds", 10), ("output_best_val_model", True), ("classification_metrics", True)),
    "PtEvaluateClassificationModel": (("use_gpu", False),),
    "PtSaveModel": (("model_path", "model.pkl"),),
    "CDAStringCreate": (("data", ""),),
    "CDATextCreate": (("data", ""),),
    "CDAIntCreate": (("data", 0),),
    "CDAFloatCreate": (("data", 0.0),),
}

SHOW_NODES = ("PtShowText", "PtShowSize", "PandasShowText", "CDAShowText", "CDAShowInt", "CDAShowFloat")
FRONTEND_NODES = ("Note", "MarkdownNote", "Reroute", "PrimitiveNode")
NOT_CONVERTIBLE = {
    "PtLoadModel": "it loads a .pt state dict into a model built in the workflow; train again and save with "
                   "Pt Save Classification Model, then use Pt Load Classification Model",
    "PtPredictClassificationModel": "it predicts images from tensors; use Pt Predict Classification Model "
                                    "(texts in, labels out) after converting",
}


@dataclass
class Context:
    """What a widget mapping may look at, and where it leaves its notes for the user."""

    node_id: str
    linked: set[str]
    cross_entropy: bool
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(f"node {self.node_id}: {text}")


WidgetMap = Callable[[dict, Context], dict]


@dataclass(frozen=True)
class NodeMap:
    """One of their node types as ours: widget values, input names (None: the link is dropped,
    our node does not take it), output slots, and an optional node chained after it."""

    target: str
    widgets: WidgetMap
    inputs: dict[str, Optional[str]] = field(default_factory=dict)
    outputs: dict[int, int] = field(default_factory=lambda: {0: 0})
    then: Optional[tuple[str, WidgetMap]] = None


def _device(use_gpu: bool) -> str:
    return "auto" if use_gpu else "cpu"


def _tokenizer(v: dict, ctx: Context) -> dict:
    if v["padding"]:
        ctx.note(f"padding ({v['padding_method']}) dropped: this pack pads each batch to its longest text")
    return {"model_name": v["model_name"], "max_length": v["max_length"], "truncation": v["truncation"]}


def _dataset(v: dict, ctx: Context) -> dict:
    return {"name": v["name"], "split": v["split"], "text_field": v["sample_field_name"],
            "label_field": v["label_field_name"], "encode_return_dict": v["encode_return_dict"],
            "strip_html": v["remove_html_tags"]}


def _local_dataset(v: dict, ctx: Context) -> dict:
    path = v["file_path"]
    if path and not posixpath.isabs(path) and not re.match(r"^[A-Za-z]:[\\/]", path):
        ctx.note(f"'{path}' was relative to ComfyUI-Pt-Wrapper's datasets folder; give its full path")
    return {**_dataset({**v, "name": path, "split": "train"}, ctx)}


def _loader(v: dict, ctx: Context) -> dict:
    if str(v["parameters"] or "").strip():
        ctx.note(f"loader parameters {v['parameters']} dropped: batches are built in the main process")
    return {"batch_size": int(v["batch_size"]), "shuffle": v["shuffle"]}


def _adam(v: dict, ctx: Context) -> dict:
    return {"learning_rate": v["learning_rate"], "beta1": v["beta1"], "beta2": v["beta2"],
            **({"weight_decay": v["weight_decay"], "amsgrad": v["amsgrad"]} if "amsgrad" in v else {})}


def _sgd(v: dict, ctx: Context) -> dict:
    if v["dampening"]:
        ctx.note(f"SGD dampening {v['dampening']} dropped (this pack's SGD has none)")
    return {"learning_rate": v["learning_rate"], "momentum": v["momentum"], "weight_decay": v["weight_decay"],
            "nesterov": v["nesterov"]}


def _loss(v: dict, ctx: Context) -> dict:
    if v["reduction"] == "none":
        ctx.note("loss reduction 'none' cannot train a model; it is 'mean' here")
        return {"reduction": "mean"}
    return {"reduction": v["reduction"]}


def _model(v: dict, ctx: Context) -> dict:
    outputs = 1
    if ctx.cross_entropy:
        outputs = 2
        ctx.note("cross-entropy loss: num_outputs is 2; set it to your number of classes")
    return {"model_name": v["model_name"], "num_outputs": outputs,
            "pooling": "mean" if v["use_mean_pooling"] else "cls", "dropout": v["dropout"]}


def _lora(v: dict, ctx: Context) -> dict:
    return {"r": int(v["lora_r"]), "alpha": float(v["lora_alpha"]), "dropout": v["lora_dropout"]}


def _trainer(v: dict, ctx: Context) -> dict:
    ours = {"epochs": int(v["epochs"]), "device": _device(v["use_gpu"]),
            "early_stopping_patience": int(v["early_stopping_rounds"]) if v["early_stopping"] else 0,
            "restore_best_weights": bool(v["output_best_val_model"]) and "val_loader" in ctx.linked}
    if "freeze_pretrained_module_epochs" in v:
        ours["freeze_pretrained_module_epochs"] = int(v["freeze_pretrained_module_epochs"])
    return ours


def _save(v: dict, ctx: Context) -> dict:
    stem = Path(str(v["model_path"]).replace("\\", "/")).stem or "text_classifier"
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)
    ctx.note(f"saves a folder output/{prefix}_00001 (weights, tokenizer, labels) instead of {v['model_path']}")
    return {"filename_prefix": prefix}


def _value(v: dict, ctx: Context) -> dict:
    return {"value": v["data"]}


TRAINER_LINKS = {"scheduler": "lr_scheduler", "val_loader": "val_loader"}
TRAINER_OUTPUTS = {0: 0, 1: 4, 2: 3}  # Model, train loss, val loss -> model, train_loss, val_loss
MAPS: dict[str, NodeMap] = {
    "HfTokenizerEncode": NodeMap("HfTokenizerEncode", _tokenizer),
    "PtvHfDatasetWithTokenEncode": NodeMap("PtvHfDatasetWithTokenEncode", _dataset),
    "PtvHfLocalDataset": NodeMap("PtvHfDatasetWithTokenEncode", _local_dataset),
    "PtDataLoader": NodeMap("PtDataLoader", _loader),
    "PtoAdam": NodeMap("PtoAdam", _adam, {"model": None}),
    "PtoAdamW": NodeMap("PtoAdamW", _adam, {"model": None}),
    "PtoSGD": NodeMap("PtoSGD", _sgd, {"model": None}),
    "PtoLrSchedulerStep": NodeMap("PtoLrSchedulerStep", lambda v, c: {"step_size": v["step_size"],
                                                                      "gamma": v["gamma"]}, {"optimizer": None}),
    "PtoLrSchedulerCosineAnnealing": NodeMap(
        "PtoLrSchedulerCosineAnnealing", lambda v, c: {"t_max": v["num_epochs"], "eta_min": v["minimum_lr"]},
        {"optimizer": None}),
    "PtoLrSchedulerReduceOnPlateau": NodeMap(
        "PtoLrSchedulerReduceOnPlateau", lambda v, c: {"patience": v["grace_period"], "factor": v["gamma"]},
        {"optimizer": None}),
    "PtnBCEWithLogitsLoss": NodeMap("PtnBCEWithLogitsLoss", _loss),
    "PtnCrossEntropyLoss": NodeMap("PtnCrossEntropyLoss", _loss),
    "PtnHfFineTunedClassificationModel": NodeMap("PtnHfFineTunedClassificationModel", _model),
    "PtnHfLoraClassificationModel": NodeMap("PtnHfFineTunedClassificationModel", _model,
                                            then=("PtnLoraAdapter", _lora)),
    "PtTrainClassificationTransformerModel": NodeMap("PtTrainTransformerClassificationModel", _trainer,
                                                     TRAINER_LINKS, TRAINER_OUTPUTS),
    "PtTrainFineTuneClassificationTransformerModel": NodeMap("PtTrainFineTuneClassificationTransformerModel",
                                                             _trainer, TRAINER_LINKS, TRAINER_OUTPUTS),
    # accuracy, precision, recall, f1, num_samples -> accuracy, metrics_json (holds the rest), f1
    "PtEvaluateClassificationModel": NodeMap("PtEvaluateClassificationModel",
                                             lambda v, c: {"device": _device(v["use_gpu"])},
                                             {"data_loader": "data"}, {0: 1, 1: 0, 2: 0, 3: 2, 4: 0}),
    "PtSaveModel": NodeMap("PtSaveClassificationModel", _save),
    "CDAStringCreate": NodeMap("PrimitiveString", _value),
    "CDATextCreate": NodeMap("PrimitiveStringMultiline", _value),
    "CDAIntCreate": NodeMap("PrimitiveInt", _value),
    "CDAFloatCreate": NodeMap("PrimitiveFloat", _value),
    **{kind: NodeMap("PreviewAny", lambda v, c: {}) for kind in SHOW_NODES},
}


def _their_values(node: dict) -> dict:
    """Their widget values by name: a saved list follows their widget order (missing trailing
    widgets, added to Pt-Wrapper after the file was saved, take their defaults)."""
    spec = THEIR_WIDGETS.get(node["type"], ())
    raw = node.get("widgets_values") or []
    if isinstance(raw, dict):
        return {name: raw.get(name, default) for name, default in spec}
    return {name: raw[i] if i < len(raw) else default for i, (name, default) in enumerate(spec)}


def _our_node(their: dict, kind: str, values: dict, node_classes: dict) -> dict:
    """A node of `kind` in the frontend's saved format, at their node's place, with our widget
    values in our widget order (defaults for the rest) and empty sockets."""
    cls = node_classes[kind]
    values, widgets_values = dict(values), []
    for name, spec in widget_inputs(cls):
        default = spec[1].get("default") if len(spec) > 1 else None
        if default is None and isinstance(spec[0], list):
            default = spec[0][0]
        widgets_values.append(values.pop(name, default))
        if has_control_widget(name, spec):
            widgets_values.append("fixed")
    if values:
        raise KeyError(f"{kind} has no widgets {sorted(values)}")
    types = cls.INPUT_TYPES()
    specs = {**types.get("required", {}), **types.get("optional", {})}
    sockets = [{"name": n, "type": s[0], "link": None} for n, s in specs.items() if (n, s) not in widget_inputs(cls)]
    names = getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES
    node = {"id": their["id"], "type": kind, "pos": list(their.get("pos", [0, 0])),
            "size": list(their.get("size", [320, 120])), "flags": dict(their.get("flags", {})),
            "order": their.get("order", 0), "mode": their.get("mode", 0), "inputs": sockets,
            "outputs": [{"name": n, "type": t, "links": []} for n, t in zip(names, cls.RETURN_TYPES)],
            "properties": {"Node name for S&R": kind}, "widgets_values": widgets_values}
    for key in ("title", "color", "bgcolor"):
        if key in their:
            node[key] = their[key]
    return node


def _attach(node: dict, name: str, link_type: str, link_id: int, node_classes: dict) -> int:
    """Plug a link into `node`'s input `name`; a widget fed by a link is listed as an input with a
    widget, as the frontend saves it. Returns the input's slot."""
    for slot, item in enumerate(node["inputs"]):
        if item["name"] == name:
            item["link"] = link_id
            return slot
    if name not in dict(widget_inputs(node_classes[node["type"]])):
        raise UserInputError(f"node {node['id']} ({node['type']}) has no input '{name}' for a converted link")
    node["inputs"].append({"name": name, "type": link_type, "widget": {"name": name}, "link": link_id})
    return len(node["inputs"]) - 1


def _input_name(node: dict, slot: int, link_id: int) -> str:
    inputs = node.get("inputs", [])
    for item in inputs:
        if item.get("link") == link_id:
            return item["name"]
    return inputs[slot]["name"]


def _rewire(links: list, theirs: dict, ours: dict, chained: dict, node_classes: dict) -> list:
    """Their links on our nodes: origins through our output slots (the chained node's for a
    LoRA model), targets through our input names; links our nodes do not take are dropped."""
    rewired = []
    for link_id, origin, origin_slot, target, target_slot, link_type in (link[:6] for link in links):
        origin, target = str(origin), str(target)
        origin_map, target_map = MAPS.get(theirs[origin]["type"]), MAPS.get(theirs[target]["type"])
        name = _input_name(theirs[target], target_slot, link_id)
        if target_map is not None:
            name = "source" if target_map.target == "PreviewAny" else target_map.inputs.get(name, name)
        if name is None:
            for output in ours[origin].get("outputs", []):
                output["links"] = [i for i in (output.get("links") or []) if i != link_id]
            continue
        if origin_map is not None:
            origin = chained.get(origin, origin)
            origin_slot = origin_map.outputs[origin_slot]
            link_type = ours[origin]["outputs"][origin_slot]["type"]
            ours[origin]["outputs"][origin_slot]["links"].append(link_id)
        if target_map is not None:
            target_slot = _attach(ours[target], name, link_type, link_id, node_classes)
        rewired.append([link_id, int(origin), origin_slot, int(target), target_slot, link_type])
    return rewired


def _check_node_types(nodes: list, node_classes: dict) -> None:
    """Every node must be one we convert or pass through; else one error naming them all."""
    from .core_nodes import CORE_NODES

    unknown: dict[str, list[str]] = {}
    already_ours = sorted({n["type"] for n in nodes if n["type"] in node_classes and n["type"] not in MAPS
                           and n["type"] not in CORE_NODES})
    if already_ours:
        raise UserInputError(f"this workflow is already in HF Text Fine-Tune's format (it has {already_ours}); "
                             "run it as it is, only Pt-Wrapper workflows need converting")
    for node in nodes:
        if node["type"] not in MAPS and node["type"] not in FRONTEND_NODES and node["type"] not in CORE_NODES:
            unknown.setdefault(node["type"], []).append(str(node["id"]))
    if unknown:
        lines = [f"{kind} (node{'s' if len(ids) > 1 else ''} {', '.join(ids)})"
                 + (f": {NOT_CONVERTIBLE[kind]}" if kind in NOT_CONVERTIBLE else "") for kind, ids in unknown.items()]
        raise UserInputError(
            "cannot convert this Pt-Wrapper workflow: these node types have no equivalent in HF Text Fine-Tune:\n  "
            + "\n  ".join(lines) + "\nThe converter handles Pt-Wrapper's Hugging Face text-classification workflows "
            f"(its nodes {', '.join(sorted(k for k in MAPS if k not in SHOW_NODES))}, and its show nodes "
            f"{', '.join(SHOW_NODES)}); remove or replace the others first.")


def _notes_node(node_id: int, nodes: list, notes: list[str]) -> dict:
    left = min((n.get("pos", [0, 0])[0] for n in nodes), default=0)
    top = min((n.get("pos", [0, 0])[1] for n in nodes), default=0)
    text = ("## Converted from ComfyUI-Pt-Wrapper\n\nby `python run_workflow.py --convert-pt-wrapper`. "
            "Check these before you run it:\n\n" + "\n".join(f"- {line}" for line in notes))
    return {"id": node_id, "type": "MarkdownNote", "pos": [left, top - 300], "size": [560, 260], "flags": {},
            "order": 0, "mode": 0, "inputs": [], "outputs": [], "properties": {},
            "widgets_values": [text], "title": "Converted from Pt-Wrapper"}


def _chain(node: dict, then: tuple[str, WidgetMap], values: dict, ctx: Context, ids: tuple[int, int],
           node_classes: dict) -> tuple[dict, list]:
    """The node chained after a converted one (a LoRA adapter after the model) and the link
    between them; `ids` = (its node id, the link's id)."""
    kind, widgets = then
    place = {"id": ids[0], "pos": [node["pos"][0] + 40, node["pos"][1] + node["size"][1] + 60],
             "size": [320, 160], "mode": node.get("mode", 0), "order": node.get("order", 0)}
    chained = _our_node(place, kind, widgets(values, ctx), node_classes)
    node["outputs"][0]["links"].append(ids[1])
    slot = _attach(chained, "model", "PTMODEL", ids[1], node_classes)
    return chained, [ids[1], node["id"], 0, ids[0], slot, "PTMODEL"]


def convert_workflow(data: dict, node_classes: dict) -> tuple[dict, list[str]]:
    """Our workflow (UI format) made of a Pt-Wrapper one, and the notes on what changed."""
    if not is_ui_format(data):
        raise UserInputError("the Pt-Wrapper converter reads workflows saved from ComfyUI's editor (with nodes and "
                             "links), not API prompts; save it with Workflow > Save and convert that file")
    _check_node_types(data["nodes"], node_classes)
    theirs = {str(n["id"]): n for n in data["nodes"]}
    next_node = max([int(data.get("last_node_id") or 0)] + [int(i) for i in theirs]) + 1
    next_link = max([int(data.get("last_link_id") or 0)] + [int(link[0]) for link in data["links"]]) + 1
    cross_entropy = any(n["type"] == "PtnCrossEntropyLoss" for n in data["nodes"])
    ours, chained, notes, extra_links = {}, {}, [], []
    for node_id, node in theirs.items():
        mapping = MAPS.get(node["type"])
        if mapping is None:
            ours[node_id] = copy.deepcopy(node)
            continue
        ctx = Context(node_id, {i["name"] for i in node.get("inputs", []) if i.get("link") is not None},
                      cross_entropy)
        values = _their_values(node)
        ours[node_id] = _our_node(node, mapping.target, mapping.widgets(values, ctx), node_classes)
        if mapping.then is not None:
            extra, link = _chain(ours[node_id], mapping.then, values, ctx, (next_node, next_link), node_classes)
            ours[str(next_node)], chained[node_id] = extra, str(next_node)
            extra_links.append(link)
            ctx.note(f"the LoRA settings are on the Ptn LoRA Adapter node {next_node} chained after the model")
            next_node, next_link = next_node + 1, next_link + 1
        notes += ctx.notes
    links = _rewire(data["links"], theirs, ours, chained, node_classes) + extra_links
    nodes = list(ours.values())
    if notes:
        nodes.append(_notes_node(next_node, nodes, notes))
        next_node += 1
    converted = {key: copy.deepcopy(value) for key, value in data.items() if key not in ("nodes", "links")}
    converted.update({"last_node_id": next_node - 1, "last_link_id": next_link - 1, "nodes": nodes, "links": links})
    converted.get("extra", {}).pop("node_versions", None)  # theirs; the frontend records ours on save
    return converted, notes


def convert_file(source: str | Path, target: str | Path, node_classes: dict) -> list[str]:
    """Convert the Pt-Wrapper workflow file `source` into `target`; returns the notes."""
    converted, notes = convert_workflow(load_workflow(source), node_classes)
    try:
        Path(target).write_text(json.dumps(converted, indent=2) + "\n")
    except OSError as exc:
        raise UserInputError(f"cannot write the converted workflow to '{target}': {exc.strerror}") from None
    return notes
