package gemm

import "testing"

// BenchmarkPackATrans packs a transposed A (stored K×M, M = 512) the way
// the TN weight-gradient shapes do; reports ns per float.
func BenchmarkPackATrans(b *testing.B) {
	const m, k, kc, mr = 512, 4096, 512, 6
	a := make([]float32, k*m)
	dst := make([]float32, (m+mr)*kc)
	for _, mu := range []int{90, 192} {
		b.Run("mu="+itoa(mu), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				for pc := 0; pc < k; pc += kc {
					for i0 := 0; i0 < m; i0 += mu {
						i1 := min(m, i0+mu)
						packA(dst[i0*kc:ceilDiv(i1, mr)*mr*kc], mr, i1-i0, kc, true, a, m, i0, pc)
					}
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N)/float64(m*k), "ns/float")
		})
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func BenchmarkCopy8MB(b *testing.B) {
	a := make([]float32, 2<<20)
	d := make([]float32, 2<<20)
	for i := 0; i < b.N; i++ {
		copy(d, a)
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N)/float64(len(a)), "ns/float")
}

// BenchmarkPackBTrans packs a transposed B (stored N×K, K = 512), as the NT
// shapes do; reports ns per float.
func BenchmarkPackBTrans(b *testing.B) {
	const n, k, nr = 4096, 512, 64
	src := make([]float32, n*k)
	dst := make([]float32, k*nr)
	for i := 0; i < b.N; i++ {
		for j0 := 0; j0 < n; j0 += nr {
			packB(dst, nr, nr, k, true, src, k, j0, 0)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N)/float64(n*k), "ns/float")
}

// BenchmarkPackBPlain packs a row-major B (stored K×N, N = 512) as the NN
// and TN shapes do; reports ns per float.
func BenchmarkPackBPlain(b *testing.B) {
	const n, k, nr = 512, 1024, 64
	src := make([]float32, n*k)
	dst := make([]float32, k*nr)
	for i := 0; i < b.N; i++ {
		for j0 := 0; j0 < n; j0 += nr {
			packB(dst, nr, nr, k, false, src, n, j0, 0)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N)/float64(n*k), "ns/float")
}
