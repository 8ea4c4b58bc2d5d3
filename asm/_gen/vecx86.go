package main

import "fmt"

// vx is one x86 vector level: AVX-512 (zmm) or AVX2+FMA (ymm). The kernels
// below are written once for both; where the levels differ (the exp, the
// unrolling of the exp loops, the masked tails of the softmax) they say so.
type vx struct {
	isa    string // function-name suffix: AVX512, AVX2
	v      string // register prefix: Z, Y
	lanes  int
	tag    string // label suffix: 512, 256
	unroll int    // vectors per step of the exp loops (1 or 2)
	s, s2  string // broadcast scalars: s = sub, s, 0 or the row max; s2 = scale or −Inf
	one    string // 1.0 once expConst has run
	dst    int    // first register AddScaledExp may use for dst (past the exp's)
}

var (
	vx512 = vx{isa: "AVX512", v: "Z", lanes: 16, tag: "512", unroll: 2, s: "Z20", s2: "Z19", one: zOne, dst: 8}
	vx256 = vx{isa: "AVX2", v: "Y", lanes: 8, tag: "256", unroll: 1, s: "Y11", s2: "Y10", one: yOne, dst: 7}
)

func (a vx) r(i int) string { return fmt.Sprintf("%s%d", a.v, i) }
func (a vx) bytes() int     { return 4 * a.lanes }

// x86Consts is the table vecconst<>: each constant repeated 8 times (32
// bytes) so that AVX2 can use it as a memory operand; AVX-512 broadcasts
// the first copy.
var x86Consts = append(append([]expConst(nil), expConsts...),
	expConst{0xc2d00000, "−104: AVX-512 clamp (exp rounds to 0)"},     // kLo512
	expConst{0x42b20000, "89: AVX-512 clamp (exp overflows to +Inf)"}, // kHi512
	negInfConst, // kNegInf
)

// Indexes of x86Consts past expConsts.
const (
	kLo512 = kInf + 1 + iota
	kHi512
	kNegInf
)

// kx is the address of constant k in vecconst<>.
func kx(k int) string {
	if k == 0 {
		return "vecconst<>(SB)"
	}
	return fmt.Sprintf("vecconst<>+%d(SB)", 32*k)
}

// AVX-512 keeps the exp constants in Z21–Z31.
const (
	zLog2e = "Z31"
	zC1    = "Z30"
	zC2    = "Z29"
	zP6    = "Z28"
	zOne   = "Z23"
	zLo    = "Z22" // kLo512
	zHi    = "Z21" // kHi512
)

// zReg is the register holding constant k (kP6..kP2 sit below zP6).
func zReg(k int) string {
	switch k {
	case kLo512:
		return zLo
	case kHi512:
		return zHi
	}
	return fmt.Sprintf("Z%d", 31-k)
}

// AVX2 keeps four exp constants in Y12–Y15; the others are memory operands.
const (
	yOne   = "Y12"
	yLog2e = "Y13"
	yHi    = "Y14"
	yLo    = "Y15"
)

// expConst loads the exp constants into their registers.
func (a vx) expConst(e *emitter) {
	if a.v == "Z" {
		for _, k := range []int{kLog2e, kC1, kC2, kP6, kP5, kP4, kP3, kP2, kOne, kLo512, kHi512} {
			e.op("VBROADCASTSS %s, %s", kx(k), zReg(k))
		}
		return
	}
	e.op("VBROADCASTSS %s, %s", kx(kOne), yOne)
	e.op("VBROADCASTSS %s, %s", kx(kLog2e), yLog2e)
	e.op("VBROADCASTSS %s, %s", kx(kHi), yHi)
	e.op("VBROADCASTSS %s, %s", kx(kLo), yLo)
}

// exp sets register x to exp(x), with x+1.. as temporaries (two for
// AVX-512, four for AVX2).
func (a vx) exp(e *emitter, x int) {
	if a.v == "Z" {
		exp512(e, a.r(x), a.r(x+1), a.r(x+2))
	} else {
		exp256(e, a.r(x), a.r(x+1), a.r(x+2), a.r(x+3), a.r(x+4))
	}
}

