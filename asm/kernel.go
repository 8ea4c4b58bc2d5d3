package asm

// TileFunc computes one MR×NR tile of C from packed panels:
//
//	C[i*ldc+j] = alpha·Σ_p a[p*MR+i]·b[p*NR+j] + beta·C[i*ldc+j]
//
// for i < MR, j < NR, p < k. a holds k·MR floats (column p of the A panel is
// MR contiguous values), b holds k·NR floats (row p of the B panel is NR
// contiguous values). beta == 0 means C is not read. k may be 0.
type TileFunc func(k int, a, b []float32, c []float32, ldc int, alpha, beta float32)

// DirectTileFunc is a TileFunc that reads A in place from a row-major
// matrix instead of a packed panel: value (i, p) of the A tile is
// a[i*lda+p]. It saves packing when op(A) is not transposed.
type DirectTileFunc func(k int, a []float32, lda int, b []float32, c []float32, ldc int, alpha, beta float32)

// Kernel is one GEMM micro-kernel and the register tile it computes.
type Kernel struct {
	Name   string // "go", "avx2", "avx512", "neon"
	MR, NR int
	Tile   TileFunc
	// TileA, when not nil, is the same tile with A read in place.
	TileA DirectTileFunc
	// Sup, when not nil, computes a partial tile (m ≤ MR, n ≤ NR) with A
	// and B read in place; GEMM uses it for skinny m (e.g. m = 1).
	Sup SupFunc
	// Dot, when not nil, computes a partial tile with B transposed (op(B) =
	// Bᵀ, B stored n×k) as dot products, both operands read in place; m ≤
	// DotMR, n ≤ NR. GEMM uses it for skinny m with a transposed B.
	Dot   DotFunc
	DotMR int
}

// DotFunc computes an m×n tile of C = alpha·A·Bᵀ + beta·C with A stored
// m×k and B stored n×k, read in place:
//
//	C[i*ldc+j] = alpha·Σ_p a[i*lda+p]·b[j*ldb+p] + beta·C[i*ldc+j]
//
// beta == 0 means C is not read.
type DotFunc func(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32)

// RefDot is the reference for every DotFunc.
func RefDot(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				s += a[i*lda+p] * b[j*ldb+p]
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// SupFunc computes an m×n tile (m ≤ MR, n ≤ NR) with both operands read in
// place from strided storage, no packing:
//
//	C[i*ldc+j] = alpha·Σ_p a[i*rsA+p*csA]·b[p*ldb+j] + beta·C[i*ldc+j]
//
// for i < m, j < n, p < k. beta == 0 means C is not read.
type SupFunc func(m, n, k int, a []float32, rsA, csA int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32)

// RefSup is the reference for every SupFunc.
func RefSup(m, n, k int, a []float32, rsA, csA int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				s += a[i*rsA+p*csA] * b[p*ldb+j]
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// GoKernel is the portable pure-Go kernel, used when no SIMD level is
// available or RELORA_KERNEL=go forces it.
var GoKernel = Kernel{Name: "go", MR: 4, NR: 4, Tile: tileGo4x4}

// RefTile is the reference for every TileFunc, for any MR×NR.
func RefTile(mr, nr, k int, a, b []float32, c []float32, ldc int, alpha, beta float32) {
	for i := 0; i < mr; i++ {
		for j := 0; j < nr; j++ {
			var s float32
			for p := 0; p < k; p++ {
				s += a[p*mr+i] * b[p*nr+j]
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// RefTileDirect is the reference for every DirectTileFunc.
func RefTileDirect(mr, nr, k int, a []float32, lda int, b []float32, c []float32, ldc int, alpha, beta float32) {
	for i := 0; i < mr; i++ {
		for j := 0; j < nr; j++ {
			var s float32
			for p := 0; p < k; p++ {
				s += a[i*lda+p] * b[p*nr+j]
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// tileGo4x4 keeps the 16 accumulators in registers.
func tileGo4x4(k int, a, b []float32, c []float32, ldc int, alpha, beta float32) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	checkTile(4, 4, k, a, b, c, ldc)
	a = a[:4*k]
	b = b[:4*k]
	for p := 0; p+3 < len(a) && p+3 < len(b); p += 4 {
		a0, a1, a2, a3 := a[p], a[p+1], a[p+2], a[p+3]
		b0, b1, b2, b3 := b[p], b[p+1], b[p+2], b[p+3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	store4(c[0*ldc:0*ldc+4], c00, c01, c02, c03, alpha, beta)
	store4(c[1*ldc:1*ldc+4], c10, c11, c12, c13, alpha, beta)
	store4(c[2*ldc:2*ldc+4], c20, c21, c22, c23, alpha, beta)
	store4(c[3*ldc:3*ldc+4], c30, c31, c32, c33, alpha, beta)
}

func store4(c []float32, s0, s1, s2, s3, alpha, beta float32) {
	if beta == 0 {
		c[0], c[1], c[2], c[3] = alpha*s0, alpha*s1, alpha*s2, alpha*s3
		return
	}
	c[0] = alpha*s0 + beta*c[0]
	c[1] = alpha*s1 + beta*c[1]
	c[2] = alpha*s2 + beta*c[2]
	c[3] = alpha*s3 + beta*c[3]
}
