"""Upload a data file through the dataset node's upload control in the real ComfyUI frontend (headless Chromium).

Loads a workflow, hands a csv to the file input behind the node's "choose data file to upload" button
(through the DevTools protocol, as a user's file dialog would), waits for the upload, and checks that
the node's `file` list shows the file selected, that `name` was filled in with it, that the file arrived
in the server's input folder, and that the button is neither saved in widgets_values nor sent in the
prompt. Takes a screenshot of the node.

  python3 -B tests/integration/ui_upload_check.py --server-url URL --workflow WF.json --node 3 \
      --file reviews.csv --input-dir DIR --screenshot out.png

Prints a JSON report (also WORKDIR/report.json); exit 0 when every check holds. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ui_queue_check import frontend_page, load_module, report_main  # noqa: E402

from comfy_client import HARNESS  # noqa: E402

LOAD_JS = r"""
(async () => {
  await window.app.loadGraphData(%(workflow)s);
  await new Promise(r => setTimeout(r, 800));
  const node = window.app.graph.getNodeById(%(node)s);
  window.__hfUploadNode = node;
  const button = node.widgets.find(w => w.fileInput);
  return JSON.stringify({widgets_values: node.serialize().widgets_values, has_button: !!button,
                         button_label: button ? button.label : null});
})()
"""

STATE_JS = r"""
(async () => {
  const node = window.__hfUploadNode;
  const list = node.widgets.find(w => w.name === "file");
  const name = node.widgets.find(w => w.name === "name");
  const prompt = (await window.app.graphToPrompt()).output[String(node.id)].inputs;
  return JSON.stringify({file: list.value, name: name.value, listed: list.options.values,
                         widgets_values: node.serialize().widgets_values, prompt_inputs: Object.keys(prompt),
                         prompt_file: prompt.file});
})()
"""

SHOW_JS = r"""
(() => {
  const node = window.__hfUploadNode, canvas = window.app.canvas;
  canvas.selectNode(node);
  canvas.ds.scale = 1.3;
  canvas.ds.offset[0] = -node.pos[0] + 60;
  canvas.ds.offset[1] = -node.pos[1] + 80;
  canvas.setDirty(true, true);
  return true;
})()
"""


def upload_through_the_button(cdp, path: Path) -> None:
    """What the browser does when the user picks `path` in the button's file dialog."""
    handle = cdp.call("Runtime.evaluate", {"expression": "window.__hfUploadNode.widgets.find(w => w.fileInput).fileInput"})
    cdp.call("DOM.enable")
    cdp.call("DOM.setFileInputFiles", {"files": [str(path)], "objectId": handle["result"]["objectId"]})


def run(args) -> dict:
    ui = load_module("comfy_harness_ui_check", HARNESS / "comfy_ui_check.py")
    base = args.server_url.rstrip("/")
    workflow = json.load(open(args.workflow, encoding="utf-8"))
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict = {"workflow": args.workflow, "file": args.file}
    with frontend_page(ui, base, args.chromium, workdir) as cdp:
        cdp.pump(1.0)
        report["before"] = json.loads(cdp.evaluate(LOAD_JS % {"workflow": json.dumps(workflow), "node": args.node}))
        upload_through_the_button(cdp, Path(args.file).resolve())
        wanted = Path(args.file).name
        deadline, state = time.time() + 30, {}
        while time.time() < deadline:
            cdp.pump(0.5)
            state = json.loads(cdp.evaluate(STATE_JS))
            if state["file"] != "(none: use name)":
                break
        report["after"] = state
        cdp.evaluate(SHOW_JS)
        cdp.pump(0.8)
        ui.save_screenshot(cdp, args.screenshot or str(workdir / "uploaded.png"))
        report["console"] = [m for m in cdp.console if not ui.BENIGN.search(m)]
    stored = Path(args.input_dir) / state.get("file", "")
    report["checks"] = {
        "the node has the upload button": report["before"]["has_button"],
        "the uploaded file is selected in the list": state.get("file") == wanted and wanted in state.get("listed", []),
        "name shows it too": state.get("name") == wanted,
        "the file arrived in the input folder": stored.is_file() and stored.read_bytes() == Path(args.file).read_bytes(),
        "the prompt sends it": state.get("prompt_file") == wanted,
        "the button is not sent": not any("upload" in key for key in state.get("prompt_inputs", [])),
        "widgets_values keep their positions": len(state.get("widgets_values", [])) == len(
            report["before"]["widgets_values"]),
        "no console errors": not report["console"],
    }
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-url", required=True)
    parser.add_argument("--workflow", required=True)
    parser.add_argument("--node", type=int, required=True, help="id of the dataset node")
    parser.add_argument("--file", required=True, help="the data file to upload")
    parser.add_argument("--input-dir", required=True, help="the server's input folder (where the file must land)")
    parser.add_argument("--screenshot")
    parser.add_argument("--workdir", default=os.path.join("/tmp", f"ui-upload-check-{os.getpid()}"))
    parser.add_argument("--chromium", default="chromium")
    return report_main(parser.parse_args(argv), run)


if __name__ == "__main__":
    sys.exit(main())
