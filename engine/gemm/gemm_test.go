package gemm

import (
	"fmt"
	"math"
	"math/rand"
	"sync"
	"testing"

	"github.com/relora-go/relora-go/asm"
	"github.com/relora-go/relora-go/engine/sched"
)

const guard = 8

func guarded(n int, sentinel float32) (all, inner []float32) {
	all = make([]float32, n+2*guard)
	for i := range all {
		all[i] = sentinel
	}
	return all, all[guard : guard+n : guard+n]
}

func guardsOK(all []float32, sentinel float32) bool {
	n := len(all) - 2*guard
	for i := 0; i < guard; i++ {
		if math.Float32bits(all[i]) != math.Float32bits(sentinel) ||
			math.Float32bits(all[guard+n+i]) != math.Float32bits(sentinel) {
			return false
		}
	}
	return true
}

type shape struct {
	transA, transB bool
	m, n, k        int
	pad            int // extra leading-dimension padding
}

func (s shape) String() string {
	l := [2]byte{'N', 'N'}
	if s.transA {
		l[0] = 'T'
	}
	if s.transB {
		l[1] = 'T'
	}
	return fmt.Sprintf("%s/m=%d/n=%d/k=%d/pad=%d", l[:], s.m, s.n, s.k, s.pad)
}

// operands builds A, B, C (with guards) for a shape.
type operands struct {
	a, b, c          []float32
	aAll, bAll, cAll []float32
	lda, ldb, ldc    int
}

func newOperands(rng *rand.Rand, s shape) *operands {
	o := &operands{}
	ar, ac := s.m, s.k
	if s.transA {
		ar, ac = s.k, s.m
	}
	br, bc := s.k, s.n
	if s.transB {
		br, bc = s.n, s.k
	}
	o.lda, o.ldb, o.ldc = ac+s.pad, bc+s.pad, s.n+s.pad
	o.aAll, o.a = guarded(max(0, (ar-1)*o.lda+ac), 1111)
	o.bAll, o.b = guarded(max(0, (br-1)*o.ldb+bc), 2222)
	o.cAll, o.c = guarded(max(0, (s.m-1)*o.ldc+s.n), 3333)
	for _, x := range [][]float32{o.a, o.b, o.c} {
		for i := range x {
			x[i] = rng.Float32()*2 - 1
		}
	}
	return o
}

func (o *operands) aAt(s shape, i, p int) float32 {
	if s.transA {
		return o.a[p*o.lda+i]
	}
	return o.a[i*o.lda+p]
}

func (o *operands) bAt(s shape, p, j int) float32 {
	if s.transB {
		return o.b[j*o.ldb+p]
	}
	return o.b[p*o.ldb+j]
}

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

// check runs fn (an Sgemm) and Ref on copies of the same operands and
// compares, with a tolerance of (k+2)·eps·Σ|a·b|·|alpha| + 4·eps·|beta·c|,
// guard words untouched and C's padding untouched.
func check(t *testing.T, rng *rand.Rand, s shape, alpha, beta float32, special string,
	fn func(s shape, alpha float32, o *operands, beta float32)) {
	t.Helper()
	o := newOperands(rng, s)
	switch special {
	case "nanA":
		if len(o.a) > 0 {
			o.a[rng.Intn(len(o.a))] = float32(math.NaN())
		}
	case "infB":
		if len(o.b) > 0 {
			o.b[rng.Intn(len(o.b))] = float32(math.Inf(-1))
		}
	case "nanC":
		for i := range o.c {
			o.c[i] = float32(math.NaN())
		}
	}
	want := append([]float32(nil), o.c...)
	cIn := append([]float32(nil), o.c...)
	Ref(s.transA, s.transB, s.m, s.n, s.k, alpha, o.a, o.lda, o.b, o.ldb, beta, want, o.ldc)
	fn(s, alpha, o, beta)
	if !guardsOK(o.aAll, 1111) || !guardsOK(o.bAll, 2222) || !guardsOK(o.cAll, 3333) {
		t.Fatalf("%v alpha=%g beta=%g %s: guard words overwritten", s, alpha, beta, special)
	}
	const eps = 1.0 / (1 << 23)
	for i := 0; i < s.m; i++ {
		for j := 0; j < o.ldc && i*o.ldc+j < len(o.c); j++ {
			idx := i*o.ldc + j
			if j >= s.n {
				if math.Float32bits(o.c[idx]) != math.Float32bits(cIn[idx]) {
					t.Fatalf("%v: wrote C padding at row %d col %d", s, i, j)
				}
				continue
			}
			var mag float64
			for p := 0; p < s.k; p++ {
				mag += math.Abs(float64(o.aAt(s, i, p)) * float64(o.bAt(s, p, j)))
			}
			tol := float64(s.k+2)*eps*mag*math.Abs(float64(alpha)) + 1e-30
			if beta != 0 {
				tol += 4 * eps * math.Abs(float64(beta)*float64(cIn[idx]))
			}
			if !closeTo(o.c[idx], want[idx], tol) {
				t.Fatalf("%v alpha=%g beta=%g %s: C[%d][%d] = %v, want %v (tol %g)",
					s, alpha, beta, special, i, j, o.c[idx], want[idx], tol)
			}
		}
	}
}

