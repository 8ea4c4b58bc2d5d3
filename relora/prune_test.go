package relora

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

var goldenT = []float32{0.1, -0.5, 0.3, 0.0, -0.2, 0.9, 0.05, -0.7, 0.4, 0.6}

// TestMagnitudeGolden checks the golden vectors of docs/METHOD.md §4 (their
// provenance is in §10).
func TestMagnitudeGolden(t *testing.T) {
	cases := []struct {
		p    float64
		thr  float64
		want []float32
	}{
		{0.9, 0.72, []float32{0, 0, 0, 0, 0, 0.9, 0, 0, 0, 0}},
		{0.8, 0.62, []float32{0, 0, 0, 0, 0, 0.9, 0, -0.7, 0, 0}},
		{0.5, 0.35, []float32{0, -0.5, 0, 0, 0, 0.9, 0, -0.7, 0.4, 0.6}},
	}
	for _, c := range cases {
		if thr := MagnitudeThreshold(goldenT, c.p, nil); !near(float64(thr), c.thr, 1e-6) {
			t.Errorf("p=%v: thr %v, want %v", c.p, thr, c.thr)
		}
		x := slices.Clone(goldenT)
		scratch := make([]float32, 16)
		zeroed := PruneMagnitude(x, c.p, scratch)
		if !slices.Equal(x, c.want) {
			t.Errorf("p=%v: got %v, want %v", c.p, x, c.want)
		}
		kept := 0
		for _, v := range c.want {
			if v != 0 {
				kept++
			}
		}
		if zeroed != len(x)-kept {
			t.Errorf("p=%v: zeroed %d, want %d", c.p, zeroed, len(x)-kept)
		}
	}
}

// sortQuantile is the plain definition: sort |t|, interpolate at p·(n−1).
func sortQuantile(t []float32, p float64) float32 {
	a := make([]float64, len(t))
	for i, x := range t {
		a[i] = math.Abs(float64(x))
	}
	slices.Sort(a)
	pos := p * float64(len(a)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(a)-1)
	w := pos - float64(lo)
	return float32(a[lo] + (a[hi]-a[lo])*w)
}

func TestMagnitudeMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 2000; trial++ {
		n := 1 + rng.IntN(200)
		x := make([]float32, n)
		levels := 1 + rng.IntN(8) // few levels: many ties
		for i := range x {
			switch trial % 3 {
			case 0:
				x[i] = float32(rng.NormFloat64())
			case 1:
				x[i] = float32(rng.IntN(levels)) * 0.25 * float32(1-2*rng.IntN(2))
			default:
				if rng.IntN(10) != 0 {
					x[i] = 0
				} else {
					x[i] = float32(rng.NormFloat64())
				}
			}
		}
		p := rng.Float64()
		if trial%7 == 0 {
			p = []float64{0, 1, 0.5, 0.999, 0.99}[trial%5]
		}
		want := sortQuantile(x, p)
		got := MagnitudeThreshold(x, p, nil)
		// float64 interpolation in both: equal up to one float32 rounding.
		if math.Abs(float64(got-want)) > 1e-6*math.Max(1, math.Abs(float64(want))) {
			t.Fatalf("trial %d n=%d p=%v: thr %v, sort says %v", trial, n, p, got, want)
		}
		y := slices.Clone(x)
		zeroed := PruneMagnitude(y, p, make([]float32, n))
		nz := 0
		for i := range x {
			keep := abs32(x[i]) > got
			if keep && y[i] != x[i] || !keep && y[i] != 0 {
				t.Fatalf("trial %d: entry %d: %v -> %v (thr %v)", trial, i, x[i], y[i], got)
			}
			if !keep {
				nz++
			}
		}
		if zeroed != nz {
			t.Fatalf("trial %d: zeroed %d, want %d", trial, zeroed, nz)
		}
	}
}