// exp512 is the AVX-512 exp: X = exp(X); T, N are clobbered. The clamps
// keep NaN (it is the second source, which MAXPS/MINPS return when either
// is NaN); VSCALEFPS makes overflow +Inf and underflow subnormal or 0.
func exp512(e *emitter, x, t, n string) {
	remark(e, x+" = exp("+x+")")
	e.op("VMAXPS %s, %s, %s", x, zLo, x)
	e.op("VMINPS %s, %s, %s", x, zHi, x)
	e.op("VMULPS %s, %s, %s", zLog2e, x, n)
	e.op("VRNDSCALEPS $0, %s, %s", n, n)
	e.op("VFNMADD231PS %s, %s, %s", zC1, n, x)
	e.op("VFNMADD231PS %s, %s, %s", zC2, n, x)
	e.op("VMOVAPS %s, %s", zP6, t)
	for _, k := range horner {
		e.op("VFMADD213PS %s, %s, %s", zReg(k), x, t)
	}
	e.op("VSCALEFPS %s, %s, %s", n, t, x)
}

// exp256 is the AVX2 exp: X = exp(X); T, N, M, H are clobbered. Below
// −87.3 the result is 0 (M), above 88.72283 +Inf (H); the clamps keep NaN,
// as in exp512. The scale 2^n is added to the exponent bits, so the clamped
// range keeps results normal.
func exp256(e *emitter, x, t, n, m, h string) {
	remark(e, x+" = exp("+x+")")
	e.op("VCMPPS $0x0e, %s, %s, %s", yHi, x, h)
	e.op("VCMPPS $0x05, %s, %s, %s", yLo, x, m)
	e.op("VMAXPS %s, %s, %s", x, yLo, x)
	e.op("VMINPS %s, %s, %s", x, yHi, x)
	e.op("VMULPS %s, %s, %s", yLog2e, x, n)
	e.op("VROUNDPS $0, %s, %s", n, n)
	e.op("VFNMADD231PS %s, %s, %s", kx(kC1), n, x)
	e.op("VFNMADD231PS %s, %s, %s", kx(kC2), n, x)
	e.op("VMOVUPS %s, %s", kx(kP6), t)
	for _, k := range horner {
		c := kx(k)
		if k == kOne {
			c = yOne
		}
		e.op("VFMADD213PS %s, %s, %s", c, x, t)
	}
	e.op("VCVTPS2DQ %s, %s", n, n)
	e.op("VPSLLD $23, %s, %s", n, n)
	e.op("VPADDD %s, %s, %s", n, t, x)
	e.op("VANDPS %s, %s, %s", m, x, x)
	e.op("VBLENDVPS %s, %s, %s, %s", h, kx(kInf), x, x)
}

// hreduce folds the lanes of register 0 into X0 with op (VADDPS, VMAXPS);
// it clobbers register 1.
func (a vx) hreduce(e *emitter, op string) {
	if a.v == "Z" {
		e.op("VEXTRACTF32X8 $1, Z0, Y1")
		e.op("%s Y1, Y0, Y0", op)
	}
	e.op("VEXTRACTF128 $1, Y0, X1")
	e.op("%s X1, X0, X0", op)
	e.op("VPERMILPS $0x4e, X0, X1")
	e.op("%s X1, X0, X0", op)
	e.op("VPERMILPS $0xb1, X0, X1")
	e.op("%s X1, X0, X0", op)
}

// next ends a loop over CX elements at label: the pointers advance by one
// vector.
func (a vx) next(e *emitter, label string, ptrs ...string) {
	for _, p := range ptrs {
		e.op("ADDQ $%d, %s", a.bytes(), p)
	}
	e.op("SUBQ $%d, CX", a.lanes)
	e.op("JNZ %s", label)
}

