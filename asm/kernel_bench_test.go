package asm

import "testing"

// BenchmarkTile measures one kernel on cache-resident panels (k = 256),
// the ceiling the blocked driver can reach.
func BenchmarkTile(b *testing.B) {
	for _, kern := range Available() {
		b.Run(kern.Name, func(b *testing.B) {
			const k = 256
			a := make([]float32, k*kern.MR)
			bb := make([]float32, k*kern.NR)
			c := make([]float32, kern.MR*kern.NR)
			for i := range a {
				a[i] = 1e-3
			}
			for i := range bb {
				bb[i] = 1e-3
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				kern.Tile(k, a, bb, c, kern.NR, 1, 1)
			}
			b.ReportMetric(float64(2*k*kern.MR*kern.NR)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
