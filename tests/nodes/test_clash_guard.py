"""Another pack registering this pack's node ids (ComfyUI-Pt-Wrapper registers 16 of them with other
inputs): ComfyUI keeps the class loaded last without a word, so at import the pack logs one warning
per such pack, naming it, the ids and what to do; packs loaded after it are caught when the server
starts. Checked with stand-ins for ComfyUI's `nodes` and `server` modules (tests/helpers/comfy_fakes.py)."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
import types
from pathlib import Path

import pytest
from helpers.comfy_fakes import fake_comfy_nodes, install, stand_in_pack_class

import hf_text_finetune
from hf_text_finetune.nodes import comfy_services

ROOT = Path(__file__).resolve().parents[2]
COPY = "hf_text_finetune_clash_copy"


@pytest.fixture
def fresh_guard(monkeypatch):
    monkeypatch.setattr(comfy_services, "_warned_packs", set())


def import_pack_copy():
    """Import the pack's root __init__ anew (as ComfyUI does for custom_nodes/<folder>)."""
    spec = importlib.util.spec_from_file_location(COPY, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[COPY] = module
    try:
        spec.loader.exec_module(module)
    finally:
        for name in [n for n in sys.modules if n == COPY or n.startswith(COPY + ".")]:
            del sys.modules[name]
    return module


def clash_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "registers" in r.getMessage()]


def test_a_pack_loaded_first_with_ptdataloader_makes_the_import_warn_once(monkeypatch, caplog):
    earlier = {"PtDataLoader": stand_in_pack_class("PtDataLoader", "ComfyUI-Pt-Wrapper"),
               "KSampler": type("KSampler", (), {"RELATIVE_PYTHON_MODULE": "nodes"})}
    install(monkeypatch, nodes=fake_comfy_nodes(earlier))
    with caplog.at_level(logging.WARNING):
        pack = import_pack_copy()
    (message,) = clash_warnings(caplog)
    assert "'ComfyUI-Pt-Wrapper'" in message and "(PtDataLoader)" in message
    assert "this pack's nodes replace ComfyUI-Pt-Wrapper's" in message
    assert "Disable" in message and ".disabled" in message and "--convert-pt-wrapper" in message
    assert "PtDataLoader" in pack.NODE_CLASS_MAPPINGS


def test_each_clashing_pack_is_named_once_with_all_its_ids(monkeypatch, caplog, fresh_guard):
    ids = ["PtDataLoader", "PtoAdamW", "HfTokenizerEncode"]
    registry = {i: stand_in_pack_class(i, "ComfyUI-Pt-Wrapper") for i in ids}
    registry["PtoSGD"] = stand_in_pack_class("PtoSGD", "other-pack")
    install(monkeypatch, nodes=fake_comfy_nodes(registry))
    with caplog.at_level(logging.WARNING):
        found = comfy_services.warn_about_clashing_packs(hf_text_finetune.NODE_CLASS_MAPPINGS)
        comfy_services.warn_about_clashing_packs(hf_text_finetune.NODE_CLASS_MAPPINGS)
    assert {pack: sorted(node_ids) for pack, node_ids in found.items()} == {
        "ComfyUI-Pt-Wrapper": sorted(ids), "other-pack": ["PtoSGD"]}
    messages = clash_warnings(caplog)
    assert len(messages) == 2 and "3 of the same node ids" in messages[0]


def test_a_pack_loaded_later_is_caught_when_the_server_starts(monkeypatch, caplog, fresh_guard):
    registry = fake_comfy_nodes()
    app = types.SimpleNamespace(on_startup=[])
    server = types.SimpleNamespace(PromptServer=types.SimpleNamespace(instance=types.SimpleNamespace(app=app)))
    install(monkeypatch, nodes=registry, server=server)
    ours = hf_text_finetune.NODE_CLASS_MAPPINGS
    with caplog.at_level(logging.WARNING):
        comfy_services.guard_against_clashing_packs(ours)
        assert clash_warnings(caplog) == []
        registry.NODE_CLASS_MAPPINGS.update(ours)  # ComfyUI merges ours, then a later pack overwrites one
        registry.NODE_CLASS_MAPPINGS["PtDataLoader"] = stand_in_pack_class("PtDataLoader", "zz-late-pack")
        (on_startup,) = app.on_startup
        asyncio.run(on_startup(app))
    (message,) = clash_warnings(caplog)
    assert "'zz-late-pack'" in message and "zz-late-pack's nodes replace this pack's" in message


def test_outside_comfyui_and_without_clashes_nothing_is_logged(monkeypatch, caplog, fresh_guard):
    monkeypatch.delitem(sys.modules, "nodes", raising=False)
    with caplog.at_level(logging.WARNING):
        assert comfy_services.warn_about_clashing_packs(hf_text_finetune.NODE_CLASS_MAPPINGS) == {}
        install(monkeypatch, nodes=fake_comfy_nodes(dict(hf_text_finetune.NODE_CLASS_MAPPINGS)))
        assert comfy_services.warn_about_clashing_packs(hf_text_finetune.NODE_CLASS_MAPPINGS) == {}
    assert clash_warnings(caplog) == []


def test_the_pack_is_named_from_comfyuis_record_or_its_module_path():
    assert comfy_services.pack_of(stand_in_pack_class("X", "ComfyUI-Pt-Wrapper")) == "ComfyUI-Pt-Wrapper"
    by_path = type("X", (), {"__module__": "/opt/ComfyUI/custom_nodes/my_x_pack_x_v2.nodes"})
    assert comfy_services.pack_of(by_path) == "my.pack.v2"


def test_the_warning_is_kept_for_the_browsers_toast(monkeypatch, fresh_guard):
    earlier = {node_id: stand_in_pack_class(node_id, "ComfyUI-Pt-Wrapper") for node_id in ("PtDataLoader", "PtoAdamW")}
    install(monkeypatch, nodes=fake_comfy_nodes(earlier))
    pack = import_pack_copy()  # its own copy of comfy_services, as in ComfyUI
    (report,) = pack.clash_reports()["clashes"]
    assert report["pack"] == "ComfyUI-Pt-Wrapper" and report["count"] == 2
    assert report["ids"] == ["PtDataLoader", "PtoAdamW"] and "registers 2 of the same node ids" in report["message"]
