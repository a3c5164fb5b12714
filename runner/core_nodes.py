"""Stand-ins for the ComfyUI core nodes our example workflows use, for runs without ComfyUI.

They mirror `comfy_extras/nodes_primitive.py`, `nodes_preview_any.py` and `nodes_string.py`'s
StringCompare: same class names, same input names and widget order, same outputs.
"""

from __future__ import annotations

import json
import sys


def _primitive(type_name: str, widget: tuple, doc: str):
    class Primitive:
        DESCRIPTION = doc
        RETURN_TYPES = (type_name,)
        FUNCTION = "execute"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"value": widget}}

        def execute(self, value):
            return (value,)

    return Primitive


PrimitiveString = _primitive("STRING", ("STRING", {}), "String")
PrimitiveStringMultiline = _primitive("STRING", ("STRING", {"multiline": True}), "String (Multiline)")
PrimitiveInt = _primitive("INT", ("INT", {"min": -sys.maxsize, "max": sys.maxsize, "control_after_generate": True}), "Int")
PrimitiveFloat = _primitive("FLOAT", ("FLOAT", {"min": -sys.maxsize, "max": sys.maxsize}), "Float")
PrimitiveBoolean = _primitive("BOOLEAN", ("BOOLEAN", {}), "Boolean")


class PreviewAny:
    """Shows any value as text on the node (core 'Preview Any')."""

    RETURN_TYPES = ()
    FUNCTION = "main"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"source": ("*", {})}}

    def main(self, source=None):
        if isinstance(source, str):
            text = source
        elif isinstance(source, (int, float, bool)):
            text = str(source)
        else:
            try:
                text = json.dumps(source, indent=4)
            except (TypeError, ValueError):
                text = str(source)
        return {"ui": {"text": (text,)}}


class StringCompare:
    """Compares two strings (core 'Compare', ComfyUI 0.3.64): a BOOLEAN other nodes can use."""

    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "execute"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"string_a": ("STRING", {"multiline": True}), "string_b": ("STRING", {"multiline": True}),
                             "mode": (["Starts With", "Ends With", "Equal"], {}),
                             "case_sensitive": ("BOOLEAN", {"default": True})}}

    def execute(self, string_a, string_b, mode, case_sensitive):
        a, b = (string_a, string_b) if case_sensitive else (string_a.lower(), string_b.lower())
        return ({"Equal": a == b, "Starts With": a.startswith(b), "Ends With": a.endswith(b)}[mode],)


CORE_NODES = {
    "PrimitiveString": PrimitiveString,
    "PrimitiveStringMultiline": PrimitiveStringMultiline,
    "PrimitiveInt": PrimitiveInt,
    "PrimitiveFloat": PrimitiveFloat,
    "PrimitiveBoolean": PrimitiveBoolean,
    "PreviewAny": PreviewAny,
    "StringCompare": StringCompare,
}
