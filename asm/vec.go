package asm

import (
	"fmt"
	"math"
	"strings"
)

// Vector kernels for the non-GEMM parts of a training step: cross-entropy
// (MaxSumExp, AddScaledExp), attention softmax (SoftmaxInPlace), SwiGLU and
// its backward, AdamW, RMSNorm (SumSquares, ScaleMul).
//
// Each kernel has a pure-Go reference (Ref…) with the same signature; the
// reference is the semantics, the kernels match it within the documented
// tolerances. They run at the level of the GEMM kernel that dispatch
// selected (Selected().Name: avx512…, avx2, neon, go), so RELORA_KERNEL and
// the purego tag govern them too; VecLevel names the level in use.
//
// The kernels allocate nothing and accept any length, 0 included. Slices
// that a kernel reads together must have the same length (it panics
// otherwise). The assembly handles whole vectors in calls of at most
// vecChunk elements (assembly is not preempted, so each call stays within a
// few microseconds); the tail is padded into a stack buffer or done in Go.
//
// Exp. The SIMD levels compute e^x as 2^n·p(r), x = n·ln2 + r, |r| ≤ ln2/2
// (ln2 split in two for the reduction, done with FMA), p a degree-6
// polynomial fitted for minimum relative error (3.6e-9 with float32
// coefficients), evaluated by Horner with FMA. Over [−87.3, 88.72] the
// relative error against float32(math.Exp(float64(x))) is below 2e-7
// (about 1.5 ulp; TestExpAccuracy measures it). Outside: x > 88.7228 gives
// +Inf, NaN gives NaN, −Inf gives 0. Below −87.3 (results under 2^−126) the
// AVX2 and NEON kernels flush to 0; AVX-512 (VSCALEFPS) and the go level
// return the subnormal result (rounded) and 0 below about −103.3. Either way
// the absolute error there is below 2^−126.
//
// The go level uses a float64 polynomial exp (goExp, no math.Exp call), whose
// float32 result is within 1 ulp of the reference's.

// AdamWParams are the per-step constants of one AdamW update (see AdamW).
type AdamWParams struct {
	Beta1, Beta2, Decay, StepSize, BC2Sqrt, Eps, GradScale float32
}

// Vector levels.
const (
	vecGo = iota
	vecAVX2
	vecAVX512
	vecNEON
)

var vecNames = [...]string{vecGo: "go", vecAVX2: "avx2", vecAVX512: "avx512", vecNEON: "neon"}

// vecLevel is the level every vector kernel runs at. It follows the GEMM
// kernel dispatch selected; this init runs after dispatch.go's (the go
// command hands a package's files to the compiler sorted by name, and init
// functions run in that order; TestVecLevelFollowsSelected checks it).
var vecLevel int

func init() { vecLevel = vecLevelOf(Selected().Name) }

// vecLevelOf maps a GEMM kernel name (which dispatch only selects when this
// CPU and build run it) to the vector level of the same instruction set.
func vecLevelOf(name string) int {
	switch {
	case strings.HasPrefix(name, "avx512"):
		return vecAVX512
	case strings.HasPrefix(name, "avx2"):
		return vecAVX2
	case strings.HasPrefix(name, "neon"):
		return vecNEON
	}
	return vecGo
}

// VecLevel names the instruction set the vector kernels use: "avx512",
// "avx2", "neon" or "go".
func VecLevel() string { return vecNames[vecLevel] }

// vecChunk is the most elements one assembly call handles (a multiple of
// every vector width): about 2–5 µs of work.
const vecChunk = 8192

// maxWidth is the widest vector (AVX-512: 16 floats); tails are padded to
// one vector in stack buffers of this size.
const maxWidth = 16

func vecWidth(l int) int {
	switch l {
	case vecAVX512:
		return 16
	case vecAVX2:
		return 8
	case vecNEON:
		return 4
	}
	return 1
}

var negInf = float32(math.Inf(-1))

func sameLen(what string, n int, lens ...int) {
	for _, m := range lens {
		if m != n {
			panic(fmt.Sprintf("asm: %s: slice lengths differ (%d and %d)", what, n, m))
		}
	}
}

// ---------------------------------------------------------------------------
// MaxSumExp

