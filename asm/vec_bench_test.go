package asm

import (
	"math/rand"
	"testing"
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

func benchData(n int, scale float64) []float32 {
	return randSlice(rand.New(rand.NewSource(int64(n))), n, scale)
}

func BenchmarkVecMaxSumExp32000(b *testing.B) {
	x := benchData(32000, 3)
	benchVec(b, len(x), func() { RefMaxSumExp(x) }, func() { MaxSumExp(x) })
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
	benchVec(b, len(x), func() { RefSumSquares(x) }, func() { SumSquares(x) })
}

func BenchmarkVecScaleMul(b *testing.B) {
	n := 1024
	x, w, y := benchData(n, 1), benchData(n+1, 1)[:n], make([]float32, n)
	benchVec(b, n, func() { RefScaleMul(y, x, w, 0.7) }, func() { ScaleMul(y, x, w, 0.7) })
}
