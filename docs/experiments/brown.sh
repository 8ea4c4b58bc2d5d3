#!/usr/bin/env bash
# The paper's comparison at small scale (docs/EXPERIMENTS.md): one small LLaMA trained on
# Brown train and evaluated on Brown val by four methods with equal updates and tokens.
#   docs/experiments/brown.sh [OUT_DIR]      (about 15 minutes per run on one core)
# BROWN points at the corpus (the directory holding train.txt.gz and val.txt.gz; default
# brown); THREADS per run (default 1);
# the runs go two at a time when THREADS=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
BROWN=${BROWN:-brown}
OUT=${1:-runs/brown}
THREADS=${THREADS:-1}
go build -o "$OUT/relora-cpu" ./cmd/relora-cpu
bin="$OUT/relora-cpu"

common=(--model_config llama_9m --data "$BROWN/train.txt.gz" --val_data "$BROWN/val.txt.gz"
  --max_length 256 --batch_size 16 --total_batch_size 16 --num_training_steps 1200
  --warmup_steps 60 --min_lr_ratio 0.1 --eval_every 200 --eval_batches 30 --log_every 100
  --seed 1 --threads "$THREADS" --clip_grad_norm 1)
lowrank=(--lora_r 32 --lora_alpha 32 --lora_dropout 0.1)

run() { # name, flags...
  local name=$1; shift
  rm -rf "$OUT/$name"
  "$bin" train "${common[@]}" "$@" --save_dir "$OUT/$name" > "$OUT/$name.log" 2>&1
  echo "$name: $(grep '^eval' "$OUT/$name.log" | tail -1)"
}

# (a) full-rank
# (b) low-rank from scratch: no W0 at all
# (c) LoRA with a warm start: 300 full-rank updates, then factors, no restarts
# (d) ReLoRA with the same warm start: merges every 300 updates, jagged schedule,
#     99% magnitude pruning of the factors' Adam moments (the paper's settings, scaled down;
#     each moment pruned with its own mask, as the reference and the table in EXPERIMENTS.md)
run full      --lr 2e-3 &
[ "$THREADS" = 1 ] || wait
run lora_only --lr 4e-3 --lora_only "${lowrank[@]}"
wait
run lora_warm --lr 4e-3 --warm_start_lr 2e-3 --warm_start_steps 300 --use_peft "${lowrank[@]}" &
[ "$THREADS" = 1 ] || wait
run relora    --lr 4e-3 --warm_start_lr 2e-3 --warm_start_steps 300 "${lowrank[@]}" \
  --relora 300 --cycle_length 300 --scheduler cosine_restarts --restart_warmup_steps 30 \
  --reset_optimizer_on_relora=false --optimizer_magnitude_pruning 0.99 --optimizer_reset_mask independent
wait
