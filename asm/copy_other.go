//go:build !amd64 || !gc || purego

package asm

func packStripsAsm(dst []float32, ldd int, src []float32, lds int, rows, width, strips int) bool {
	return false
}
