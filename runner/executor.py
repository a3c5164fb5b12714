"""Execute an API prompt in-process, as ComfyUI's executor does, without a server.

Like ComfyUI: queue-time validation (required inputs, VALIDATE_INPUTS with linked
inputs passed as None), only nodes that feed an output node run, every node runs
under `torch.inference_mode()`, a node fed a list output (OUTPUT_IS_LIST) runs once
per item (its outputs become lists), and outputs of unchanged non-output nodes are
reused from a cache shared between runs (by reference, exactly as ComfyUI does,
so a node that mutated its inputs would show up here too).
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from ..modules.errors import UserInputError
from .input_checks import check_widget, input_specs, unknown_input

log = logging.getLogger(__name__)


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def find_nodes(prompt: dict, target: str) -> list[str]:
    """Node ids whose id, title or class name (or display name) is `target`."""
    from .. import NODE_DISPLAY_NAME_MAPPINGS

    matches = [nid for nid, node in prompt.items()
               if target in (nid, node.get("_meta", {}).get("title"), node["class_type"],
                             NODE_DISPLAY_NAME_MAPPINGS.get(node["class_type"]))]
    return list(dict.fromkeys(matches))


def apply_override(prompt: dict, assignment: str, node_classes: Optional[dict] = None) -> None:
    """`NODE.input=value`: NODE is an id, title, class name or display name; value is JSON or a string."""
    if "=" not in assignment or "." not in assignment.split("=", 1)[0]:
        raise UserInputError(f"override '{assignment}' must look like NODE.input=value (NODE: id, title or node name)")
    left, raw = assignment.split("=", 1)
    target, name = left.rsplit(".", 1)
    nodes = find_nodes(prompt, target)
    if not nodes:
        titles = sorted({n.get("_meta", {}).get("title", "") for n in prompt.values()})
        raise UserInputError(f"override '{assignment}': no node has id, title or type '{target}'; titles: {titles}")
    if len(nodes) > 1:
        raise UserInputError(f"override '{assignment}': '{target}' matches nodes {nodes}; use a node id or title")
    node = prompt[nodes[0]]
    node_class = (node_classes or {}).get(node["class_type"])
    if node_class is not None:
        label = f"'{target}' ({node['class_type']})"
        problem = unknown_input(name, label, node_class)
        if problem:
            raise UserInputError(f"override '{assignment}': {problem}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    node["inputs"][name] = value


@dataclass
class RunResult:
    outputs: dict[str, tuple] = field(default_factory=dict)
    ui: dict[str, dict] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    lists: dict[str, tuple[bool, ...]] = field(default_factory=dict)  # node id -> which outputs are item lists


def _split(returned: Any) -> tuple[tuple, dict]:
    if isinstance(returned, dict):
        return tuple(returned.get("result", ())), returned.get("ui") or {}
    return tuple(returned), {}


def call_node(cls: Any, kwargs: dict, listed: set[str]) -> tuple[tuple, dict, tuple[bool, ...]]:
    """(outputs, ui, which outputs are lists of items): one call, or, as ComfyUI maps a node over
    list inputs, one call per item (the shorter lists repeat their last item) with each output
    gathered into a list (a list output's items joined)."""
    declared = tuple(getattr(cls, "OUTPUT_IS_LIST", ()) or ())
    declared += (False,) * (len(cls.RETURN_TYPES) - len(declared))
    with torch.inference_mode():
        if not listed:
            outputs, ui = _split(getattr(cls(), cls.FUNCTION)(**kwargs))
            return outputs, ui, declared
        count = max(len(kwargs[name]) for name in listed)
        calls = [_split(getattr(cls(), cls.FUNCTION)(**{k: (v[min(i, len(v) - 1)] if k in listed else v)
                                                        for k, v in kwargs.items()})) for i in range(count)]
    outputs = tuple([item for out, _ in calls for item in (out[slot] if declared[slot] else [out[slot]])]
                    for slot in range(len(cls.RETURN_TYPES)))
    ui: dict[str, list] = {}
    for _, shown in calls:
        for key, value in shown.items():
            ui.setdefault(key, []).extend(value)
    return outputs, ui, (True,) * len(cls.RETURN_TYPES)


class ValidationFailed(UserInputError):
    pass


class Executor:
    def __init__(self, node_classes: dict[str, Any]) -> None:
        self.node_classes = node_classes
        self.cache: dict[str, tuple[str, tuple, tuple]] = {}  # node id -> (input signature, outputs, lists)

    def validate(self, prompt: dict) -> dict[str, dict]:
        """Refuse the prompt with every error found, as ComfyUI's queue check does; returns each node's
        INPUT_TYPES(), fetched once per node (their file lists walk folders)."""
        errors, types = [], {}
        for nid, node in prompt.items():
            if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
                errors.append(f"node {nid} has no class_type (the node's type); save the workflow again from "
                              "ComfyUI (Workflow > Export (API)) or fix that node")
                continue
            if not isinstance(node.get("inputs", {}), dict):
                errors.append(f"node {nid} ({node['class_type']}): inputs is not an object")
                continue
            node.setdefault("inputs", {})
            cls = self.node_classes.get(node["class_type"])
            if cls is None:
                errors.append(f"node {nid}: unknown node type '{node['class_type']}'")
                continue
            types[nid] = cls.INPUT_TYPES()
            specs = input_specs(cls, types[nid])
            required = types[nid].get("required", {})
            missing = [name for name in required if name not in node["inputs"]]
            if missing:
                errors.append(f"node {nid} ({node['class_type']}): required input missing: {missing}")
            own = getattr(cls, "VALIDATE_INPUTS", None)
            bad = self._check_widgets(node, specs, set(inspect.getfullargspec(own).args) if own else set())
            errors += [f"node {nid} ({node['class_type']}): {line}" for line in bad]
            if bad:
                continue
            validate = getattr(cls, "VALIDATE_INPUTS", None)
            if validate is None:
                continue
            wanted = inspect.getfullargspec(validate).args
            args = {k: (None if is_link(v) else v) for k, v in node["inputs"].items() if k in wanted}
            verdict = validate(**args)
            if verdict is not True:
                errors.append(f"node {nid} ({node['class_type']}): {verdict}")
                continue
            numbers = {k: v for k, v in specs.items() if k in wanted and not isinstance(v[0], list)}
            out_of_range = self._check_widgets(node, numbers, set())
            errors += [f"node {nid} ({node['class_type']}): {line}" for line in out_of_range]
        if len(errors) == 1:
            raise ValidationFailed(f"the workflow did not pass validation: {errors[0]}")
        if errors:
            raise ValidationFailed("the workflow did not pass validation:\n  " + "\n  ".join(errors))
        return types

    @staticmethod
    def _check_widgets(node: dict, specs: dict, own_checks: set) -> list[str]:
        """Convert and range-check widget values in place, as ComfyUI does; returns the error lines."""
        problems = []
        for name, value in list(node["inputs"].items()):
            if name not in specs or is_link(value):
                continue
            converted, problem = check_widget(name, specs[name], value, name in own_checks)
            if problem:
                problems.append(problem)
            else:
                node["inputs"][name] = converted
        return problems

    def _order(self, prompt: dict) -> list[str]:
        outputs = [nid for nid, n in prompt.items() if getattr(self.node_classes[n["class_type"]], "OUTPUT_NODE", False)]
        if not outputs:
            raise ValidationFailed("the workflow has no output node (a trainer or a preview); nothing would run")
        order: list[str] = []
        state: dict[str, str] = {}

        def visit(nid: str) -> None:
            if state.get(nid) == "done":
                return
            if state.get(nid) == "visiting":
                raise ValidationFailed(f"the workflow has a cycle through node {nid}")
            state[nid] = "visiting"
            for value in prompt[nid]["inputs"].values():
                if is_link(value):
                    if value[0] not in prompt:
                        raise ValidationFailed(f"node {nid} is linked to node {value[0]}, which is not in the workflow")
                    visit(value[0])
            state[nid] = "done"
            order.append(nid)

        for nid in outputs:
            visit(nid)
        return order

    def run(self, prompt: dict, on_node: Optional[Any] = None) -> RunResult:
        input_types = self.validate(prompt)
        result = RunResult()
        signatures: dict[str, str] = {}
        for nid in self._order(prompt):
            node = prompt[nid]
            cls = self.node_classes[node["class_type"]]
            kwargs, parts, listed = {}, [node["class_type"]], set()
            for name, value in node["inputs"].items():
                if is_link(value):
                    kwargs[name] = result.outputs[value[0]][value[1]]
                    if result.lists.get(value[0], ())[value[1]:value[1] + 1] == (True,):
                        listed.add(name)
                    parts.append(f"{name}=<{signatures[value[0]]}>[{value[1]}]")
                else:
                    kwargs[name] = value
                    parts.append(f"{name}={json.dumps(value, sort_keys=True, default=str)}")
            is_changed = getattr(cls, "IS_CHANGED", None)
            if is_changed is not None:  # as ComfyUI: e.g. a data file edited on disk is read again
                try:
                    parts.append(f"is_changed={is_changed(**kwargs)!r}")
                except Exception:  # ComfyUI treats a failing IS_CHANGED as changed
                    parts.append(f"is_changed=failed-{uuid.uuid4().hex}")
            signature = "|".join(parts)
            is_output = getattr(cls, "OUTPUT_NODE", False)
            hidden = input_types[nid].get("hidden", {})
            if "unique_id" in hidden:
                kwargs["unique_id"] = nid
            signatures[nid] = signature
            cached = self.cache.get(nid)
            if cached is not None and cached[0] == signature and not is_output:
                result.outputs[nid], result.lists[nid] = cached[1], cached[2]
                result.cached.append(nid)
                continue
            if on_node:
                on_node(nid, node)
            log.info("running node %s (%s)", nid, node.get("_meta", {}).get("title", node["class_type"]))
            result.outputs[nid], ui, result.lists[nid] = call_node(cls, kwargs, listed)
            if ui:
                result.ui[nid] = ui
            result.executed.append(nid)
            if not is_output:
                self.cache[nid] = (signature, result.outputs[nid], result.lists[nid])
        return result