// stream emits the loop of an exp kernel over CX elements: body(k) handles
// k vectors (register sets u < k) and the pointers advance past them. With
// unroll 2, pairs of vectors, then at most one.
func (a vx) stream(e *emitter, label string, ptrs []string, body func(k int)) {
	switch a.unroll {
	case 1:
		e.label(label)
		body(1)
		a.next(e, label, ptrs...)
	case 2:
		e.op("CMPQ CX, $%d", 2*a.lanes)
		e.op("JLT %sone", label)
		e.label(label + "two")
		body(2)
		for _, p := range ptrs {
			e.op("ADDQ $%d, %s", 2*a.bytes(), p)
		}
		e.op("SUBQ $%d, CX", 2*a.lanes)
		e.op("CMPQ CX, $%d", 2*a.lanes)
		e.op("JGE %stwo", label)
		e.label(label + "one")
		e.op("TESTQ CX, CX")
		e.op("JZ %sdone", label)
		body(1)
		e.label(label + "done")
	default:
		panic("unroll must be 1 or 2")
	}
}

// expReg is the register exp kernels compute vector u in (its exp
// temporaries follow it).
func expReg(u int) int { return 2 + 3*u }

// reduce4 emits a reduction of x (vecMax, vecSumSq): four accumulators
// (registers 0–3, set up by init) fold four vectors at a time with
// op(acc, x), then one at a time; comb folds the accumulators and the lanes.
func (a vx) reduce4(e *emitter, name, label string, init func(), op func(acc, x string), comb string, notes ...string) {
	textFunc(e, name+a.isa, "(x *float32, n int) float32", "$0-20", notes...)
	e.op("MOVQ x+0(FP), SI")
	e.op("MOVQ n+8(FP), CX")
	init()
	e.op("CMPQ CX, $%d", 4*a.lanes)
	e.op("JLT %sone", label)
	e.label(label + "four")
	for i := 0; i < 4; i++ {
		e.op("VMOVUPS %s, %s", at(i*a.bytes(), "SI"), a.r(4+i))
	}
	for i := 0; i < 4; i++ {
		op(a.r(i), a.r(4+i))
	}
	e.op("ADDQ $%d, SI", 4*a.bytes())
	e.op("SUBQ $%d, CX", 4*a.lanes)
	e.op("CMPQ CX, $%d", 4*a.lanes)
	e.op("JGE %sfour", label)
	e.label(label + "one")
	e.op("TESTQ CX, CX")
	e.op("JZ %sdone", label)
	e.op("VMOVUPS (SI), %s", a.r(4))
	op(a.r(0), a.r(4))
	e.op("ADDQ $%d, SI", a.bytes())
	e.op("SUBQ $%d, CX", a.lanes)
	e.op("JMP %sone", label)
	e.label(label + "done")
	e.op("%s %s, %s, %s", comb, a.r(1), a.r(0), a.r(0))
	e.op("%s %s, %s, %s", comb, a.r(3), a.r(2), a.r(2))
	e.op("%s %s, %s, %s", comb, a.r(2), a.r(0), a.r(0))
	a.hreduce(e, comb)
	e.op("VMOVSS X0, ret+16(FP)")
	e.op("VZEROUPPER")
	e.op("RET")
	e.WriteString("\n")
}

func (a vx) max(e *emitter) {
	init := func() {
		e.op("VBROADCASTSS %s, %s", kx(kNegInf), a.r(0))
		for i := 1; i < 4; i++ {
			e.op("VMOVAPS %s, %s", a.r(0), a.r(i))
		}
	}
	op := func(acc, x string) { e.op("VMAXPS %s, %s, %s", acc, x, acc) }
	a.reduce4(e, "vecMax", "max"+a.tag, init, op, "VMAXPS",
		"NaN is skipped: the accumulator is the second source of VMAXPS.")
}

func (a vx) sumSq(e *emitter) {
	init := func() {
		for i := 0; i < 4; i++ {
			e.op("VXORPS %s, %s, %s", a.r(i), a.r(i), a.r(i))
		}
	}
	op := func(acc, x string) { e.op("VFMADD231PS %s, %s, %s", x, x, acc) }
	a.reduce4(e, "vecSumSq", "sumsq"+a.tag, init, op, "VADDPS")
}

