//go:build !amd64 || !gc || purego

package asm

func copyRowsAsm(dst []float32, ldd int, src []float32, lds int, rows, width int) bool { return false }

func packStripsAsm(dst []float32, ldd int, src []float32, lds int, rows, width, strips int) bool {
	return false
}
