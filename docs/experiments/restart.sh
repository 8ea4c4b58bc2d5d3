#!/usr/bin/env bash
# Issue 17 at small scale (docs/EXPERIMENTS.md, "A restart that does not spike"): the Brown
# comparison and a rank sweep, each ReLoRA run with one mask for both Adam moments (joint,
# the default) and with the reference's independent masks.
#   BROWN=path/to/brown docs/experiments/restart.sh [OUT_DIR] [RUN ...]
# BROWN holds train.txt.gz and val.txt.gz; the runs go one at a time on one thread each
# (about 2-3 minutes each on a 2-core Zen 4); RUN names a subset (default: all 15, then the
# figures). docs/experiments/summary.py OUT_DIR prints the tables.
set -euo pipefail
cd "$(dirname "$0")/../.."
BROWN=${BROWN:?set BROWN to the directory holding train.txt.gz and val.txt.gz}
OUT=${1:-runs/restart}
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
  --reset_optimizer_on_relora=false --optimizer_magnitude_pruning 0.99)

declare -A flags=(
  # the comparison: full-rank, low-rank from scratch, LoRA and ReLoRA after 200 full-rank updates
  [full]="--lr 2e-3"
  [full_lr4e-3]="--lr 4e-3" # the low-rank runs' peak LR, for a fair full-rank baseline
  [lora_only]="--lora_only --lora_r 32 ${lowrank[*]}"
  [lora_warm]="--use_peft --lora_r 32 ${lowrank[*]} ${warm[*]}"
  [relora_warm_joint]="--lora_r 32 ${lowrank[*]} ${warm[*]} ${relora[*]} --optimizer_reset_mask joint"
  [relora_warm_indep]="--lora_r 32 ${lowrank[*]} ${warm[*]} ${relora[*]} --optimizer_reset_mask independent"
)
for r in 16 32 64; do # the rank sweep: no warm start
  flags[lora_r$r]="--use_peft --lora_r $r ${lowrank[*]}"
  flags[relora_r${r}_joint]="--lora_r $r ${lowrank[*]} ${relora[*]} --optimizer_reset_mask joint"
  flags[relora_r${r}_indep]="--lora_r $r ${lowrank[*]} ${relora[*]} --optimizer_reset_mask independent"
done
order=(full full_lr4e-3 lora_only lora_warm relora_warm_joint relora_warm_indep
  lora_r32 relora_r32_joint relora_r32_indep lora_r16 relora_r16_joint relora_r16_indep
  lora_r64 relora_r64_joint relora_r64_indep)
[ $# -gt 0 ] && order=("$@")

for name in "${order[@]}"; do
  rm -rf "${OUT:?}/$name"
  # shellcheck disable=SC2086 # the flags split on spaces on purpose
  "$bin" train "${common[@]}" ${flags[$name]} --save_dir "$OUT/$name" > "$OUT/$name.log" 2>&1
  echo "$name: $(grep '^eval' "$OUT/$name.log" | tail -1) ($(grep '^done' "$OUT/$name.log" | cut -d' ' -f3))"
done

[ $# -gt 0 ] && exit 0
"$bin" plot --out docs/experiments/restart_brown \
  --names 'full-rank,low-rank from scratch,LoRA + warm start,ReLoRA + warm start (joint),ReLoRA + warm start (independent)' \
  "$OUT/full" "$OUT/lora_only" "$OUT/lora_warm" "$OUT/relora_warm_joint" "$OUT/relora_warm_indep"
"$bin" plot --out docs/experiments/restart_rank \
  --names 'LoRA r 16,ReLoRA r 16 (joint),LoRA r 32,ReLoRA r 32 (joint),ReLoRA r 32 (independent),LoRA r 64,ReLoRA r 64 (joint)' \
  "$OUT/lora_r16" "$OUT/relora_r16_joint" "$OUT/lora_r32" "$OUT/relora_r32_joint" "$OUT/relora_r32_indep" "$OUT/lora_r64" "$OUT/relora_r64_joint"
