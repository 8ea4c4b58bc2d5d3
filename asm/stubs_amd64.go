//go:build amd64 && gc && !purego

package asm

// The assembly kernels (sgemm_avx512_amd64.s, sgemm_avx2_amd64.s) have the
// TileFunc signature and trust their arguments; the Go wrappers below check
// the slice lengths once per tile (a few nanoseconds against microseconds of
// work) so that a driver bug panics instead of corrupting memory.

//go:noescape
func sgemmAVX512x6x64(k int, a, b []float32, c []float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmAVX512x12x32(k int, a, b []float32, c []float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmAVX2x6x16(k int, a, b []float32, c []float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmAVX512x6x64A(k int, a []float32, lda int, b []float32, c []float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmAVX2x6x16A(k int, a []float32, lda int, b []float32, c []float32, ldc int, alpha, beta float32)

func tileAVX512x6x64A(k int, a []float32, lda int, b []float32, c []float32, ldc int, alpha, beta float32) {
	checkTileA(6, 64, k, a, lda, b, c, ldc)
	sgemmAVX512x6x64A(k, a, lda, b, c, ldc, alpha, beta)
}

func tileAVX2x6x16A(k int, a []float32, lda int, b []float32, c []float32, ldc int, alpha, beta float32) {
	checkTileA(6, 16, k, a, lda, b, c, ldc)
	sgemmAVX2x6x16A(k, a, lda, b, c, ldc, alpha, beta)
}

func tileAVX512x6x64(k int, a, b []float32, c []float32, ldc int, alpha, beta float32) {
	checkTile(6, 64, k, a, b, c, ldc)
	sgemmAVX512x6x64(k, a, b, c, ldc, alpha, beta)
}

func tileAVX512x12x32(k int, a, b []float32, c []float32, ldc int, alpha, beta float32) {
	checkTile(12, 32, k, a, b, c, ldc)
	sgemmAVX512x12x32(k, a, b, c, ldc, alpha, beta)
}

func tileAVX2x6x16(k int, a, b []float32, c []float32, ldc int, alpha, beta float32) {
	checkTile(6, 16, k, a, b, c, ldc)
	sgemmAVX2x6x16(k, a, b, c, ldc, alpha, beta)
}
