package asm

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"testing"
	"time"
)

// Benchmarks report ns/element (ns/op divided by the length) for the
// reference and for every level: go test ./asm -run ^$ -bench Vec
//
// Lengths: 32000 (a vocabulary row), 256 (an attention row), 1<<15 (an
// elementwise/optimizer piece).

func benchVec(b *testing.B, n int, ref func(), kernel func()) {
	report := func(b *testing.B, f func()) {
		b.SetBytes(int64(4 * n))
		for b.Loop() {
			f()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/elem")
	}
	b.Run("ref", func(b *testing.B) { report(b, ref) })
	for _, l := range vecLevels() {
		b.Run(vecNames[l], func(b *testing.B) {
			saved := vecLevel
			vecLevel = l
			defer func() { vecLevel = saved }()
			report(b, kernel)
		})
	}
}

var (
	sinkF32 float32
	sinkF64 float64
)

func benchData(n int, scale float64) []float32 {
	return randSlice(rand.New(rand.NewSource(int64(n))), n, scale)
}

func BenchmarkVecMaxSumExp32000(b *testing.B) {
	x := benchData(32000, 3)
	benchVec(b, len(x), func() { sinkF32, _ = RefMaxSumExp(x) }, func() { sinkF32, _ = MaxSumExp(x) })
}

func BenchmarkVecAddScaledExp32000(b *testing.B) {
	x, d := benchData(32000, 3), make([]float32, 32000)
	benchVec(b, len(x), func() { RefAddScaledExp(d, x, 5, 1e-3) }, func() { AddScaledExp(d, x, 5, 1e-3) })
}

func BenchmarkVecSoftmax256(b *testing.B) {
	x0 := benchData(256, 2)
	x := make([]float32, len(x0))
	benchVec(b, len(x), func() { copy(x, x0); RefSoftmaxInPlace(x) }, func() { copy(x, x0); SoftmaxInPlace(x) })
}

// BenchmarkVecSoftmaxCausal256 is a causal attention block: rows of length
// 1..256 (ns/elem over the 32896 elements).
func BenchmarkVecSoftmaxCausal256(b *testing.B) {
	const T = 256
	x0 := benchData(T, 2)
	x := make([]float32, T)
	rows := func(f func([]float32)) func() {
		return func() {
			for t := 1; t <= T; t++ {
				copy(x[:t], x0)
				f(x[:t])
			}
		}
	}
	benchVec(b, T*(T+1)/2, rows(RefSoftmaxInPlace), rows(SoftmaxInPlace))
}

func BenchmarkVecSwiGLU(b *testing.B) {
	n := 1 << 15
	g, u, y := benchData(n, 3), benchData(n+1, 1)[:n], make([]float32, n)
	benchVec(b, n, func() { RefSwiGLU(y, g, u) }, func() { SwiGLU(y, g, u) })
}

func BenchmarkVecSwiGLUBackward(b *testing.B) {
	n := 1 << 15
	g, u, dy := benchData(n, 3), benchData(n+1, 1)[:n], benchData(n+2, 1)[:n]
	dg, du := make([]float32, n), make([]float32, n)
	benchVec(b, n, func() { RefSwiGLUBackward(dg, du, dy, g, u) }, func() { SwiGLUBackward(dg, du, dy, g, u) })
}

func BenchmarkVecAdamW(b *testing.B) {
	n := 1 << 15
	w, g, m := benchData(n, 0.05), benchData(n+1, 0.01)[:n], make([]float32, n)
	v := make([]float32, n)
	p := AdamWParams{0.9, 0.999, 0.99997, 3e-4, 0.03, 1e-8, 1}
	benchVec(b, n, func() { RefAdamW(w, g, m, v, p) }, func() { AdamW(w, g, m, v, p) })
}

func BenchmarkVecSumSquares(b *testing.B) {
	x := benchData(1<<15, 1)
	benchVec(b, len(x), func() { sinkF64 = RefSumSquares(x) }, func() { sinkF64 = SumSquares(x) })
}

func BenchmarkVecScaleMul(b *testing.B) {
	n := 1024
	x, w, y := benchData(n, 1), benchData(n+1, 1)[:n], make([]float32, n)
	benchVec(b, n, func() { RefScaleMul(y, x, w, 0.7) }, func() { ScaleMul(y, x, w, 0.7) })
}

func minTime(n int, f func()) float64 {
	best := math.Inf(1)
	for range 400 {
		t0 := time.Now()
		f()
		best = min(best, float64(time.Since(t0).Nanoseconds()))
	}
	return best / float64(n)
}

// TestVecTimingTable prints ns/element of every kernel (reference and each
// level) as the minimum over 400 calls, which stays stable on a loaded
// machine where the benchmarks' means do not:
//
//	RELORA_VEC_TABLE=1 go test ./asm -run VecTimingTable -v
func TestVecTimingTable(t *testing.T) {
	if os.Getenv("RELORA_VEC_TABLE") == "" {
		t.Skip("RELORA_VEC_TABLE not set")
	}
	type bench struct {
		name      string
		n         int
		ref, kern func()
	}
	x32k := benchData(32000, 3)
	d32k := make([]float32, 32000)
	x256 := benchData(256, 2)
	r := make([]float32, 256)
	const T = 256
	n := 1 << 15
	g, u, dy := benchData(n, 3), benchData(n+1, 1)[:n], benchData(n+2, 1)[:n]
	y, dg, du := make([]float32, n), make([]float32, n), make([]float32, n)
	w, gg, m, v := benchData(n, 0.05), benchData(n+1, 0.01)[:n], make([]float32, n), make([]float32, n)
	p := AdamWParams{0.9, 0.999, 0.99997, 3e-4, 0.03, 1e-8, 1}
	x1k, w1k, y1k := benchData(1024, 1), benchData(1025, 1)[:1024], make([]float32, 1024)
	xs := benchData(4096, 3)
	ys := make([]float32, 4096)
	causal := func(f func([]float32)) func() {
		return func() {
			for t := 1; t <= T; t++ {
				copy(r[:t], x256)
				f(r[:t])
			}
		}
	}
	bs := []bench{
		{"exp (scalar: math.Exp vs goExp)", 4096, func() {
			for i, v := range xs {
				ys[i] = float32(math.Exp(float64(v)))
			}
		}, func() {
			for i, v := range xs {
				ys[i] = goExp(v)
			}
		}},
		{"MaxSumExp n=32000", 32000, func() { sinkF32, _ = RefMaxSumExp(x32k) }, func() { sinkF32, _ = MaxSumExp(x32k) }},
		{"AddScaledExp n=32000", 32000, func() { RefAddScaledExp(d32k, x32k, 5, 1e-3) }, func() { AddScaledExp(d32k, x32k, 5, 1e-3) }},
		{"Softmax n=256 (+copy)", 256, func() { copy(r, x256); RefSoftmaxInPlace(r) }, func() { copy(r, x256); SoftmaxInPlace(r) }},
		{"Softmax causal 256 rows", T * (T + 1) / 2, causal(RefSoftmaxInPlace), causal(SoftmaxInPlace)},
		{"SwiGLU n=32768", n, func() { RefSwiGLU(y, g, u) }, func() { SwiGLU(y, g, u) }},
		{"SwiGLUBackward n=32768", n, func() { RefSwiGLUBackward(dg, du, dy, g, u) }, func() { SwiGLUBackward(dg, du, dy, g, u) }},
		{"AdamW n=32768", n, func() { RefAdamW(w, gg, m, v, p) }, func() { AdamW(w, gg, m, v, p) }},
		{"SumSquares n=32768", n, func() { sinkF64 = RefSumSquares(g) }, func() { sinkF64 = SumSquares(g) }},
		{"ScaleMul n=1024", 1024, func() { RefScaleMul(y1k, x1k, w1k, 0.7) }, func() { ScaleMul(y1k, x1k, w1k, 0.7) }},
	}
	fmt.Printf("%-34s %8s", "ns/element (min of 400)", "ref")
	for _, l := range vecLevels() {
		fmt.Printf(" %8s", vecNames[l])
	}
	fmt.Println()
	for _, b := range bs {
		fmt.Printf("%-34s %8.3f", b.name, minTime(b.n, b.ref))
		for _, l := range vecLevels() {
			saved := vecLevel
			vecLevel = l
			fmt.Printf(" %8.3f", minTime(b.n, b.kern))
			vecLevel = saved
		}
		fmt.Println()
	}
}
