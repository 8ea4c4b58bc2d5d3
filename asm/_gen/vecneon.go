package main

import "fmt"

// NEON (arm64) vector kernels, 4 lanes. Go's arm64 assembler has no
// floating-point vector arithmetic, so those instructions are encoded here
// as WORDs, each with the A64 instruction in a comment; go tool objdump
// decodes them back (GOARCH=arm64 go test -c -o asm.test ./asm && go tool
// objdump -s 'vec.*NEON' asm.test) and the tests run them under qemu-aarch64.

// a64 emits the instruction word w with its disassembly.
func a64(e *emitter, w uint32, format string, args ...any) {
	e.op("WORD $0x%08x // %s", w, fmt.Sprintf(format, args...))
}

// vvv is a three-register .4S instruction d = n op m.
func vvv(name string, op uint32) func(e *emitter, d, n, m int) {
	return func(e *emitter, d, n, m int) {
		a64(e, op|uint32(m)<<16|uint32(n)<<5|uint32(d), "%s v%d.4s, v%d.4s, v%d.4s", name, d, n, m)
	}
}

// vv is a two-register .4S instruction d = op n.
func vv(name string, op uint32) func(e *emitter, d, n int) {
	return func(e *emitter, d, n int) {
		a64(e, op|uint32(n)<<5|uint32(d), "%s v%d.4s, v%d.4s", name, d, n)
	}
}

var (
	fadd4   = vvv("fadd", 0x4E20D400)
	fsub4   = vvv("fsub", 0x4EA0D400)
	fmul4   = vvv("fmul", 0x6E20DC00)
	fdiv4   = vvv("fdiv", 0x6E20FC00)
	fmax4   = vvv("fmax", 0x4E20F400)   // NaN wins
	fmin4   = vvv("fmin", 0x4EA0F400)   // NaN wins
	fmaxnm4 = vvv("fmaxnm", 0x4E20C400) // a number wins over a quiet NaN
	fmla4   = vvv("fmla", 0x4E20CC00)   // d += n·m
	fmls4   = vvv("fmls", 0x4EA0CC00)   // d −= n·m
	fcmgt4  = vvv("fcmgt", 0x6EA0E400)  // d = n > m
	faddp4  = vvv("faddp", 0x6E20D400)
	add4    = vvv("add", 0x4EA08400)
	fsqrt4  = vv("fsqrt", 0x6EA1F800)
	frintn4 = vv("frintn", 0x4E218800)
	fcvtzs4 = vv("fcvtzs", 0x4EA1B800)
)

// mov16 is d = n (orr vd.16b, vn.16b, vn.16b).
func mov16(e *emitter, d, n int) {
	a64(e, 0x4EA01C00|uint32(n)<<16|uint32(n)<<5|uint32(d), "mov v%d.16b, v%d.16b", d, n)
}

// bit16 inserts the bits of n where m is set: d = m ? n : d.
func bit16(e *emitter, d, n, m int) {
	a64(e, 0x6EA01C00|uint32(m)<<16|uint32(n)<<5|uint32(d), "bit v%d.16b, v%d.16b, v%d.16b", d, n, m)
}

// shl23 is d = n << 23 (lanes as integers).
func shl23(e *emitter, d, n int) {
	a64(e, 0x4F375400|uint32(n)<<5|uint32(d), "shl v%d.4s, v%d.4s, #23", d, n)
}

// fmaxnmv is the max of the lanes of n into sd.
func fmaxnmv(e *emitter, d, n int) {
	a64(e, 0x6E30C800|uint32(n)<<5|uint32(d), "fmaxnmv s%d, v%d.4s", d, n)
}

// neonConsts is the table neonconst<> (4 bytes each). expConst loads
// constant k into V(31−k), so V20–V31 hold the exp constants and V19 = 0.
var neonConsts = append(append([]expConst(nil), expConsts...), negInfConst)

const (
	nInf  = 31 - kInf // +Inf
	nZero = 19
)

func nReg(k int) int { return 31 - k }

// expConstNEON loads the exp constants (R9 is clobbered).
func expConstNEON(e *emitter) {
	e.op("MOVD $neonconst<>(SB), R9")
	for k := kLog2e; k < kInf; k++ {
		e.op("VLD1R.P 4(R9), [V%d.S4]", nReg(k))
	}
	e.op("VLD1R (R9), [V%d.S4]", nReg(kInf))
	e.op("VEOR V%d.B16, V%d.B16, V%d.B16", nZero, nZero, nZero)
}