func TestMagnitudeTies(t *testing.T) {
	// All equal: threshold equals the value, nothing is strictly greater.
	x := []float32{0.5, -0.5, 0.5, -0.5, 0.5}
	if z := PruneMagnitude(x, 0.3, nil); z != 5 || slices.ContainsFunc(x, func(v float32) bool { return v != 0 }) {
		t.Errorf("all-equal: zeroed %d, %v", z, x)
	}
	// Ties at the threshold are pruned, larger kept: |x| = 1,1,1,2,2,3;
	// p = 0.5 -> pos 2.5 -> thr = 1.5: 2,2,3 kept.
	x = []float32{1, -1, 1, 2, -2, 3}
	PruneMagnitude(x, 0.5, nil)
	if !slices.Equal(x, []float32{0, 0, 0, 2, -2, 3}) {
		t.Errorf("got %v", x)
	}
	// p = 0.4 -> pos 2 -> thr = 1 exactly: all three 1s pruned.
	x = []float32{1, -1, 1, 2, -2, 3}
	PruneMagnitude(x, 0.4, nil)
	if !slices.Equal(x, []float32{0, 0, 0, 2, -2, 3}) {
		t.Errorf("got %v", x)
	}
	// Mostly zeros (state after a previous pruning): 99 zeros and one value;
	// p = 0.99 -> pos 98.01 -> thr = 0 -> only the value kept.
	x = make([]float32, 100)
	x[37] = -0.25
	if z := PruneMagnitude(x, 0.99, nil); z != 99 || x[37] != -0.25 {
		t.Errorf("sparse: zeroed %d, x[37]=%v", z, x[37])
	}
	// p = 0: threshold is the minimum |x|, the minimum entries go.
	x = []float32{3, -1, 2, 1}
	PruneMagnitude(x, 0, nil)
	if !slices.Equal(x, []float32{3, 0, 2, 0}) {
		t.Errorf("p=0: %v", x)
	}
	// p = 1: threshold is the max: everything goes.
	x = []float32{3, -1, 2, 1}
	if z := PruneMagnitude(x, 1, nil); z != 4 {
		t.Errorf("p=1: zeroed %d", z)
	}
	// Negative zero counts as zero magnitude.
	x = []float32{float32(math.Copysign(0, -1)), 1}
	PruneMagnitude(x, 0.5, nil)
	if x[1] != 1 || x[0] != 0 {
		t.Errorf("-0: %v", x)
	}
}

func TestMagnitudeEdge(t *testing.T) {
	if z := PruneMagnitude(nil, 0.5, nil); z != 0 {
		t.Errorf("empty: %d", z)
	}
	x := []float32{1, float32(math.NaN()), 2}
	if z := PruneMagnitude(x, 0.5, nil); z != 3 {
		t.Errorf("NaN: zeroed %d (torch.quantile gives NaN, which zeroes all)", z)
	}
	// The input is left untouched by MagnitudeThreshold, and scratch is used.
	y := slices.Clone(goldenT)
	scratch := make([]float32, len(y))
	MagnitudeThreshold(y, 0.7, scratch)
	if !slices.Equal(y, goldenT) {
		t.Error("MagnitudeThreshold modified its input")
	}
	if allocs := testing.AllocsPerRun(10, func() {
		copy(y, goldenT)
		PruneMagnitude(y, 0.7, scratch)
	}); allocs != 0 {
		t.Errorf("%v allocations with scratch", allocs)
	}
	for _, p := range []float64{-0.1, 1.1, math.NaN()} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("p=%v: no panic", p)
				}
			}()
			PruneMagnitude([]float32{1, 2}, p, nil)
		}()
	}
}

// TestMagnitudeLargeAdversarial runs inputs that break naive quickselect
// (sorted, reversed, all equal, organ pipe) at n = 1<<20 and compares with
// the sort-based threshold.
func TestMagnitudeLargeAdversarial(t *testing.T) {
	n := 1 << 20
	if testing.Short() {
		n = 1 << 14
	}
	gens := map[string]func(i int) float32{
		"sorted":   func(i int) float32 { return float32(i) },
		"reversed": func(i int) float32 { return float32(n - i) },
		"equal":    func(i int) float32 { return 0.125 },
		"organ":    func(i int) float32 { return float32(min(i, n-i)) },
		"sawtooth": func(i int) float32 { return float32(i % 97) },
		"zeros+1":  func(i int) float32 { return float32(i % 1000 / 999) },
	}
	scratch := make([]float32, n)
	for name, g := range gens {
		x := make([]float32, n)
		for i := range x {
			x[i] = g(i)
		}
		for _, p := range []float64{0.5, 0.99, 0.999} {
			got := MagnitudeThreshold(x, p, scratch)
			want := sortQuantile(x, p)
			if math.Abs(float64(got-want)) > 1e-6*math.Max(1, math.Abs(float64(want))) {
				t.Errorf("%s p=%v: %v, want %v", name, p, got, want)
			}
		}
	}
}

