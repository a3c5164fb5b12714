"""Screenshot each template in the real ComfyUI frontend and save it as example_workflows/<name>.jpg.

ComfyUI's template browser shows `/api/workflow_templates/<pack>/<name>.jpg` beside each
`example_workflows/<name>.json`. This script starts the shared ComfyUI harness (../shared/comfy,
or $COMFY_HARNESS_DIR) with the pack linked and a throw-away user folder (tutorial done, no minimap,
no canvas info), loads each workflow in headless Chromium with comfy_ui_check.py at a zoom where
node text is drawn, crops the screenshot to the graph and writes a JPEG with Pillow. It holds
/tmp/comfy.lock while it uses the harness (other checkouts share it).

Run after changing a workflow (python scripts/build_example_workflows.py first):
    python scripts/build_template_thumbnails.py                 # every example_workflows/*.json
    python scripts/build_template_thumbnails.py lora_run sts    # only these (names without .json)
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "example_workflows"
HARNESS = Path(os.environ.get("COMFY_HARNESS_DIR", ROOT.parent / "shared" / "comfy"))
LOCK = "/tmp/comfy.lock"
SCALE = 0.7  # above the frontend's low-quality zoom (0.6), below which node text is not drawn
CANVAS_ORIGIN = (64, 78)  # the canvas starts right of the side bar and below the tab and menu bars
BROWSER_CHROME = 143  # headless Chromium's page is this much shorter than --size asks for
BOTTOM_BAR = 80  # the canvas tool bar floats over the bottom of the canvas
MARGIN = 40
TITLE_HEIGHT = 30
THUMB_WIDTH, JPEG_QUALITY = 768, 85
SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.Minimap.Visible": False, "Comfy.Graph.CanvasInfo": False}

log = logging.getLogger("thumbnails")


def graph_bounds(workflow: dict) -> tuple[float, float, float, float]:
    """x0, y0, x1, y1 of everything drawn: nodes with their title bars, and group boxes."""
    boxes = [(n["pos"][0], n["pos"][1] - TITLE_HEIGHT, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1])
             for n in workflow["nodes"]]
    boxes += [(x, y, x + w, y + h) for x, y, w, h in (g["bounding"] for g in workflow.get("groups", []))]
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def framed(workflow: dict) -> dict:
    """A copy whose saved view puts the whole graph MARGIN px inside the canvas at SCALE."""
    x0, y0, _, _ = graph_bounds(workflow)
    view = {"scale": SCALE, "offset": [MARGIN / SCALE - x0, MARGIN / SCALE - y0]}
    return {**workflow, "extra": {**workflow.get("extra", {}), "ds": view}}


def shot_size(workflow: dict) -> tuple[int, int]:
    """Screen size of the framed graph with its margins, in CSS px."""
    x0, y0, x1, y1 = graph_bounds(workflow)
    return round((x1 - x0) * SCALE + 2 * MARGIN), round((y1 - y0) * SCALE + 2 * MARGIN)


def window_size(workflows: list[dict]) -> str:
    """One --size for the batch, big enough for the largest graph beside the frontend's bars."""
    sizes = [shot_size(w) for w in workflows]
    width = CANVAS_ORIGIN[0] + max(s[0] for s in sizes)
    height = BROWSER_CHROME + CANVAS_ORIGIN[1] + max(s[1] for s in sizes) + BOTTOM_BAR
    return f"{width}x{height}"


def write_jpeg(png: Path, workflow: dict, out: Path) -> tuple[int, int]:
    """Crop the screenshot to the graph, scale it to THUMB_WIDTH and save it as JPEG."""
    width, height = shot_size(workflow)
    box = (CANVAS_ORIGIN[0], CANVAS_ORIGIN[1], CANVAS_ORIGIN[0] + width, CANVAS_ORIGIN[1] + height)
    with Image.open(png) as image:
        graph = image.convert("RGB").crop(box)
    thumb = graph.resize((THUMB_WIDTH, round(height * THUMB_WIDTH / width)), Image.Resampling.LANCZOS)
    thumb.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return thumb.size


def start_server(harness, workdir: Path):
    """ComfyUI with this pack linked and a fresh user folder holding SETTINGS."""
    problem = harness.setup_problem(harness.COMFY_DIR, harness.COMFY_VENV)
    if problem:
        raise SystemExit(problem)
    harness.link_extensions(harness.COMFY_DIR, [str(ROOT)])
    user = workdir / "user"
    user.mkdir()
    server = harness.Server(harness.COMFY_DIR, harness.COMFY_VENV, harness.free_port(), str(workdir),
                            ["--user-directory", str(user)], str(workdir / "output"))
    up, took = server.start(240, keep=False)
    if not up:
        server.stop()
        raise SystemExit(f"ComfyUI did not start; see {server.log_path}")
    log.info("ComfyUI up after %.0fs", took)
    for key, value in SETTINGS.items():
        harness.http(server.base, f"/settings/{key}", value)
    return server


def screenshot(base: str, framed_paths: list[Path], size: str, workdir: Path) -> None:
    """comfy_ui_check.py loads each workflow and writes workdir/<name>.png; any missing/red node fails."""
    command = [sys.executable, "-B", str(HARNESS / "comfy_ui_check.py"), "--server-url", base, "--size", size,
               "--settle-ms", "2500", "--workdir", str(workdir)]
    for path in framed_paths:
        command += ["--workflow", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    ok = done.stdout.count("no missing or red nodes") == len(framed_paths)
    if done.returncode != 0 or not ok:
        raise SystemExit(f"comfy_ui_check failed (exit {done.returncode}):\n{done.stdout[-4000:]}")


def build(names: list[str]) -> None:
    paths = [TEMPLATES / f"{name}.json" for name in names]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise SystemExit(f"no such templates in {TEMPLATES}: {missing}")
    workflows = [framed(json.loads(p.read_text())) for p in paths]
    sys.path.insert(0, str(HARNESS))
    import comfy_run as harness  # the harness's own module, stdlib only

    with tempfile.TemporaryDirectory(prefix="thumbnails-") as tmp, open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the same lock as `flock /tmp/comfy.lock`
        work = Path(tmp)
        framed_paths = []
        for path, workflow in zip(paths, workflows):
            framed_paths.append(work / path.name)
            framed_paths[-1].write_text(json.dumps(workflow))
        server = start_server(harness, work)
        try:
            screenshot(server.base, framed_paths, window_size(workflows), work)
        finally:
            server.stop()
        for path, workflow in zip(paths, workflows):
            out = path.with_suffix(".jpg")
            size = write_jpeg(work / f"{path.stem}.png", workflow, out)
            log.info("%s: %dx%d, %.0f KB", out.relative_to(ROOT), *size, out.stat().st_size / 1024)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="template names without .json (default: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build(args.names or sorted(p.stem for p in TEMPLATES.glob("*.json")))


if __name__ == "__main__":
    main()
