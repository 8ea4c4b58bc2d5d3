package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/relora-go/relora-go/engine/sched"
)

// jacobi is the test's independent oracle: one-sided (Hestenes) Jacobi on
// the columns of a copy of the matrix, rotated until every pair is
// orthogonal to working precision; the singular values are the column
// norms. Slow (cubic per sweep) but simple and accurate.
func jacobi(rows, cols int, a []float64) []float64 {
	// work on the tall orientation, columns as rows of a slice
	m, n := rows, cols
	colsOf := make([][]float64, 0, n)
	if rows < cols {
		m, n = cols, rows
		for i := 0; i < rows; i++ {
			colsOf = append(colsOf, slices.Clone(a[i*cols:(i+1)*cols]))
		}
	} else {
		for j := 0; j < cols; j++ {
			c := make([]float64, rows)
			for i := range c {
				c[i] = a[i*cols+j]
			}
			colsOf = append(colsOf, c)
		}
	}
	_ = m
	for sweep := 0; sweep < 60; sweep++ {
		rotated := false
		for p := 0; p < n; p++ {
			for q := p + 1; q < n; q++ {
				x, y := colsOf[p], colsOf[q]
				alpha, beta, gamma := 0.0, 0.0, 0.0
				for i := range x {
					alpha += x[i] * x[i]
					beta += y[i] * y[i]
					gamma += x[i] * y[i]
				}
				if gamma == 0 || math.Abs(gamma) <= 1e-15*math.Sqrt(alpha*beta) {
					continue
				}
				rotated = true
				zeta := (beta - alpha) / (2 * gamma)
				t := math.Copysign(1, zeta) / (math.Abs(zeta) + math.Sqrt(1+zeta*zeta))
				c := 1 / math.Sqrt(1+t*t)
				s := c * t
				for i := range x {
					xi, yi := x[i], y[i]
					x[i] = c*xi - s*yi
					y[i] = s*xi + c*yi
				}
			}
		}
		if !rotated {
			break
		}
	}
	out := make([]float64, n)
	for j, c := range colsOf {
		out[j] = norm2(c)
	}
	sortDescending(out)
	return out
}

// withSpectrum returns a rows×cols matrix U·diag(s)·Vᵀ with random
// orthogonal U and V (products of Householder reflectors).
func withSpectrum(rng *rand.Rand, rows, cols int, s []float64) []float64 {
	n := min(rows, cols)
	a := make([]float64, rows*cols)
	for i := 0; i < n; i++ {
		a[i*cols+i] = s[i]
	}
	reflect := func(len_ int, apply func(v []float64)) {
		for k := 0; k < 3; k++ {
			v := make([]float64, len_)
			for i := range v {
				v[i] = rng.NormFloat64()
			}
			nv := norm2(v)
			for i := range v {
				v[i] /= nv
			}
			apply(v)
		}
	}
	reflect(rows, func(v []float64) { // a = (I − 2vvᵀ)·a
		for j := 0; j < cols; j++ {
			s := 0.0
			for i := 0; i < rows; i++ {
				s += v[i] * a[i*cols+j]
			}
			for i := 0; i < rows; i++ {
				a[i*cols+j] -= 2 * s * v[i]
			}
		}
	})
	reflect(cols, func(v []float64) { // a = a·(I − 2vvᵀ)
		for i := 0; i < rows; i++ {
			r := a[i*cols : (i+1)*cols]
			s := dot(v, r)
			for j := range r {
				r[j] -= 2 * s * v[j]
			}
		}
	})
	return a
}

// checkClose compares singular values: within rel relative for values
// down to 1e-10·σ₁, and within 1e-13·σ₁ absolute for the rest.
func checkClose(t *testing.T, what string, got, want []float64, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	if len(want) == 0 {
		return
	}
	s1 := want[0]
	for i := range want {
		d := math.Abs(got[i] - want[i])
		if want[i] >= 1e-10*s1 && d > rel*want[i] || d > 1e-13*s1 && want[i] < 1e-10*s1 {
			t.Fatalf("%s: σ[%d] = %.17g, want %.17g (relative error %.3g, σ₁ %.6g)", what, i, got[i], want[i], d/want[i], s1)
		}
	}
}

