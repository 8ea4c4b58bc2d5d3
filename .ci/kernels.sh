#!/usr/bin/env bash
# Kernel ladder for asm/ and engine/gemm: every micro-kernel level is tested on
# this machine or under qemu-user, and each run checks that dispatch selected
# the level it was meant to (RELORA_EXPECT_KERNEL, see asm/kernel_test.go).
#
#   native             best level of the host CPU, then every level forced
#                      with RELORA_KERNEL (go, avx2, avx512 where the CPU has them)
#   -tags purego       no assembly at all: the pure-Go kernel
#   qemu-x86_64 -cpu Haswell   AVX2+FMA without AVX-512 (TCG has no AVX-512)
#   GOARCH=arm64 under qemu-aarch64   the NEON kernel
#   go vet             GOARCH amd64 and arm64, with and without purego (asmdecl)
#
# Installs qemu-user with apt-get when it is missing. Usage: .ci/kernels.sh
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(./asm/... ./engine/gemm/...)
step() { printf '\n== %s\n' "$*"; }

step "go vet (amd64, arm64) x (asm, purego)"
for arch in amd64 arm64; do
  for tags in "" purego; do
    GOARCH=$arch go vet ${tags:+-tags $tags} "${pkgs[@]}"
  done
done

if [ "$(go env GOHOSTARCH)" = amd64 ]; then
  flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
  has() { [[ " $flags " == *" $1 "* ]]; }
  levels=(go)
  if has avx2 && has fma; then levels+=(avx2); fi
  if has avx512f && has avx512vl; then levels+=(avx512 avx512-12x32); fi
  best=${levels[-1]}
  [ "$best" = avx512-12x32 ] && best=avx512

  step "native (expect $best)"
  RELORA_EXPECT_KERNEL=$best go test -count=1 "${pkgs[@]}"

  for k in "${levels[@]}"; do
    step "native, RELORA_KERNEL=$k"
    RELORA_KERNEL=$k RELORA_EXPECT_KERNEL=$k go test -count=1 -short "${pkgs[@]}"
  done

  step "native, -tags purego (expect go)"
  RELORA_EXPECT_KERNEL=go go test -count=1 -tags purego "${pkgs[@]}"
fi

if ! command -v qemu-x86_64 >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  step "installing qemu-user"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -q qemu-user >/dev/null
fi

step "GOARCH=amd64 under qemu-x86_64 -cpu Haswell (expect avx2)"
RELORA_EXPECT_KERNEL=avx2 GOARCH=amd64 go test -count=1 -short -exec 'qemu-x86_64 -cpu Haswell' "${pkgs[@]}"

step "GOARCH=arm64 under qemu-aarch64 (expect neon)"
RELORA_EXPECT_KERNEL=neon GOARCH=arm64 go test -count=1 -short -exec qemu-aarch64 "${pkgs[@]}"

step "GOARCH=arm64 -tags purego under qemu-aarch64 (expect go)"
RELORA_EXPECT_KERNEL=go GOARCH=arm64 go test -count=1 -short -tags purego -exec qemu-aarch64 "${pkgs[@]}"

step "kernels: all passed"