func raggedShapes(kern asm.Kernel) []shape {
	var out []shape
	mr, nr := kern.MR, kern.NR
	ms := []int{1, 2, mr - 1, mr, mr + 1, 2*mr + 3, 37}
	ns := []int{1, 3, nr - 1, nr, nr + 5, 2*nr + 7}
	if testing.Short() { // under qemu: still every path, fewer sizes
		ms = []int{1, mr - 1, mr + 1, 2*mr + 3}
		ns = []int{1, nr - 1, nr + 5}
	}
	ks := []int{0, 1, 7, 8, 255, 257}
	i := 0
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, m := range ms {
				for _, n := range ns {
					for _, k := range ks {
						if m <= 0 || n <= 0 {
							continue
						}
						i++
						out = append(out, shape{ta, tb, m, n, k, i % 3})
					}
				}
			}
		}
	}
	return out
}

var pool2 = sched.New(2)

func TestSgemmRagged(t *testing.T) {
	for _, kern := range asm.Available() {
		t.Run(kern.Name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(2))
			for si, s := range raggedShapes(kern) {
				for ai, alpha := range []float32{0, 1, -0.5} {
					for bi, beta := range []float32{0, 1, -0.5} {
						// Full alpha×beta grid on a third of the shapes, one
						// combination on the rest, to keep the test quick.
						if si%3 != 0 && (ai+bi+si)%3 != 0 {
							continue
						}
						var p *sched.Pool
						if (si+ai+bi)%2 == 0 {
							p = pool2
						}
						check(t, rng, s, alpha, beta, "", func(s shape, alpha float32, o *operands, beta float32) {
							SgemmKernel(kern, p, s.transA, s.transB, s.m, s.n, s.k, alpha, o.a, o.lda, o.b, o.ldb, beta, o.c, o.ldc)
						})
					}
				}
			}
		})
	}
}

func TestSgemmSpecialValues(t *testing.T) {
	for _, kern := range asm.Available() {
		t.Run(kern.Name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(3))
			for _, s := range []shape{
				{false, false, 7, 70, 9, 0}, {true, false, 13, 33, 257, 1},
				{false, true, 1, 129, 8, 2}, {true, true, 25, 5, 1, 0},
			} {
				for _, special := range []string{"nanA", "infB", "nanC"} {
					for _, alpha := range []float32{0, 1, -0.5} {
						for _, beta := range []float32{0, 1, -0.5} {
							check(t, rng, s, alpha, beta, special, func(s shape, alpha float32, o *operands, beta float32) {
								SgemmKernel(kern, pool2, s.transA, s.transB, s.m, s.n, s.k, alpha, o.a, o.lda, o.b, o.ldb, beta, o.c, o.ldc)
							})
						}
					}
				}
			}
		})
	}
}

// TestSgemmBlocked forces tiny cache blocks so that every blocking loop
// (several N blocks, several K blocks with beta on the first only, several
// row units, column chunks) runs on small matrices.
func TestSgemmBlocked(t *testing.T) {
	for _, nd := range []bool{false, true} {
		noDirect, noSup = nd, nd
		testSgemmBlocked(t)
	}
	noDirect, noSup = false, false
}

