"""In a real ComfyUI server next to a stand-in for ComfyUI-Pt-Wrapper (a tiny pack registering
`PtDataLoader` with other inputs): the start-up log carries one warning naming that pack, the id
and what to do, whichever of the two packs ComfyUI loads first; and the pack's `text_classifiers`
models folder is registered (GET /models lists it, so extra_model_paths.yaml can use the key); and
the help pages are served where the frontend looks for them."""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comfy_client import PACK_NODES, ROOT, ComfyServer, comfy_run, harness_ready, set_up_harness  # noqa: E402

pytestmark = [pytest.mark.comfy, pytest.mark.skipif(harness_ready() is not None, reason=str(harness_ready()))]

STAND_IN = '''
class PtDataLoader:
    CATEGORY = "stand-in"
    RETURN_TYPES = ("PTDATALOADER",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"dataset": ("PTVDATASET",), "batch_size": ("INT", {"default": 8})}}

    def run(self, dataset, batch_size):
        return (dataset,)


NODE_CLASS_MAPPINGS = {"PtDataLoader": PtDataLoader}
'''


@pytest.fixture(scope="module")
def server_with_stand_in(tmp_path_factory):
    set_up_harness()
    stand_in = tmp_path_factory.mktemp("stand_in") / "ComfyUI-Pt-Wrapper"
    stand_in.mkdir()
    (stand_in / "__init__.py").write_text(STAND_IN)
    workdir = tmp_path_factory.mktemp("comfy_clash")
    started = comfy_run("--ext", str(ROOT), "--ext", str(stand_in), "--expect-nodes", ",".join(PACK_NODES),
                        "--keep-server", "--workdir", str(workdir), timeout=300)
    server = ComfyServer(workdir)
    found = re.search(r"server left running: (\S+) \(pid (\d+)\)", started.stdout + started.stderr)
    assert found, started.stdout[-3000:] + started.stderr[-3000:]
    server.url, server.pid = found.group(1), int(found.group(2))
    yield server
    server.stop()


def test_the_log_warns_once_about_the_pack_with_the_same_node_id(server_with_stand_in):
    log = server_with_stand_in.log_path.read_text()
    warnings = [line for line in log.splitlines() if "registers 1 of the same node ids" in line]
    assert len(warnings) == 1, log[-4000:]
    assert "'ComfyUI-Pt-Wrapper'" in warnings[0] and "(PtDataLoader)" in warnings[0]
    assert "--convert-pt-wrapper" in warnings[0] and ".disabled" in warnings[0]


def test_text_classifiers_is_a_registered_models_folder(server_with_stand_in):
    with urllib.request.urlopen(server_with_stand_in.url + "/models", timeout=30) as reply:
        assert "text_classifiers" in json.loads(reply.read())


def test_the_server_serves_each_help_page_where_the_frontend_fetches_it(server_with_stand_in):
    """The frontend's node help panel fetches /extensions/<pack folder>/docs/<NodeId>.md."""
    for node_id in ("PtTrainTransformerClassificationModel", "PtLoadClassificationModel"):
        url = f"{server_with_stand_in.url}/extensions/{ROOT.name}/docs/{node_id}.md"
        with urllib.request.urlopen(url, timeout=30) as reply:
            assert reply.read().decode() == (ROOT / "web" / "js" / "docs" / f"{node_id}.md").read_text()
