package asm

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"testing"
)

// vecLevels lists the vector levels this CPU and build run (those of
// Available()), best first, each once.
func vecLevels() []int {
	var ls []int
	seen := map[int]bool{}
	for _, k := range Available() {
		if l := vecLevelOf(k.Name); !seen[l] {
			seen[l] = true
			ls = append(ls, l)
		}
	}
	return ls
}

// forEachLevel runs f with the vector kernels forced to every level.
func forEachLevel(t *testing.T, f func(t *testing.T, l int)) {
	for _, l := range vecLevels() {
		t.Run(vecNames[l], func(t *testing.T) {
			saved := vecLevel
			vecLevel = l
			defer func() { vecLevel = saved }()
			f(t, l)
		})
	}
}

var vecLens = []int{0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 100, 1000, 4097, 2*vecChunk + 37}

const (
	u32    = 1.0 / (1 << 24) // unit roundoff of float32
	minF32 = 0x1p-126        // smallest normal float32
)

func TestVecLevelFollowsSelected(t *testing.T) {
	if got, want := vecLevel, vecLevelOf(Selected().Name); got != want {
		t.Fatalf("vecLevel %q, want %q from the selected kernel %q", vecNames[got], vecNames[want], Selected().Name)
	}
	if want := os.Getenv(EnvExpectKernel); want != "" && VecLevel() != vecNames[vecLevelOf(want)] {
		t.Fatalf("VecLevel() = %q, %s=%q", VecLevel(), EnvExpectKernel, want)
	}
	t.Logf("vector level %q (levels here: %v)", VecLevel(), vecLevels())
}

func randSlice(rng *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * scale)
	}
	return x
}

// fill copies src into a guarded buffer (sentinel s) and returns both.
func fill(src []float32, s float32) (all, in []float32) {
	all, in = guarded(len(src), s)
	copy(in, src)
	return all, in
}

func relErr(got, want float64) float64 {
	if got == want {
		return 0
	}
	return math.Abs(got-want) / math.Abs(want)
}

// sameF32 is bit-for-bit equality, any NaN matching any NaN.
func sameF32(a, b float32) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

func TestMaxSumExp(t *testing.T) {
	forEachLevel(t, func(t *testing.T, l int) {
		rng := rand.New(rand.NewSource(2))
		for _, n := range vecLens {
			x := randSlice(rng, n, 4)
			all, in := fill(x, 99)
			mx, sum := MaxSumExp(in)
			checkGuards(t, fmt.Sprintf("n=%d", n), all, 99)
			wmx, wsum := RefMaxSumExp(x)
			if !sameF32(mx, wmx) {
				t.Fatalf("n=%d: max %v, want %v", n, mx, wmx)
			}
			tol := 3e-7 + u32*float64(n/vecWidth(l)+8)
			if n == 0 && (sum != 0 || !math.IsInf(float64(mx), -1)) {
				t.Fatalf("empty: (%v, %v), want (-Inf, 0)", mx, sum)
			}
			if e := relErr(float64(sum), float64(wsum)); n > 0 && !(e <= tol) {
				t.Fatalf("n=%d: sum %v, want %v (rel err %.3g > %.3g)", n, sum, wsum, e, tol)
			}
		}
	})
}

func TestAddScaledExp(t *testing.T) {
	forEachLevel(t, func(t *testing.T, l int) {
		rng := rand.New(rand.NewSource(3))
		for _, n := range vecLens {
			x := randSlice(rng, n, 5)
			d := randSlice(rng, n, 1)
			sub, scale := float32(3.5), float32(-0.37)
			xAll, xin := fill(x, 5)
			dAll, din := fill(d, 6)
			AddScaledExp(din, xin, sub, scale)
			checkGuards(t, "x", xAll, 5)
			checkGuards(t, "dst", dAll, 6)
			want := append([]float32(nil), d...)
			RefAddScaledExp(want, x, sub, scale)
			for i := range want {
				term := math.Abs(float64(scale) * math.Exp(float64(x[i]-sub)))
				tol := 2.5e-7*term + 1.2e-7*math.Abs(float64(want[i])) + minF32
				if got := din[i]; !(math.Abs(float64(got-want[i])) <= tol) || x[i] != xin[i] {
					t.Fatalf("n=%d i=%d: %v, want %v (tol %.3g)", n, i, got, want[i], tol)
				}
			}
		}
	})
}

