// Package gemm is the engine's single-precision matrix multiply:
//
//	C = alpha·op(A)·op(B) + beta·C
//
// with row-major storage, op(X) = X or Xᵀ chosen by a flag (a transpose is
// never materialised), leading dimensions for strided views, and beta = 1
// giving the accumulate form C += A·B that backward passes use. beta == 0
// means C is write-only (NaN or Inf already in C does not propagate), as in
// BLAS.
//
// op(A) is m×k: A is stored m×k (lda ≥ k) or, with transA, k×m (lda ≥ m).
// op(B) is k×n: B is stored k×n (ldb ≥ n) or, with transB, n×k (ldb ≥ k).
package gemm

import "github.com/relora-go/relora-go/engine/sched"

// Sgemm computes C = alpha·op(A)·op(B) + beta·C, split over the pool (a nil
// pool runs on the caller). It allocates nothing.
func Sgemm(pool *sched.Pool, transA, transB bool, m, n, k int, alpha float32,
	a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	// Placeholder until the blocked driver lands: row-parallel reference.
	if m == 0 || n == 0 {
		return
	}
	Ref(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
