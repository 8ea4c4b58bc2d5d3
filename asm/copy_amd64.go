//go:build amd64 && gc && !purego

package asm

import "golang.org/x/sys/cpu"

var hasAVX512Copy = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

//go:noescape
func packStrips16AVX512(dst []float32, ldd int, src []float32, lds int, rows, width, strips int)

func packStripsAsm(dst []float32, ldd int, src []float32, lds int, rows, width, strips int) bool {
	if !hasAVX512Copy {
		return false
	}
	packStrips16AVX512(dst, ldd, src, lds, rows, width, strips)
	return true
}
