//go:build arm64 && gc && !purego

package asm

// Vector kernels in vec_arm64.s. Each handles n elements, n a positive
// multiple of its vector width (4), and trusts its
// pointers; the wrappers in vec.go bound n and handle tails.

//go:noescape
func vecMaxNEON(x *float32, n int) float32

//go:noescape
func vecSumExpNEON(x *float32, n int, sub float32) float32

//go:noescape
func vecExpStoreNEON(x *float32, n int, sub float32) float32

//go:noescape
func vecAddScaledExpNEON(dst, x *float32, n int, sub, scale float32)

//go:noescape
func vecScaleNEON(x *float32, n int, s float32)

//go:noescape
func vecSwiGLUNEON(y, gate, u *float32, n int)

//go:noescape
func vecSwiGLUBwdNEON(dg, du, dy, gate, u *float32, n int, mode int)

//go:noescape
func vecAdamWNEON(w, grad, m, v *float32, n int, c *adamConsts)

//go:noescape
func vecSumSqNEON(x *float32, n int) float32

//go:noescape
func vecScaleMulNEON(y, x, w *float32, n int, s float32)

func kSoftmax(l int, x []float32) bool { return false } // no fused NEON softmax

func kMax(l int, x *float32, n int) float32                   { return vecMaxNEON(x, n) }
func kSumExp(l int, x *float32, n int, sub float32) float32   { return vecSumExpNEON(x, n, sub) }
func kExpStore(l int, x *float32, n int, sub float32) float32 { return vecExpStoreNEON(x, n, sub) }
func kAddScaledExp(l int, dst, x *float32, n int, sub, scale float32) {
	vecAddScaledExpNEON(dst, x, n, sub, scale)
}
func kScale(l int, x *float32, n int, s float32) { vecScaleNEON(x, n, s) }
func kSwiGLU(l int, y, g, u *float32, n int)     { vecSwiGLUNEON(y, g, u, n) }
func kSwiGLUBwd(l int, dg, du, dy, g, u *float32, n int, mode int) {
	vecSwiGLUBwdNEON(dg, du, dy, g, u, n, mode)
}
func kAdamW(l int, w, g, m, v *float32, n int, c *adamConsts) { vecAdamWNEON(w, g, m, v, n, c) }
func kSumSq(l int, x *float32, n int) float32                 { return vecSumSqNEON(x, n) }
func kScaleMul(l int, y, x, w *float32, n int, s float32)     { vecScaleMulNEON(y, x, w, n, s) }