func TestSoftmaxInPlace(t *testing.T) {
	forEachLevel(t, func(t *testing.T, l int) {
		rng := rand.New(rand.NewSource(4))
		for _, n := range vecLens {
			x := randSlice(rng, n, 3)
			all, in := fill(x, 7)
			SoftmaxInPlace(in)
			checkGuards(t, "x", all, 7)
			want := append([]float32(nil), x...)
			RefSoftmaxInPlace(want)
			tol := 8e-7 + u32*float64(n/vecWidth(l)+8)
			for i := range want {
				if e := relErr(float64(in[i]), float64(want[i])); !(e <= tol) && math.Abs(float64(in[i]-want[i])) > minF32 {
					t.Fatalf("n=%d i=%d: %v, want %v (rel %.3g > %.3g)", n, i, in[i], want[i], e, tol)
				}
			}
		}
	})
}

func TestSwiGLU(t *testing.T) {
	forEachLevel(t, func(t *testing.T, l int) {
		rng := rand.New(rand.NewSource(5))
		for _, n := range vecLens {
			g := randSlice(rng, n, 4)
			u := randSlice(rng, n, 1)
			gAll, gin := fill(g, 1)
			uAll, uin := fill(u, 2)
			yAll, y := guarded(n, 3)
			SwiGLU(y, gin, uin)
			checkGuards(t, "g", gAll, 1)
			checkGuards(t, "u", uAll, 2)
			checkGuards(t, "y", yAll, 3)
			want := make([]float32, n)
			RefSwiGLU(want, g, u)
			for i := range want {
				tol := 4e-7*math.Abs(float64(want[i])) + 1e-37
				if !(math.Abs(float64(y[i]-want[i])) <= tol) {
					t.Fatalf("n=%d i=%d g=%v: %v, want %v", n, i, g[i], y[i], want[i])
				}
			}
			// in place: y aliases g
			SwiGLU(gin, gin, uin)
			for i := range want {
				if !sameF32(gin[i], y[i]) {
					t.Fatalf("n=%d i=%d: in place %v, out of place %v", n, i, gin[i], y[i])
				}
			}
		}
	})
}

func TestSwiGLUBackward(t *testing.T) {
	forEachLevel(t, func(t *testing.T, l int) {
		rng := rand.New(rand.NewSource(6))
		for _, n := range vecLens {
			for mode := 0; mode < 4; mode++ {
				g := randSlice(rng, n, 4)
				u := randSlice(rng, n, 1)
				dy := randSlice(rng, n, 1)
				dg0 := randSlice(rng, n, 0.1)
				du0 := randSlice(rng, n, 0.1)
				gAll, gin := fill(g, 1)
				uAll, uin := fill(u, 2)
				dyAll, dyin := fill(dy, 3)
				dgAll, dg := fill(dg0, 4)
				duAll, du := fill(du0, 5)
				wdg := append([]float32(nil), dg0...)
				wdu := append([]float32(nil), du0...)
				if mode&1 == 0 {
					dg, wdg = nil, nil
				}
				if mode&2 == 0 {
					du, wdu = nil, nil
				}
				SwiGLUBackward(dg, du, dyin, gin, uin)
				RefSwiGLUBackward(wdg, wdu, dy, g, u)
				for _, c := range []struct {
					all []float32
					s   float32
				}{{gAll, 1}, {uAll, 2}, {dyAll, 3}, {dgAll, 4}, {duAll, 5}} {
					checkGuards(t, fmt.Sprintf("n=%d mode=%d", n, mode), c.all, c.s)
				}
				for i := range n {
					s := 1 / (1 + math.Exp(-float64(g[i])))
					if mode&2 != 0 {
						term := math.Abs(float64(dy[i]) * float64(g[i]) * s)
						if tol := 5e-7*term + 1.2e-7*math.Abs(float64(wdu[i])) + 1e-37; !(math.Abs(float64(du[i]-wdu[i])) <= tol) {
							t.Fatalf("n=%d mode=%d i=%d du %v, want %v", n, mode, i, du[i], wdu[i])
						}
					} else if du0[i] != duAll[guard+i] {
						t.Fatalf("du written with du nil")
					}
					if mode&1 != 0 {
						term := math.Abs(float64(dy[i])*float64(u[i])*s) * (1 + math.Abs(float64(g[i]))*(1-s))
						if tol := 1e-6*term + 1.2e-7*math.Abs(float64(wdg[i])) + 1e-37; !(math.Abs(float64(dg[i]-wdg[i])) <= tol) {
							t.Fatalf("n=%d mode=%d i=%d g=%v dg %v, want %v", n, mode, i, g[i], dg[i], wdg[i])
						}
					} else if dg0[i] != dgAll[guard+i] {
						t.Fatalf("dg written with dg nil")
					}
				}
			}
		}
	})
}