// MaxSumExp returns mx = max(x) and sum = Σ exp(x[i] − mx), so that the
// log-sum-exp of x is mx + log(sum). Empty x gives (−Inf, 0).
//
// NaN elements are skipped by the max but make sum NaN. If the max is +Inf
// then sum is NaN (exp(Inf − Inf)): the log-sum-exp is NaN, which a loss
// check sees as divergence. All −Inf also gives sum NaN. The sum
// accumulates in float32 lanes (one vector: 16, 8 or 4 lanes) over blocks of
// vecChunk elements and the blocks in float64. As the terms are positive its
// relative error is at most (vecChunk/lanes + 8)·2^−24 plus the exp error
// 2e-7: 3.1e-5 (AVX-512), 6.1e-5 (AVX2), 1.2e-4 (NEON) in the worst case;
// rounding errors average out, and the tests see below 1e-6. The go level
// sums in float64.
func MaxSumExp(x []float32) (mx, sum float32) {
	l := vecLevel
	if l == vecGo {
		return goMaxSumExp(x)
	}
	mx = vecMax(l, x)
	return mx, float32(vecSumExp(l, x, mx))
}

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

// vecMax is the max of x ignoring NaN (−Inf when empty).
func vecMax(l int, x []float32) float32 {
	mx := negInf
	n := len(x) &^ (vecWidth(l) - 1)
	for lo := 0; lo < n; lo += vecChunk {
		if m := kMax(l, &x[lo], min(vecChunk, n-lo)); m > mx {
			mx = m
		}
	}
	for _, v := range x[n:] {
		if v > mx {
			mx = v
		}
	}
	return mx
}

// vecSumExp is Σ exp(x[i] − sub); the tail is padded with −Inf.
func vecSumExp(l int, x []float32, sub float32) float64 {
	w := vecWidth(l)
	n := len(x) &^ (w - 1)
	var s float64
	for lo := 0; lo < n; lo += vecChunk {
		s += float64(kSumExp(l, &x[lo], min(vecChunk, n-lo), sub))
	}
	if n < len(x) {
		var buf [maxWidth]float32
		for i := range w {
			buf[i] = negInf
		}
		copy(buf[:], x[n:])
		s += float64(kSumExp(l, &buf[0], w, sub))
	}
	return s
}

// ---------------------------------------------------------------------------
// AddScaledExp

// AddScaledExp adds scale·exp(x[i] − sub) to dst[i] (the cross-entropy
// backward: sub is the row's log-sum-exp). len(dst) must equal len(x).
// The SIMD levels fuse the multiply-add (one rounding where the reference
// has two).
func AddScaledExp(dst, x []float32, sub, scale float32) {
	sameLen("AddScaledExp", len(dst), len(x))
	l := vecLevel
	if l == vecGo {
		for i, v := range x {
			dst[i] += scale * goExp(v-sub)
		}
		return
	}
	w := vecWidth(l)
	n := len(x) &^ (w - 1)
	for lo := 0; lo < n; lo += vecChunk {
		kAddScaledExp(l, &dst[lo], &x[lo], min(vecChunk, n-lo), sub, scale)
	}
	if n < len(x) {
		var bd, bx [maxWidth]float32
		copy(bd[:], dst[n:])
		copy(bx[:], x[n:])
		kAddScaledExp(l, &bd[0], &bx[0], w, sub, scale)
		copy(dst[n:], bd[:])
	}
}

// RefAddScaledExp is the reference for AddScaledExp.
func RefAddScaledExp(dst, x []float32, sub, scale float32) {
	sameLen("RefAddScaledExp", len(dst), len(x))
	for i, v := range x {
		dst[i] += scale * float32(math.Exp(float64(v-sub)))
	}
}

// ---------------------------------------------------------------------------
// SoftmaxInPlace

