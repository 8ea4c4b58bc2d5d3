#!/usr/bin/env bash
# A rank killed mid-run takes a 2-rank job down within seconds, with a message naming the
# rank; --autoresume then finishes the run with the same final weights as an uninterrupted
# one. Usage: .ci/mpi_kill.sh BINARY (built with -tags mpi).
set -euo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpi() { mpirun --allow-run-as-root --oversubscribe -np 2 "$bin" train \
  --tokenizer bytes --max_length 64 --batch_size 4 --total_batch_size 8 --num_training_steps 400 \
  --warmup_steps 1 --relora 50 --cycle_length 50 --lora_r 8 --use_peft --threads 1 --eval_batches 2 \
  --save_every 50 "$@"; }

mpi --save_dir "$work/whole" >"$work/whole.log" 2>&1

mpi --save_dir "$work/killed" >"$work/killed.log" 2>&1 &
job=$!
# wait for the first checkpoint, then SIGKILL rank 1
for _ in $(seq 600); do [ -d "$work/killed/model_50" ] && break; sleep 0.1; done
[ -d "$work/killed/model_50" ] || { echo "no checkpoint appeared"; cat "$work/killed.log"; exit 1; }
victim=""
for p in $(pgrep -f "$bin train"); do
  if tr '\0' '\n' </proc/$p/environ 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then victim=$p; fi
done
[ -n "$victim" ] || { echo "rank 1 not found"; exit 1; }
killed_at=$(date +%s%N)
kill -9 "$victim"
rc=0
wait $job || rc=$?
took_ms=$(( ($(date +%s%N) - killed_at) / 1000000 ))
echo "job ended with exit $rc ${took_ms} ms after SIGKILL of rank 1"
[ "$rc" -ne 0 ] || { echo "the job did not fail"; exit 1; }
[ "$took_ms" -lt 10000 ] || { echo "the job took ${took_ms} ms to end"; exit 1; }
grep -q 'rank 1' "$work/killed.log" || { echo "no message names rank 1:"; cat "$work/killed.log"; exit 1; }

mpi --save_dir "$work/killed" --autoresume >"$work/resumed.log" 2>&1
grep -m1 '^resumed from' "$work/resumed.log"
cmp "$work/whole/final/model.safetensors" "$work/killed/final/model.safetensors"
echo "resumed run's final weights equal the uninterrupted run's"
