//go:build !(amd64 || arm64) || !gc || purego

package asm

// No vector assembly in this build: vecLevel is always vecGo and the
// kernels below are never called.

func kSoftmax(l int, x []float32) bool                        { panic("asm: no vector kernels") }
func kMax(l int, x *float32, n int) float32                   { panic("asm: no vector kernels") }
func kSumExp(l int, x *float32, n int, sub float32) float32   { panic("asm: no vector kernels") }
func kExpStore(l int, x *float32, n int, sub float32) float32 { panic("asm: no vector kernels") }
func kAddScaledExp(l int, dst, x *float32, n int, sub, scale float32) {
	panic("asm: no vector kernels")
}
func kScale(l int, x *float32, n int, s float32)                   { panic("asm: no vector kernels") }
func kSwiGLU(l int, y, g, u *float32, n int)                       { panic("asm: no vector kernels") }
func kSwiGLUBwd(l int, dg, du, dy, g, u *float32, n int, mode int) { panic("asm: no vector kernels") }
func kAdamW(l int, w, g, m, v *float32, n int, c *adamConsts)      { panic("asm: no vector kernels") }
func kSumSq(l int, x *float32, n int) float32                      { panic("asm: no vector kernels") }
func kScaleMul(l int, y, x, w *float32, n int, s float32)          { panic("asm: no vector kernels") }