// sumExp emits vecSumExp (Σ exp(x − sub)) or, with store, vecExpStore
// (which also writes exp(x − sub) back to x).
func (a vx) sumExp(e *emitter, store bool) {
	name, label := "vecSumExp", "sumexp"
	if store {
		name, label = "vecExpStore", "expstore"
	}
	textFunc(e, name+a.isa, "(x *float32, n int, sub float32) float32", "$0-28")
	e.op("MOVQ x+0(FP), SI")
	e.op("MOVQ n+8(FP), CX")
	e.op("VBROADCASTSS sub+16(FP), %s", a.s)
	a.expConst(e)
	for u := 0; u < a.unroll; u++ {
		e.op("VXORPS %s, %s, %s", a.r(u), a.r(u), a.r(u))
	}
	a.stream(e, label+a.tag, []string{"SI"}, func(k int) {
		for u := 0; u < k; u++ {
			e.op("VMOVUPS %s, %s", at(u*a.bytes(), "SI"), a.r(expReg(u)))
		}
		for u := 0; u < k; u++ {
			e.op("VSUBPS %s, %s, %s", a.s, a.r(expReg(u)), a.r(expReg(u)))
		}
		for u := 0; u < k; u++ {
			a.exp(e, expReg(u))
		}
		if store {
			for u := 0; u < k; u++ {
				e.op("VMOVUPS %s, %s", a.r(expReg(u)), at(u*a.bytes(), "SI"))
			}
		}
		for u := 0; u < k; u++ {
			e.op("VADDPS %s, %s, %s", a.r(expReg(u)), a.r(u), a.r(u))
		}
	})
	for u := 1; u < a.unroll; u++ {
		e.op("VADDPS %s, %s, %s", a.r(u), a.r(0), a.r(0))
	}
	a.hreduce(e, "VADDPS")
	e.op("VMOVSS X0, ret+24(FP)")
	e.op("VZEROUPPER")
	e.op("RET")
	e.WriteString("\n")
}

func (a vx) addScaledExp(e *emitter) {
	textFunc(e, "vecAddScaledExp"+a.isa, "(dst, x *float32, n int, sub, scale float32)", "$0-32")
	e.op("MOVQ dst+0(FP), DI")
	e.op("MOVQ x+8(FP), SI")
	e.op("MOVQ n+16(FP), CX")
	e.op("VBROADCASTSS sub+24(FP), %s", a.s)
	e.op("VBROADCASTSS scale+28(FP), %s", a.s2)
	a.expConst(e)
	a.stream(e, "ase"+a.tag, []string{"SI", "DI"}, func(k int) {
		for u := 0; u < k; u++ {
			e.op("VMOVUPS %s, %s", at(u*a.bytes(), "SI"), a.r(expReg(u)))
		}
		for u := 0; u < k; u++ {
			e.op("VSUBPS %s, %s, %s", a.s, a.r(expReg(u)), a.r(expReg(u)))
		}
		for u := 0; u < k; u++ {
			a.exp(e, expReg(u))
		}
		for u := 0; u < k; u++ {
			e.op("VMOVUPS %s, %s", at(u*a.bytes(), "DI"), a.r(a.dst+u))
		}
		for u := 0; u < k; u++ {
			e.op("VFMADD231PS %s, %s, %s", a.s2, a.r(expReg(u)), a.r(a.dst+u))
		}
		for u := 0; u < k; u++ {
			e.op("VMOVUPS %s, %s", a.r(a.dst+u), at(u*a.bytes(), "DI"))
		}
	})
	e.op("VZEROUPPER")
	e.op("RET")
	e.WriteString("\n")
}