func TestAgainstJacobi(t *testing.T) {
	pool := sched.New(2)
	defer pool.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][2]int{{1, 1}, {1, 7}, {7, 1}, {2, 3}, {5, 5}, {17, 9}, {9, 17}, {33, 33}, {40, 12},
		{12, 40}, {70, 65}, {100, 31}, {31, 100}, {97, 64}, {130, 33}, {64, 200},
		{300, 150}, {97, 230}, {160, 129}} // the last three: QR with trailing updates, ragged panels (64 wide)
	for _, sh := range shapes {
		for _, p := range []*sched.Pool{nil, pool} {
			r, c := sh[0], sh[1]
			a := make([]float64, r*c)
			for i := range a {
				a[i] = rng.NormFloat64()
			}
			orig := slices.Clone(a)
			got := SingularValues(p, r, c, a)
			if !slices.Equal(a, orig) {
				t.Fatalf("%d×%d: the input was modified", r, c)
			}
			checkClose(t, fmt.Sprintf("random %d×%d (threads %d)", r, c, p.Threads()), got, jacobi(r, c, a), 1e-11)
		}
	}
}

func TestPrescribedSpectra(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pool := sched.New(2)
	defer pool.Close()
	for _, tc := range []struct {
		name       string
		rows, cols int
		s          func(i int) float64
	}{
		{"graded to 1e-12", 80, 50, func(i int) float64 { return math.Pow(1e-12, float64(i)/49) }},
		{"graded, wide", 45, 120, func(i int) float64 { return math.Pow(1e-9, float64(i)/44) }},
		{"rank 5", 60, 90, func(i int) float64 {
			if i < 5 {
				return float64(5 - i)
			}
			return 0
		}},
		{"all equal", 64, 64, func(int) float64 { return 3 }},
		{"clusters", 70, 140, func(i int) float64 { return []float64{10, 10, 10, 1, 1, 1e-3}[min(i/12, 5)] }},
		{"tiny scale", 40, 30, func(i int) float64 { return 1e-200 * float64(30-i) }},
		{"huge scale", 30, 40, func(i int) float64 { return 1e200 * float64(30-i) }},
	} {
		n := min(tc.rows, tc.cols)
		want := make([]float64, n)
		for i := range want {
			want[i] = tc.s(i)
		}
		a := withSpectrum(rng, tc.rows, tc.cols, want)
		got := SingularValues(pool, tc.rows, tc.cols, a)
		// the matrix holds the spectrum only to its own round-off (a few ε·σ₁)
		for i := range want {
			if d := math.Abs(got[i] - want[i]); d > 1e-9*want[i]+1e-13*want[0] {
				t.Fatalf("%s: σ[%d] = %.17g, want %.17g", tc.name, i, got[i], want[i])
			}
		}
	}
}

func TestSpecialMatrices(t *testing.T) {
	if s := SingularValues(nil, 3, 4, make([]float64, 12)); !slices.Equal(s, []float64{0, 0, 0}) {
		t.Fatalf("zero matrix: %v", s)
	}
	if s := SingularValues(nil, 0, 4, nil); len(s) != 0 {
		t.Fatalf("empty matrix: %v", s)
	}
	a := []float64{1, 2, math.NaN(), 4}
	if s := SingularValues(nil, 2, 2, a); !math.IsNaN(s[0]) {
		t.Fatalf("NaN matrix: %v", s)
	}
	// a column of zeros in the middle and a zero row
	b := []float64{
		3, 0, 4,
		0, 0, 0,
		4, 0, -3,
	}
	checkClose(t, "zero column and row", SingularValues(nil, 3, 3, b), []float64{5, 5, 0}, 1e-14)
}

func BenchmarkSingularValues(b *testing.B) {
	for _, sh := range [][2]int{{512, 512}, {512, 1376}, {2048, 2048}, {2048, 5461}} {
		b.Run(fmt.Sprintf("%dx%d", sh[0], sh[1]), func(b *testing.B) {
			pool := sched.New(0)
			defer pool.Close()
			rng := rand.New(rand.NewPCG(5, 6))
			a := make([]float64, sh[0]*sh[1])
			for i := range a {
				a[i] = rng.NormFloat64()
			}
			b.ResetTimer()
			for range b.N {
				SingularValues(pool, sh[0], sh[1], a)
			}
		})
	}
}
