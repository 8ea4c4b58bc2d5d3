package gemm

import (
	"sync"

	"github.com/relora-go/relora-go/asm"
	"github.com/relora-go/relora-go/engine/sched"
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C, split over the pool (a nil
// pool runs on the caller). It allocates nothing in steady state and may be
// called concurrently, including with a nil pool from inside pool tasks.
func Sgemm(pool *sched.Pool, transA, transB bool, m, n, k int, alpha float32,
	a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmKernel(Chosen().Kernel, pool, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmKernel is Sgemm with an explicit micro-kernel (one of
// asm.Available()), for benchmarks and tests that compare kernels.
func SgemmKernel(kern asm.Kernel, pool *sched.Pool, transA, transB bool, m, n, k int, alpha float32,
	a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if k <= 0 {
		scaleC(m, n, alpha, beta, c, ldc)
		return
	}
	ws := getWorkspace()
	ws.run(kern, blocksFor(kern), pool, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	putWorkspace(ws)
}

// checkArgs panics, as BLAS's xerbla would, on leading dimensions or slice
// lengths that do not fit the shape.
func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	switch {
	case k > 0 && (lda < ac || len(a) < (ar-1)*lda+ac):
		panic("gemm: A too short for its shape and lda")
	case k > 0 && (ldb < bc || len(b) < (br-1)*ldb+bc):
		panic("gemm: B too short for its shape and ldb")
	case ldc < n || len(c) < (m-1)*ldc+n:
		panic("gemm: C too short for its shape and ldc")
	}
}

// scaleC is the k == 0 case: C = alpha·0 + beta·C, written as Ref does.
func scaleC(m, n int, alpha, beta float32, c []float32, ldc int) {
	var s float32
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			if beta == 0 {
				row[j] = alpha * s
			} else {
				row[j] = alpha*s + beta*row[j]
			}
		}
	}
}

// workspaces is the free list of per-call workspaces.
var workspaces struct {
	sync.Mutex
	free []*workspace
}

func getWorkspace() *workspace {
	workspaces.Lock()
	var ws *workspace
	if n := len(workspaces.free); n > 0 {
		ws = workspaces.free[n-1]
		workspaces.free[n-1] = nil
		workspaces.free = workspaces.free[:n-1]
	}
	workspaces.Unlock()
	if ws == nil {
		ws = new(workspace)
		ws.packA.ws = ws
		ws.packB.ws = ws
		ws.sup.ws = ws
		ws.dot.ws = ws
		ws.compute.ws = ws
		ws.skPack.ws = ws
		ws.skComp.ws = ws
		ws.ownPack.ws = ws
		ws.ownComp.ws = ws
	}
	return ws
}

func putWorkspace(ws *workspace) {
	ws.a, ws.b, ws.c = nil, nil, nil // drop references to caller memory
	workspaces.Lock()
	workspaces.free = append(workspaces.free, ws)
	workspaces.Unlock()
}