func (a vx) scale(e *emitter) {
	textFunc(e, "vecScale"+a.isa, "(x *float32, n int, s float32)", "$0-20")
	e.op("MOVQ x+0(FP), SI")
	e.op("MOVQ n+8(FP), CX")
	e.op("VBROADCASTSS s+16(FP), %s", a.s)
	e.label("scale" + a.tag)
	e.op("VMULPS (SI), %s, %s", a.s, a.r(0))
	e.op("VMOVUPS %s, (SI)", a.r(0))
	a.next(e, "scale"+a.tag, "SI")
	e.op("VZEROUPPER")
	e.op("RET")
	e.WriteString("\n")
}

func (a vx) scaleMul(e *emitter) {
	textFunc(e, "vecScaleMul"+a.isa, "(y, x, w *float32, n int, s float32)", "$0-36", "y = (x·s)·w")
	e.op("MOVQ y+0(FP), DI")
	e.op("MOVQ x+8(FP), SI")
	e.op("MOVQ w+16(FP), DX")
	e.op("MOVQ n+24(FP), CX")
	e.op("VBROADCASTSS s+32(FP), %s", a.s)
	e.label("scalemul" + a.tag)
	e.op("VMULPS (SI), %s, %s", a.s, a.r(0))
	e.op("VMULPS (DX), %s, %s", a.r(0), a.r(0))
	e.op("VMOVUPS %s, (DI)", a.r(0))
	a.next(e, "scalemul"+a.tag, "SI", "DX", "DI")
	e.op("VZEROUPPER")
	e.op("RET")
	e.WriteString("\n")
}

// sigmoid loads g from (SI) into register 0 and sets register 2 to
// σ(g) = 1/(1 + exp(0 − g)); a.s holds 0.
func (a vx) sigmoid(e *emitter) {
	e.op("VMOVUPS (SI), %s", a.r(0))
	e.op("VSUBPS %s, %s, %s", a.r(0), a.s, a.r(2))
	a.exp(e, 2)
	e.op("VADDPS %s, %s, %s", a.one, a.r(2), a.r(2))
	e.op("VDIVPS %s, %s, %s // s", a.r(2), a.one, a.r(2))
}

func (a vx) swiGLU(e *emitter) {
	textFunc(e, "vecSwiGLU"+a.isa, "(y, gate, u *float32, n int)", "$0-32", "s = 1/(1+exp(−g)); y = (g·s)·u")
	e.op("MOVQ y+0(FP), DI")
	e.op("MOVQ gate+8(FP), SI")
	e.op("MOVQ u+16(FP), DX")
	e.op("MOVQ n+24(FP), CX")
	a.expConst(e)
	e.op("VXORPS %s, %s, %s", a.s, a.s, a.s)
	e.label("swiglu" + a.tag)
	a.sigmoid(e)
	e.op("VMULPS %s, %s, %s", a.r(2), a.r(0), a.r(0))
	e.op("VMULPS (DX), %s, %s", a.r(0), a.r(0))
	e.op("VMOVUPS %s, (DI)", a.r(0))
	a.next(e, "swiglu"+a.tag, "SI", "DX", "DI")
	e.op("VZEROUPPER")
	e.op("RET")
	e.WriteString("\n")
}