// TestSelectKth checks the selection invariant for every k, with the normal
// depth budget and with budgets that force the sort fallback.
func TestSelectKth(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.IntN(100)
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(rng.IntN(1 + trial%20))
		}
		sorted := slices.Clone(src)
		slices.Sort(sorted)
		for k := 0; k < n; k++ {
			for _, depth := range []int{-1, 0, 1, 100} {
				a := slices.Clone(src)
				if depth < 0 {
					selectKth(a, k)
				} else {
					selectKthDepth(a, k, depth)
				}
				if a[k] != sorted[k] {
					t.Fatalf("n=%d k=%d depth=%d: a[k]=%v, want %v", n, k, depth, a[k], sorted[k])
				}
				if slices.Max(a[:k+1]) != a[k] || slices.Min(a[k:]) != a[k] {
					t.Fatalf("n=%d k=%d depth=%d: not partitioned", n, k, depth)
				}
				b := slices.Clone(a)
				slices.Sort(b)
				if !slices.Equal(b, sorted) {
					t.Fatalf("n=%d k=%d: not a permutation", n, k)
				}
			}
		}
	}
}

func TestPruneRandom(t *testing.T) {
	const n = 200000
	for _, p := range []float64{0.5, 0.9, 0.999} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i + 1)
		}
		y := slices.Clone(x)
		z := PruneRandom(x, p, rand.New(rand.NewPCG(7, 11)))
		// Binomial(n, p): 6 standard deviations.
		sd := math.Sqrt(n * p * (1 - p))
		if math.Abs(float64(z)-n*p) > 6*sd {
			t.Errorf("p=%v: zeroed %d of %d, expected %.0f ± %.0f", p, z, n, n*p, 6*sd)
		}
		cnt := 0
		for i := range x {
			if x[i] == 0 {
				cnt++
			} else if x[i] != y[i] {
				t.Fatalf("kept entry %d changed", i)
			}
		}
		if cnt != z {
			t.Errorf("p=%v: returned %d, counted %d", p, z, cnt)
		}
		// Deterministic per seed, different across seeds.
		a, b, c := slices.Clone(y), slices.Clone(y), slices.Clone(y)
		PruneRandom(a, p, rand.New(rand.NewPCG(3, 4)))
		PruneRandom(b, p, rand.New(rand.NewPCG(3, 4)))
		PruneRandom(c, p, rand.New(rand.NewPCG(3, 5)))
		if !slices.Equal(a, b) {
			t.Errorf("p=%v: not deterministic", p)
		}
		if slices.Equal(a, c) {
			t.Errorf("p=%v: seed has no effect", p)
		}
	}
	// Mask rule u > p: p = 0 keeps everything (u = 0 has probability 2^-53),
	// p = 1 zeroes everything.
	x := []float32{1, 2, 3, 4}
	if z := PruneRandom(x, 0, rand.New(rand.NewPCG(1, 1))); z != 0 {
		t.Errorf("p=0 zeroed %d", z)
	}
	if z := PruneRandom(x, 1, rand.New(rand.NewPCG(1, 1))); z != 4 {
		t.Errorf("p=1 zeroed %d", z)
	}
	// Exactly one draw per entry, in order: the mask equals rng.Float64() > p.
	r1, r2 := rand.New(rand.NewPCG(9, 9)), rand.New(rand.NewPCG(9, 9))
	x = make([]float32, 1000)
	for i := range x {
		x[i] = 1
	}
	PruneRandom(x, 0.3, r1)
	for i := range x {
		if keep := r2.Float64() > 0.3; keep != (x[i] == 1) {
			t.Fatalf("entry %d does not follow the draw order", i)
		}
	}
}

func TestPruneZero(t *testing.T) {
	x := []float32{1, -2, 0, 3}
	if z := PruneZero(x); z != 4 || !slices.Equal(x, []float32{0, 0, 0, 0}) {
		t.Errorf("%d %v", z, x)
	}
}

