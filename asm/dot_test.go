package asm

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// TestDot checks every kernel's Dot (transposed-B, unpacked) tile against
// RefDot: every row count, ragged n (groups of four and a tail) and k
// (masked 16-float tail), guard words, NaN/Inf propagation.
func TestDot(t *testing.T) {
	const eps = 1.0 / (1 << 23)
	for _, kern := range Available() {
		if kern.Dot == nil {
			continue
		}
		rng := rand.New(rand.NewSource(12))
		for m := 0; m <= kern.DotMR; m++ {
			for _, n := range []int{0, 1, 3, 4, 5, 8, 17, kern.NR - 1, kern.NR} {
				for _, k := range []int{0, 1, 7, 8, 15, 16, 17, 255, 257} {
					for ci, cfg := range [][2]float32{{1, 0}, {-0.5, 1}, {0, -0.5}, {1.75, 0}} {
						alpha, beta := cfg[0], cfg[1]
						special := []string{"", "nanA", "infB", "nanC"}[(m+n+k+ci)%4]
						name := fmt.Sprintf("%s/m=%d/n=%d/k=%d/alpha=%g/beta=%g/%s", kern.Name, m, n, k, alpha, beta, special)
						lda, ldb, ldc := k+1, k+3, n+2
						aAll, a := guarded(max(0, (m-1)*lda+k), 3.5)
						bAll, b := guarded(max(0, (n-1)*ldb+k), -3.5)
						cAll, c := guarded(max(0, (m-1)*ldc+n), 7.5)
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
						RefDot(m, n, k, a, lda, b, ldb, want, ldc, alpha, beta)
						kern.Dot(m, n, k, a, lda, b, ldb, c, ldc, alpha, beta)
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
									mag += math.Abs(float64(a[i*lda+p] * b[j*ldb+p]))
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