func (a vx) swiGLUBwd(e *emitter) {
	l := "swiglubwd" + a.tag
	textFunc(e, "vecSwiGLUBwd"+a.isa, "(dg, du, dy, gate, u *float32, n int, mode int)", "$0-56",
		"s = σ(g); mode&2: du += (dy·g)·s; mode&1: dg += ((dy·u)·s)·(1 + g·(1−s))")
	e.op("MOVQ dg+0(FP), R8")
	e.op("MOVQ du+8(FP), R9")
	e.op("MOVQ dy+16(FP), R10")
	e.op("MOVQ gate+24(FP), SI")
	e.op("MOVQ u+32(FP), DX")
	e.op("MOVQ n+40(FP), CX")
	e.op("MOVQ mode+48(FP), BX")
	a.expConst(e)
	e.op("VXORPS %s, %s, %s", a.s, a.s, a.s)
	e.label(l)
	a.sigmoid(e)
	e.op("VMOVUPS (R10), %s // dy", a.r(5))
	e.op("TESTQ $2, BX")
	e.op("JZ %sdg", l)
	e.op("VMULPS %s, %s, %s", a.r(0), a.r(5), a.r(6))
	e.op("VMULPS %s, %s, %s", a.r(2), a.r(6), a.r(6))
	e.op("VADDPS (R9), %s, %s", a.r(6), a.r(6))
	e.op("VMOVUPS %s, (R9)", a.r(6))
	e.label(l + "dg")
	e.op("TESTQ $1, BX")
	e.op("JZ %snext", l)
	e.op("VMULPS (DX), %s, %s", a.r(5), a.r(6))
	e.op("VMULPS %s, %s, %s", a.r(2), a.r(6), a.r(6))
	e.op("VSUBPS %s, %s, %s // 1−s", a.r(2), a.one, a.r(7))
	e.op("VMULPS %s, %s, %s // g·(1−s)", a.r(7), a.r(0), a.r(7))
	e.op("VADDPS %s, %s, %s // 1 + g·(1−s)", a.one, a.r(7), a.r(7))
	e.op("VMULPS %s, %s, %s", a.r(7), a.r(6), a.r(6))
	e.op("VADDPS (R8), %s, %s", a.r(6), a.r(6))
	e.op("VMOVUPS %s, (R8)", a.r(6))
	e.label(l + "next")
	a.next(e, l, "SI", "DX", "R8", "R9", "R10")
	e.op("VZEROUPPER")
	e.op("RET")
	e.WriteString("\n")
}

