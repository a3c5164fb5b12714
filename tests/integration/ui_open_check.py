"""Open workflows in the real ComfyUI frontend (headless Chromium) and report what the user gets:
every node's type, whether it is missing or drawn red, its widget values by name, open dialogs,
the toasts shown (text), and a screenshot per workflow.

  python3 -B tests/integration/ui_open_check.py --server-url URL --workflow A.json [--workflow B.json] \
      --workdir DIR

Prints a JSON report (also DIR/report.json): {"startup_toasts": [...], "templates": {pack: [names]},
"workflows": [{"name", "nodes",
"dialogs", "toasts", "errors"}], "console": [...]}. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ui_queue_check import frontend_page, load_module, report_main  # noqa: E402

from comfy_client import HARNESS  # noqa: E402

TOASTS_JS = r"""
JSON.stringify([...document.querySelectorAll('.p-toast-message')].map(t => t.innerText.trim()))
"""

TEMPLATES_JS = r"""
(async () => {
  const api = window.comfyAPI?.api?.api;
  return JSON.stringify(api ? await api.getWorkflowTemplates() : null);
})()
"""

OPEN_JS = r"""
(async () => {
  const wf = %(workflow)s;
  const errors = [];
  document.querySelectorAll('.p-toast-close-button').forEach(b => b.click());
  try { await window.app.loadGraphData(wf); } catch (e) { errors.push('loadGraphData: ' + e); }
  await new Promise(r => setTimeout(r, %(settle)d));
  const reg = LiteGraph.registered_node_types;
  const nodes = window.app.graph.nodes.map(n => ({
    id: n.id, type: n.type, title: n.title, registered: n.type in reg, has_errors: !!n.has_errors,
    widgets: Object.fromEntries((n.widgets || []).filter(w => w.name).map(w => [w.name, w.value ?? null]))}));
  const dialogs = [...document.querySelectorAll('.p-dialog')].map(d => d.innerText.trim().slice(0, 3000));
  const toasts = [...document.querySelectorAll('.p-toast-message')].map(t => t.innerText.trim());
  return JSON.stringify({nodes, dialogs, toasts, errors});
})()
"""


def run(args) -> dict:
    ui = load_module("comfy_harness_ui_check", HARNESS / "comfy_ui_check.py")
    base = args.server_url.rstrip("/")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict = {"workflows": []}
    with frontend_page(ui, base, args.chromium, workdir) as cdp:
        cdp.pump(2.0)  # the extensions' setup (the clash toast) runs after the graph exists
        report["startup_toasts"] = json.loads(cdp.evaluate(TOASTS_JS))
        report["templates"] = json.loads(cdp.evaluate(TEMPLATES_JS))  # as the template browser gets them
        if report["startup_toasts"]:
            ui.save_screenshot(cdp, str(workdir / "startup.png"))
        for path in args.workflow:
            workflow = json.loads(Path(path).read_text())
            seen = json.loads(cdp.evaluate(OPEN_JS % {"workflow": json.dumps(workflow), "settle": args.settle_ms}))
            seen["name"] = Path(path).name
            cdp.pump(0.5)
            ui.save_screenshot(cdp, str(workdir / (Path(path).stem + ".png")))
            cdp.evaluate("document.querySelectorAll('.p-dialog-close-button').forEach(b => b.click())")
            report["workflows"].append(seen)
        report["console"] = [m for m in cdp.console if not ui.BENIGN.search(m)]
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-url", required=True)
    parser.add_argument("--workflow", action="append", default=[])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--chromium", default="chromium")
    parser.add_argument("--settle-ms", type=int, default=1500)
    return report_main(parser.parse_args(argv), run, passed=lambda report: True)  # the tests read the report


if __name__ == "__main__":
    sys.exit(main())