// SoftmaxInPlace replaces x by exp(x − max(x))/Σ exp(x − max(x)) (the max
// ignores NaN; a NaN element makes the whole row NaN). The sum is
// accumulated as in MaxSumExp and its inverse multiplies the row.
func SoftmaxInPlace(x []float32) {
	if len(x) == 0 {
		return
	}
	l := vecLevel
	if l == vecGo {
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
		return
	}
	if kSoftmax(l, x) {
		return
	}
	mx := vecMax(l, x)
	w := vecWidth(l)
	n := len(x) &^ (w - 1)
	var s float64
	for lo := 0; lo < n; lo += vecChunk {
		s += float64(kExpStore(l, &x[lo], min(vecChunk, n-lo), mx))
	}
	if n < len(x) {
		var buf [maxWidth]float32
		for i := range w {
			buf[i] = negInf
		}
		copy(buf[:], x[n:])
		s += float64(kExpStore(l, &buf[0], w, mx))
		copy(x[n:], buf[:])
	}
	inv := float32(1 / s)
	for lo := 0; lo < n; lo += vecChunk {
		kScale(l, &x[lo], min(vecChunk, n-lo), inv)
	}
	for i := n; i < len(x); i++ {
		x[i] *= inv
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

// ---------------------------------------------------------------------------
// SwiGLU

// SwiGLU sets y[i] = g[i]·σ(g[i])·u[i], σ(g) = 1/(1+exp(−g)). y, g and u
// have the same length (y may alias g or u).
func SwiGLU(y, g, u []float32) {
	sameLen("SwiGLU", len(y), len(g), len(u))
	l := vecLevel
	if l == vecGo {
		for i, x := range g {
			s := 1 / (1 + goExp(-x))
			y[i] = x * s * u[i]
		}
		return
	}
	w := vecWidth(l)
	n := len(y) &^ (w - 1)
	for lo := 0; lo < n; lo += vecChunk {
		kSwiGLU(l, &y[lo], &g[lo], &u[lo], min(vecChunk, n-lo))
	}
	if n < len(y) {
		var by, bg, bu [maxWidth]float32
		copy(bg[:], g[n:])
		copy(bu[:], u[n:])
		kSwiGLU(l, &by[0], &bg[0], &bu[0], w)
		copy(y[n:], by[:])
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

// SwiGLUBackward accumulates the gradients of y = g·σ(g)·u given dy: with
// s = σ(g), du[i] += dy·g·s and dg[i] += dy·u·s·(1 + g·(1−s)). dg or du may
// be nil (that output is skipped); the others have len(dy) elements.
func SwiGLUBackward(dg, du, dy, g, u []float32) {
	n := len(dy)
	sameLen("SwiGLUBackward", n, len(g), len(u))
	mode := 0
	if dg != nil {
		sameLen("SwiGLUBackward dg", n, len(dg))
		mode |= 1
	}
	if du != nil {
		sameLen("SwiGLUBackward du", n, len(du))
		mode |= 2
	}
	if mode == 0 || n == 0 {
		return
	}
	l := vecLevel
	if l == vecGo {
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
		return
	}
	w := vecWidth(l)
	m := n &^ (w - 1)
	var dummy [maxWidth]float32
	for lo := 0; lo < m; lo += vecChunk {
		pg, pu := &dummy[0], &dummy[0]
		if dg != nil {
			pg = &dg[lo]
		}
		if du != nil {
			pu = &du[lo]
		}
		kSwiGLUBwd(l, pg, pu, &dy[lo], &g[lo], &u[lo], min(vecChunk, m-lo), mode)
	}
	if m < n {
		var bdg, bdu, bdy, bg, bu [maxWidth]float32
		if dg != nil {
			copy(bdg[:], dg[m:])
		}
		if du != nil {
			copy(bdu[:], du[m:])
		}
		copy(bdy[:], dy[m:])
		copy(bg[:], g[m:])
		copy(bu[:], u[m:])
		kSwiGLUBwd(l, &bdg[0], &bdu[0], &bdy[0], &bg[0], &bu[0], w, mode)
		if dg != nil {
			copy(dg[m:], bdg[:])
		}
		if du != nil {
			copy(du[m:], bdu[:])
		}
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

// ---------------------------------------------------------------------------
// AdamW

// adamConsts is what the assembly reads (field order fixed: offsets 0..32).
type adamConsts struct {
	b1, c1, b2, c2, decay, step, sq, eps, gs float32
}

// AdamW performs one AdamW update of w with gradient g and moments m, v
// (all of len(w) elements), in the order of engine/adamw.go's loop:
//
//	gj = g·GradScale
//	m  = β1·m + (1−β1)·gj
//	v  = β2·v + (1−β2)·gj·gj
//	w  = w·Decay − StepSize·m/(sqrt(v)/BC2Sqrt + Eps)
//
// with 1−β1 and 1−β2 rounded to float32 first. The kernels use no fused
// multiply-add and a float32 sqrt (which equals the float64 sqrt rounded to
// float32), so on amd64 they match the reference bit for bit; the Go
// compiler fuses multiply-adds on arm64, where they differ by an ulp or so.
func AdamW(w, g, m, v []float32, p AdamWParams) {
	n := len(w)
	sameLen("AdamW", n, len(g), len(m), len(v))
	l := vecLevel
	c := adamConsts{p.Beta1, 1 - p.Beta1, p.Beta2, 1 - p.Beta2, p.Decay, p.StepSize, p.BC2Sqrt, p.Eps, p.GradScale}
	k := 0
	if l != vecGo {
		k = n &^ (vecWidth(l) - 1)
		for lo := 0; lo < k; lo += vecChunk {
			kAdamW(l, &w[lo], &g[lo], &m[lo], &v[lo], min(vecChunk, k-lo), &c)
		}
	}
	adamGo(w[k:], g[k:n], m[k:n], v[k:n], &c)
}

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

// ---------------------------------------------------------------------------
// SumSquares, ScaleMul

// sumSqChunk bounds the elements one float32 accumulation covers.
const sumSqChunk = 1024

// SumSquares returns Σ x[i]². The SIMD levels accumulate squares with FMA
// in float32 lanes (64 lanes with AVX-512, 32 with AVX2, 16 with NEON) over
// blocks of 1024 elements, reduce each block's lanes in float32 and add the
// blocks in float64. As every term is ≥ 0 the relative error is at most
// (1024/lanes + log2(lanes) + 1)·2^−24 + 2^−52·len(x)/1024: 1.4e-6 with
// AVX-512, 2.3e-6 with AVX2, 4.1e-6 with NEON. Squares overflow float32 to
// +Inf for |x| ≥ 1.8e19 (the float64 reference does not). The go level is
// the float64 reference.
func SumSquares(x []float32) float64 {
	l := vecLevel
	k := 0
	var s float64
	if l != vecGo {
		k = len(x) &^ (vecWidth(l) - 1)
		for lo := 0; lo < k; lo += sumSqChunk {
			s += float64(kSumSq(l, &x[lo], min(sumSqChunk, k-lo)))
		}
	}
	// four float64 accumulators: the add latency, not the loads, bounds a
	// single-accumulator loop
	var t0, t1, t2, t3 float64
	rest := x[k:]
	i := 0
	for ; i+3 < len(rest); i += 4 {
		a, b, c, d := float64(rest[i]), float64(rest[i+1]), float64(rest[i+2]), float64(rest[i+3])
		t0 += a * a
		t1 += b * b
		t2 += c * c
		t3 += d * d
	}
	for ; i < len(rest); i++ {
		a := float64(rest[i])
		t0 += a * a
	}
	return s + ((t0 + t1) + (t2 + t3))
}

// RefSumSquares is the reference for SumSquares (float64 accumulation).
func RefSumSquares(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s
}

// ScaleMul sets y[i] = x[i]·s·w[i] (the RMSNorm forward row, s = 1/rms);
// y, x and w have the same length (y may alias x).
func ScaleMul(y, x, w []float32, s float32) {
	n := len(y)
	sameLen("ScaleMul", n, len(x), len(w))
	l := vecLevel
	k := 0
	if l != vecGo {
		k = n &^ (vecWidth(l) - 1)
		for lo := 0; lo < k; lo += vecChunk {
			kScaleMul(l, &y[lo], &x[lo], &w[lo], min(vecChunk, k-lo), s)
		}
	}
	x, w = x[k:n], w[k:n]
	for i := range x {
		y[k+i] = x[i] * s * w[i]
	}
}

// RefScaleMul is the reference for ScaleMul.
func RefScaleMul(y, x, w []float32, s float32) {
	sameLen("RefScaleMul", len(y), len(x), len(w))
	for i := range y {
		y[i] = x[i] * s * w[i]
	}
}

// ---------------------------------------------------------------------------
// Exp

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
