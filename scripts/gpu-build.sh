#!/usr/bin/env bash
# scripts/gpu-build.sh [cuda|all]: builds, on a machine with Go (no GPU and no
# CUDA needed: the GPU driver dlopens the CUDA libraries at run time), what
# scripts/gpu-check.sh runs on the GPU machine, which has no Go:
#
#   bin/cuda.test    go test -c -tags cuda ./engine/cuda      (always)
#   bin/relora.test  go test -c -tags cuda ./relora/run       (all, the default)
#   bin/relora-cpu   go build -tags cuda ./cmd/relora-cpu      (all)
#
# bin/ is git-ignored: carry it, e.g. with the device tool
#   run(command="bash scripts/gpu-check.sh", carry=["bin"], timeout_s=330)
# It checks that no binary links a CUDA library and prints the newest glibc
# symbol version each needs (the GPU machine has glibc 2.39).
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
case $what in cuda | all) ;; *)
	echo "usage: $0 [cuda|all]" >&2
	exit 2
	;;
esac

mkdir -p bin
export CGO_ENABLED=1
flags=(-tags cuda -trimpath "-ldflags=-s -w")

echo "== go test -c ./engine/cuda -> bin/cuda.test"
go test -c "${flags[@]}" -o bin/cuda.test ./engine/cuda
if [ "$what" = all ]; then
	echo "== go test -c ./relora/run -> bin/relora.test"
	go test -c "${flags[@]}" -o bin/relora.test ./relora/run
	echo "== go build ./cmd/relora-cpu -> bin/relora-cpu"
	go build "${flags[@]}" -o bin/relora-cpu ./cmd/relora-cpu
fi

status=0
for b in bin/cuda.test bin/relora.test bin/relora-cpu; do
	[ -f "$b" ] || continue
	if ldd "$b" | grep -Ei 'libcuda|libcublas|libnvrtc|libcudart'; then
		echo "error: $b links a CUDA library; it must dlopen them" >&2
		status=1
	fi
	glibc=$(objdump -T "$b" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 || true)
	printf '%-16s %6s  needs %s; %s\n' "$b" "$(du -h "$b" | cut -f1)" "${glibc:-?}" \
		"$(ldd "$b" | awk '/=>/ {print $1}' | tr '\n' ' ')"
done
total=$(du -cm bin | tail -1 | cut -f1)
echo "bin/: ${total} MiB (the device tool carries at most 64 MiB with the working tree)"
exit $status
