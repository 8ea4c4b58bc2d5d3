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

// The AVX-512 small/unpacked kernels, one per row count (sgemm_avx512_amd64.s).

//go:noescape
func sgemmSupAVX512x1(k int, a []float32, rsA, csA int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, masks uint64)

//go:noescape
func sgemmSupAVX512x2(k int, a []float32, rsA, csA int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, masks uint64)

//go:noescape
func sgemmSupAVX512x3(k int, a []float32, rsA, csA int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, masks uint64)

//go:noescape
func sgemmSupAVX512x4(k int, a []float32, rsA, csA int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, masks uint64)

//go:noescape
func sgemmSupAVX512x5(k int, a []float32, rsA, csA int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, masks uint64)

//go:noescape
func sgemmSupAVX512x6(k int, a []float32, rsA, csA int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, masks uint64)

var supAVX512 = [...]func(k int, a []float32, rsA, csA int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, masks uint64){
	sgemmSupAVX512x1, sgemmSupAVX512x2, sgemmSupAVX512x3, sgemmSupAVX512x4, sgemmSupAVX512x5, sgemmSupAVX512x6,
}

func supTileAVX512(m, n, k int, a []float32, rsA, csA int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	checkSup(6, 64, m, n, k, a, rsA, csA, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	var masks uint64
	for v := 0; v < 4; v++ {
		lanes := min(16, max(0, n-16*v))
		masks |= uint64(1<<lanes-1) << (16 * v)
	}
	supAVX512[m-1](k, a, rsA, csA, b, ldb, c, ldc, alpha, beta, masks)
}

// The AVX-512 dot-product kernels for a transposed B (sgemm_avx512_amd64.s).

//go:noescape
func sgemmDotAVX512x1(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, groups int, kmask uint64)

//go:noescape
func sgemmDotAVX512x2(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, groups int, kmask uint64)

//go:noescape
func sgemmDotAVX512x3(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, groups int, kmask uint64)

var dotAVX512 = [...]func(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, groups int, kmask uint64){
	sgemmDotAVX512x1, sgemmDotAVX512x2, sgemmDotAVX512x3,
}

// dotTileAVX512 computes m (≤ 3) rows × n (≤ 64) columns of C = alpha·A·Bᵀ
// + beta·C, B stored n×k: groups of four columns in assembly, the last n%4
// columns in Go.
func dotTileAVX512(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	checkDot(3, 64, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if g := n / 4; g > 0 && k > 0 {
		kmask := uint64(1)<<(k%16) - 1
		dotAVX512[m-1](k, a, lda, b, ldb, c, ldc, alpha, beta, g, kmask)
	} else if g > 0 {
		RefDot(m, g*4, k, a, lda, b, ldb, c, ldc, alpha, beta)
	}
	if r := n % 4; r > 0 {
		j := n - r
		RefDot(m, r, k, a, lda, b[j*ldb:], ldb, c[j:], ldc, alpha, beta)
	}
}