// expNEON is the NEON exp: vX = exp(vX); T, U, N, M, H are clobbered.
// FMAX/FMIN propagate NaN; below −87.3 the result is 0 (M), above 88.72283
// +Inf (H); the scale 2^n is added to the exponent bits. The polynomial
// alternates between T and U (there is no fused multiply-add by a
// coefficient register without a copy).
func expNEON(e *emitter, x, t, u, n, m, h int) {
	remark(e, fmt.Sprintf("v%d = exp(v%d)", x, x))
	fcmgt4(e, m, nReg(kLo), x)
	fcmgt4(e, h, x, nReg(kHi))
	fmax4(e, x, x, nReg(kLo))
	fmin4(e, x, x, nReg(kHi))
	fmul4(e, n, x, nReg(kLog2e))
	frintn4(e, n, n)
	fmls4(e, x, n, nReg(kC1))
	fmls4(e, x, n, nReg(kC2))
	p, q := t, u
	mov16(e, p, nReg(kP5))
	fmla4(e, p, x, nReg(kP6))
	for _, k := range horner[1:] {
		mov16(e, q, nReg(k))
		fmla4(e, q, x, p)
		p, q = q, p
	}
	fcvtzs4(e, n, n)
	shl23(e, n, n)
	add4(e, x, p, n)
	bit16(e, x, nZero, m)
	bit16(e, x, nInf, h)
}

// exp4 is expNEON of vX with the temporaries vX+1..vX+5.
func exp4(e *emitter, x int) { expNEON(e, x, x+1, x+2, x+3, x+4, x+5) }

// hsumNEON adds the lanes of V0 into F0.
func hsumNEON(e *emitter) {
	faddp4(e, 0, 0, 0)
	faddp4(e, 0, 0, 0)
}

// dupArg broadcasts the float32 argument arg into vR.
func dupArg(e *emitter, arg string, r int) {
	e.op("FMOVS %s, F%d", arg, r)
	e.op("VDUP V%d.S[0], V%d.S4", r, r)
}

// nextNEON ends a loop over R1 elements at label.
func nextNEON(e *emitter, label string) {
	e.op("SUBS $4, R1, R1")
	e.op("BNE %s", label)
}

// reduceNEON emits a reduction of x (vecMax, vecSumSq): four accumulators
// V0–V3 (set up by init) fold four vectors at a time with op(acc, x), then
// one at a time; comb folds the accumulators, final the lanes into F0.
func reduceNEON(e *emitter, name, label string, init func(), op, comb func(e *emitter, d, n, m int), final func(), notes ...string) {
	textFunc(e, name, "(x *float32, n int) float32", "$0-20", notes...)
	e.op("MOVD x+0(FP), R0")
	e.op("MOVD n+8(FP), R1")
	init()
	e.op("CMP $16, R1")
	e.op("BLT %sone", label)
	e.label(label + "four")
	e.op("VLD1.P 64(R0), [V4.S4, V5.S4, V6.S4, V7.S4]")
	for i := 0; i < 4; i++ {
		op(e, i, 4+i, 4+i)
	}
	e.op("SUB $16, R1, R1")
	e.op("CMP $16, R1")
	e.op("BGE %sfour", label)
	e.label(label + "one")
	e.op("CBZ R1, %sdone", label)
	e.op("VLD1.P 16(R0), [V4.S4]")
	op(e, 0, 4, 4)
	e.op("SUB $4, R1, R1")
	e.op("B %sone", label)
	e.label(label + "done")
	comb(e, 0, 0, 1)
	comb(e, 2, 2, 3)
	comb(e, 0, 0, 2)
	final()
	e.op("FMOVS F0, ret+16(FP)")
	e.op("RET")
	e.WriteString("\n")
}

// sumExpNEON emits vecSumExpNEON or, with store, vecExpStoreNEON.
func sumExpNEON(e *emitter, store bool) {
	name, label := "vecSumExpNEON", "sumexp"
	if store {
		name, label = "vecExpStoreNEON", "expstore"
	}
	textFunc(e, name, "(x *float32, n int, sub float32) float32", "$0-28")
	e.op("MOVD x+0(FP), R0")
	e.op("MOVD n+8(FP), R1")
	dupArg(e, "sub+16(FP)", 18)
	expConstNEON(e)
	e.op("VEOR V0.B16, V0.B16, V0.B16")
	e.label(label)
	if store {
		e.op("VLD1 (R0), [V2.S4]")
	} else {
		e.op("VLD1.P 16(R0), [V2.S4]")
	}
	fsub4(e, 2, 2, 18)
	exp4(e, 2)
	if store {
		e.op("VST1.P [V2.S4], 16(R0)")
	}
	fadd4(e, 0, 0, 2)
	nextNEON(e, label)
	hsumNEON(e)
	e.op("FMOVS F0, ret+24(FP)")
	e.op("RET")
	e.WriteString("\n")
}

