#!/usr/bin/env bash
# Registry check: `comfy node validate` passes without warnings, and the archive `comfy node pack`
# builds holds the pack and nothing of its tests, benchmarks, scripts or CI (.comfyignore).
# Packs a copy of the working tree (tracked and new, not ignored files), so uncommitted changes
# count and the checkout stays clean. Offline: comfy-cli's telemetry is off (DO_NOT_TRACK).
set -euo pipefail
cd "$(dirname "$0")/.."
export DO_NOT_TRACK=1 COMFY_NO_TELEMETRY=1
if ! command -v comfy >/dev/null 2>&1; then
  python -m pip install -q comfy-cli
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' file; do
  if [ -f "$file" ]; then cp --parents "$file" "$work/"; fi
done
cd "$work"
git init -q . && git add -A

validate=$(comfy --skip-prompt node validate 2>&1)
echo "$validate"
if ! grep -q "All validation checks passed" <<<"$validate" || grep -qi "warning\|error" <<<"$validate"; then
  echo "check_package: comfy node validate reported a problem" >&2
  exit 1
fi

list_archive() {
  rm -f node.zip
  comfy --skip-prompt node pack >/dev/null
  python -c "import sys, zipfile; print('\n'.join(sorted(zipfile.ZipFile('node.zip').namelist())))"
}
before="no .comfyignore:"
if [ -f .comfyignore ]; then
  mv .comfyignore .comfyignore.off && git rm -q --cached .comfyignore
  before=$(list_archive | wc -l)
  mv .comfyignore.off .comfyignore && git add .comfyignore
fi
files=$(list_archive)
python - "$before" <<PY
import sys
names = """$files""".split()
bad = [n for n in names if n.split("/")[0] in ("tests", "benchmarks", "scripts", ".ci")]
needed = ["__init__.py", "nodes/__init__.py", "modules/__init__.py", "runner/__init__.py", "run_workflow.py",
          "web/js/show_node_text.js", "web/icon.svg", "LICENSE", "pyproject.toml", "requirements.txt"]
missing = [n for n in needed if n not in names]
missing += [] if any(n.startswith("example_workflows/") for n in names) else ["example_workflows/"]
missing += [] if any(n.startswith("web/js/docs/") for n in names) else ["web/js/docs/ (help pages)"]
print(f"archive: {len(names)} files ({sys.argv[1]} without .comfyignore)")
if bad or missing:
    sys.exit(f"check_package: archive holds {len(bad)} files not meant for it ({bad[:5]}); lacks {missing}")
print("archive holds no tests/, benchmarks/, scripts/ or .ci/ and has the pack's files")
PY
