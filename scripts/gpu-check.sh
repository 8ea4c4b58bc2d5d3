#!/usr/bin/env bash
# scripts/gpu-check.sh: the device check, run on the GPU machine from the
# repository root (that machine has no Go: build bin/ here first with
# scripts/gpu-build.sh, and carry it):
#
#   run(command="bash scripts/gpu-check.sh", carry=["bin"], timeout_s=330)
#
# It finishes within 5 minutes (every step has its own timeout, cut to what
# is left of a 285 s budget) and writes everything under ${OUT:-/tmp/gpu-check}:
# summary.txt, env.txt, one log per step, ptx.tar.gz (at most 8 files, what
# the device tool brings back). The summary, and the tail of any failing
# step's log, are printed at the end. Exit status 0: every step passed.
#
# Settings (environment):
#   CUDA_TEST_RUN     -test.run of the driver's tests (default 'GPU|Device')
#   DEVICE_TEST_RUN   -test.run of the op tests on the GPU, every test's "gpu"
#                     subtest (default '/^gpu$', with the TestGPU* tests of
#                     step 2 skipped; empty: skip that step)
#   RELORA_CUDA_LIB_DIR  where the CUDA libraries are, if the driver's own
#                     search (see engine/cuda/gpu.go) does not find them
#   GPU_CHECK_RELORA=0, GPU_CHECK_BENCH=0  skip the training checks or the benchmarks
set -u -o pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out"
summary=$out/summary.txt
: >"$summary"
budget=285
status=0
failed_logs=()

note() { printf '%s\n' "$*" | tee -a "$summary"; }

# step NAME SECONDS DIR CMD...: runs CMD in DIR with a timeout, its output in
# $out/NAME.log, and notes the result.
step() {
	local name=$1 secs=$2 dir=$3
	shift 3
	local left=$((budget - SECONDS))
	if [ "$left" -lt 15 ]; then
		note "$(printf '%-14s skipped: the time budget is spent' "$name")"
		status=1
		return 1
	fi
	[ "$secs" -gt "$left" ] && secs=$left
	local t0=$SECONDS rc
	(cd "$dir" && timeout -k 5 "$secs" "$@") >"$out/$name.log" 2>&1
	rc=$?
	local how="rc=$rc"
	[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && how="TIMED OUT after ${secs}s"
	local cmd
	cmd=$(printf '%s ' "$@" | tr -s '\n\t' '  ' | cut -c1-110)
	note "$(printf '%-14s %-22s %4ss  %s' "$name" "$how" $((SECONDS - t0)) "$cmd")"
	if [ "$rc" -ne 0 ]; then
		status=1
		failed_logs+=("$out/$name.log")
	fi
	return "$rc"
}

# gotest_summary LOG: the counts and failures of a go test -v log.
gotest_summary() {
	local log=$1
	note "  passed $(grep -c -- '--- PASS' "$log"), failed $(grep -c -- '--- FAIL' "$log"), skipped $(grep -c -- '--- SKIP' "$log")"
	grep -E -- '--- FAIL|^panic|^FAIL|fatal error' "$log" | head -20 | sed 's/^/  /' | tee -a "$summary"
}

note "== gpu-check $(date -u +%FT%TZ) on $(hostname)"

# 1. the machine: GPU, driver, glibc, where the CUDA libraries are
step env 20 . bash -c '
	nvidia-smi -L
	nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
	echo "kernel $(uname -r); $(ldd --version | head -1)"
	echo "== ldconfig"; ldconfig -p | grep -E "libcuda\.so|libcublas|libnvrtc|libcudart" || true
	echo "== toolkit"; ls -l /usr/local/cuda/lib64/lib{cublas,cublasLt,nvrtc,cudart}.so* 2>/dev/null || true
	echo "== wheels"; ls -d /opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib \
		/usr/local/lib/python3*/*-packages/nvidia/*/lib 2>/dev/null || true
	echo "== driver"; ls -l /usr/local/nvidia/lib64/libcuda.so* /usr/lib/x86_64-linux-gnu/libcuda.so* 2>/dev/null || true
	echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"'
head -3 "$out/env.log" | sed 's/^/  /' | tee -a "$summary"

if [ ! -x bin/cuda.test ]; then
	note "bin/cuda.test is missing: run scripts/gpu-build.sh here and carry bin/"
	exit 1
fi

# 2. the GPU driver's own tests: library versions (TestGPUName), memory,
# NVRTC + launches, cuBLAS fp32/TF32/bf16 against a reference
ptxdir=$(mktemp -d)
step cuda-gpu 120 engine/cuda env RELORA_CUDA_PTX_DIR="$ptxdir" \
	"$root/bin/cuda.test" -test.v -test.count=1 -test.timeout=110s -test.run "${CUDA_TEST_RUN:-GPU|Device}"
grep -m1 -o 'device: .*' "$out/cuda-gpu.log" | sed 's/^/  /' | tee -a "$summary"
grep -m1 -o 'libraries: .*' "$out/cuda-gpu.log" | sed 's/^/  /' | tee -a "$summary"
grep -o 'math [0-9]: 4096³ .*' "$out/cuda-gpu.log" | sed 's/^/  /' | tee -a "$summary"
gotest_summary "$out/cuda-gpu.log"

# 3. every op on the GPU against the CPU engine (the "gpu" subtests)
if [ -n "${DEVICE_TEST_RUN-/^gpu\$}" ]; then
	step cuda-device 120 engine/cuda env RELORA_CUDA_PTX_DIR="$ptxdir" \
		"$root/bin/cuda.test" -test.v -test.count=1 -test.timeout=110s -test.run "${DEVICE_TEST_RUN-/^gpu\$}" \
		-test.skip '^TestGPU'
	gotest_summary "$out/cuda-device.log"
fi
if [ -n "$(ls -A "$ptxdir")" ]; then
	tar -C "$ptxdir" -czf "$out/ptx.tar.gz" .
fi
rm -rf "$ptxdir"

# 4. training on the GPU against the CPU engine: a tiny LLaMA full-rank and
# ReLoRA (warm start, merges, resets, dropout), free-running and update by
# update; checkpoints moved between the GPU and the CPU; bf16 GEMMs
if [ "${GPU_CHECK_RELORA:-1}" = 1 ] && [ -x bin/relora.test ]; then
	step relora 60 relora "$root/bin/relora.test" -test.v -test.count=1 -test.timeout=55s \
		-test.run "${RELORA_TEST_RUN:-DeviceTrains|MovesBetween|BF16}"
	gotest_summary "$out/relora.log"
fi

# 5. tokens/s and peak device memory: llama_60m, batch 64 × 512, fp32 and
# bf16, full-rank and ReLoRA r 128 (one process each, 3 timed steps)
if [ "${GPU_CHECK_BENCH:-1}" = 1 ] && [ -x bin/relora-cpu ]; then
	for dtype in float32 bfloat16; do
		for r in 0 128; do
			step "bench-$dtype-r$r" 40 . bin/relora-cpu bench step --device cuda --dtype "$dtype" \
				--model_config llama_60m --batch_size 64 --max_length 512 --lora_r "$r" --steps 3 --threads 4
			tail -1 "$out/bench-$dtype-r$r.log" | sed 's/^/  /' | tee -a "$summary"
		done
	done
fi

note "== done in ${SECONDS}s, status $status (files in $out)"
for f in "${failed_logs[@]}"; do
	printf '\n==== tail of %s\n' "$f"
	tail -40 "$f"
done
exit $status
