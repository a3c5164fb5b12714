"""What the browser asks of the Pt-Wrapper converter when a workflow is opened.

ComfyUI-Pt-Wrapper saved its workflows with its own widget order; eight of its node ids are
this pack's too, so opened as they are their values land on other widgets (`trust_remote_code`
true, `max_length` 1, ...). The pack's frontend extension (web/js/pt_wrapper.js) sends every
workflow that holds one of Pt-Wrapper's node types here before the frontend applies any
widget; the reply is the converted workflow (the same `convert_workflow` as
`run_workflow.py --convert-pt-wrapper`, so there is one mapping), or, when it cannot convert,
the workflow with the shifted values removed (those nodes open with their defaults) and the
error with the command to convert it. A workflow of this pack's own comes back untouched.
"""

from __future__ import annotations

import copy
from typing import Any

from ..modules.errors import UserInputError
from .core_nodes import CORE_NODES
from .pt_wrapper import MAPS, NOT_CONVERTIBLE, THEIR_WIDGETS, convert_workflow
from .workflow_format import has_control_widget, is_ui_format, widget_inputs

CONVERT_COMMAND = "python run_workflow.py --convert-pt-wrapper THEIR_WORKFLOW.json CONVERTED.json"


def their_node_types() -> list[str]:
    """Every node type a Pt-Wrapper workflow may hold that the converter knows (the browser's pre-check)."""
    return sorted(set(MAPS) | set(NOT_CONVERTIBLE))


def _kind_fits(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    return isinstance(value, str)


def _fits_theirs(node: dict) -> bool:
    """The saved values have Pt-Wrapper's shape for this type: its count and a kind per position."""
    spec, values = THEIR_WIDGETS.get(node["type"]), node.get("widgets_values")
    if spec is None or not isinstance(values, list) or len(values) != len(spec):
        return False
    return all(_kind_fits(value, default) for value, (_, default) in zip(values, spec))


def _our_kinds(cls: type) -> list[Any]:
    """A sample value per saved position of our node (control widgets included), for the shape check."""
    kinds: list[Any] = []
    for name, spec in widget_inputs(cls):
        kind = spec[0]
        kinds.append(kind if isinstance(kind, list) else {"INT": 0, "FLOAT": 0.0, "BOOLEAN": False}.get(kind, ""))
        if has_control_widget(name, spec):
            kinds.append("fixed")
    return kinds


def _fits_ours(node: dict, cls: type) -> bool:
    values = node.get("widgets_values")
    if not isinstance(values, list):
        return True  # a dict (by name) or nothing cannot shift
    kinds = _our_kinds(cls)
    if len(values) > len(kinds):
        return False
    return all(value in kind if isinstance(kind, list) else _kind_fits(value, kind)
               for value, kind in zip(values, kinds))


def shifted_nodes(data: dict, node_classes: dict) -> list[dict]:
    """Nodes of an id this pack shares with Pt-Wrapper whose saved values are Pt-Wrapper's, not ours."""
    return [node for node in data.get("nodes", []) if node.get("type") in node_classes
            and node["type"] in THEIR_WIDGETS and _fits_theirs(node) and not _fits_ours(node, node_classes[node["type"]])]


def looks_like_pt_wrapper(data: dict, node_classes: dict) -> bool:
    """Written by Pt-Wrapper: one of its own node types (not ours, not core), or values in its shape on a shared id."""
    if not is_ui_format(data):
        return False
    types = {node.get("type") for node in data["nodes"]}
    theirs_only = set(their_node_types()) - set(node_classes) - set(CORE_NODES)
    return bool(types & theirs_only) or bool(shifted_nodes(data, node_classes))


def _same_order(kind: str, node_classes: dict) -> bool:
    """Their widgets are ours, in our order (e.g. AdamW's): their saved values land where they belong."""
    theirs = [name for name, _ in THEIR_WIDGETS[kind]]
    return theirs == [name for name, _ in widget_inputs(node_classes[kind])][: len(theirs)]


def without_shifted_values(data: dict, node_classes: dict) -> tuple[dict, list[str]]:
    """A Pt-Wrapper workflow with the values dropped from every shared-id node whose widgets are in another
    order than ours (they open with our defaults, `trust_remote_code` off), and the ids of those nodes."""
    safe = copy.deepcopy(data)
    cleared = []
    for node in safe.get("nodes", []):
        kind = node.get("type")
        if kind not in node_classes or kind not in THEIR_WIDGETS or _same_order(kind, node_classes):
            continue
        node.pop("widgets_values", None)
        cleared.append(f"{node['id']} ({node['type']})")
    return safe, cleared


def browser_reply(data: Any, node_classes: dict) -> dict[str, Any]:
    """{"pt_wrapper": false} for any other workflow; else the converted workflow and the converter's notes,
    or (it cannot be converted) the workflow without shifted values, the reason and how to convert."""
    if not isinstance(data, dict) or not looks_like_pt_wrapper(data, node_classes):
        return {"pt_wrapper": False}
    try:
        converted, notes = convert_workflow(data, node_classes)
    except (UserInputError, KeyError, ValueError, TypeError, IndexError) as exc:
        safe, cleared = without_shifted_values(data, node_classes)
        reason = str(exc) if isinstance(exc, UserInputError) else f"the converter could not read it ({exc!r})"
        return {"pt_wrapper": True, "converted": False, "workflow": safe, "cleared": cleared, "error": reason,
                "command": CONVERT_COMMAND}
    return {"pt_wrapper": True, "converted": True, "workflow": converted, "notes": notes}

