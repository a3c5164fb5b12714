"""What the ComfyUI registry gets: one dependency list (pyproject's equals requirements.txt), the MIT
LICENSE that pyproject names, the lowest ComfyUI version, an icon that exists, and an archive
(`comfy node pack`) holding the pack without tests, benchmarks, scripts or CI, checked by
scripts/check_package.sh, which CI runs too."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirement_lines(path: Path) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("-")]


def test_pyproject_dependencies_equal_requirements_txt():
    assert sorted(PYPROJECT["project"]["dependencies"]) == sorted(requirement_lines(ROOT / "requirements.txt"))


def test_license_file_is_mit_and_pyproject_points_at_it():
    assert PYPROJECT["project"]["license"] == {"file": "LICENSE"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "License :: OSI Approved :: MIT License" in PYPROJECT["project"]["classifiers"]


def test_registry_fields_name_the_lowest_comfyui_version_an_icon_and_the_issue_tracker():
    comfy = PYPROJECT["tool"]["comfy"]
    assert re.fullmatch(r">=\d+\.\d+\.\d+", comfy["requires-comfyui"])
    assert comfy["requires-comfyui"] in (ROOT / "docs" / "comfyui.md").read_text()  # with its evidence
    icon = comfy["Icon"].split("/main/", 1)
    assert icon[0].startswith("https://raw.githubusercontent.com/") and (ROOT / icon[1]).is_file()
    assert PYPROJECT["project"]["urls"]["Issues"].endswith("/issues")


needs_comfy_cli = pytest.mark.skipif(shutil.which("comfy") is None or shutil.which("git") is None,
                                     reason="comfy-cli not installed (pip install comfy-cli)")


def check_package(root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, DO_NOT_TRACK="1", COMFY_NO_TELEMETRY="1")
    return subprocess.run(["bash", str(root / "scripts" / "check_package.sh")], capture_output=True, text=True,
                          env=env, timeout=300)


@needs_comfy_cli
def test_comfy_node_validate_passes_and_the_archive_holds_only_the_pack():
    result = check_package(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All validation checks passed" in result.stdout
    assert "archive holds no tests/, benchmarks/, scripts/ or .ci/" in result.stdout


@needs_comfy_cli
def test_the_check_fails_when_the_archive_would_ship_the_tests(tmp_path):
    """The same check on a copy of the pack without .comfyignore: tests/, benchmarks/, .ci/ get in."""
    copy = tmp_path / "pack"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", "__pycache__", ".comfyignore", "output"))
    subprocess.run(["git", "init", "-q", str(copy)], check=True)
    result = check_package(copy)
    assert result.returncode != 0
    assert "files not meant for it" in result.stderr and "benchmarks/" in result.stderr
