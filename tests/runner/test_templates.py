"""The templates in ComfyUI's browser: every workflow has a real JPEG thumbnail and a Markdown note
that the runner ignores, the two guide workflows group their nodes as the guide does, and the
builder refuses a workflow without a note or with nodes hiding one another. Regenerate with scripts/build_example_workflows.py and
scripts/build_template_thumbnails.py."""

from __future__ import annotations

import importlib.util
import json

import pytest
from helpers.workflows import ROOT
from hf_text_finetune.runner.cli import node_classes
from hf_text_finetune.runner.workflow_format import to_api_prompt
from PIL import Image

TEMPLATES = ROOT / "example_workflows"
SHIPPED = sorted(TEMPLATES.glob("*.json"))
GUIDE = ("distilbert_classification.json", "distilbert_classification_2.json")
GUIDE_GROUPS = ["Loading data", "Setting up the model, loss, optimizer, and scheduler", "Training"]
TITLE_HEIGHT = 30


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def builder():
    return _script("build_example_workflows")


def _notes(workflow: dict) -> list[dict]:
    return [n for n in workflow["nodes"] if n["type"] == "MarkdownNote"]


def _box(node: dict) -> tuple[float, float, float, float]:
    (x, y), (w, h) = node["pos"], node["size"]
    return x, y - TITLE_HEIGHT, x + w, y + h


def _inside(box, group) -> bool:
    gx, gy, gw, gh = group["bounding"]
    return gx <= box[0] and gy <= box[1] and box[2] <= gx + gw and box[3] <= gy + gh


def test_there_are_templates_and_only_template_thumbnails():
    assert len(SHIPPED) >= 6
    assert sorted(p.stem for p in TEMPLATES.glob("*.jpg")) == [p.stem for p in SHIPPED]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_template_has_a_real_jpeg_thumbnail_of_sensible_size(path):
    thumbnail = path.with_suffix(".jpg")
    assert thumbnail.exists(), f"no {thumbnail.name}: run python scripts/build_template_thumbnails.py {path.stem}"
    assert thumbnail.read_bytes()[:3] == b"\xff\xd8\xff", "not JPEG data"
    assert 8_000 < thumbnail.stat().st_size < 300_000
    with Image.open(thumbnail) as image:
        image.verify()
    with Image.open(thumbnail) as image:
        assert image.format == "JPEG" and image.mode == "RGB"
        width, height = image.size
        assert 512 <= width <= 1024 and 200 <= height <= width
        colours = image.convert("L").getextrema()
        assert colours[1] - colours[0] > 100, "a blank image, not a screenshot of a graph"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_template_explains_itself_in_a_markdown_note_the_runner_ignores(path):
    workflow = json.loads(path.read_text())
    (note,) = _notes(workflow)
    assert note["inputs"] == [] and note["outputs"] == [] and note["mode"] == 0
    (text,) = note["widgets_values"]
    assert text.startswith("## ") and len(text) > 200
    for part in ("**What it does:**", "**Your own data:**", "**Expect:**"):
        assert part in text, f"{path.name}: the note lacks {part}"
    prompt = to_api_prompt(workflow, node_classes())
    assert str(note["id"]) not in prompt
    assert len(prompt) == len(workflow["nodes"]) - 1


@pytest.mark.parametrize("name", GUIDE)
def test_guide_workflows_group_every_node_in_one_of_the_guides_three_boxes(name):
    workflow = json.loads((TEMPLATES / name).read_text())
    groups = workflow["groups"]
    assert [g["title"] for g in groups] == GUIDE_GROUPS
    members = {g["title"]: [] for g in groups}
    for node in workflow["nodes"]:
        holders = [g["title"] for g in groups if _inside(_box(node), g)]
        if node["type"] == "MarkdownNote":
            assert holders == [], "the note stands outside the groups"
            continue
        assert len(holders) == 1, f"{node['type']} {node.get('title', '')} is inside {holders}"
        members[holders[0]].append(node["type"])
    assert {"HfTokenizerEncode", "PtvHfDatasetWithTokenEncode", "PtDataLoader"} <= set(members["Loading data"])
    assert {"PtnHfFineTunedClassificationModel", "PtoAdamW", "PtoLrSchedulerWarmup",
            "PtnBCEWithLogitsLoss"} == set(members[GUIDE_GROUPS[1]])
    assert any(kind.startswith("PtTrain") for kind in members["Training"])


