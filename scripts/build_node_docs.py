"""Write docs/nodes.md and the help page of every node from the registered node classes.

The node classes are the single source of what each input means (ComfyUI shows the same
tooltips), so the reference page and the help pages are generated, never edited by hand:
python scripts/build_node_docs.py

Help pages: ComfyUI's frontend shows `/extensions/<pack folder>/docs/<NodeId>.md` in the node
help panel, and serves `/extensions/<pack folder>/` from the pack's WEB_DIRECTORY, so the pages
go to WEB_DIRECTORY/docs/. Their examples and common mistakes live in node_help_notes.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_workflow  # noqa: E402
from node_help_notes import DYNAMIC_CHOICES, NOTES  # noqa: E402

pack = run_workflow.load_pack()
HELP_DIR = (ROOT / pack.WEB_DIRECTORY / "docs").resolve()
TEMPLATES_DIR = ROOT / "example_workflows"


def cell(text) -> str:
    """Text fit for one Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", "\\n")


def describe_type(spec: tuple, dynamic: str = "") -> str:
    kind = spec[0]
    if dynamic:
        return f"one of {dynamic}"
    if isinstance(kind, list):
        return "one of " + ", ".join(f"`{k}`" for k in kind)
    return f"`{kind}`"


def default_of(spec: tuple) -> str:
    options = spec[1] if len(spec) > 1 else {}
    if "default" not in options:
        return ""
    return "(empty)" if options["default"] == "" else f"`{cell(options['default'])}`"


def node_section(key: str, cls) -> list[str]:
    lines = [f"## {pack.NODE_DISPLAY_NAME_MAPPINGS.get(key, key)}", "",
             f"`{key}` - category *{cls.CATEGORY}*", "", getattr(cls, "DESCRIPTION", ""), ""]
    types = cls.INPUT_TYPES()
    rows = [(group, name, spec) for group in ("required", "optional") for name, spec in types.get(group, {}).items()]
    if rows:
        lines += ["| input | type | default | meaning |", "| --- | --- | --- | --- |"]
        for group, name, spec in rows:
            tip = cell((spec[1] if len(spec) > 1 else {}).get("tooltip", ""))
            optional = " (optional)" if group == "optional" else ""
            kind = describe_type(spec, DYNAMIC_CHOICES.get(key, {}).get(name, ""))
            lines.append(f"| `{name}`{optional} | {kind} | {default_of(spec)} | {tip} |")
        lines.append("")
    names = getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES
    tips = getattr(cls, "OUTPUT_TOOLTIPS", ("",) * len(names))
    if names:
        lines += ["| output | type | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{n}` | `{t}` | {tip} |" for n, t, tip in zip(names, cls.RETURN_TYPES, tips)]
        lines.append("")
    return lines


def value_range(spec: tuple) -> str:
    """min to max (and the step) of a number widget; empty for other inputs."""
    options = spec[1] if len(spec) > 1 else {}
    if "min" not in options and "max" not in options:
        return ""
    text = f"{options.get('min', '')} to {options.get('max', '')}"
    return text + (f", step {options['step']}" if "step" in options else "")


def templates_using(key: str) -> list[str]:
    """Names of the template workflows (example_workflows/) that hold this node."""
    names = []
    for path in sorted(TEMPLATES_DIR.glob("*.json")):
        if any(node.get("type") == key for node in json.loads(path.read_text()).get("nodes", [])):
            names.append(path.stem)
    return names


def help_inputs(key: str, cls) -> list[str]:
    """One block per input (name, then its type, range and default on one line, then its meaning): the node
    help sidebar is narrow, and a five-column table shows only its first column there."""
    types = cls.INPUT_TYPES()
    rows = [(group, name, spec) for group in ("required", "optional") for name, spec in types.get(group, {}).items()]
    if not rows:
        return []
    lines = ["## Inputs", ""]
    for group, name, spec in rows:
        tip = (spec[1] if len(spec) > 1 else {}).get("tooltip", "")
        kind = describe_type(spec, DYNAMIC_CHOICES.get(key, {}).get(name, ""))
        facts = [kind] + [part for part in (value_range(spec), default_of(spec) and f"default {default_of(spec)}")
                          if part]
        optional = " (optional)" if group == "optional" else ""
        lines += [f"**`{name}`**{optional}  ", " · ".join(facts) + ("  " if tip else ""), *([tip] if tip else []), ""]
    return lines


def help_outputs(cls) -> list[str]:
    names = getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES
    tips = getattr(cls, "OUTPUT_TOOLTIPS", ("",) * len(names))
    if not names:
        return []
    lines = ["## Outputs", ""]
    for name, kind, tip in zip(names, cls.RETURN_TYPES, tips):
        listed = " (a list: one item per text)" if name in _list_outputs(cls) else ""
        lines += [f"**`{name}`** · `{kind}`{listed}  ", tip, ""]
    return lines


def _list_outputs(cls) -> set[str]:
    names = getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES
    return {n for n, is_list in zip(names, getattr(cls, "OUTPUT_IS_LIST", ()) or ()) if is_list}


def help_page(key: str, cls) -> str:
    """The Markdown help page ComfyUI's node help panel shows for node `key`."""
    notes = NOTES[key]
    lines = [f"# {pack.NODE_DISPLAY_NAME_MAPPINGS.get(key, key)}", "",
             f"`{key}` - category *{cls.CATEGORY}*", "", getattr(cls, "DESCRIPTION", ""), ""]
    lines += help_inputs(key, cls) + help_outputs(cls)
    lines += ["## Example", "", notes["example"], ""]
    templates = templates_using(key)
    if templates:
        lines += ["Templates that use it (Templates > Custom Nodes): " + ", ".join(f"`{n}`" for n in templates), ""]
    lines += ["## Common mistakes", ""] + [f"- {text}" for text in notes["mistakes"]] + [""]
    lines += ["*Generated by `scripts/build_node_docs.py` from the node class and `scripts/node_help_notes.py`.*"]
    return "\n".join(lines) + "\n"


def help_pages() -> dict[str, str]:
    """{file name: text} of every registered node's help page."""
    return {f"{key}.md": help_page(key, cls) for key, cls in pack.NODE_CLASS_MAPPINGS.items()}


def write_help_pages() -> None:
    HELP_DIR.mkdir(parents=True, exist_ok=True)
    pages = help_pages()
    for stale in set(p.name for p in HELP_DIR.glob("*.md")) - set(pages):
        (HELP_DIR / stale).unlink()
    for name, text in pages.items():
        (HELP_DIR / name).write_text(text)


def main() -> None:
    lines = ["# Node reference", "",
             "Generated from the node classes by `python scripts/build_node_docs.py`; ComfyUI shows the same "
             "text as tooltips.", ""]
    for key, cls in pack.NODE_CLASS_MAPPINGS.items():
        lines += node_section(key, cls)
    (ROOT / "docs" / "nodes.md").write_text("\n".join(lines).rstrip() + "\n")
    write_help_pages()


if __name__ == "__main__":
    main()