func TestAdamW(t *testing.T) {
	p := AdamWParams{Beta1: 0.9, Beta2: 0.999, Decay: 1 - 3e-4*0.1, StepSize: 3e-4 / 0.19,
		BC2Sqrt: float32(math.Sqrt(1 - math.Pow(0.999, 7))), Eps: 1e-8, GradScale: 0.8}
	forEachLevel(t, func(t *testing.T, l int) {
		rng := rand.New(rand.NewSource(7))
		var worst float64
		for _, n := range vecLens {
			w0 := randSlice(rng, n, 0.05)
			g0 := randSlice(rng, n, 0.01)
			m0 := randSlice(rng, n, 0.001)
			v0 := make([]float32, n)
			for i := range v0 {
				v0[i] = float32(math.Abs(rng.NormFloat64()) * 1e-5)
			}
			if n > 3 {
				g0[1], v0[1], m0[1] = 0, 0, 0 // sqrt(0), eps-only denominator
			}
			wAll, w := fill(w0, 1)
			gAll, g := fill(g0, 2)
			mAll, m := fill(m0, 3)
			vAll, v := fill(v0, 4)
			AdamW(w, g, m, v, p)
			ww, wm, wv := append([]float32(nil), w0...), append([]float32(nil), m0...), append([]float32(nil), v0...)
			RefAdamW(ww, g0, wm, wv, p)
			for i, c := range [][]float32{wAll, gAll, mAll, vAll} {
				checkGuards(t, fmt.Sprintf("n=%d buffer %d", n, i), c, float32(i+1))
			}
			for i := range n {
				gj := float64(g0[i] * p.GradScale)
				mt := math.Abs(float64(p.Beta1*m0[i])) + math.Abs(float64(1-p.Beta1)*gj)
				vt := math.Abs(float64(p.Beta2*v0[i])) + math.Abs(float64(1-p.Beta2)*gj*gj)
				upd := math.Abs(float64(p.StepSize*wm[i]) / (math.Sqrt(float64(wv[i]))/float64(p.BC2Sqrt) + float64(p.Eps)))
				wt := math.Abs(float64(w0[i]*p.Decay)) + upd
				for _, c := range []struct {
					name      string
					got, want float32
					mag       float64
				}{{"m", m[i], wm[i], mt}, {"v", v[i], wv[i], vt}, {"w", w[i], ww[i], wt}} {
					d := 0.0
					if c.got != c.want {
						d = math.Abs(float64(c.got-c.want)) / (c.mag * 2 * u32)
					}
					worst = max(worst, d)
					if !(d <= 4) {
						t.Fatalf("n=%d i=%d %s = %v, want %v (%.2f ulps of the terms)", n, i, c.name, c.got, c.want, d)
					}
				}
			}
		}
		t.Logf("max difference: %.2f ulps of the terms' magnitude", worst)
	})
}

func TestSumSquares(t *testing.T) {
	forEachLevel(t, func(t *testing.T, l int) {
		rng := rand.New(rand.NewSource(8))
		for _, n := range vecLens {
			x := randSlice(rng, n, 2)
			all, in := fill(x, 9)
			got := SumSquares(in)
			checkGuards(t, "x", all, 9)
			want := RefSumSquares(x)
			lanes := vecWidth(l)
			tol := (float64(sumSqChunk/lanes) + math.Log2(float64(lanes)) + 1) * u32
			if e := relErr(got, want); !(e <= tol) {
				t.Fatalf("n=%d: %v, want %v (rel err %.3g > %.3g)", n, got, want, e, tol)
			}
		}
	})
}

