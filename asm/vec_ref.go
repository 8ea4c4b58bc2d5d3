package asm

import "math"

// The references of the vector kernels: each Ref… has its kernel's
// signature and is its semantics, written as directly as possible in Go
// with math.Exp and math.Sqrt; the tests compare every level against them
// (vec.go documents the tolerances). Nothing else in the package calls them.

// RefMaxSumExp is the reference for MaxSumExp.
func RefMaxSumExp(x []float32) (mx, sum float32) {
	mx = negInf
	for _, v := range x {
		if v > mx {
			mx = v
		}
	}
	var s float64
	for _, v := range x {
		s += float64(float32(math.Exp(float64(v - mx))))
	}
	return mx, float32(s)
}

// RefAddScaledExp is the reference for AddScaledExp.
func RefAddScaledExp(dst, x []float32, sub, scale float32) {
	sameLen("RefAddScaledExp", len(dst), len(x))
	for i, v := range x {
		dst[i] += scale * float32(math.Exp(float64(v-sub)))
	}
}

// RefSoftmaxInPlace is the reference for SoftmaxInPlace.
func RefSoftmaxInPlace(x []float32) {
	if len(x) == 0 {
		return
	}
	mx := negInf
	for _, v := range x {
		if v > mx {
			mx = v
		}
	}
	var s float64
	for i, v := range x {
		e := float32(math.Exp(float64(v - mx)))
		x[i] = e
		s += float64(e)
	}
	inv := float32(1 / s)
	for i := range x {
		x[i] *= inv
	}
}

// RefSwiGLU is the reference for SwiGLU.
func RefSwiGLU(y, g, u []float32) {
	sameLen("RefSwiGLU", len(y), len(g), len(u))
	for i, x := range g {
		s := 1 / (1 + float32(math.Exp(float64(-x))))
		y[i] = x * s * u[i]
	}
}

// RefSwiGLUBackward is the reference for SwiGLUBackward.
func RefSwiGLUBackward(dg, du, dy, g, u []float32) {
	n := len(dy)
	sameLen("RefSwiGLUBackward", n, len(g), len(u))
	if dg != nil {
		sameLen("RefSwiGLUBackward dg", n, len(dg))
	}
	if du != nil {
		sameLen("RefSwiGLUBackward du", n, len(du))
	}
	for i, x := range g {
		s := 1 / (1 + float32(math.Exp(float64(-x))))
		d := dy[i]
		if du != nil {
			du[i] += d * x * s
		}
		if dg != nil {
			dg[i] += d * u[i] * s * (1 + x*(1-s))
		}
	}
}

// RefAdamW is the reference for AdamW (engine/adamw.go's loop).
func RefAdamW(w, g, m, v []float32, p AdamWParams) {
	sameLen("RefAdamW", len(w), len(g), len(m), len(v))
	b1, b2 := p.Beta1, p.Beta2
	for j := range w {
		gj := g[j] * p.GradScale
		m[j] = b1*m[j] + (1-b1)*gj
		v[j] = b2*v[j] + (1-b2)*gj*gj
		w[j] = w[j]*p.Decay - p.StepSize*m[j]/(float32(math.Sqrt(float64(v[j])))/p.BC2Sqrt+p.Eps)
	}
}

// RefSumSquares is the reference for SumSquares (float64 accumulation).
func RefSumSquares(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s
}

// RefScaleMul is the reference for ScaleMul.
func RefScaleMul(y, x, w []float32, s float32) {
	sameLen("RefScaleMul", len(y), len(x), len(w))
	for i := range y {
		y[i] = x[i] * s * w[i]
	}
}
