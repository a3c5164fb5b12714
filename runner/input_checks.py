"""Widget values checked as ComfyUI checks them at queue time (execution.validate_inputs).

ComfyUI converts INT, FLOAT, STRING and BOOLEAN values (refusing what does not convert), refuses
numbers outside a widget's min/max and combo values that are not in its list. The headless runner
does the same, so a value ComfyUI would refuse is refused here too, with one line naming it.
"""

from __future__ import annotations

from typing import Any, Optional

from ..modules.errors import closest_names

_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _convert(kind: str, value: Any) -> Any:
    if kind == "INT":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value)
    if kind == "FLOAT":
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    if kind == "STRING":
        if isinstance(value, (dict, list)):
            raise ValueError
        return str(value)
    if kind == "BOOLEAN":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
            return _BOOLEANS[value.strip().lower()]
        raise ValueError
    return value


_KIND_WORDS = {"INT": "a whole number", "FLOAT": "a number", "STRING": "text", "BOOLEAN": "true or false"}


def check_widget(name: str, spec: tuple, value: Any, own_check: bool = False) -> tuple[Any, Optional[str]]:
    """(the converted value, None) or (value, the error line). As ComfyUI: `own_check` (the node's
    VALIDATE_INPUTS takes this input) skips the min/max and list checks, not the conversion; the
    executor checks min/max of such inputs after the node's own check passed (as the UI's widgets do)."""
    kind, options = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    if isinstance(kind, list) and own_check:  # e.g. a list filled at start-up that the node checks itself
        return value, None
    if isinstance(kind, list):  # a combo: the value must be one of the list
        if value not in kind:
            hint = closest_names(str(value), [str(k) for k in kind])
            extra = f" (did you mean {hint[0]}?)" if hint else ""
            return value, f"{name} {value!r} is not one of {kind[:20]}{extra}"
        return value, None
    if kind not in _KIND_WORDS:
        return value, None
    try:
        converted = _convert(kind, value)
    except (TypeError, ValueError, OverflowError):
        example = options.get("default")
        return value, f"{name} {value!r} is not {_KIND_WORDS[kind]} ({kind}); give e.g. {name}={example!r}"
    low, high = options.get("min"), options.get("max")
    if kind in ("INT", "FLOAT") and not own_check:
        if low is not None and converted < low:
            return value, f"{name} {converted} is smaller than its minimum {low}; use {low} to {high}"
        if high is not None and converted > high:
            return value, f"{name} {converted} is bigger than its maximum {high}; use {low} to {high}"
    return converted, None


def input_specs(node_class: Any, types: Optional[dict] = None) -> dict[str, tuple]:
    """The widget and link inputs by name; `types`: INPUT_TYPES() already fetched (it can walk folders)."""
    types = node_class.INPUT_TYPES() if types is None else types
    return {**types.get("required", {}), **types.get("optional", {})}


def unknown_input(name: str, node_label: str, node_class: Any) -> Optional[str]:
    """The error line for an input name the node does not have (with the closest names), else None."""
    names = list(input_specs(node_class))
    if name in names:
        return None
    hint = closest_names(name, names)
    extra = f"; did you mean {' or '.join(hint)}?" if hint else ""
    return f"node {node_label} has no input '{name}'{extra} Its inputs: {names}"
