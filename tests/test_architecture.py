"""The house rules of the code, read from its syntax trees (no import runs):

- the import graph of modules/, nodes/, runner/ and the root __init__.py, counting every import
  (module level, inside functions, under TYPE_CHECKING), has no circle;
- modules/ imports nothing from ComfyUI (comfy, folder_paths, server, nodes) nor from nodes/ or runner/;
- stages import only earlier stages: the foundation (modules/*.py) no stage folder, data/ only the
  foundation, model/ the foundation and data/, training/ those and model/, results/ any of them;
- no function in modules/, nodes/, runner/ is longer than 60 lines or takes more than 8 parameters
  (self, cls, *args and **kwargs not counted).

The checks are plain functions of a source folder, so the last test shows each one catching a
violation in a small made-up package.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("modules", "nodes", "runner")
STAGES = ("data", "model", "training", "results")  # in pipeline order
COMFYUI = ("comfy", "comfy_extras", "folder_paths", "server", "nodes", "execution")
MAX_LINES, MAX_PARAMETERS = 60, 8


@dataclass(frozen=True)
class Import:
    source: str  # importing module, dotted from the pack root ("modules.data.batching"; "" = root __init__)
    target: str  # imported module inside the pack, or an outside top-level name ("comfy")
    inside: bool  # whether target is a module of the pack
    line: int


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files(root: Path) -> dict[str, Path]:
    """{module name: file} for the root __init__.py and every file of the packages."""
    files = {"": root / "__init__.py"} if (root / "__init__.py").is_file() else {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            files[module_name(root, path)] = path
    return files


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """The dotted name a relative import points at, from the pack root."""
    base = importer.split(".") if importer else []
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + (module.split(".") if module else []))


def imports_of(name: str, path: Path, known: set[str]) -> list[Import]:
    """Every import statement in the file, wherever it is (functions and TYPE_CHECKING blocks included)."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = alias.name.removeprefix("hf_text_finetune.")
                inside = alias.name.startswith("hf_text_finetune.") and target in known
                found.append(Import(name, target if inside else alias.name.split(".")[0], inside, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                dotted = node.module or ""
                if not dotted.startswith("hf_text_finetune"):
                    found.append(Import(name, dotted.split(".")[0], False, node.lineno))
                    continue
                base = dotted.removeprefix("hf_text_finetune").lstrip(".")
            else:
                base = _resolve(name, is_package, node.level, node.module)
            for alias in node.names:  # `from pkg import submodule` imports the submodule itself
                submodule = f"{base}.{alias.name}" if base else alias.name
                found.append(Import(name, submodule if submodule in known else base, True, node.lineno))
    return found


def import_graph(root: Path) -> list[Import]:
    files = source_files(root)
    return [imp for name, path in files.items() for imp in imports_of(name, path, set(files))]


def import_circles(imports: list[Import]) -> list[list[str]]:
    """Each strongly connected group of two or more modules (or a module importing itself)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.inside:
            graph.setdefault(imp.source, set()).add(imp.target)
            graph.setdefault(imp.target, set())
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def stage_of(module: str) -> str | None:
    """'foundation', a stage folder name, or None outside modules/."""
    parts = module.split(".")
    if parts[0] != "modules":
        return None
    return parts[1] if len(parts) > 2 and parts[1] in STAGES else "foundation"


def layer_violations(imports: list[Import]) -> list[str]:
    """Imports in modules/ that reach ComfyUI, nodes/ or runner/, or run against the stage order."""
    allowed = {"foundation": {"foundation"}}
    for i, stage in enumerate(STAGES):
        allowed[stage] = {"foundation", *STAGES[: i + 1]}
    bad = []
    for imp in imports:
        stage = stage_of(imp.source)
        if stage is None:
            continue
        where = f"{imp.source} (line {imp.line}) imports {imp.target}"
        if not imp.inside:
            if imp.target in COMFYUI:
                bad.append(f"{where}: ComfyUI reaches modules/ only through modules/host.py::RuntimeHooks")
        elif stage_of(imp.target) is None:
            bad.append(f"{where}: modules/ must not import nodes/, runner/ or the pack root")
        elif stage_of(imp.target) not in allowed[stage]:
            bad.append(f"{where}: {stage} may import only {sorted(allowed[stage])}")
    return bad


def function_violations(root: Path) -> list[str]:
    """Functions in the packages longer than MAX_LINES or with more than MAX_PARAMETERS parameters."""
    bad = []
    for name, path in source_files(root).items():
        if not name:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            args = node.args
            named = [a.arg for a in args.posonlyargs + args.args]
            if named and named[0] in ("self", "cls"):
                named = named[1:]
            count = len(named) + len(args.kwonlyargs)
            lines = node.end_lineno - node.lineno + 1
            where = f"{path.relative_to(root)}:{node.lineno} {node.name}"
            if lines > MAX_LINES:
                bad.append(f"{where} is {lines} lines long (at most {MAX_LINES})")
            if count > MAX_PARAMETERS:
                bad.append(f"{where} takes {count} parameters (at most {MAX_PARAMETERS})")
    return bad


@pytest.fixture(scope="module")
def pack_imports() -> list[Import]:
    return import_graph(ROOT)


def test_the_import_graph_covers_every_package_and_import(pack_imports):
    sources = {imp.source for imp in pack_imports}
    assert "" in sources and {"modules", "nodes", "runner"} <= {s.split(".")[0] for s in sources if s}
    assert any(imp.source.startswith("modules.training") and imp.target.startswith("modules.model")
               for imp in pack_imports)


def test_there_are_no_import_circles(pack_imports):
    assert import_circles(pack_imports) == []


def test_modules_import_neither_comfyui_nor_nodes_nor_runner_and_stages_import_only_earlier_ones(pack_imports):
    assert layer_violations(pack_imports) == []


def test_no_function_is_longer_than_60_lines_or_takes_more_than_8_parameters():
    assert function_violations(ROOT) == []


def test_the_checks_catch_each_kind_of_violation(tmp_path):
    """A made-up pack with one of each violation: every check must report it."""
    files = {
        "__init__.py": "from .nodes import a\n",
        "nodes/__init__.py": "", "nodes/a.py": "from ..modules.data import loader\n",
        "runner/__init__.py": "",
        "modules/__init__.py": "", "modules/errors.py": "from .data import loader\n",
        "modules/host.py": "def comfy_hook():\n    import folder_paths\n",
        "modules/data/__init__.py": "",
        "modules/data/loader.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                  "    from ..model.net import Net\n",
        "modules/model/__init__.py": "",
        "modules/model/net.py": "from ..data import loader\nfrom ...nodes import a\n"
                                "def build(a, b, c, d, e, f, g, h, i, *args, **kwargs):\n" + "    x = 1\n" * 60,
        "modules/results/__init__.py": "", "modules/results/saving.py": "from ..model import net\n",
    }
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    imports = import_graph(tmp_path)
    # data.loader -> model.net (TYPE_CHECKING) -> data.loader, and model.net -> nodes.a -> data.loader
    assert import_circles(imports) == [["modules.data.loader", "modules.model.net", "nodes.a"]]
    layers = "\n".join(layer_violations(imports))
    assert "modules.errors (line 1) imports modules.data.loader: foundation may import only" in layers
    assert "modules.host (line 2) imports folder_paths: ComfyUI" in layers
    assert "modules.data.loader (line 3) imports modules.model.net: data may import only" in layers
    assert "modules.model.net (line 2) imports nodes.a: modules/ must not import nodes/" in layers
    assert "modules.results.saving" not in layers  # results may import model
    functions = function_violations(tmp_path)
    assert functions == ["modules/model/net.py:3 build is 61 lines long (at most 60)",
                         "modules/model/net.py:3 build takes 9 parameters (at most 8)"]
