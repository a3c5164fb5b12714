"""The real ComfyUI server the integration tests share, one per test module (each its own workdir)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comfy_client import ComfyServer, set_up_harness  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    set_up_harness()
    comfy = ComfyServer(tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2] + "_server")).start()
    yield comfy
    comfy.stop()
