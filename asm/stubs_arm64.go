//go:build arm64 && gc && !purego

package asm

//go:noescape
func sgemmNEONx8x12(k int, a, b []float32, c []float32, ldc int, alpha, beta float32)

// tileNEON8x12 checks the slice lengths once per tile, then runs the
// assembly (sgemm_neon_arm64.s), which trusts its arguments.
func tileNEON8x12(k int, a, b []float32, c []float32, ldc int, alpha, beta float32) {
	checkTile(8, 12, k, a, b, c, ldc)
	sgemmNEONx8x12(k, a, b, c, ldc, alpha, beta)
}
