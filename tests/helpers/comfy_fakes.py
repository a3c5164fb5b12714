"""Stand-ins for ComfyUI's modules, for testing nodes/comfy_services.py and the root __init__
without a ComfyUI install: `folder_paths` (model folders as ComfyUI keeps them) and `nodes`
(the node registry that custom node packs are loaded into)."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path


def fake_folder_paths(base: Path, extra: dict[str, list[Path]] | None = None) -> types.ModuleType:
    """A `folder_paths` whose models, input, output and temp folders lie under `base`. `extra` plays
    extra_model_paths.yaml: folder type -> folders registered before any pack is imported.
    add_model_folder_path / get_folder_paths behave as ComfyUI's (append unless known; copies)."""
    module = types.ModuleType("folder_paths")
    module.models_dir = str(base / "models")
    module.folder_names_and_paths = {name: ([str(p) for p in paths], set()) for name, paths in (extra or {}).items()}

    def add_model_folder_path(folder_name, full_folder_path, is_default=False):
        paths = module.folder_names_and_paths.setdefault(folder_name, ([], set()))[0]
        if full_folder_path in paths:
            return
        paths.insert(0, full_folder_path) if is_default else paths.append(full_folder_path)

    def get_folder_paths(folder_name):
        return module.folder_names_and_paths[folder_name][0][:]

    module.add_model_folder_path = add_model_folder_path
    module.get_folder_paths = get_folder_paths
    module.get_output_directory = lambda: str(base / "output")
    module.get_temp_directory = lambda: str(base / "temp")
    module.get_input_directory = lambda: str(base / "input")
    return module


def fake_comfy_nodes(registered: dict[str, type] | None = None) -> types.ModuleType:
    """ComfyUI's `nodes` module as a pack sees it while it is imported: the registry holding the
    core nodes and those of the packs loaded before it."""
    module = types.ModuleType("nodes")
    module.NODE_CLASS_MAPPINGS = dict(registered or {})
    module.NODE_DISPLAY_NAME_MAPPINGS = {}
    module.LOADED_MODULE_DIRS = {}
    module.load_custom_node = lambda *args, **kwargs: True  # what tells ComfyUI's nodes from this pack's
    return module


def stand_in_pack_class(node_id: str, pack: str) -> type:
    """A node class as ComfyUI leaves it after loading it from custom_nodes/<pack>."""
    cls = type(node_id, (), {"INPUT_TYPES": classmethod(lambda cls: {"required": {}}),
                             "RETURN_TYPES": (), "FUNCTION": "run", "CATEGORY": pack})
    cls.__module__ = os.path.join("custom_nodes", pack).replace(os.sep, ".")
    cls.RELATIVE_PYTHON_MODULE = f"custom_nodes.{pack}"
    return cls


def install(monkeypatch, **modules: types.ModuleType) -> None:
    """Put the fakes into sys.modules for one test (`folder_paths=...`, `nodes=...`)."""
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