// sigmoidNEON sets v2 = σ(v0) = 1/(1 + exp(0 − v0)).
func sigmoidNEON(e *emitter) {
	fsub4(e, 2, nZero, 0)
	exp4(e, 2)
	fadd4(e, 2, 2, nReg(kOne))
	fdiv4(e, 2, nReg(kOne), 2) // s
}

// vecNEON is vec_arm64.s.
func vecNEON() *emitter {
	e := newFile("arm64 && gc && !purego")
	e.comment("NEON vector kernels (see vec.go for the semantics and the exp algorithm).")
	e.comment("Every function handles n elements, n a positive multiple of 4; the Go")
	e.comment("wrappers bound n and do the tails. The floating-point vector instructions")
	e.comment("are WORDs (Go's arm64 assembler lacks them), each with its A64 form.")
	e.WriteString("\n")
	e.comment("Exp constants, loaded into V20–V31 (V19 = 0), then −Inf.")
	for k, c := range neonConsts {
		reg := ""
		if k <= kInf {
			reg = fmt.Sprintf("V%d ", nReg(k))
		}
		fmt.Fprintf(e, "DATA neonconst<>+%d(SB)/4, $0x%08x // %s%s\n", 4*k, c.bits, reg, c.what)
	}
	fmt.Fprintf(e, "GLOBL neonconst<>(SB), RODATA|NOPTR, $%d\n\n", 4*len(neonConsts))

	reduceNEON(e, "vecMaxNEON", "max", func() {
		e.op("MOVD $neonconst<>+%d(SB), R9", 4*(len(neonConsts)-1))
		e.op("VLD1R (R9), [V0.S4]")
		for i := 1; i < 4; i++ {
			e.op("VORR V0.B16, V0.B16, V%d.B16", i)
		}
	}, func(e *emitter, acc, x, _ int) { fmaxnm4(e, acc, acc, x) }, fmaxnm4,
		func() { fmaxnmv(e, 0, 0) }, "FMAXNM skips (quiet) NaN.")

	sumExpNEON(e, false)
	sumExpNEON(e, true)

	textFunc(e, "vecAddScaledExpNEON", "(dst, x *float32, n int, sub, scale float32)", "$0-32")
	e.op("MOVD dst+0(FP), R2")
	e.op("MOVD x+8(FP), R0")
	e.op("MOVD n+16(FP), R1")
	dupArg(e, "sub+24(FP)", 18)
	dupArg(e, "scale+28(FP)", 17)
	expConstNEON(e)
	e.label("ase")
	e.op("VLD1.P 16(R0), [V2.S4]")
	fsub4(e, 2, 2, 18)
	exp4(e, 2)
	e.op("VLD1 (R2), [V8.S4]")
	fmla4(e, 8, 2, 17)
	e.op("VST1.P [V8.S4], 16(R2)")
	nextNEON(e, "ase")
	e.op("RET")
	e.WriteString("\n")

	textFunc(e, "vecScaleNEON", "(x *float32, n int, s float32)", "$0-20")
	e.op("MOVD x+0(FP), R0")
	e.op("MOVD n+8(FP), R1")
	dupArg(e, "s+16(FP)", 18)
	e.label("scale")
	e.op("VLD1 (R0), [V2.S4]")
	fmul4(e, 2, 2, 18)
	e.op("VST1.P [V2.S4], 16(R0)")
	nextNEON(e, "scale")
	e.op("RET")
	e.WriteString("\n")

	textFunc(e, "vecScaleMulNEON", "(y, x, w *float32, n int, s float32)", "$0-36", "y = (x·s)·w")
	e.op("MOVD y+0(FP), R2")
	e.op("MOVD x+8(FP), R0")
	e.op("MOVD w+16(FP), R3")
	e.op("MOVD n+24(FP), R1")
	dupArg(e, "s+32(FP)", 18)
	e.label("scalemul")
	e.op("VLD1.P 16(R0), [V2.S4]")
	e.op("VLD1.P 16(R3), [V3.S4]")
	fmul4(e, 2, 2, 18)
	fmul4(e, 2, 2, 3)
	e.op("VST1.P [V2.S4], 16(R2)")
	nextNEON(e, "scalemul")
	e.op("RET")
	e.WriteString("\n")

	reduceNEON(e, "vecSumSqNEON", "sumsq", func() {
		for i := 0; i < 4; i++ {
			e.op("VEOR V%d.B16, V%d.B16, V%d.B16", i, i, i)
		}
	}, fmla4, fadd4, func() { hsumNEON(e) })

	textFunc(e, "vecSwiGLUNEON", "(y, gate, u *float32, n int)", "$0-32", "s = 1/(1+exp(−g)); y = (g·s)·u")
	e.op("MOVD y+0(FP), R2")
	e.op("MOVD gate+8(FP), R0")
	e.op("MOVD u+16(FP), R3")
	e.op("MOVD n+24(FP), R1")
	expConstNEON(e)
	e.label("swiglu")
	e.op("VLD1.P 16(R0), [V0.S4]")
	e.op("VLD1.P 16(R3), [V1.S4]")
	sigmoidNEON(e)
	fmul4(e, 0, 0, 2)
	fmul4(e, 0, 0, 1)
	e.op("VST1.P [V0.S4], 16(R2)")
	nextNEON(e, "swiglu")
	e.op("RET")
	e.WriteString("\n")

	textFunc(e, "vecSwiGLUBwdNEON", "(dg, du, dy, gate, u *float32, n int, mode int)", "$0-56",
		"s = σ(g); mode&2: du += (dy·g)·s; mode&1: dg += ((dy·u)·s)·(1 + g·(1−s))")
	e.op("MOVD dg+0(FP), R4")
	e.op("MOVD du+8(FP), R5")
	e.op("MOVD dy+16(FP), R6")
	e.op("MOVD gate+24(FP), R0")
	e.op("MOVD u+32(FP), R3")
	e.op("MOVD n+40(FP), R1")
	e.op("MOVD mode+48(FP), R7")
	expConstNEON(e)
	e.label("swiglubwd")
	e.op("VLD1.P 16(R0), [V0.S4] // g")
	e.op("VLD1.P 16(R3), [V1.S4] // u")
	e.op("VLD1.P 16(R6), [V8.S4] // dy")
	sigmoidNEON(e)
	e.op("TBZ $1, R7, swiglubwddg")
	e.op("VLD1 (R5), [V9.S4]")
	fmul4(e, 10, 8, 0)
	fmul4(e, 10, 10, 2)
	fadd4(e, 9, 9, 10)
	e.op("VST1 [V9.S4], (R5)")
	e.label("swiglubwddg")
	e.op("TBZ $0, R7, swiglubwdnext")
	e.op("VLD1 (R4), [V9.S4]")
	fmul4(e, 10, 8, 1)
	fmul4(e, 10, 10, 2)
	fsub4(e, 11, nReg(kOne), 2)  // 1−s
	fmul4(e, 11, 0, 11)          // g·(1−s)
	fadd4(e, 11, nReg(kOne), 11) // 1 + g·(1−s)
	fmul4(e, 10, 10, 11)
	fadd4(e, 9, 9, 10)
	e.op("VST1 [V9.S4], (R4)")
	e.label("swiglubwdnext")
	e.op("ADD $16, R4, R4")
	e.op("ADD $16, R5, R5")
	nextNEON(e, "swiglubwd")
	e.op("RET")
	e.WriteString("\n")

	textFunc(e, "vecAdamWNEON", "(w, grad, m, v *float32, n int, c *adamConsts)", "$0-48",
		"No fused multiply-add, reference order: see AdamW in vec.go.")
	e.op("MOVD w+0(FP), R2")
	e.op("MOVD grad+8(FP), R0")
	e.op("MOVD m+16(FP), R3")
	e.op("MOVD v+24(FP), R4")
	e.op("MOVD n+32(FP), R1")
	e.op("MOVD c+40(FP), R9")
	// adamConsts, field by field, into V16–V24.
	for i, what := range []string{"β1", "1−β1", "β2", "1−β2", "decay", "step", "sqrt(bc2)", "eps"} {
		e.op("VLD1R.P 4(R9), [V%d.S4] // %s", 16+i, what)
	}
	e.op("VLD1R (R9), [V24.S4] // grad scale")
	e.label("adamw")
	e.op("VLD1.P 16(R0), [V0.S4]")
	e.op("VLD1 (R3), [V1.S4]")
	e.op("VLD1 (R4), [V3.S4]")
	e.op("VLD1 (R2), [V4.S4]")
	fmul4(e, 0, 0, 24) // gj
	fmul4(e, 1, 16, 1) // β1·m
	fmul4(e, 2, 17, 0) // (1−β1)·gj
	fadd4(e, 1, 1, 2)  // m
	e.op("VST1.P [V1.S4], 16(R3)")
	fmul4(e, 2, 19, 0) // (1−β2)·gj
	fmul4(e, 2, 2, 0)  // ·gj
	fmul4(e, 3, 18, 3) // β2·v
	fadd4(e, 3, 3, 2)  // v
	e.op("VST1.P [V3.S4], 16(R4)")
	fsqrt4(e, 3, 3)
	fdiv4(e, 3, 3, 22)
	fadd4(e, 3, 3, 23)
	fmul4(e, 1, 21, 1) // step·m
	fdiv4(e, 1, 1, 3)
	fmul4(e, 4, 4, 20) // w·decay
	fsub4(e, 4, 4, 1)
	e.op("VST1.P [V4.S4], 16(R2)")
	nextNEON(e, "adamw")
	e.op("RET")
	return e
}
