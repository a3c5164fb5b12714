"""Read a workflow file (UI format as the frontend saves it, or API format) into an API prompt.

The UI -> API mapping follows the frontend's graphToPrompt: widget values are read
in the order of the node's widget inputs (INPUT_TYPES required, then optional),
with one extra 'control after generate' value after seed-like INT widgets; links
override widget values; muted nodes are dropped, bypassed nodes pass their input
through, Reroutes are followed, Notes are skipped and legacy PrimitiveNodes feed
their value into the widgets they are wired to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..modules.errors import UserInputError

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SKIPPED_TYPES = {"Note", "MarkdownNote"}
MUTED, BYPASSED = 2, 4


def is_widget(spec: tuple) -> bool:
    kind = spec[0]
    return isinstance(kind, list) or kind in WIDGET_TYPES


def has_control_widget(name: str, spec: tuple) -> bool:
    options = spec[1] if len(spec) > 1 else {}
    return spec[0] == "INT" and (options.get("control_after_generate") or name in ("seed", "noise_seed"))


def widget_inputs(node_class: Any) -> list[tuple[str, tuple]]:
    types = node_class.INPUT_TYPES()
    ordered = list(types.get("required", {}).items()) + list(types.get("optional", {}).items())
    return [(name, spec) for name, spec in ordered if is_widget(spec)]


def load_workflow(path: str | Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise UserInputError(f"workflow file '{path}' does not exist") from exc
    except json.JSONDecodeError as exc:
        raise UserInputError(f"workflow file '{path}' is not valid JSON: {exc}; save the workflow again from "
                             "ComfyUI") from None
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as exc:
        raise UserInputError(f"workflow file '{path}' cannot be read ({type(exc).__name__}); give a workflow "
                             ".json file saved by ComfyUI") from None
    if not isinstance(data, dict):
        raise UserInputError(
            f"workflow file '{path}' holds a JSON {type(data).__name__}, not a workflow object; give a file saved by "
            "ComfyUI (Workflow > Save, or Export (API))"
        )
    return data


def is_ui_format(data: dict) -> bool:
    return isinstance(data.get("nodes"), list) and "links" in data


def _checked_api_prompt(data: dict) -> dict[str, dict]:
    bad = [str(k) for k, v in data.items() if not isinstance(v, dict) or "class_type" not in v]
    if bad:
        raise UserInputError(
            f"workflow node {bad[0]} has no class_type, so it is neither a ComfyUI workflow (with nodes and "
            "links) nor an API prompt; save the workflow again from ComfyUI (Workflow > Export (API))"
        )
    return {str(k): v for k, v in data.items()}


class _Links:
    """A UI workflow's links, followed as the frontend does: through Reroutes and bypassed nodes
    back to a real output, or to a PrimitiveNode's value; muted origins give nothing."""

    def __init__(self, nodes: dict[str, dict], links: list) -> None:
        self.nodes, self.links = nodes, {link[0]: link for link in links}

    def source_of(self, link_id: int) -> Any:
        link = self.links[link_id]
        origin, slot = self.nodes[str(link[1])], link[2]
        if origin["type"] == "Reroute":
            upstream = origin["inputs"][0].get("link")
            return None if upstream is None else self.source_of(upstream)
        if origin["type"] == "PrimitiveNode":
            return ("value", origin["widgets_values"][0])
        if origin.get("mode") == BYPASSED:
            out_type = origin["outputs"][slot]["type"]
            for item in origin.get("inputs", []):
                if item.get("link") is not None and item.get("type") == out_type:
                    return self.source_of(item["link"])
            return None
        if origin.get("mode") == MUTED:
            return None
        return ("link", [str(origin["id"]), slot])


def _widget_values(node: dict, node_class: Any) -> dict[str, Any]:
    """Widget values by name, in the order of the node's widget inputs (plus control-after-generate slots)."""
    values = node.get("widgets_values") or []
    widgets = widget_inputs(node_class)
    if isinstance(values, dict):
        return {k: v for k, v in values.items() if k in dict(widgets)}
    inputs, position = {}, 0
    for name, spec in widgets:
        if position >= len(values):
            break
        inputs[name] = values[position]
        position += 2 if has_control_widget(name, spec) else 1
    return inputs


def to_api_prompt(data: dict, node_classes: dict[str, Any]) -> dict[str, dict]:
    """API prompt {id: {class_type, inputs, _meta: {title}}} from either format."""
    if "prompt" in data and isinstance(data["prompt"], dict):
        data = data["prompt"]
    if not is_ui_format(data):
        return _checked_api_prompt(data)
    nodes = {str(n["id"]): n for n in data["nodes"]}
    links = _Links(nodes, data["links"])
    prompt: dict[str, dict] = {}
    for node_id, node in nodes.items():
        kind = node["type"]
        if kind in SKIPPED_TYPES or kind in ("Reroute", "PrimitiveNode") or node.get("mode") in (MUTED, BYPASSED):
            continue
        if kind not in node_classes:
            raise UserInputError(
                f"workflow node {node_id} has type '{kind}', which is neither a node of this pack nor a supported "
                "core node; install the pack that provides it or run the workflow in ComfyUI")
        inputs = _widget_values(node, node_classes[kind])
        for item in node.get("inputs", []):
            source = links.source_of(item["link"]) if item.get("link") is not None else None
            if source is not None:
                inputs[item["name"]] = source[1]
        prompt[node_id] = {"class_type": kind, "inputs": inputs, "_meta": {"title": node.get("title") or kind}}
    return prompt
