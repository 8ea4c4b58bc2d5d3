package asm

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"testing"
)

// EnvExpectKernel names the kernel CI expects dispatch to select on the CPU
// it runs on (e.g. avx2 under qemu-x86_64 -cpu Haswell, neon under
// qemu-aarch64), so a silent fall-back to a lower level fails the build.
const EnvExpectKernel = "RELORA_EXPECT_KERNEL"

func TestExpectedKernelSelected(t *testing.T) {
	want := os.Getenv(EnvExpectKernel)
	if want == "" {
		t.Skipf("%s not set", EnvExpectKernel)
	}
	if got := Selected().Name; got != want {
		t.Fatalf("selected kernel %q, %s=%q (available: %v, selection error: %v)",
			got, EnvExpectKernel, want, names(Available()), SelectionError())
	}
}

func names(ks []Kernel) []string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = k.Name
	}
	return s
}

func TestDispatch(t *testing.T) {
	av := Available()
	if len(av) == 0 || av[len(av)-1].Name != "go" {
		t.Fatalf("Available() = %v, want GoKernel last", names(av))
	}
	for _, k := range av {
		got, err := ByName(k.Name)
		if err != nil || got.Name != k.Name || got.MR != k.MR || got.NR != k.NR {
			t.Errorf("ByName(%q) = %v, %v", k.Name, got.Name, err)
		}
	}
	if _, err := ByName("no-such-kernel"); err == nil {
		t.Error("ByName of an unknown name did not fail")
	}
	if env := os.Getenv(EnvKernel); env == "" && Selected().Name != av[0].Name {
		t.Errorf("Selected() = %q, want the best available %q", Selected().Name, av[0].Name)
	} else if env != "" && SelectionError() == nil && Selected().Name != env {
		t.Errorf("%s=%s but Selected() = %q", EnvKernel, env, Selected().Name)
	}
	t.Logf("available %v, selected %q", names(av), Selected().Name)
}

const guard = 8 // guard floats on each side of every buffer

// guarded returns a buffer of n floats surrounded by guard sentinels, and
// the inner slice (with cap limited to n).
func guarded(n int, sentinel float32) (all, inner []float32) {
	all = make([]float32, n+2*guard)
	for i := range all {
		all[i] = sentinel
	}
	return all, all[guard : guard+n : guard+n]
}

func checkGuards(t *testing.T, what string, all []float32, sentinel float32) {
	t.Helper()
	n := len(all) - 2*guard
	for i := 0; i < guard; i++ {
		if math.Float32bits(all[i]) != math.Float32bits(sentinel) ||
			math.Float32bits(all[guard+n+i]) != math.Float32bits(sentinel) {
			t.Fatalf("%s: guard word overwritten", what)
		}
	}
}

// close reports whether got matches want within tol, treating NaN as equal
// to NaN and infinities as equal to the same infinity.
func closeTo(got, want float32, tol float64) bool {
	g, w := float64(got), float64(want)
	switch {
	case math.IsNaN(w):
		return math.IsNaN(g)
	case math.IsInf(w, 0):
		return g == w
	case math.IsNaN(g) || math.IsInf(g, 0):
		return false
	}
	return math.Abs(g-w) <= tol
}

// TestKernels runs every available kernel against RefTile.
func TestKernels(t *testing.T) {
	for _, kern := range Available() {
		t.Run(kern.Name, func(t *testing.T) { testKernel(t, kern) })
	}
}

