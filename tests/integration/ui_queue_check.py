"""Queue a workflow from the real ComfyUI frontend (headless Chromium) and check what the user sees.

`comfy_ui_check.py` loads a workflow and screenshots it; this goes one step further, as a
user does: it sets a few widgets (tiny local model and data), presses Queue through the
frontend's own `app.queuePrompt`, waits for the run, then checks that the pack's JS shows
the trainer's metrics on the trainer node, that the display box is neither saved in
widgets_values nor sent in the prompt, and takes a screenshot.

  python3 -B tests/integration/ui_queue_check.py --server-url URL --workflow WF.json \
      --set "Model name.value=/tmp/tiny" --set "Train dataset.name=/tmp/train.csv" ... \
      --node 11 --screenshot out.png

Prints a JSON report (also WORKDIR/report.json); exit 0 when every check holds. Standard library only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comfy_client import HARNESS  # noqa: E402

WIDGET_NAME = "hf_text_finetune_output"

SETUP_JS = r"""
(async () => {
  const wf = %(workflow)s, settings = %(settings)s, nodeId = %(node)s;
  await window.app.loadGraphData(wf);
  await new Promise(r => setTimeout(r, 800));
  const missing = [];
  for (const [title, input, value] of settings) {
    const node = window.app.graph.nodes.find(n => n.title === title || String(n.id) === title);
    const widget = node?.widgets?.find(w => w.name === input);
    if (!widget) { missing.push(title + "." + input); continue; }
    widget.value = value;
  }
  const node = window.app.graph.getNodeById(nodeId);
  const before = JSON.stringify(node.serialize().widgets_values);
  const prompt = (await window.app.graphToPrompt()).output;
  await window.app.queuePrompt(0, 1);
  return JSON.stringify({missing, before, prompt_inputs: Object.keys(prompt[String(nodeId)].inputs)});
})()
"""

INSPECT_JS = r"""
(async () => {
  const nodeId = %(node)s;
  const node = window.app.graph.getNodeById(nodeId);
  const widget = node.widgets?.find(w => w.name === "%(widget)s");
  const prompt = (await window.app.graphToPrompt()).output;
  const saved = window.app.graph.serialize().nodes.find(n => n.id === nodeId);
  window.app.canvas.selectNode(node);
  window.app.canvas.centerOnNode?.(node);
  window.app.canvas.setDirty(true, true);
  return JSON.stringify({
    shown: widget ? widget.value : null,
    readonly: widget?.element ? widget.element.readOnly : null,
    after: JSON.stringify(saved.widgets_values),
    prompt_inputs: Object.keys(prompt[String(nodeId)].inputs),
    size: node.size,
  });
})()
"""


LIVE_JS = r"""
(() => {
  const node = window.app.graph.getNodeById(%(node)s);
  const widget = node?.widgets?.find(w => w.name === "%(widget)s");
  return widget ? String(widget.value ?? "") : "";
})()
"""


def load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_setting(text: str) -> list:
    target, value = text.split("=", 1)
    title, input_name = target.rsplit(".", 1)
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    return [title, input_name, parsed]


def wait_for_frontend(cdp, tries: int = 240) -> bool:
    for _ in range(tries):
        try:
            if cdp.evaluate("!!(window.app && window.app.graph && window.LiteGraph && "
                            "Object.keys(LiteGraph.registered_node_types).length > 0)"):
                return True
        except RuntimeError:
            pass
        cdp.pump(0.5)
    return False


@contextmanager
def frontend_page(ui, base: str, chromium: str, workdir: Path) -> Iterator:
    """A headless Chromium page on ComfyUI's frontend, ready (the tutorial marked done); closed afterwards."""
    ui.cr.http(base, "/settings/Comfy.TutorialCompleted", True)
    browser = ui.start_chromium(shutil.which(chromium), 1600, 1000, str(workdir / "chromium.log"))
    try:
        _, targets = ui.cr.http(f"http://127.0.0.1:{browser[2]}", "/json/list")
        page = next(t for t in targets if t.get("type") == "page")
        cdp = ui.CDP(page["webSocketDebuggerUrl"])
        for domain in ("Runtime.enable", "Page.enable", "Log.enable"):
            cdp.call(domain)
        cdp.call("Page.navigate", {"url": base + "/"})
        if not wait_for_frontend(cdp):
            raise RuntimeError("the ComfyUI frontend did not become ready")
        yield cdp
    finally:
        ui.stop_chromium(*browser[:2])


