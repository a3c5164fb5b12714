"""Workflows in ComfyUI-Pt-Wrapper's saved format (the layout of its public
examples/workflows/distilbert_classification.json), written for the converter's tests.

Its nodes save widget values in *its* INPUT_TYPES order, a widget fed by a link keeps its
(empty) value and is listed as an input with a widget, and the model name comes from
ComfyUI-Data-Analysis's CDAStringCreate; its trainer outputs (Model, train loss, val loss).
"""

from __future__ import annotations

from typing import Any, Optional

# their node type -> (input sockets with types, output types)
SOCKETS = {
    "CDAStringCreate": ([], ["STRING"]),
    "HfTokenizerEncode": ([], ["PTCALLABLE"]),
    "PtvHfDatasetWithTokenEncode": ([("encode", "PTCALLABLE")], ["PTVDATASET"]),
    "PtvHfLocalDataset": ([("encode", "PTCALLABLE")], ["PTVDATASET"]),
    "PtDataLoader": ([("dataset", "PTVDATASET")], ["PTDATALOADER"]),
    "PtnHfFineTunedClassificationModel": ([], ["PTMODEL"]),
    "PtnHfLoraClassificationModel": ([], ["PTMODEL"]),
    "PtoAdamW": ([("model", "PTMODEL")], ["PTOPTIMIZER"]),
    "PtoSGD": ([("model", "PTMODEL")], ["PTOPTIMIZER"]),
    "PtoLrSchedulerStep": ([("optimizer", "PTOPTIMIZER")], ["PTLRSCHEDULER"]),
    "PtnBCEWithLogitsLoss": ([], ["PTLOSS"]),
    "PtTrainClassificationTransformerModel": (
        [("model", "PTMODEL"), ("train_loader", "PTDATALOADER"), ("optimizer", "PTOPTIMIZER"),
         ("loss_function", "PTLOSS"), ("scheduler", "PTLRSCHEDULER"), ("val_loader", "PTDATALOADER")],
        ["PTMODEL", "TENSOR", "TENSOR"]),
    "PtTrainFineTuneClassificationTransformerModel": (
        [("model", "PTMODEL"), ("train_loader", "PTDATALOADER"), ("optimizer", "PTOPTIMIZER"),
         ("loss_function", "PTLOSS"), ("val_loader", "PTDATALOADER")], ["PTMODEL", "TENSOR", "TENSOR"]),
    "PtEvaluateClassificationModel": ([("model", "PTMODEL"), ("data_loader", "PTDATALOADER")],
                                      ["FLOAT", "FLOAT", "FLOAT", "FLOAT", "INT"]),
    "PtSaveModel": ([("model", "PTMODEL")], ["STRING"]),
    "PandasShowText": ([("text", "STRING")], ["STRING"]),
    "PtShowText": ([("tens", "TENSOR")], ["STRING"]),
    "PtnLinear": ([], ["PTMODEL"]),
    "PtLoadModel": ([("model", "PTMODEL")], ["PTMODEL"]),
    "MarkdownNote": ([], []),
}


class PtWrapperGraph:
    def __init__(self) -> None:
        self.nodes: list[dict] = []
        self.links: list[list] = []

    def node(self, kind: str, values: list, node_id: Optional[int] = None) -> int:
        sockets, outputs = SOCKETS[kind]
        node_id = node_id or 100 + len(self.nodes)
        self.nodes.append({
            "id": node_id, "type": kind, "pos": [300 * len(self.nodes), 100], "size": [315, 180], "flags": {},
            "order": len(self.nodes), "mode": 0,
            "inputs": [{"name": n, "type": t, "link": None} for n, t in sockets],
            "outputs": [{"name": t, "type": t, "links": [], "slot_index": i} for i, t in enumerate(outputs)],
            "properties": {"Node name for S&R": kind}, "widgets_values": values})
        return node_id

    def _node(self, node_id: int) -> dict:
        return next(n for n in self.nodes if n["id"] == node_id)

    def link(self, source: int, slot: int, target: int, name: str) -> None:
        link_id = 10 + len(self.links)
        src, dst = self._node(source), self._node(target)
        kind = src["outputs"][slot]["type"]
        src["outputs"][slot]["links"].append(link_id)
        names = [i["name"] for i in dst["inputs"]]
        if name in names:
            dst["inputs"][names.index(name)]["link"] = link_id
        else:  # a widget converted to an input, as the frontend of early 2025 saved it
            dst["inputs"].append({"name": name, "type": kind, "widget": {"name": name}, "link": link_id})
        self.links.append([link_id, source, slot, target, [i["name"] for i in dst["inputs"]].index(name), kind])

    def to_json(self) -> dict[str, Any]:
        return {"last_node_id": max(n["id"] for n in self.nodes), "last_link_id": 10 + len(self.links),
                "nodes": self.nodes, "links": self.links, "groups": [], "config": {},
                "extra": {"ds": {"scale": 0.66, "offset": [0, 0]}, "node_versions": {"pt-wrapper": "test"}},
                "version": 0.4}