def test_every_template_has_group_boxes_that_do_not_overlap(builder):
    for name in [p.name for p in SHIPPED]:
        boxes = [g["bounding"] for g in json.loads((TEMPLATES / name).read_text())["groups"]]
        assert len(boxes) >= 3, f"{name}: data, model setup and training in boxes of their own"
        for i, (ax, ay, aw, ah) in enumerate(boxes):
            for bx, by, bw, bh in boxes[i + 1:]:
                assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay, name


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_no_node_hides_another_on_the_canvas(path):
    nodes = json.loads(path.read_text())["nodes"]
    for i, a in enumerate(nodes):
        ax0, ay0, ax1, ay1 = _box(a)
        for b in nodes[i + 1:]:
            bx0, by0, bx1, by1 = _box(b)
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, \
                f"{path.name}: {a.get('title', a['type'])} overlaps {b.get('title', b['type'])}"


def test_the_builder_refuses_overlapping_nodes(builder, monkeypatch):
    original = builder.WORKFLOWS[GUIDE[0]]

    def crowded():
        g = original()
        g.node("PreviewAny", tuple(g.nodes[-1]["pos"]), "On top")
        return g

    monkeypatch.setitem(builder.WORKFLOWS, GUIDE[0], crowded)
    with pytest.raises(SystemExit, match=r"these nodes overlap on the canvas: .*'On top'"):
        builder.build(GUIDE[0])


def test_the_builder_writes_exactly_the_shipped_workflows(builder):
    """Hand edits are overwritten on the next build: the files must be what the builder writes."""
    assert sorted(builder.WORKFLOWS) == [p.name for p in SHIPPED]
    for path in SHIPPED:
        assert builder.build(path.name) == json.loads(path.read_text()), path.name


def test_the_builder_refuses_a_workflow_without_a_note(builder, monkeypatch):
    monkeypatch.setitem(builder.WORKFLOWS, "new_workflow.json", builder.WORKFLOWS[GUIDE[0]])
    with pytest.raises(SystemExit, match=r"new_workflow.json has no note: add NOTES\['new_workflow.json'\]"):
        builder.build("new_workflow.json")
    monkeypatch.setitem(builder.NOTES, "new_workflow.json", "   ")
    with pytest.raises(SystemExit, match="has no note"):
        builder.build("new_workflow.json")


def test_thumbnail_framing_puts_the_whole_graph_inside_the_crop_at_a_readable_zoom(tmp_path):
    thumbnails = _script("build_template_thumbnails")
    workflow = json.loads((TEMPLATES / GUIDE[0]).read_text())
    framed = thumbnails.framed(workflow)
    assert framed["nodes"] == workflow["nodes"] and workflow["extra"]["ds"] != framed["extra"]["ds"]
    ds = framed["extra"]["ds"]
    assert ds["scale"] >= 0.6, "below the frontend's low-quality zoom node text is not drawn"
    x0, y0, x1, y1 = thumbnails.graph_bounds(workflow)
    width, height = thumbnails.shot_size(workflow)

    def to_screen(x, y):
        return (x + ds["offset"][0]) * ds["scale"], (y + ds["offset"][1]) * ds["scale"]

    assert to_screen(x0, y0) == pytest.approx((thumbnails.MARGIN, thumbnails.MARGIN))
    assert to_screen(x1, y1) == pytest.approx((width - thumbnails.MARGIN, height - thumbnails.MARGIN), abs=1)
    window = [int(v) for v in thumbnails.window_size([framed]).split("x")]
    page = window[0], window[1] - thumbnails.BROWSER_CHROME
    assert page[0] >= thumbnails.CANVAS_ORIGIN[0] + width
    assert page[1] >= thumbnails.CANVAS_ORIGIN[1] + height + thumbnails.BOTTOM_BAR
    png = tmp_path / "shot.png"
    Image.new("RGB", page, (40, 40, 40)).save(png)
    size = thumbnails.write_jpeg(png, framed, tmp_path / "shot.jpg")
    assert size == (thumbnails.THUMB_WIDTH, round(height * thumbnails.THUMB_WIDTH / width))
    assert (tmp_path / "shot.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