def report_main(args, run: Callable[[Any], dict], passed: Callable[[dict], bool] = None) -> int:
    """Run a check, write <workdir>/report.json, print it; exit 0 when every check passed."""
    if not shutil.which(args.chromium):
        print(json.dumps({"error": "no chromium; apt-get install -y chromium"}))
        return 2
    report = run(args)
    Path(args.workdir, "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0 if (passed or (lambda r: all(r["checks"].values())))(report) else 1


def wait_for_run(cr, base: str, known: set, timeout: float, on_tick=None) -> dict:
    """The history entry of the prompt queued after `known` was taken, once it finished;
    `on_tick()` is called about twice a second while it runs."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if on_tick is not None:
            on_tick()
        status, history = cr.http(base, "/history")
        if status == 200 and isinstance(history, dict):
            new = [entry for pid, entry in history.items() if pid not in known]
            if new and new[0].get("status", {}).get("completed") is not None:
                return new[0]
        time.sleep(0.5)
    raise TimeoutError(f"the queued workflow did not finish within {timeout} s")


def run(args) -> dict:
    ui = load_module("comfy_harness_ui_check", HARNESS / "comfy_ui_check.py")
    cr = ui.cr
    base = args.server_url.rstrip("/")
    workflow = json.load(open(args.workflow, encoding="utf-8"))
    settings = [parse_setting(s) for s in args.set]
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict = {"workflow": args.workflow}
    with frontend_page(ui, base, args.chromium, workdir) as cdp:
        cdp.pump(1.0)
        report["extensions"] = [e for e in json.loads(cdp.evaluate(
            "JSON.stringify((window.app.extensions || []).map(e => e.name))")) if not e.startswith("Comfy.")]
        _, history = cr.http(base, "/history")
        known = set(history) if isinstance(history, dict) else set()
        started = time.time()
        setup = json.loads(cdp.evaluate(SETUP_JS % {"workflow": json.dumps(workflow),
                                                    "settings": json.dumps(settings), "node": args.node}))
        report.update(missing_settings=setup["missing"], widgets_values_before=setup["before"],
                      prompt_inputs_before=setup["prompt_inputs"])
        live: list[str] = []  # the node's text box while it runs (--live)

        def sample() -> None:
            value = cdp.evaluate(LIVE_JS % {"node": args.node, "widget": WIDGET_NAME})
            if value and (not live or live[-1] != value):
                live.append(value)

        entry = wait_for_run(cr, base, known, args.timeout, sample if args.live else None)
        report["live_values"] = live
        report["status"] = entry.get("status", {}).get("status_str")
        report["run_seconds"] = round(time.time() - started, 1)
        cdp.pump(1.5)  # let the websocket "executed" message reach the node
        seen = json.loads(cdp.evaluate(INSPECT_JS % {"node": args.node, "widget": WIDGET_NAME}))
        report.update(shown_on_node=seen["shown"], readonly=seen["readonly"], widgets_values_after=seen["after"],
                      prompt_inputs_after=seen["prompt_inputs"], node_size=seen["size"])
        cdp.pump(0.5)
        ui.save_screenshot(cdp, args.screenshot or str(workdir / "queued.png"))
        report["console"] = [m for m in cdp.console if not ui.BENIGN.search(m)]
    output_text = "\n".join(entry.get("outputs", {}).get(str(args.node), {}).get("text", []))
    report["checks"] = {
        "run succeeded": report["status"] == "success",
        "every setting found": not report["missing_settings"],
        "metrics shown on the node": bool(output_text) and report["shown_on_node"] == output_text,
        "display is read-only": report["readonly"] is True,
        "widgets_values unchanged": report["widgets_values_before"] == report["widgets_values_after"],
        "display not sent in the prompt": (WIDGET_NAME not in report["prompt_inputs_after"]
                                           and report["prompt_inputs_before"] == report["prompt_inputs_after"]),
    }
    if args.live:  # the box filled in epoch by epoch before the run ended, without console errors
        final_epochs = output_text.count("\nepoch ")
        report["checks"]["text filled in while training"] = any(
            0 < value.count("\nepoch ") < final_epochs for value in report["live_values"])
        report["checks"]["no console errors"] = not report["console"]
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-url", required=True)
    parser.add_argument("--workflow", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="TITLE.widget=value")
    parser.add_argument("--node", type=int, required=True, help="id of the node whose text output is checked")
    parser.add_argument("--screenshot")
    parser.add_argument("--workdir", default=os.path.join("/tmp", f"ui-queue-check-{os.getpid()}"))
    parser.add_argument("--chromium", default="chromium")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--live", action="store_true",
                        help="also check that the node's text fills in epoch by epoch while it runs")
    return report_main(parser.parse_args(argv), run)


if __name__ == "__main__":
    sys.exit(main())
