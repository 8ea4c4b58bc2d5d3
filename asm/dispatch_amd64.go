//go:build amd64 && gc && !purego

package asm

import "golang.org/x/sys/cpu"

// AVX512Kernel is the AVX-512 6×64 row-oriented tile (24 zmm accumulators).
var AVX512Kernel = Kernel{Name: "avx512", MR: 6, NR: 64, Tile: tileAVX512x6x64, TileA: tileAVX512x6x64A,
	Sup: supTileAVX512, Dot: dotTileAVX512, DotMR: 3}

// AVX512x12x32Kernel is the alternative 12×32 AVX-512 tile, kept for
// benchmarks (RELORA_KERNEL=avx512-12x32); avx512 is the default.
var AVX512x12x32Kernel = Kernel{Name: "avx512-12x32", MR: 12, NR: 32, Tile: tileAVX512x12x32}

// AVX2Kernel is the AVX2+FMA 6×16 tile (12 ymm accumulators, BLIS haswell).
var AVX2Kernel = Kernel{Name: "avx2", MR: 6, NR: 16, Tile: tileAVX2x6x16, TileA: tileAVX2x6x16A}

// archKernels lists the SIMD kernels this CPU runs, best first.
func archKernels() []Kernel {
	var ks []Kernel
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL {
		ks = append(ks, AVX512Kernel, AVX512x12x32Kernel)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, AVX2Kernel)
	}
	return ks
}

// archKnown lists every SIMD kernel name this build has, available or not.
var archKnown = []string{"avx512", "avx512-12x32", "avx2"}