// softmax emits the one-call softmax of a row of any length n ≥ 1 (max,
// then exp-store and sum, then scale). The last n%lanes elements are read
// and written under a lane mask: K1 for AVX-512, Y8 with VMASKMOVPS for
// AVX2, where masked-off lanes read as −Inf (a.s2) for the max and the sum.
func (a vx) softmax(e *emitter) {
	z := a.v == "Z"
	note := []string{
		"The whole softmax of a row of any length n ≥ 1 in one call (max, then",
		"exp-store and sum, then scale), the last n%16 elements under mask K1: rows",
		"of attention are short and mostly not multiples of 16. n ≤ vecChunk.",
	}
	if !z {
		note = []string{
			"vecSoftmaxAVX512 for AVX2: the last n%8 elements are read and written with",
			"VMASKMOVPS under the lane mask Y8 (masked-off lanes read as −Inf).",
		}
		// Lane indexes, compared with the tail length to make the mask.
		for i := 0; i < 8; i++ {
			fmt.Fprintf(e, "DATA vecidx<>+%d(SB)/4, $%d\n", 4*i, i)
		}
		e.WriteString("GLOBL vecidx<>(SB), RODATA|NOPTR, $32\n\n")
	}
	textFunc(e, "vecSoftmax"+a.isa, "(x *float32, n int)", "$0-16", note...)
	e.op("MOVQ x+0(FP), SI")
	e.op("MOVQ n+8(FP), BX")
	e.op("MOVQ BX, CX")
	e.op("ANDQ $%d, CX // tail length", a.lanes-1)
	if z {
		e.op("MOVL $1, AX")
		e.op("SHLL CX, AX")
		e.op("DECL AX")
		e.op("KMOVW AX, K1 // tail lanes")
	} else {
		e.op("MOVQ CX, X8")
		e.op("VPBROADCASTD X8, Y8")
		e.op("VMOVDQU vecidx<>(SB), Y9")
		e.op("VPCMPGTD Y9, Y8, Y8 // lane < tail length")
	}
	e.op("SHRQ $%d, BX // whole vectors", log2(a.lanes))
	e.op("VBROADCASTSS %s, %s", kx(kNegInf), a.s2)

	// row runs body over the whole vectors at DI, then labels the tail.
	row := func(label string, body func()) {
		e.op("MOVQ SI, DI")
		e.op("MOVQ BX, DX")
		e.op("TESTQ DX, DX")
		e.op("JZ %stail", label)
		e.label(label)
		body()
		e.op("ADDQ $%d, DI", a.bytes())
		e.op("DECQ DX")
		e.op("JNZ %s", label)
		e.label(label + "tail")
	}
	// loadTail loads the tail into register r, −Inf in the lanes past it.
	loadTail := func(r string) {
		if z {
			e.op("VMOVAPS %s, %s", a.s2, r)
			e.op("VMOVUPS (DI), K1, %s", r)
		} else {
			e.op("VMASKMOVPS (DI), Y8, %s", r)
			e.op("VBLENDVPS Y8, %s, %s, %s", r, a.s2, r)
		}
	}
	storeTail := func(r string) {
		if z {
			e.op("VMOVUPS %s, K1, (DI)", r)
		} else {
			e.op("VMASKMOVPS %s, Y8, (DI)", r)
		}
	}
	// AVX2 jumps over the exp and scale tails when there is none (AVX-512
	// runs them under an empty mask).
	skipEmpty := func(label string) {
		if !z {
			e.op("TESTQ CX, CX")
			e.op("JZ %s", label)
		}
	}

	remark(e, "max (NaN skipped)")
	e.op("VMOVAPS %s, %s", a.s2, a.r(0))
	row("smax"+a.tag, func() {
		e.op("VMOVUPS (DI), %s", a.r(4))
		e.op("VMAXPS %s, %s, %s", a.r(0), a.r(4), a.r(0))
	})
	loadTail(a.r(4))
	e.op("VMAXPS %s, %s, %s", a.r(0), a.r(4), a.r(0))
	a.hreduce(e, "VMAXPS")
	e.op("VBROADCASTSS X0, %s", a.s)

	remark(e, "x = exp(x − max), sum")
	a.expConst(e)
	e.op("VXORPS %s, %s, %s", a.r(0), a.r(0), a.r(0))
	row("sexp"+a.tag, func() {
		e.op("VMOVUPS (DI), %s", a.r(2))
		e.op("VSUBPS %s, %s, %s", a.s, a.r(2), a.r(2))
		a.exp(e, 2)
		e.op("VMOVUPS %s, (DI)", a.r(2))
		e.op("VADDPS %s, %s, %s", a.r(2), a.r(0), a.r(0))
	})
	skipEmpty("sexp" + a.tag + "sum")
	loadTail(a.r(2))
	e.op("VSUBPS %s, %s, %s", a.s, a.r(2), a.r(2))
	a.exp(e, 2)
	storeTail(a.r(2))
	e.op("VADDPS %s, %s, %s", a.r(2), a.r(0), a.r(0))
	if !z {
		e.label("sexp" + a.tag + "sum")
	}
	a.hreduce(e, "VADDPS")
	e.op("VMOVSS %s, X1", kx(kOne))
	e.op("VDIVSS X0, X1, X1")
	e.op("VBROADCASTSS X1, %s", a.s)

	remark(e, "x *= 1/sum")
	row("sscale"+a.tag, func() {
		e.op("VMULPS (DI), %s, %s", a.s, a.r(2))
		e.op("VMOVUPS %s, (DI)", a.r(2))
	})
	skipEmpty("sscale" + a.tag + "done")
	if z {
		e.op("VMOVUPS.Z (DI), K1, Z2")
		e.op("VMULPS Z2, %s, Z2", a.s)
	} else {
		e.op("VMASKMOVPS (DI), Y8, Y2")
		e.op("VMULPS %s, Y2, Y2", a.s)
	}
	storeTail(a.r(2))
	if !z {
		e.label("sscale" + a.tag + "done")
	}
	e.op("VZEROUPPER")
	e.op("RET")
	e.WriteString("\n")
}

