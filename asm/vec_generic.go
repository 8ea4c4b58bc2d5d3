package asm

import "math"

// The pure-Go vector kernels: the go level (vecGo: the purego tag, another
// architecture, RELORA_KERNEL=go or a CPU without the SIMD extensions),
// and the tails the SIMD levels leave to Go in AdamW, SumSquares and
// ScaleMul. The dispatcher in vec.go calls them; they check nothing.

// goMaxSumExp is MaxSumExp at the go level (the sum in float64).
func goMaxSumExp(x []float32) (mx, sum float32) {
	mx = negInf
	for _, v := range x {
		if v > mx {
			mx = v
		}
	}
	var s float64
	for _, v := range x {
		s += float64(goExp(v - mx))
	}
	return mx, float32(s)
}

// goAddScaledExp is AddScaledExp at the go level.
func goAddScaledExp(dst, x []float32, sub, scale float32) {
	for i, v := range x {
		dst[i] += scale * goExp(v-sub)
	}
}

// goSoftmax is SoftmaxInPlace at the go level (len(x) ≥ 1).
func goSoftmax(x []float32) {
	mx := negInf
	for _, v := range x {
		if v > mx {
			mx = v
		}
	}
	var s float64
	for i, v := range x {
		e := goExp(v - mx)
		x[i] = e
		s += float64(e)
	}
	inv := float32(1 / s)
	for i := range x {
		x[i] *= inv
	}
}

// goSwiGLU is SwiGLU at the go level.
func goSwiGLU(y, g, u []float32) {
	for i, x := range g {
		s := 1 / (1 + goExp(-x))
		y[i] = x * s * u[i]
	}
}

// goSwiGLUBackward is SwiGLUBackward at the go level (n = len(dy)).
func goSwiGLUBackward(dg, du, dy, g, u []float32, n int) {
	for i, x := range g[:n] {
		s := 1 / (1 + goExp(-x))
		d := dy[i]
		if du != nil {
			du[i] += d * x * s
		}
		if dg != nil {
			dg[i] += d * u[i] * s * (1 + x*(1-s))
		}
	}
}

// adamGo is AdamW on w, g, m, v (of len(w) elements) in the kernels' order
// of operations: all of it at the go level, the tail at the others.
func adamGo(w, g, m, v []float32, c *adamConsts) {
	b1, c1, b2, c2 := c.b1, c.c1, c.b2, c.c2
	decay, step, sq, eps, gs := c.decay, c.step, c.sq, c.eps, c.gs
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	for j := range w {
		gj := g[j] * gs
		m[j] = b1*m[j] + c1*gj
		v[j] = b2*v[j] + c2*gj*gj
		w[j] = w[j]*decay - step*m[j]/(float32(math.Sqrt(float64(v[j])))/sq+eps)
	}
}

// goSumSquares is Σ x[i]² in float64: all of SumSquares at the go level,
// the tail at the others. Four accumulators: the add latency, not the
// loads, bounds a single-accumulator loop.
func goSumSquares(x []float32) float64 {
	var t0, t1, t2, t3 float64
	i := 0
	for ; i+3 < len(x); i += 4 {
		a, b, c, d := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
		t0 += a * a
		t1 += b * b
		t2 += c * c
		t3 += d * d
	}
	for ; i < len(x); i++ {
		a := float64(x[i])
		t0 += a * a
	}
	return (t0 + t1) + (t2 + t3)
}

// goScaleMul is ScaleMul on len(x) elements: all of it at the go level,
// the tail at the others.
func goScaleMul(y, x, w []float32, s float32) {
	w = w[:len(x)]
	for i := range x {
		y[i] = x[i] * s * w[i]
	}
}

// Constants of the exp kernels (the assembly has the same values).
const (
	expLo = -87.3                // SIMD without VSCALEFPS: below, 0
	expHi = 88.72283172607421875 // largest float32 whose exp is finite
	// e^r ≈ 1 + r + r²·(c2 + c3·r + c4·r² + c5·r³ + c6·r⁴) on |r| ≤ ln2/2,
	// fitted here (iteratively reweighted least squares towards minimax
	// relative error): 3.1e-9 in float64, 3.6e-9 with float32 coefficients.
	expC2 = 0.49999993432099965
	expC3 = 0.16666520399002957
	expC4 = 0.041668390790326047
	expC5 = 0.0083687451125816353
	expC6 = 0.0013814539808141427
)

// goExp is e^x computed in float64 with the polynomial above and rounded to
// float32: within 1 ulp of float32(math.Exp(float64(x))), including the
// subnormal range; +Inf above expHi, 0 below −104, NaN for NaN.
func goExp(x float32) float32 {
	f := float64(x)
	if !(f > -104) {
		if f != f {
			return x
		}
		return 0
	}
	if f > 89 {
		return float32(math.Inf(1))
	}
	const magic = 0x1.8p52 // adding it rounds to an integer (nearest even)
	n := (f*math.Log2E + magic) - magic
	r := f - n*math.Ln2
	p := 1 + r*(1+r*(expC2+r*(expC3+r*(expC4+r*(expC5+r*expC6)))))
	return float32(p * math.Float64frombits(uint64(int64(n)+1023)<<52))
}
