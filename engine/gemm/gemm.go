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
//
// # Algorithm
//
// A BLIS-style blocked driver around the register-tile micro-kernel that
// chosen for this CPU (Chosen, tune.go: a table keyed by CPU vendor, family
// and model, else a measurement cached per machine; RELORA_KERNEL forces the
// kernel and RELORA_BLOCKS the blocks).
// For the MR×NR kernel the loops are, outermost first:
//
//	pc: the reduction in blocks of KC  (beta applies to the first block only)
//	    pack op(A)[:, pc:pc+KC] into MR-tall strips (parallel, shared, in L3)
//	    jc: columns of C in blocks of NC
//	        pack op(B)[pc:pc+KC, jc:jc+NC] into NR-wide strips (parallel,
//	        shared; the KC×NC block is sized for L2)
//	        parallel over units = row blocks of C (× column chunks when m
//	        is small):
//	          ir: MR rows (the MR×KC A strip stays in L1)
//	            jr: NR columns: one kernel call (one tile; assembly is not
//	                preempted, so the Go code does the looping)
//
// A row-major op(A) is read in place by kernels that can (asm.Kernel.TileA),
// and skinny products skip packing altogether: m ≤ MR with B not
// transposed (asm.Kernel.Sup), m ≤ 2·DotMR with B transposed and A not, as
// dot products (asm.Kernel.Dot); m = 1 decoding takes these paths. With a
// pool, products with one small dimension (at most 256) and one large (the
// rank-r products of a ReLoRA layer) take the skinny path (skinny.go): two
// pool barriers a call instead of two or three per block, and with the
// unpacked kernel (asm.Kernel.Sup) a row-major B and a transposed A are read
// in place. Otherwise both layouts of A and B are packed directly, so NN,
// NT, TN and TT cost the same. Edge tiles run the kernel into a small per-worker scratch tile and
// are merged into C with beta. Block sizes come with the kernel (Chosen);
// where the table leaves one unset it is derived from the cache sizes that
// klauspost/cpuid reports (with fallbacks); see deriveBlocks.
//
// # Memory and concurrency
//
// Every call takes a workspace (packed A and B blocks, per-worker scratch
// tiles, the pool tasks) from a process-wide free list and returns it
// at the end. Buffers grow on first use to the largest size needed and are
// then reused, so Sgemm allocates nothing in steady state. Concurrent calls
// (the training goroutine with the pool, and nil-pool calls from inside pool
// tasks, e.g. per attention head) each get their own workspace, so Sgemm is
// safe to call from any number of goroutines at once; the free list holds as
// many workspaces as the peak number of concurrent calls.
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
	}
	return ws
}

func putWorkspace(ws *workspace) {
	ws.a, ws.b, ws.c = nil, nil, nil // drop references to caller memory
	workspaces.Lock()
	workspaces.free = append(workspaces.free, ws)
	workspaces.Unlock()
}
