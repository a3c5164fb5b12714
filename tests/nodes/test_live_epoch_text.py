"""Live results: inside ComfyUI the trainer's metrics text fills in on the node epoch by epoch,
through one PromptServer message per epoch (to the client that queued the prompt) that
web/js/show_node_text.js listens for; without ComfyUI nothing is sent and nothing breaks."""

from __future__ import annotations

import sys
import types

import pytest
from helpers.nodes import Pipeline

from hf_text_finetune.nodes import comfy_services

ROOT_JS = comfy_services.Path(__file__).resolve().parents[2] / "web" / "js" / "show_node_text.js"


@pytest.fixture
def fake_comfy(monkeypatch):
    """ComfyUI's modules as far as the trainer uses them, with a PromptServer that records."""
    sent = []

    class ProgressBar:
        def __init__(self, total, node_id=None):
            pass

        def update_absolute(self, value, total=None, preview=None):
            pass

    class PromptServer:
        instance = types.SimpleNamespace(client_id="browser-1",
                                         send_sync=lambda event, data, sid=None: sent.append((event, data, sid)))

    comfy = types.ModuleType("comfy")
    comfy.utils = types.SimpleNamespace(ProgressBar=ProgressBar)
    comfy.model_management = types.SimpleNamespace(
        throw_exception_if_processing_interrupted=lambda: None, get_torch_device=lambda: comfy_services.torch.device("cpu"),
        unload_all_models=lambda: None, soft_empty_cache=lambda: None)
    for name, module in (("comfy", comfy), ("comfy.utils", comfy.utils),
                         ("comfy.model_management", comfy.model_management),
                         ("server", types.SimpleNamespace(PromptServer=PromptServer))):
        monkeypatch.setitem(sys.modules, name, module)
    return sent


@pytest.fixture(scope="module")
def pipeline(tiny_models, reviews_csv, val_csv):
    return Pipeline(tiny_models["distilbert"], reviews_csv, val_csv)


def test_trainer_sends_its_metrics_so_far_after_every_epoch(fake_comfy, pipeline):
    _, metrics, *_ = pipeline.train("PtTrainFineTuneClassificationTransformerModel", epochs=3,
                                    freeze_pretrained_module_epochs=1, unique_id="11")
    events = [(event, sid) for event, _, sid in fake_comfy]
    assert events == [(comfy_services.NODE_TEXT_EVENT, "browser-1")] * 3, "one message per epoch"
    texts = [data["text"] for _, data, _ in fake_comfy]
    assert {data["node"] for _, data, _ in fake_comfy} == {"11"}
    for epoch, text in enumerate(texts, start=1):
        lines = text.splitlines()
        assert lines[0] == metrics.splitlines()[0]  # "trained on cpu (fp32)"
        assert lines[1:] == metrics.splitlines()[1:1 + epoch], "the node's final lines, one more each epoch"
    assert texts[0].splitlines()[1].startswith("epoch 1/3 [frozen]")


def test_without_a_node_id_or_a_server_nothing_is_sent(fake_comfy, pipeline, monkeypatch):
    pipeline.train(epochs=1)  # no unique_id: ComfyUI always gives one, direct callers may not
    assert fake_comfy == []
    monkeypatch.setitem(sys.modules, "server", types.ModuleType("server"))  # no PromptServer yet
    pipeline.train(epochs=1, unique_id="4")
    assert fake_comfy == []


def test_headless_runs_tell_status_listeners_the_loss_and_each_epoch(pipeline):
    heard = []
    comfy_services.add_status_listener(heard.append)
    try:
        _, metrics, *_ = pipeline.train(epochs=2, unique_id="11")
    finally:
        comfy_services.remove_status_listener(heard.append)
    epochs = [h["text"] for h in heard if h["event"] == "epoch"]
    assert len(epochs) == 2 and epochs[-1] == "\n".join(metrics.splitlines()[:3])
    losses = [h for h in heard if h["event"] == "loss"]
    assert losses and all(h["epochs"] == 2 and h["train_loss"] > 0 for h in losses)


def test_the_pack_js_listens_for_the_event_and_fills_the_nodes_text_box():
    script = ROOT_JS.read_text()
    assert f'"{comfy_services.NODE_TEXT_EVENT}"' in script and "api.addEventListener" in script


def test_where_comfyui_has_send_progress_text_the_epoch_text_goes_through_it(fake_comfy, pipeline):
    progress_texts = []
    server = sys.modules["server"].PromptServer.instance
    server.send_progress_text = lambda text, node_id, sid=None: progress_texts.append((text, node_id, sid))
    try:
        _, metrics, *_ = pipeline.train(epochs=2, unique_id="11")
    finally:
        del server.send_progress_text
    assert fake_comfy == [], "not the pack's own event as well"
    assert [(node, sid) for _, node, sid in progress_texts] == [("11", "browser-1")] * 2
    assert progress_texts[-1][0].splitlines() == metrics.splitlines()[:3]


def test_the_pack_js_shows_comfyuis_progress_text_in_its_own_box_once():
    script = ROOT_JS.read_text()
    assert '"progress_text"' in script and '"$$node-text-preview"' in script
