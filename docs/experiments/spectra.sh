#!/usr/bin/env bash
# Issue 15 (docs/EXPERIMENTS.md, "Is the sum of the low-rank updates high-rank?"): the spectra of
# the learned updates W_final − W_start of the Brown runs, with relora-cpu analyze.
#   BROWN=path/to/brown docs/experiments/spectra.sh [OUT_DIR] [RUN ...]
# The runs are those of docs/experiments/restart.sh (the same settings, one thread each, 2-5
# minutes on this 2-core machine) plus ReLoRA r 16 with a checkpoint at the end of every cycle;
# then the three analyses and their figures in docs/experiments/. RUN names a subset of the runs
# (then nothing is analysed). The warm-start runs save no checkpoint at the end of their warm
# start: analyze --replay retrains those 200 updates (bitwise the run's, on one thread).
set -euo pipefail
cd "$(dirname "$0")/../.."
BROWN=${BROWN:?set BROWN to the directory holding train.txt.gz and val.txt.gz}
OUT=${1:-runs/spectra}
shift || true
mkdir -p "$OUT"
bin=${BIN:-$OUT/relora-cpu} # BIN: a relora-cpu already built
[ -n "${BIN:-}" ] || go build -o "$bin" ./cmd/relora-cpu

common=(--model_config llama_9m --data "$BROWN/train.txt.gz" --val_data "$BROWN/val.txt.gz"
  --max_length 128 --batch_size 8 --num_training_steps 800 --warmup_steps 40 --min_lr_ratio 0.1
  --eval_every 200 --eval_batches 40 --log_every 200 --seed 1 --threads 1 --clip_grad_norm 1)
lowrank=(--lr 4e-3 --lora_alpha 32 --lora_dropout 0)
warm=(--warm_start_steps 200 --warm_start_lr 2e-3)
relora=(--relora 200 --cycle_length 200 --scheduler cosine_restarts --restart_warmup_steps 20
  --reset_optimizer_on_relora=false --optimizer_magnitude_pruning 0.99 --optimizer_reset_mask joint)

declare -A flags=(
  [full]="--lr 2e-3"
  [lora_r32]="--use_peft --lora_r 32 ${lowrank[*]}"
  [relora_r32]="--lora_r 32 ${lowrank[*]} ${relora[*]}"
  [lora_warm]="--use_peft --lora_r 32 ${lowrank[*]} ${warm[*]}"
  [relora_warm]="--lora_r 32 ${lowrank[*]} ${warm[*]} ${relora[*]}"
  [relora_r16]="--lora_r 16 ${lowrank[*]} ${relora[*]} --save_every 200"
)
order=(full lora_r32 relora_r32 lora_warm relora_warm relora_r16)
[ $# -gt 0 ] && order=("$@")

for name in "${order[@]}"; do
  rm -rf "${OUT:?}/$name"
  # shellcheck disable=SC2086 # the flags split on spaces on purpose
  "$bin" train "${common[@]}" ${flags[$name]} --save_dir "$OUT/$name" > "$OUT/$name.log" 2>&1
  echo "$name: $(grep '^eval' "$OUT/$name.log" | tail -1)"
done

[ $# -gt 0 ] && exit 0
# the spectra (and their JSON) in OUT_DIR, the figures copied into docs/experiments
"$bin" analyze --out "$OUT/spectra_r32" --names 'full-rank,LoRA r 32,ReLoRA r 32' \
  "$OUT/full" "$OUT/lora_r32" "$OUT/relora_r32" | tee "$OUT/spectra_r32.txt"
"$bin" analyze --replay --out "$OUT/spectra_warm" \
  --names 'LoRA r 32 + warm start,ReLoRA r 32 + warm start' "$OUT/lora_warm" "$OUT/relora_warm" |
  tee "$OUT/spectra_warm.txt"
"$bin" analyze --out "$OUT/spectra_cycles" \
  --names 'cycle 1 (update 200),cycles 1-2 (400),cycles 1-3 (600),cycles 1-4 (800)' \
  "$OUT/relora_r16/model_200" "$OUT/relora_r16/model_400" "$OUT/relora_r16/model_600" "$OUT/relora_r16" |
  tee "$OUT/spectra_cycles.txt"
cp "$OUT/spectra_r32.png" "$OUT/spectra_cycles.png" docs/experiments/ # the SVGs stay in OUT_DIR