func testSgemmBlocked(t *testing.T) {
	for _, kern := range asm.Available() {
		t.Run(fmt.Sprintf("%s/noDirect=%v/noSup=%v", kern.Name, noDirect, noSup), func(t *testing.T) {
			for _, blk := range []blocking{{kc: 8, nc: kern.NR, mc: kern.MR}, {kc: 24, nc: 2 * kern.NR, mc: 3 * kern.MR}} {
				testBlocking = &blk
				rng := rand.New(rand.NewSource(4))
				for _, s := range []shape{
					{false, false, 50, 3*kern.NR + 5, 61, 1}, {true, false, 2*kern.MR + 1, 2 * kern.NR, 100, 0},
					{false, true, 3, 5*kern.NR - 1, 33, 2}, {true, true, 40, 40, 17, 3},
					{false, false, 1, 4*kern.NR + 1, 50, 0}, {true, false, 3, 2*kern.NR + 9, 70, 1},
					{false, false, kern.MR, kern.NR - 3, 5000, 0}, {false, true, 5, 3*kern.NR + 3, 4500, 2},
					{false, true, 1, 2*kern.NR - 1, 33, 0},
				} {
					for _, beta := range []float32{0, 1, -0.5} {
						for _, p := range []*sched.Pool{nil, pool2} {
							check(t, rng, s, -0.5, beta, "", func(s shape, alpha float32, o *operands, beta float32) {
								SgemmKernel(kern, p, s.transA, s.transB, s.m, s.n, s.k, alpha, o.a, o.lda, o.b, o.ldb, beta, o.c, o.ldc)
							})
						}
					}
				}
				testBlocking = nil
			}
		})
	}
}

// TestSgemmSelected checks the public entry point with the selected kernel
// on a mid-size shape with both pool kinds.
func TestSgemmSelected(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, s := range []shape{{false, false, 300, 200, 600, 0}, {true, false, 64, 300, 1100, 0}, {false, true, 1, 700, 300, 1}} {
		for _, p := range []*sched.Pool{nil, pool2} {
			check(t, rng, s, 1, 0.5, "", func(s shape, alpha float32, o *operands, beta float32) {
				Sgemm(p, s.transA, s.transB, s.m, s.n, s.k, alpha, o.a, o.lda, o.b, o.ldb, beta, o.c, o.ldc)
			})
		}
	}
}

// TestSgemmConcurrent runs nil-pool Sgemm calls from inside pool tasks (as
// per-head attention products do) while the pool is busy, and from plain
// goroutines at the same time; run it with -race too.
func TestSgemmConcurrent(t *testing.T) {
	const m, n, k = 33, 70, 45
	rng := rand.New(rand.NewSource(6))
	a := make([]float32, m*k)
	b := make([]float32, k*n)
	for i := range a {
		a[i] = rng.Float32() - 0.5
	}
	for i := range b {
		b[i] = rng.Float32() - 0.5
	}
	want := make([]float32, m*n)
	Ref(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
	const heads = 8
	outs := make([][]float32, 3*heads)
	for i := range outs {
		outs[i] = make([]float32, m*n)
	}
	task := &headsTask{a: a, b: b, outs: outs[:heads], m: m, n: n, k: k}
	var wg sync.WaitGroup
	for g := 1; g < 3; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for h := 0; h < heads; h++ {
				Sgemm(nil, false, false, m, n, k, 1, a, k, b, n, 0, outs[g*heads+h], n)
			}
		}(g)
	}
	pool2.Run(heads, task)
	wg.Wait()
	for h, c := range outs {
		for i := range c {
			if math.Abs(float64(c[i]-want[i])) > 1e-4 {
				t.Fatalf("output %d: C[%d] = %v, want %v", h, i, c[i], want[i])
			}
		}
	}
}

type headsTask struct {
	a, b    []float32
	outs    [][]float32
	m, n, k int
}

func (t *headsTask) Run(w, i int) {
	Sgemm(nil, false, false, t.m, t.n, t.k, 1, t.a, t.k, t.b, t.n, 0, t.outs[i], t.n)
}