func TestScaleMul(t *testing.T) {
	forEachLevel(t, func(t *testing.T, l int) {
		rng := rand.New(rand.NewSource(9))
		for _, n := range vecLens {
			x := randSlice(rng, n, 2)
			w := randSlice(rng, n, 1)
			xAll, xin := fill(x, 1)
			wAll, win := fill(w, 2)
			yAll, y := guarded(n, 3)
			ScaleMul(y, xin, win, 0.73)
			checkGuards(t, "x", xAll, 1)
			checkGuards(t, "w", wAll, 2)
			checkGuards(t, "y", yAll, 3)
			want := make([]float32, n)
			RefScaleMul(want, x, w, 0.73)
			for i := range want {
				if !sameF32(y[i], want[i]) {
					t.Fatalf("n=%d i=%d: %v, want %v", n, i, y[i], want[i])
				}
			}
		}
	})
}

// vexp computes exp(x) with the current level's kernel: dst = 0 + 1·exp(x).
func vexp(x []float32) []float32 {
	y := make([]float32, len(x))
	AddScaledExp(y, x, 0, 1)
	return y
}

// TestExpAccuracy sweeps [−87, 88.7] (about 2^21 evenly spaced float32 bit
// patterns per sign, plus random points) and bounds the relative error
// against the exact exp (float64) by 2e-7.
func TestExpAccuracy(t *testing.T) {
	var xs []float32
	for _, r := range []float32{88.7, -87} {
		top := math.Float32bits(float32(math.Abs(float64(r))))
		step := max(1, top/(1<<21))
		if testing.Short() {
			step *= 16
		}
		for b := uint32(0); b <= top; b += step {
			xs = append(xs, float32(math.Copysign(float64(math.Float32frombits(b)), float64(r))))
		}
	}
	rng := rand.New(rand.NewSource(10))
	for range 1 << 16 {
		xs = append(xs, float32(rng.Float64()*175.7-87))
	}
	forEachLevel(t, func(t *testing.T, l int) {
		y := vexp(xs)
		var worst, worstRef float64
		var at float32
		for i, x := range xs {
			exact := math.Exp(float64(x))
			e := relErr(float64(y[i]), exact)
			if e > worst {
				worst, at = e, x
			}
			worstRef = max(worstRef, relErr(float64(y[i]), float64(float32(exact))))
		}
		t.Logf("%d points: max relative error %.3g at x=%v (vs exact); %.3g vs float32(math.Exp)", len(xs), worst, at, worstRef)
		if worst > 2e-7 {
			t.Errorf("max relative error %.3g at x=%v, want ≤ 2e-7", worst, at)
		}
	})
}

func TestExpSpecial(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	cases := []struct {
		x    float32
		want float32 // NaN: want NaN; −1: subnormal region (|got−ref| < 2^−126); 2: exp within 2e-7
	}{
		{float32(math.Inf(-1)), 0}, {nan, nan}, {inf, inf}, {0, 1}, {float32(math.Copysign(0, -1)), 1},
		{88.72283, 2}, {88.72284, inf}, {88.8, inf}, {89, inf}, {100, inf}, {1e30, inf},
		{-87, 2}, {-87.3, -1}, {-87.34, -1}, {-88, -1}, {-95, -1}, {-103, -1},
		{-103.98, -1}, {-104, 0}, {-110, 0}, {-1e30, 0}, {1e-30, 1}, {-1e-30, 1},
	}
	forEachLevel(t, func(t *testing.T, l int) {
		xs := make([]float32, len(cases))
		for i, c := range cases {
			xs[i] = c.x
		}
		// Put each value at every lane position: repeat with shifts.
		for shift := range 17 {
			in := make([]float32, shift, shift+len(xs))
			for i := range in {
				in[i] = 0.5
			}
			in = append(in, xs...)
			y := vexp(in)[shift:]
			for i, c := range cases {
				got := y[i]
				switch {
				case c.want != c.want:
					if got == got {
						t.Fatalf("exp(%v) = %v, want NaN", c.x, got)
					}
				case c.want == -1:
					if ref := float32(math.Exp(float64(c.x))); !(math.Abs(float64(got-ref)) < minF32) || got < 0 {
						t.Fatalf("exp(%v) = %v, want %v within 2^-126", c.x, got, ref)
					}
				case c.want == 0 || math.IsInf(float64(c.want), 0) || c.want == 1:
					if got != c.want {
						t.Fatalf("exp(%v) = %v, want %v", c.x, got, c.want)
					}
				default: // 2: compare with the reference
					if relErr(float64(got), math.Exp(float64(c.x))) > 2e-7 {
						t.Fatalf("exp(%v) = %v, want %v", c.x, got, c.want)
					}
				}
			}
		}
	})
}

