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


def to_api_prompt(data: dict, node_classes: dict[str, Any]) -> dict[str, dict]:
    """API prompt {id: {class_type, inputs, _meta: {title}}} from either format."""
    if "prompt" in data and isinstance(data["prompt"], dict):
        data = data["prompt"]
    if not is_ui_format(data):
        bad = [str(k) for k, v in data.items() if not isinstance(v, dict) or "class_type" not in v]
        if bad:
            raise UserInputError(
                f"workflow node {bad[0]} has no class_type, so it is neither a ComfyUI workflow (with nodes and "
                "links) nor an API prompt; save the workflow again from ComfyUI (Workflow > Export (API))"
            )
        return {str(k): v for k, v in data.items()}
    nodes = {str(n["id"]): n for n in data["nodes"]}
    links = {link[0]: link for link in data["links"]}

    def source_of(link_id: int) -> Any:
        """Follow Reroutes and bypassed nodes back to a real output, or a PrimitiveNode's value."""
        link = links[link_id]
        origin, slot = nodes[str(link[1])], link[2]
        if origin["type"] == "Reroute":
            upstream = origin["inputs"][0].get("link")
            return None if upstream is None else source_of(upstream)
        if origin["type"] == "PrimitiveNode":
            return ("value", origin["widgets_values"][0])
        if origin.get("mode") == BYPASSED:
            out_type = origin["outputs"][slot]["type"]
            for item in origin.get("inputs", []):
                if item.get("link") is not None and item.get("type") == out_type:
                    return source_of(item["link"])
            return None
        if origin.get("mode") == MUTED:
            return None
        return ("link", [str(origin["id"]), slot])

    prompt: dict[str, dict] = {}
    for node_id, node in nodes.items():
        kind = node["type"]
        if kind in SKIPPED_TYPES or kind in ("Reroute", "PrimitiveNode") or node.get("mode") in (MUTED, BYPASSED):
            continue
        if kind not in node_classes:
            raise UserInputError(
                f"workflow node {node_id} has type '{kind}', which is neither a node of this pack nor a supported "
                "core node; install the pack that provides it or run the workflow in ComfyUI")
        inputs: dict[str, Any] = {}
        values = node.get("widgets_values") or []
        if isinstance(values, dict):
            inputs.update({k: v for k, v in values.items() if k in dict(widget_inputs(node_classes[kind]))})
        else:
            position = 0
            for name, spec in widget_inputs(node_classes[kind]):
                if position >= len(values):
                    break
                inputs[name] = values[position]
                position += 2 if has_control_widget(name, spec) else 1
        for item in node.get("inputs", []):
            if item.get("link") is None:
                continue
            source = source_of(item["link"])
            if source is None:
                continue
            inputs[item["name"]] = source[1]
        prompt[node_id] = {"class_type": kind, "inputs": inputs, "_meta": {"title": node.get("title") or kind}}
    return prompt