func testKernel(t *testing.T, kern Kernel) {
	rng := rand.New(rand.NewSource(1))
	mr, nr := kern.MR, kern.NR
	for _, k := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 255, 257} {
		for _, ldc := range []int{nr, nr + 3} {
			for _, alpha := range []float32{0, 1, -0.5, 1.75} {
				for _, beta := range []float32{0, 1, -0.5} {
					for _, special := range []string{"", "nanA", "infB", "nanC"} {
						name := fmt.Sprintf("k=%d/ldc=%d/alpha=%g/beta=%g/%s", k, ldc, alpha, beta, special)
						aAll, a := guarded(k*mr, 1234.5)
						bAll, b := guarded(k*nr, -4321.5)
						cn := (mr-1)*ldc + nr
						cAll, c := guarded(cn, 777)
						for i := range a {
							a[i] = rng.Float32()*2 - 1
						}
						for i := range b {
							b[i] = rng.Float32()*2 - 1
						}
						for i := range c {
							c[i] = rng.Float32()*2 - 1
						}
						switch special {
						case "nanA":
							if k > 0 {
								a[rng.Intn(len(a))] = float32(math.NaN())
							}
						case "infB":
							if k > 0 {
								b[rng.Intn(len(b))] = float32(math.Inf(1))
							}
						case "nanC":
							for i := range c {
								c[i] = float32(math.NaN())
							}
						}
						want := append([]float32(nil), c...)
						RefTile(mr, nr, k, a, b, want, ldc, alpha, beta)
						cIn := append([]float32(nil), c...)
						kern.Tile(k, a, b, c, ldc, alpha, beta)
						checkGuards(t, name+" a", aAll, 1234.5)
						checkGuards(t, name+" b", bAll, -4321.5)
						checkGuards(t, name+" c", cAll, 777)
						compareTile(t, name, mr, nr, k, a, b, c, cIn, want, ldc, alpha, beta)
						if kern.TileA == nil {
							continue
						}
						// The same tile with A read in place (row-major, padded rows).
						lda := k + 5
						dAll, d := guarded(max(0, (mr-1)*lda+k), 55.5)
						for i := 0; i < mr; i++ {
							for p := 0; p < k; p++ {
								d[i*lda+p] = a[p*mr+i]
							}
						}
						copy(c, cIn)
						kern.TileA(k, d, lda, b, c, ldc, alpha, beta)
						checkGuards(t, name+" direct a", dAll, 55.5)
						checkGuards(t, name+" direct c", cAll, 777)
						compareTile(t, name+" direct", mr, nr, k, a, b, c, cIn, want, ldc, alpha, beta)
					}
				}
			}
		}
	}
}

// compareTile checks c against want within the k·eps·Σ|a·b| tolerance, and
// that the gap between rows (ldc > nr) was not written.
func compareTile(t *testing.T, name string, mr, nr, k int, a, b, c, cIn, want []float32, ldc int, alpha, beta float32) {
	t.Helper()
	const eps = 1.0 / (1 << 23)
	cn := (mr-1)*ldc + nr
	for i := 0; i < mr; i++ {
		for j := 0; j < ldc; j++ {
			idx := i*ldc + j
			if idx >= cn {
				break
			}
			if j >= nr { // between rows: untouched
				if math.Float32bits(c[idx]) != math.Float32bits(cIn[idx]) {
					t.Fatalf("%s: wrote C[%d] outside the tile", name, idx)
				}
				continue
			}
			var mag float64
			for p := 0; p < k; p++ {
				mag += math.Abs(float64(a[p*mr+i] * b[p*nr+j]))
			}
			tol := float64(k+2)*eps*mag*math.Abs(float64(alpha)) + 1e-30
			if beta != 0 {
				tol += 4 * eps * math.Abs(float64(beta*cIn[idx]))
			}
			if !closeTo(c[idx], want[idx], tol) {
				t.Fatalf("%s: C[%d][%d] = %v, want %v (tol %g)", name, i, j, c[idx], want[idx], tol)
			}
		}
	}
}

// TestKernelShortSlices checks that a tile with too-short inputs panics
// instead of touching memory it does not own.
func TestKernelShortSlices(t *testing.T) {
	for _, kern := range Available() {
		k := 4
		a := make([]float32, k*kern.MR)
		b := make([]float32, k*kern.NR)
		c := make([]float32, kern.MR*kern.NR)
		for _, bad := range []func(){
			func() { kern.Tile(k, a[:len(a)-1], b, c, kern.NR, 1, 0) },
			func() { kern.Tile(k, a, b[:len(b)-1], c, kern.NR, 1, 0) },
			func() { kern.Tile(k, a, b, c[:len(c)-1], kern.NR, 1, 0) },
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s: short slice did not panic", kern.Name)
					}
				}()
				bad()
			}()
		}
	}
}
