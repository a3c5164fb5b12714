"""Write docs/nodes.md from the registered nodes' descriptions, inputs and tooltips.

The node classes are the single source of what each input means (ComfyUI shows the
same tooltips), so the reference page is generated, never edited by hand:
python scripts/build_node_docs.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import run_workflow  # noqa: E402

pack = run_workflow.load_pack()


def describe_type(spec: tuple) -> str:
    kind = spec[0]
    if isinstance(kind, list):
        return "one of " + ", ".join(f"`{k}`" for k in kind)
    return f"`{kind}`"


def default_of(spec: tuple) -> str:
    options = spec[1] if len(spec) > 1 else {}
    return f"`{options['default']}`" if "default" in options else ""


def node_section(key: str, cls) -> list[str]:
    lines = [f"## {pack.NODE_DISPLAY_NAME_MAPPINGS.get(key, key)}", "",
             f"`{key}` - category *{cls.CATEGORY}*", "", getattr(cls, "DESCRIPTION", ""), ""]
    types = cls.INPUT_TYPES()
    rows = [(group, name, spec) for group in ("required", "optional") for name, spec in types.get(group, {}).items()]
    if rows:
        lines += ["| input | type | default | meaning |", "| --- | --- | --- | --- |"]
        for group, name, spec in rows:
            tip = (spec[1] if len(spec) > 1 else {}).get("tooltip", "").replace("|", "\\|")
            optional = " (optional)" if group == "optional" else ""
            lines.append(f"| `{name}`{optional} | {describe_type(spec)} | {default_of(spec)} | {tip} |")
        lines.append("")
    names = getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES
    tips = getattr(cls, "OUTPUT_TOOLTIPS", ("",) * len(names))
    if names:
        lines += ["| output | type | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{n}` | `{t}` | {tip} |" for n, t, tip in zip(names, cls.RETURN_TYPES, tips)]
        lines.append("")
    return lines


def main() -> None:
    lines = ["# Node reference", "",
             "Generated from the node classes by `python scripts/build_node_docs.py`; ComfyUI shows the same "
             "text as tooltips.", ""]
    for key, cls in pack.NODE_CLASS_MAPPINGS.items():
        lines += node_section(key, cls)
    (ROOT / "docs" / "nodes.md").write_text("\n".join(lines).rstrip() + "\n")


if __name__ == "__main__":
    main()