def imdb_classification(model: str, train: str, val: str, *, epochs: int = 4, learning_rate: float = 0.01,
                        batch_size: int = 8, fine_tune: bool = False, lora: bool = False,
                        local_files: bool = False) -> PtWrapperGraph:
    """Their guide's IMDB + DistilBERT workflow (same node ids as their example), on local files."""
    g = PtWrapperGraph()
    name = g.node("CDAStringCreate", [model], 31)
    tok = g.node("HfTokenizerEncode", ["", True, "max_length", True, 0], 30)
    if local_files:  # file_path, file_format, sample field, label field, remove_html_tags, encode_return_dict
        train_ds = g.node("PtvHfLocalDataset", [train, "csv", "text", "label", True, True], 21)
        val_ds = g.node("PtvHfLocalDataset", [val, "csv", "text", "label", True, True], 24)
    else:
        train_ds = g.node("PtvHfDatasetWithTokenEncode", [train, "train", "text", "label", True, True], 21)
        val_ds = g.node("PtvHfDatasetWithTokenEncode", [val, "train", "text", "label", True, True], 24)
    train_loader = g.node("PtDataLoader", [batch_size, True, '{"num_workers":1}'], 7)
    val_loader = g.node("PtDataLoader", [batch_size, False, '{"num_workers":1}'], 12)
    if lora:  # model_name, use_mean_pooling, dropout, lora_r, lora_alpha, lora_dropout
        net = g.node("PtnHfLoraClassificationModel", ["", True, 0, 4, 8, 0.0], 32)
    else:
        net = g.node("PtnHfFineTunedClassificationModel", ["", True, 0], 32)
    optim = g.node("PtoAdamW", [learning_rate, 0.9, 0.999, 0.01, False], 29)
    loss = g.node("PtnBCEWithLogitsLoss", ["mean"], 16)
    if fine_tune:  # epochs, freeze epochs, use_gpu, early_stopping, rounds, output_best_val_model, metrics
        trainer = g.node("PtTrainFineTuneClassificationTransformerModel", [epochs, 1, False, False, 10, False, True], 38)
    else:
        trainer = g.node("PtTrainClassificationTransformerModel", [epochs, False, False, 10, False, True], 27)
    save = g.node("PtSaveModel", ["/container/transfer/models/distilbert_classification.pt"], 17)
    shown = g.node("PandasShowText", ["", ""], 19)
    g.node("MarkdownNote", ["Set max_length to 0 to use model's max_length."], 34)
    for target in (tok, net):
        g.link(name, 0, target, "model_name")
    g.link(tok, 0, train_ds, "encode")
    g.link(tok, 0, val_ds, "encode")
    g.link(train_ds, 0, train_loader, "dataset")
    g.link(val_ds, 0, val_loader, "dataset")
    g.link(net, 0, optim, "model")
    for source, slot_name in ((net, "model"), (train_loader, "train_loader"), (optim, "optimizer"),
                              (loss, "loss_function"), (val_loader, "val_loader")):
        g.link(source, 0, trainer, slot_name)
    g.link(trainer, 0, save, "model")
    g.link(save, 0, shown, "text")
    return g