func TestSgemmAllocs(t *testing.T) {
	for _, s := range []shape{{false, false, 200, 300, 260, 0}, {true, false, 64, 128, 700, 0}, {false, true, 1, 512, 128, 0}, {false, false, 3, 700, 300, 0}} {
		o := newOperands(rand.New(rand.NewSource(7)), s)
		for _, p := range []*sched.Pool{nil, pool2} {
			run := func() {
				Sgemm(p, s.transA, s.transB, s.m, s.n, s.k, 1, o.a, o.lda, o.b, o.ldb, 0, o.c, o.ldc)
			}
			run() // size the workspace
			if allocs := testing.AllocsPerRun(20, run); allocs != 0 {
				t.Errorf("%v threads=%d: %v allocations per call", s, p.Threads(), allocs)
			}
		}
	}
}

func TestSgemmBadArgs(t *testing.T) {
	a := make([]float32, 16)
	Sgemm(nil, false, false, 3, 4, 4, 1, a[:12], 4, a, 4, 0, a[:12], 4) // fits
	for _, f := range []func(){
		func() { Sgemm(nil, false, false, 3, 4, 4, 1, a[:11], 4, a, 4, 0, a, 4) },
		func() { Sgemm(nil, false, false, 3, 4, 4, 1, a, 3, a, 4, 0, a, 4) },
		func() { Sgemm(nil, false, false, 3, 4, 4, 1, a, 4, a[:15], 4, 0, a, 4) },
		func() { Sgemm(nil, false, false, 3, 4, 4, 1, a, 4, a, 4, 0, a[:11], 4) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("bad arguments did not panic")
				}
			}()
			f()
		}()
	}
}

// TestSgemmSkinny covers the skinny path (one of m, n small, the other
// large, with a pool): every layout, direct and packed A, ragged edges,
// several K blocks, at a lowered threshold and (not in -short) at the
// ReLoRA shapes themselves.
func TestSgemmSkinny(t *testing.T) {
	defer func(d int) { skinnyDim, noDirect, noSkinnySup, testBlocking = d, false, false, nil }(skinnyDim)
	for _, kern := range asm.Available() {
		mr, nr := kern.MR, kern.NR
		t.Run(kern.Name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(7))
			small := []shape{
				{false, false, 2*mr + 3, 5*nr + 3, 41, 0}, {true, false, mr, 4*nr + 1, 70, 1},
				{false, true, 2 * mr, 6 * nr, 9, 2}, {true, true, 2*mr + 1, 5*nr - 1, 33, 0},
				{false, false, 2*nr + 5*mr + 5, nr + 3, 41, 1}, {true, false, 4*nr + 3*mr - 1, 2 * nr, 70, 2},
				{false, true, 2*nr + 6*mr, nr - 1, 9, 0}, {true, true, 2*nr + 4*mr + 2, nr, 33, 1},
			}
			for _, nd := range []int{0, 1, 2} { // unpacked operands (kernels with Sup), packed, packed with A not in place
				noSkinnySup, noDirect = nd > 0, nd > 1
				for _, blk := range []*blocking{nil, {kc: 8, nc: kern.NR, mc: 2 * kern.MR}} {
					testBlocking = blk
					for _, s := range small {
						skinnyDim = min(s.m, s.n) // the path's threshold, met by every shape
						if max(s.m, s.n) < 2*skinnyDim {
							t.Fatalf("%v does not take the skinny path", s)
						}
						for _, beta := range []float32{0, 1, -0.5} {
							check(t, rng, s, 0.75, beta, "", func(s shape, alpha float32, o *operands, beta float32) {
								SgemmKernel(kern, pool2, s.transA, s.transB, s.m, s.n, s.k, alpha, o.a, o.lda, o.b, o.ldb, beta, o.c, o.ldc)
							})
						}
					}
				}
			}
			noDirect, noSkinnySup, testBlocking, skinnyDim = false, false, nil, 256
			if testing.Short() {
				return
			}
			for _, s := range []shape{{true, false, 128, 520, 1030, 0}, {true, false, 515, 128, 1030, 1},
				{false, false, 1030, 128, 700, 2}, {false, true, 1027, 130, 600, 0}} {
				for _, ns := range []bool{false, true} {
					noSkinnySup = ns
					check(t, rng, s, 1, 1, "", func(s shape, alpha float32, o *operands, beta float32) {
						SgemmKernel(kern, pool2, s.transA, s.transB, s.m, s.n, s.k, alpha, o.a, o.lda, o.b, o.ldb, beta, o.c, o.ldc)
					})
				}
			}
			noSkinnySup = false
		})
	}
}