func TestVecSpecial(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	forEachLevel(t, func(t *testing.T, l int) {
		for _, n := range []int{1, 5, 16, 40} {
			for pos := 0; pos < n; pos += max(1, n/4) {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(i%7) - 3
				}
				x[pos] = nan
				if mx, sum := MaxSumExp(x); sum == sum && mx == mx {
					t.Fatalf("n=%d NaN at %d: MaxSumExp = (%v, %v), want a NaN", n, pos, mx, sum)
				}
				y := append([]float32(nil), x...)
				SoftmaxInPlace(y)
				for i, v := range y {
					if v == v {
						t.Fatalf("n=%d NaN at %d: softmax[%d] = %v, want NaN", n, pos, i, v)
					}
				}
				x[pos] = inf
				if mx, sum := MaxSumExp(x); mx != inf || sum == sum {
					t.Fatalf("n=%d +Inf at %d: MaxSumExp = (%v, %v), want (+Inf, NaN)", n, pos, mx, sum)
				}
				x[pos] = float32(math.Inf(-1))
				mx, sum := MaxSumExp(x)
				wmx, wsum := RefMaxSumExp(x)
				if mx != wmx || relErr(float64(sum), float64(wsum)) > 1e-6 {
					t.Fatalf("n=%d -Inf at %d: MaxSumExp = (%v, %v), want (%v, %v)", n, pos, mx, sum, wmx, wsum)
				}
			}
		}
		if mx, sum := MaxSumExp(nil); !math.IsInf(float64(mx), -1) || sum != 0 {
			t.Fatalf("MaxSumExp(nil) = (%v, %v)", mx, sum)
		}
		// SwiGLU of extreme gates matches the reference (0, −0, NaN, ±Inf).
		g := []float32{float32(math.Inf(-1)), inf, nan, -200, 200, -90, 90, 0, -1e-30, 1e-30, -88.8, 88.8}
		u := make([]float32, len(g))
		for i := range u {
			u[i] = 1.5
		}
		y, want := make([]float32, len(g)), make([]float32, len(g))
		SwiGLU(y, g, u)
		RefSwiGLU(want, g, u)
		for i := range g {
			if !(sameF32(y[i], want[i]) || math.Abs(float64(y[i]-want[i])) <= 4e-7*math.Abs(float64(want[i]))+1e-37) {
				t.Fatalf("SwiGLU g=%v: %v, want %v", g[i], y[i], want[i])
			}
		}
	})
}

func TestVecNoAlloc(t *testing.T) {
	forEachLevel(t, func(t *testing.T, l int) {
		n := 37
		a, b, c, d, e := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		allocs := testing.AllocsPerRun(10, func() {
			MaxSumExp(a)
			AddScaledExp(b, a, 1, 2)
			SoftmaxInPlace(c)
			SwiGLU(d, a, b)
			SwiGLUBackward(d, e, a, b, c)
			SwiGLUBackward(nil, e, a, b, c)
			AdamW(a, b, c, e, AdamWParams{0.9, 0.99, 1, 0.1, 1, 1e-8, 1})
			SumSquares(a)
			ScaleMul(d, a, b, 2)
		})
		if allocs != 0 {
			t.Fatalf("%v allocations per run, want 0", allocs)
		}
	})
}

func TestVecLengthMismatchPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"AddScaledExp": func() { AddScaledExp(make([]float32, 3), make([]float32, 4), 0, 1) },
		"SwiGLU":       func() { SwiGLU(make([]float32, 3), make([]float32, 3), make([]float32, 2)) },
		"SwiGLUBackward": func() {
			SwiGLUBackward(make([]float32, 2), nil, make([]float32, 3), make([]float32, 3), make([]float32, 3))
		},
		"AdamW": func() {
			AdamW(make([]float32, 3), make([]float32, 3), make([]float32, 3), make([]float32, 4), AdamWParams{})
		},
		"ScaleMul": func() { ScaleMul(make([]float32, 3), make([]float32, 2), make([]float32, 3), 1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with mismatched lengths did not panic", name)
				}
			}()
			f()
		}()
	}
}
