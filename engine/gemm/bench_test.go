package gemm

import (
	"flag"
	"fmt"
	"math/rand"
	"testing"

	"github.com/relora-go/relora-go/asm"
	"github.com/relora-go/relora-go/engine/gemm/gemmbench"
	"github.com/relora-go/relora-go/engine/sched"
)

func benchOperands(s gemmbench.Shape) (a, b, c []float32, lda, ldb, ldc int) {
	ta, tb := s.Trans()
	rng := rand.New(rand.NewSource(1))
	a = make([]float32, s.M*s.K)
	b = make([]float32, s.K*s.N)
	c = make([]float32, s.M*s.N)
	for _, x := range [][]float32{a, b, c} {
		for i := range x {
			x[i] = rng.Float32() - 0.5
		}
	}
	lda, ldb, ldc = s.K, s.N, s.N
	if ta {
		lda = s.M
	}
	if tb {
		ldb = s.K
	}
	return
}

var (
	flagNoDirect = flag.Bool("nodirect", false, "benchmarks: pack a row-major A instead of reading it in place")
	flagNoSup    = flag.Bool("nosup", false, "benchmarks: no unpacked path for skinny m")
	flagNoSkinny = flag.Bool("noskinny", false, "benchmarks: no skinny path (one dimension small) with a pool")
	flagNoSkSup  = flag.Bool("noskinnysup", false, "benchmarks: the skinny path packs both operands")
	flagNoOwned  = flag.Bool("noowned", false, "benchmarks: with a pool, the blocked driver's per-block barriers instead of the owner-computes path")
)

// BenchmarkSgemm reports GFLOP/s for the default shapes, 1 and 2 threads,
// with the selected kernel (RELORA_KERNEL picks another). Filter with e.g.
// -bench 'Sgemm/NN/4096x512x128/'.
func BenchmarkSgemm(b *testing.B) {
	kern := asm.Selected()
	noDirect, noOwned = *flagNoDirect, *flagNoOwned
	defer func() { noDirect, noOwned = false, false }()
	for _, s := range gemmbench.Shapes(nil) {
		benchShape(b, kern, s, 0)
	}
}

// BenchmarkSgemmSkinny covers m = 1 (decoding) and tiny m, which take the
// unpacked path where the kernel has one.
func BenchmarkSgemmSkinny(b *testing.B) {
	kern := asm.Selected()
	noSup = *flagNoSup
	defer func() { noSup = false }()
	for _, s := range []gemmbench.Shape{
		sh("NN", 1, 512, 4096), sh("NN", 1, 4096, 512), sh("NN", 4, 512, 1376), sh("TN", 1, 512, 512),
		sh("NT", 1, 512, 4096), sh("NN", 1, 512, 32000),
	} {
		benchShape(b, kern, s, 0)
	}
}

// BenchmarkSgemmLoRA covers the rank-128 products of a ReLoRA layer on the
// 60M shape (1024 tokens): dA and dB (TN), dU (NN, n = r), u (NT, n = r)
// and W_eff (NN, k = r). Filter with e.g. -bench 'SgemmLoRA/TN/'.
func BenchmarkSgemmLoRA(b *testing.B) {
	kern := asm.Selected()
	noSkinny, noSkinnySup = *flagNoSkinny, *flagNoSkSup
	defer func() { noSkinny, noSkinnySup = false, false }()
	for _, s := range []gemmbench.Shape{
		sh("TN", 128, 1024, 512), sh("TN", 128, 1024, 1376), sh("TN", 512, 1024, 128), sh("TN", 1376, 1024, 128),
		sh("TN", 512, 4096, 128), sh("TN", 128, 4096, 512),
		sh("NN", 1024, 512, 128), sh("NN", 1024, 1376, 128), sh("NN", 512, 128, 512), sh("NN", 1376, 128, 512), sh("NN", 512, 128, 1376),
		sh("NT", 1024, 512, 128), sh("NT", 1024, 1376, 128),
	} {
		benchShape(b, kern, s, 1) // accumulate, as the backward products do
	}
}

// sh is a benchmark case: C (m×n) = op(A)·op(B), k the reduction.
func sh(layout string, m, k, n int) gemmbench.Shape {
	return gemmbench.Shape{Layout: layout, M: m, K: k, N: n}
}

// benchShape runs one shape (C = A·B + beta·C) at 1 and 2 threads and
// reports GFLOP/s.
func benchShape(b *testing.B, kern asm.Kernel, s gemmbench.Shape, beta float32) {
	for _, threads := range []int{1, 2} {
		name := fmt.Sprintf("%s/%dx%dx%d/threads=%d", s.Layout, s.M, s.K, s.N, threads)
		b.Run(name, func(b *testing.B) {
			a, bb, c, lda, ldb, ldc := benchOperands(s)
			ta, tb := s.Trans()
			var pool *sched.Pool
			if threads > 1 {
				pool = sched.New(threads)
				defer pool.Close()
			}
			SgemmKernel(kern, pool, ta, tb, s.M, s.N, s.K, 1, a, lda, bb, ldb, beta, c, ldc)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				SgemmKernel(kern, pool, ta, tb, s.M, s.N, s.K, 1, a, lda, bb, ldb, beta, c, ldc)
			}
			b.ReportMetric(s.Flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
