"""Help pages: ComfyUI's node help panel shows WEB_DIRECTORY/docs/<NodeId>.md (fetched as
/extensions/<pack folder>/docs/<NodeId>.md). Every registered node has one, and each page is
exactly what scripts/build_node_docs.py generates from the node class, so none goes stale."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import hf_text_finetune

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("build_node_docs", ROOT / "scripts" / "build_node_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pages_live_where_comfyui_looks_for_them(generator):
    assert generator.HELP_DIR == (ROOT / hf_text_finetune.WEB_DIRECTORY / "docs").resolve()
    assert generator.HELP_DIR.is_dir(), "run python scripts/build_node_docs.py"


def test_every_registered_node_has_its_page_and_no_page_is_left_over(generator):
    expected = {f"{node_id}.md" for node_id in hf_text_finetune.NODE_CLASS_MAPPINGS}
    assert {path.name for path in generator.HELP_DIR.glob("*.md")} == expected


def test_pages_match_the_generator(generator):
    stale = [name for name, text in generator.help_pages().items()
             if (generator.HELP_DIR / name).read_text() != text]
    assert not stale, f"{stale} differ from the node classes: run python scripts/build_node_docs.py"


@pytest.mark.parametrize("node_id", sorted(hf_text_finetune.NODE_CLASS_MAPPINGS))
def test_page_names_every_input_and_output_and_has_an_example_and_mistakes(generator, node_id):
    cls = hf_text_finetune.NODE_CLASS_MAPPINGS[node_id]
    page = generator.help_page(node_id, cls)
    inputs = [name for group in ("required", "optional") for name in cls.INPUT_TYPES().get(group, {})]
    outputs = getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES
    assert all(f"**`{name}`**" in page for name in inputs + list(outputs)), "one block per input and output"
    assert "| --- |" not in page.split("## Example")[0], "no tables: the help sidebar is too narrow for them"
    assert page.startswith(f"# {hf_text_finetune.NODE_DISPLAY_NAME_MAPPINGS[node_id]}\n")
    assert cls.DESCRIPTION in page
    example = page.split("## Example\n", 1)[1].split("## Common mistakes\n")
    assert example[0].strip() and example[1].count("\n- ") >= 1


def test_number_inputs_show_their_range_and_disk_choices_are_described_not_listed(generator):
    adamw = generator.help_page("PtoAdamW", hf_text_finetune.NODE_CLASS_MAPPINGS["PtoAdamW"])
    assert "**`learning_rate`**  \n`FLOAT` · 0.0 to 10.0, step 1e-06 · default `5e-05`  \n" in adamw
    load = generator.help_page("PtLoadClassificationModel",
                               hf_text_finetune.NODE_CLASS_MAPPINGS["PtLoadClassificationModel"])
    assert "**`saved_model`**  \none of the saved classifiers found when ComfyUI lists the node" in load
