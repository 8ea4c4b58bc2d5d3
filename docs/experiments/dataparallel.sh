#!/usr/bin/env bash
# Data-parallel training on one machine (docs/EXPERIMENTS.md, "Data-parallel"): the update time
# and the all-reduce share of it, one process against 2 ranks under mpirun, full-rank against
# ReLoRA r 128, at the 60M shape on the default corpus (vocabulary 4096), global batch 8 × 256.
#   docs/experiments/dataparallel.sh [OUT_DIR]
# Needs Open MPI (apt-get install openmpi-bin libopenmpi-dev). Each configuration runs
# UPDATES updates (default 12); the table gives the median of all but the first two.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/dataparallel}
UPDATES=${UPDATES:-12}
mkdir -p "$OUT"
bin=$OUT/relora-mpi
go build -tags mpi -o "$bin" ./cmd/relora-cpu
common=(--model_config llama_60m --max_length 256 --total_batch_size 8 --num_training_steps "$UPDATES"
  --warmup_steps 1 --eval_batches 1 --log_every 0 --seed 1)
relora=(--use_peft --lora_r 128 --relora "$UPDATES" --cycle_length "$UPDATES")
mpi=(mpirun --allow-run-as-root --oversubscribe -np 2)

run() { # name, launcher..., -- flags...
  local name=$1; shift
  rm -rf "${OUT:?}/$name"
  "$@" --save_dir "$OUT/$name" >"$OUT/$name.log" 2>&1
}
for mode in full relora; do
  extra=(); [ $mode = relora ] && extra=("${relora[@]}")
  run "${mode}_1x2" "$bin" train "${common[@]}" "${extra[@]}" --batch_size 8 --threads 2
  run "${mode}_1x1" "$bin" train "${common[@]}" "${extra[@]}" --batch_size 8 --threads 1
  run "${mode}_2x1" "${mpi[@]}" "$bin" train "${common[@]}" "${extra[@]}" --batch_size 4 --threads 1
done

python3 - "$OUT" <<'EOF'
import json, statistics, sys, os
out = sys.argv[1]
print("| run | processes × threads | update (s) | all-reduce (s) | share | MB all-reduced |")
print("|---|---|---|---|---|---|")
for mode in ("full", "relora"):
    for cfg, label in (("1x1", "1 × 1"), ("1x2", "1 × 2"), ("2x1", "2 × 1")):
        recs = [json.loads(l) for l in open(os.path.join(out, f"{mode}_{cfg}", "metrics.jsonl"))]
        ups = [r for r in recs if "loss" in r and "update_s" in r][2:]
        t = statistics.median(r["update_s"] for r in ups)
        c = statistics.median(r.get("allreduce_s", 0) for r in ups)
        mb = ups[-1].get("allreduce_bytes", 0) / 1e6
        name = "full-rank" if mode == "full" else "ReLoRA r 128"
        print(f"| {name} | {label} | {t:.3f} | {c:.3f} | {100*c/t:.1f}% | {mb:.1f} |")
EOF
