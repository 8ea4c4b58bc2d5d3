// Package asm holds the engine's SIMD micro-kernels (Go assembly) and the
// pure-Go reference of each. Blocking, packing and threading live above it,
// in engine/gemm; a kernel here computes one register tile and returns
// (assembly is not preempted, so every call stays short).
//
// GEMM kernels (fp32, see Kernel):
//
//	avx512        6×64 row-oriented tile (24 zmm accumulators), plus TileA
//	              (A read in place), Sup (m ≤ 6, masked n ≤ 64, unpacked)
//	              and Dot (transposed B as dot products, m ≤ 3)
//	avx512-12x32  12×32 alternative (benchmarks; same speed on Zen 4)
//	avx2          6×16 (12 ymm accumulators, AVX2+FMA), plus TileA
//	neon          8×12 (24 q accumulators; A broadcast with VLD1R)
//	go            4×4 pure Go, always available
//
// Dispatch uses golang.org/x/sys/cpu at start-up; Selected is the best
// available kernel unless RELORA_KERNEL=go|avx2|avx512|avx512-12x32|neon
// forces one (an unavailable name falls back to the best, with a message on
// standard error and SelectionError set). The purego build tag removes all
// assembly. RELORA_EXPECT_KERNEL makes the tests fail unless that kernel
// was selected (CI runs them under qemu to cover avx2 and neon). The vector
// kernels (softmax, SwiGLU, AdamW, ...) run at the level of the selected
// GEMM kernel.
//
// # Files
//
// One role per file:
//
//	kernel.go                  GEMM kernel types, the 4×4 Go kernel, the GEMM references
//	dispatch*.go               kernel selection (per architecture)
//	stubs_*.go                 Go declarations of the GEMM assembly, length checks
//	sgemm_*.s                  GEMM micro-kernels (generated)
//	vec.go                     vector kernels' API: argument checks, dispatch, chunks and tails
//	vec_generic.go             vector kernels in pure Go (the go level, tails)
//	vec_ref.go                 vector kernels' references (Ref…)
//	vec_amd64.go, vec_arm64.go Go declarations of the vector assembly, per level
//	vec_other.go               the same without assembly (never called)
//	vec_amd64.s, vec_arm64.s   vector kernels: AVX-512, AVX2+FMA, NEON (generated)
//	copy*.go                   PackStrips
//	copy_avx512_amd64.s        PackStrips' kernel (generated)
//
// # Generated assembly
//
// Every .s file is written by the generator in asm/_gen (a text emitter:
// the exp sequence, the reductions and the loops are written once per
// instruction set as Go functions). Do not edit the .s files; change the
// generator and run, from the repository root,
//
//	go generate ./...
//
// which runs the line below (in this directory). CI fails when the
// checked-in files differ from its output.
package asm

//go:generate go run ./_gen
