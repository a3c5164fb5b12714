#!/usr/bin/env bash
# Install what the tests need, then run the whole suite (tiny local models; no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements-dev.txt
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python -m pytest tests -q "$@"
