package gemm

// Ref is the plain triple-loop reference for Sgemm, with the same contract.
// It is the oracle every faster path is tested against; it never runs in
// training.
func Ref(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			ci := i*ldc + j
			if beta == 0 {
				c[ci] = alpha * s
			} else {
				c[ci] = alpha*s + beta*c[ci]
			}
		}
	}
}
