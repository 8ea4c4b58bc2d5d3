package asm

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// TestSup checks every kernel's Sup (small, unpacked) tile against RefSup
// for every row count, ragged column counts, both A layouts, guard words
// around every buffer and NaN/Inf propagation.
func TestSup(t *testing.T) {
	const eps = 1.0 / (1 << 23)
	for _, kern := range Available() {
		if kern.Sup == nil {
			continue
		}
		rng := rand.New(rand.NewSource(11))
		for m := 0; m <= kern.MR; m++ {
			for _, n := range []int{0, 1, 5, 16, 17, 33, kern.NR - 1, kern.NR} {
				for _, k := range []int{0, 1, 7, 8, 255, 257} {
					for _, transA := range []bool{false, true} {
						for ci, cfg := range [][2]float32{{1, 0}, {-0.5, 1}, {0, -0.5}, {1.75, 0}} {
							alpha, beta := cfg[0], cfg[1]
							special := []string{"", "nanA", "infB", "nanC"}[(m+n+k+ci)%4]
							name := fmt.Sprintf("%s/m=%d/n=%d/k=%d/transA=%v/alpha=%g/beta=%g/%s", kern.Name, m, n, k, transA, alpha, beta, special)
							rsA, csA, lda := k+3, 1, k+3
							if transA {
								lda = m + 2
								rsA, csA = 1, lda
							}
							ldb, ldc := n+4, n+1
							aLen, bLen, cLen := 0, 0, 0
							if m > 0 && k > 0 {
								aLen = (m-1)*rsA + (k-1)*csA + 1
							}
							if k > 0 && n > 0 {
								bLen = (k-1)*ldb + n
							}
							if m > 0 && n > 0 {
								cLen = (m-1)*ldc + n
							}
							aAll, a := guarded(aLen, 3.5)
							bAll, b := guarded(bLen, -3.5)
							cAll, c := guarded(cLen, 7.5)
							for _, x := range [][]float32{a, b, c} {
								for i := range x {
									x[i] = rng.Float32()*2 - 1
								}
							}
							switch {
							case special == "nanA" && len(a) > 0:
								a[rng.Intn(len(a))] = float32(math.NaN())
							case special == "infB" && len(b) > 0:
								b[rng.Intn(len(b))] = float32(math.Inf(1))
							case special == "nanC":
								for i := range c {
									c[i] = float32(math.NaN())
								}
							}
							cIn := append([]float32(nil), c...)
							want := append([]float32(nil), c...)
							RefSup(m, n, k, a, rsA, csA, b, ldb, want, ldc, alpha, beta)
							kern.Sup(m, n, k, a, rsA, csA, b, ldb, c, ldc, alpha, beta)
							checkGuards(t, name+" a", aAll, 3.5)
							checkGuards(t, name+" b", bAll, -3.5)
							checkGuards(t, name+" c", cAll, 7.5)
							for i := 0; i < m; i++ {
								for j := 0; j < ldc && i*ldc+j < len(c); j++ {
									idx := i*ldc + j
									if j >= n {
										if math.Float32bits(c[idx]) != math.Float32bits(cIn[idx]) {
											t.Fatalf("%s: wrote C[%d][%d] outside the tile", name, i, j)
										}
										continue
									}
									var mag float64
									for p := 0; p < k; p++ {
										mag += math.Abs(float64(a[i*rsA+p*csA] * b[p*ldb+j]))
									}
									tol := float64(k+2)*eps*mag*math.Abs(float64(alpha)) + 1e-30
									if beta != 0 {
										tol += 4 * eps * math.Abs(float64(beta*cIn[idx]))
									}
									if !closeTo(c[idx], want[idx], tol) {
										t.Fatalf("%s: C[%d][%d] = %v, want %v", name, i, j, c[idx], want[idx])
									}
								}
							}
						}
					}
				}
			}
		}
	}
}
