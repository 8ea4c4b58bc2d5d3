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
// That is the order with one thread, and for a single (K block, N block).
// Otherwise, with a pool of several threads, the same tiles run on the
// owner-computes path (owned.go): the tile grid is cut
// into column units (× row groups where the columns are too few) that own
// their C entries over the whole reduction; op(A) is packed once for a group
// of K blocks, shared, and each unit packs its own KC×(its columns) block of
// op(B) into its worker's buffer, so a call has two pool barriers per group
// (one when A is read in place) and no packed B block is read across cores.
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
