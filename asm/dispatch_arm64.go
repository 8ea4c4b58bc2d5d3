//go:build arm64 && gc && !purego

package asm

// NEONKernel is the NEON 8×12 tile (24 q-register accumulators, as BLIS's
// armv8a kernel). Advanced SIMD is part of every arm64 CPU Go supports.
var NEONKernel = Kernel{Name: "neon", MR: 8, NR: 12, Tile: tileNEON8x12}

func archKernels() []Kernel { return []Kernel{NEONKernel} }

var archKnown = []string{"neon"}