// adamW256 is AdamW with ymm registers (the package runs it at both levels,
// see kAdamW): no fused multiply-add, the reference order.
func adamW256(e *emitter) {
	textFunc(e, "vecAdamWAVX2", "(w, grad, m, v *float32, n int, c *adamConsts)", "$0-48")
	e.op("MOVQ w+0(FP), DI")
	e.op("MOVQ grad+8(FP), SI")
	e.op("MOVQ m+16(FP), R8")
	e.op("MOVQ v+24(FP), R9")
	e.op("MOVQ n+32(FP), CX")
	e.op("MOVQ c+40(FP), AX")
	// adamConsts, field by field.
	for i, c := range []struct{ r, what string }{
		{"Y8", "β1"}, {"Y9", "1−β1"}, {"Y10", "β2"}, {"Y11", "1−β2"}, {"Y12", "decay"},
		{"Y13", "step"}, {"Y14", "sqrt(bc2)"}, {"Y15", "eps"}, {"Y7", "grad scale"},
	} {
		e.op("VBROADCASTSS %d(AX), %s // %s", 4*i, c.r, c.what)
	}
	e.label("adamw256")
	for _, s := range []string{
		"VMULPS (SI), Y7, Y0 // gj",
		"VMULPS (R8), Y8, Y1 // β1·m",
		"VMULPS Y9, Y0, Y2 // (1−β1)·gj",
		"VADDPS Y2, Y1, Y1 // m",
		"VMOVUPS Y1, (R8)",
		"VMULPS Y11, Y0, Y2 // (1−β2)·gj",
		"VMULPS Y0, Y2, Y2 // ·gj",
		"VMULPS (R9), Y10, Y3 // β2·v",
		"VADDPS Y2, Y3, Y3 // v",
		"VMOVUPS Y3, (R9)",
		"VSQRTPS Y3, Y3",
		"VDIVPS Y14, Y3, Y3",
		"VADDPS Y15, Y3, Y3",
		"VMULPS Y13, Y1, Y1 // step·m",
		"VDIVPS Y3, Y1, Y1",
		"VMULPS (DI), Y12, Y4 // w·decay",
		"VSUBPS Y1, Y4, Y4",
		"VMOVUPS Y4, (DI)",
	} {
		e.op("%s", s)
	}
	vx256.next(e, "adamw256", "SI", "DI", "R8", "R9")
	e.op("VZEROUPPER")
	e.op("RET")
	e.WriteString("\n")
}

// vecX86 is vec_amd64.s.
func vecX86() *emitter {
	e := newFile("amd64 && gc && !purego")
	e.comment("Vector kernels (see vec.go for the semantics and the exp algorithm).")
	e.comment("Every function handles n elements, n a positive multiple of its width")
	e.comment("(16 for AVX-512, 8 for AVX2); the Go wrappers bound n and do the tails.")
	e.comment("vecSoftmax* take any n ≥ 1 up to vecChunk.")
	e.WriteString("\n")
	e.comment("Constants, each repeated 8 times (32 bytes) so that AVX2 can use them as")
	e.comment("memory operands; AVX-512 broadcasts the first copy.")
	for k, c := range x86Consts {
		e.comment("%s: %s", kx(k), c.what)
		for i := 0; i < 8; i++ {
			fmt.Fprintf(e, "DATA vecconst<>+%d(SB)/4, $0x%08x\n", 32*k+4*i, c.bits)
		}
	}
	fmt.Fprintf(e, "GLOBL vecconst<>(SB), RODATA|NOPTR, $%d\n\n", 32*len(x86Consts))
	for _, a := range []vx{vx512, vx256} {
		e.comment("---------------------------------------------------------------------------")
		if a.v == "Z" {
			e.comment("AVX-512. Exp constants live in Z21–Z31.")
		} else {
			e.comment("AVX2+FMA. Y12–Y15 hold exp constants; the rest are memory operands.")
		}
		e.WriteString("\n")
		a.max(e)
		a.sumExp(e, false)
		a.sumExp(e, true)
		a.addScaledExp(e)
		a.scale(e)
		a.scaleMul(e)
		a.sumSq(e)
		a.swiGLU(e)
		a.swiGLUBwd(e)
		a.softmax(e)
	}
	adamW256(e)
	return e
}