func TestParseResetMode(t *testing.T) {
	ok := []struct {
		reset     bool
		rnd, mag  float64
		wantKind  string
		wantRatio float64
	}{
		{true, 0, 0, ResetFull, 0.999}, // the reference default
		{false, 0.9, 0, ResetRandom, 0.9},
		{false, 0, 0.99, ResetMagnitude, 0.99},
	}
	for _, c := range ok {
		m, err := ParseResetMode(c.reset, c.rnd, c.mag)
		if err != nil || m.Kind != c.wantKind || m.Ratio != c.wantRatio {
			t.Errorf("ParseResetMode(%v,%v,%v) = %+v, %v", c.reset, c.rnd, c.mag, m, err)
		}
	}
	bad := []struct {
		reset    bool
		rnd, mag float64
		want     string
	}{
		// Default --reset_optimizer_on_relora true plus a ratio: the reference
		// rejects this too (both ways must not be combined).
		{true, 0, 0.9, "--reset_optimizer_on_relora false"},
		{true, 0.5, 0, "only one"},
		{false, 0.5, 0.5, "only one"},
		{false, 0, 0, "no optimizer reset mode"},
		{false, 1, 0, "--optimizer_random_pruning must be in [0, 1)"},
		{false, 0, -0.1, "--optimizer_magnitude_pruning must be in [0, 1)"},
		{false, math.NaN(), 0, "--optimizer_random_pruning"},
	}
	for _, c := range bad {
		_, err := ParseResetMode(c.reset, c.rnd, c.mag)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseResetMode(%v,%v,%v): err %v, want %q", c.reset, c.rnd, c.mag, err, c.want)
		}
	}
}

func TestResetModeApply(t *testing.T) {
	m, _ := ParseResetMode(false, 0, 0.8)
	x := slices.Clone(goldenT)
	if z := m.Apply(x, nil, nil); z != 8 || !slices.Equal(x, []float32{0, 0, 0, 0, 0, 0.9, 0, -0.7, 0, 0}) {
		t.Errorf("magnitude: %d %v", z, x)
	}
	// Default mode: random pruning at 0.999, not exact zeroing.
	full, _ := ParseResetMode(true, 0, 0)
	big := make([]float32, 100000)
	for i := range big {
		big[i] = 1
	}
	z := full.Apply(big, nil, rand.New(rand.NewPCG(5, 6)))
	if z == len(big) || z < len(big)-200 {
		t.Errorf("full reset zeroed %d of %d, want ≈ 99.9%% but not all", z, len(big))
	}
	// Same stream as PruneRandom with 0.999.
	a := make([]float32, 5000)
	b := make([]float32, 5000)
	for i := range a {
		a[i], b[i] = 1, 1
	}
	full.Apply(a, nil, rand.New(rand.NewPCG(1, 2)))
	PruneRandom(b, 0.999, rand.New(rand.NewPCG(1, 2)))
	if !slices.Equal(a, b) {
		t.Error("full reset differs from random pruning at 0.999")
	}
	zm := ResetMode{Kind: ResetZero, Ratio: 1}
	x = slices.Clone(goldenT)
	if zm.Apply(x, nil, nil) != len(x) || slices.ContainsFunc(x, func(v float32) bool { return v != 0 }) {
		t.Error("zero mode")
	}
	defer func() {
		if recover() == nil {
			t.Error("unknown kind did not panic")
		}
	}()
	ResetMode{Kind: "bogus"}.Apply(x, nil, nil)
}

func BenchmarkPruneMagnitude(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	n := 128 * 2048
	src := make([]float32, n)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	x := make([]float32, n)
	scratch := make([]float32, n)
	b.SetBytes(int64(4 * n))
	for b.Loop() {
		copy(x, src)
		PruneMagnitude(x, 0.99, scratch)
	}
}

func BenchmarkPruneRandom(b *testing.B) {
	n := 128 * 2048
	x := make([]float32, n)
	rng := rand.New(rand.NewPCG(1, 1))
	b.SetBytes(int64(4 * n))
	for b.Loop() {
		PruneRandom(x, 0.999, rng)
	}
}
