//go:build arm64 && gc && !purego

#include "textflag.h"

// NEON vector kernels (see vec.go for the semantics and the exp algorithm).
// Every function handles n elements, n a positive multiple of 4; the Go
// wrappers bound n and do the tails.
//
// Go's arm64 assembler has no floating-point vector arithmetic, so those
// instructions are encoded here with WORD: each macro names the A64
// instruction (.4S arrangement) and takes register numbers d, n, m.
// Check them with go tool objdump, which decodes them back to the names
// below (GOARCH=arm64 go test -c -o asm.test ./asm && go tool objdump -s
// 'vec.*NEON' asm.test); the tests run them under qemu-aarch64.

#define RDNM(op, d, n, m) WORD $((op) | ((m)<<16) | ((n)<<5) | (d))
#define RDN(op, d, n) WORD $((op) | ((n)<<5) | (d))

#define FADD4(d, n, m) RDNM(0x4E20D400, d, n, m)   // fadd   vd.4s, vn.4s, vm.4s
#define FSUB4(d, n, m) RDNM(0x4EA0D400, d, n, m)   // fsub   vd.4s, vn.4s, vm.4s
#define FMUL4(d, n, m) RDNM(0x6E20DC00, d, n, m)   // fmul   vd.4s, vn.4s, vm.4s
#define FDIV4(d, n, m) RDNM(0x6E20FC00, d, n, m)   // fdiv   vd.4s, vn.4s, vm.4s
#define FMAX4(d, n, m) RDNM(0x4E20F400, d, n, m)   // fmax   vd.4s, vn.4s, vm.4s (NaN wins)
#define FMIN4(d, n, m) RDNM(0x4EA0F400, d, n, m)   // fmin   vd.4s, vn.4s, vm.4s (NaN wins)
#define FMAXNM4(d, n, m) RDNM(0x4E20C400, d, n, m) // fmaxnm vd.4s, vn.4s, vm.4s (number wins)
#define FMLA4(d, n, m) RDNM(0x4E20CC00, d, n, m)   // fmla   vd.4s, vn.4s, vm.4s: d += n·m
#define FMLS4(d, n, m) RDNM(0x4EA0CC00, d, n, m)   // fmls   vd.4s, vn.4s, vm.4s: d −= n·m
#define FCMGT4(d, n, m) RDNM(0x6EA0E400, d, n, m)  // fcmgt  vd.4s, vn.4s, vm.4s: d = n > m
#define FADDP4(d, n, m) RDNM(0x6E20D400, d, n, m)  // faddp  vd.4s, vn.4s, vm.4s
#define ADD4(d, n, m) RDNM(0x4EA08400, d, n, m)    // add    vd.4s, vn.4s, vm.4s
#define MOV16(d, n) RDNM(0x4EA01C00, d, n, n)      // mov    vd.16b, vn.16b (orr)
#define BIT16(d, n, m) RDNM(0x6EA01C00, d, n, m)   // bit    vd.16b, vn.16b, vm.16b: d = m ? n : d
#define FSQRT4(d, n) RDN(0x6EA1F800, d, n)         // fsqrt  vd.4s, vn.4s
#define FRINTN4(d, n) RDN(0x4E218800, d, n)        // frintn vd.4s, vn.4s
#define FCVTZS4(d, n) RDN(0x4EA1B800, d, n)        // fcvtzs vd.4s, vn.4s
#define SHL23(d, n) RDN(0x4F375400, d, n)          // shl    vd.4s, vn.4s, #23
#define FMAXNMV4(d, n) RDN(0x6E30C800, d, n)       // fmaxnmv sd, vn.4s

// Exp constants, loaded by EXPCONST into V20–V31 (V19 = 0).
DATA neonconst<>+0(SB)/4, $0x3fb8aa3b  // V31 log2(e)
DATA neonconst<>+4(SB)/4, $0x3f317218  // V30 ln2 high part
DATA neonconst<>+8(SB)/4, $0xb102e308  // V29 ln2 low part
DATA neonconst<>+12(SB)/4, $0x3ab511e7 // V28 c6
DATA neonconst<>+16(SB)/4, $0x3c091d10 // V27 c5
DATA neonconst<>+20(SB)/4, $0x3d2aac79 // V26 c4
DATA neonconst<>+24(SB)/4, $0x3e2aaa49 // V25 c3
DATA neonconst<>+28(SB)/4, $0x3efffffe // V24 c2
DATA neonconst<>+32(SB)/4, $0x3f800000 // V23 1
DATA neonconst<>+36(SB)/4, $0xc2ae999a // V22 −87.3: exp below is 0
DATA neonconst<>+40(SB)/4, $0x42b17217 // V21 88.72283: largest with finite exp
DATA neonconst<>+44(SB)/4, $0x7f800000 // V20 +Inf
DATA neonconst<>+48(SB)/4, $0xff800000 // −Inf
GLOBL neonconst<>(SB), RODATA|NOPTR, $52

#define EXPCONST \
	MOVD $neonconst<>(SB), R9;     \
	VLD1R.P 4(R9), [V31.S4];       \
	VLD1R.P 4(R9), [V30.S4];       \
	VLD1R.P 4(R9), [V29.S4];       \
	VLD1R.P 4(R9), [V28.S4];       \
	VLD1R.P 4(R9), [V27.S4];       \
	VLD1R.P 4(R9), [V26.S4];       \
	VLD1R.P 4(R9), [V25.S4];       \
	VLD1R.P 4(R9), [V24.S4];       \
	VLD1R.P 4(R9), [V23.S4];       \
	VLD1R.P 4(R9), [V22.S4];       \
	VLD1R.P 4(R9), [V21.S4];       \
	VLD1R (R9), [V20.S4];          \
	VEOR V19.B16, V19.B16, V19.B16

// vX = exp(vX); T, U, N, M, H are clobbered. FMAX/FMIN propagate NaN;
// below −87.3 the result is 0 (M), above 88.72283 +Inf (H); the scale 2^n
// is added to the exponent bits.
#define EXP(X, T, U, N, M, H) \
	FCMGT4(M, 22, X);  \
	FCMGT4(H, X, 21);  \
	FMAX4(X, X, 22);   \
	FMIN4(X, X, 21);   \
	FMUL4(N, X, 31);   \
	FRINTN4(N, N);     \
	FMLS4(X, N, 30);   \
	FMLS4(X, N, 29);   \
	MOV16(T, 27);      \
	FMLA4(T, X, 28);   \
	MOV16(U, 26);      \
	FMLA4(U, X, T);    \
	MOV16(T, 25);      \
	FMLA4(T, X, U);    \
	MOV16(U, 24);      \
	FMLA4(U, X, T);    \
	MOV16(T, 23);      \
	FMLA4(T, X, U);    \
	MOV16(U, 23);      \
	FMLA4(U, X, T);    \
	FCVTZS4(N, N);     \
	SHL23(N, N);       \
	ADD4(X, U, N);     \
	BIT16(X, 19, M);   \
	BIT16(X, 20, H)

// Sum of the lanes of V0 into F0.
#define HSUM \
	FADDP4(0, 0, 0); \
	FADDP4(0, 0, 0)

// func vecMaxNEON(x *float32, n int) float32
// FMAXNM skips (quiet) NaN.
TEXT ·vecMaxNEON(SB), NOSPLIT, $0-20
	MOVD x+0(FP), R0
	MOVD n+8(FP), R1
	MOVD $neonconst<>+48(SB), R9
	VLD1R (R9), [V0.S4]
	VORR V0.B16, V0.B16, V1.B16
	VORR V0.B16, V0.B16, V2.B16
	VORR V0.B16, V0.B16, V3.B16
	CMP  $16, R1
	BLT  maxone

maxfour:
	VLD1.P 64(R0), [V4.S4, V5.S4, V6.S4, V7.S4]
	FMAXNM4(0, 0, 4)
	FMAXNM4(1, 1, 5)
	FMAXNM4(2, 2, 6)
	FMAXNM4(3, 3, 7)
	SUB  $16, R1, R1
	CMP  $16, R1
	BGE  maxfour

maxone:
	CBZ  R1, maxdone
	VLD1.P 16(R0), [V4.S4]
	FMAXNM4(0, 0, 4)
	SUB  $4, R1, R1
	B    maxone

maxdone:
	FMAXNM4(0, 0, 1)
	FMAXNM4(2, 2, 3)
	FMAXNM4(0, 0, 2)
	FMAXNMV4(0, 0)
	FMOVS F0, ret+16(FP)
	RET

// func vecSumExpNEON(x *float32, n int, sub float32) float32
TEXT ·vecSumExpNEON(SB), NOSPLIT, $0-28
	MOVD x+0(FP), R0
	MOVD n+8(FP), R1
	FMOVS sub+16(FP), F18
	VDUP V18.S[0], V18.S4
	EXPCONST
	VEOR V0.B16, V0.B16, V0.B16

sumexp:
	VLD1.P 16(R0), [V2.S4]
	FSUB4(2, 2, 18)
	EXP(2, 3, 4, 5, 6, 7)
	FADD4(0, 0, 2)
	SUBS $4, R1, R1
	BNE  sumexp
	HSUM
	FMOVS F0, ret+24(FP)
	RET

// func vecExpStoreNEON(x *float32, n int, sub float32) float32
TEXT ·vecExpStoreNEON(SB), NOSPLIT, $0-28
	MOVD x+0(FP), R0
	MOVD n+8(FP), R1
	FMOVS sub+16(FP), F18
	VDUP V18.S[0], V18.S4
	EXPCONST
	VEOR V0.B16, V0.B16, V0.B16

expstore:
	VLD1 (R0), [V2.S4]
	FSUB4(2, 2, 18)
	EXP(2, 3, 4, 5, 6, 7)
	VST1.P [V2.S4], 16(R0)
	FADD4(0, 0, 2)
	SUBS $4, R1, R1
	BNE  expstore
	HSUM
	FMOVS F0, ret+24(FP)
	RET

// func vecAddScaledExpNEON(dst, x *float32, n int, sub, scale float32)
TEXT ·vecAddScaledExpNEON(SB), NOSPLIT, $0-32
	MOVD dst+0(FP), R2
	MOVD x+8(FP), R0
	MOVD n+16(FP), R1
	FMOVS sub+24(FP), F18
	VDUP V18.S[0], V18.S4
	FMOVS scale+28(FP), F17
	VDUP V17.S[0], V17.S4
	EXPCONST

ase:
	VLD1.P 16(R0), [V2.S4]
	FSUB4(2, 2, 18)
	EXP(2, 3, 4, 5, 6, 7)
	VLD1 (R2), [V8.S4]
	FMLA4(8, 2, 17)
	VST1.P [V8.S4], 16(R2)
	SUBS $4, R1, R1
	BNE  ase
	RET

// func vecScaleNEON(x *float32, n int, s float32)
TEXT ·vecScaleNEON(SB), NOSPLIT, $0-20
	MOVD x+0(FP), R0
	MOVD n+8(FP), R1
	FMOVS s+16(FP), F18
	VDUP V18.S[0], V18.S4

scale:
	VLD1 (R0), [V2.S4]
	FMUL4(2, 2, 18)
	VST1.P [V2.S4], 16(R0)
	SUBS $4, R1, R1
	BNE  scale
	RET

// func vecScaleMulNEON(y, x, w *float32, n int, s float32)
// y = (x·s)·w
TEXT ·vecScaleMulNEON(SB), NOSPLIT, $0-36
	MOVD y+0(FP), R2
	MOVD x+8(FP), R0
	MOVD w+16(FP), R3
	MOVD n+24(FP), R1
	FMOVS s+32(FP), F18
	VDUP V18.S[0], V18.S4

scalemul:
	VLD1.P 16(R0), [V2.S4]
	VLD1.P 16(R3), [V3.S4]
	FMUL4(2, 2, 18)
	FMUL4(2, 2, 3)
	VST1.P [V2.S4], 16(R2)
	SUBS $4, R1, R1
	BNE  scalemul
	RET

// func vecSumSqNEON(x *float32, n int) float32
TEXT ·vecSumSqNEON(SB), NOSPLIT, $0-20
	MOVD x+0(FP), R0
	MOVD n+8(FP), R1
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	CMP  $16, R1
	BLT  sumsqone

sumsqfour:
	VLD1.P 64(R0), [V4.S4, V5.S4, V6.S4, V7.S4]
	FMLA4(0, 4, 4)
	FMLA4(1, 5, 5)
	FMLA4(2, 6, 6)
	FMLA4(3, 7, 7)
	SUB  $16, R1, R1
	CMP  $16, R1
	BGE  sumsqfour

sumsqone:
	CBZ  R1, sumsqdone
	VLD1.P 16(R0), [V4.S4]
	FMLA4(0, 4, 4)
	SUB  $4, R1, R1
	B    sumsqone

sumsqdone:
	FADD4(0, 0, 1)
	FADD4(2, 2, 3)
	FADD4(0, 0, 2)
	HSUM
	FMOVS F0, ret+16(FP)
	RET

// func vecSwiGLUNEON(y, gate, u *float32, n int)
// s = 1/(1+exp(−g)); y = (g·s)·u
TEXT ·vecSwiGLUNEON(SB), NOSPLIT, $0-32
	MOVD y+0(FP), R2
	MOVD gate+8(FP), R0
	MOVD u+16(FP), R3
	MOVD n+24(FP), R1
	EXPCONST

swiglu:
	VLD1.P 16(R0), [V0.S4]
	VLD1.P 16(R3), [V1.S4]
	FSUB4(2, 19, 0)
	EXP(2, 3, 4, 5, 6, 7)
	FADD4(2, 2, 23)
	FDIV4(2, 23, 2)
	FMUL4(0, 0, 2)
	FMUL4(0, 0, 1)
	VST1.P [V0.S4], 16(R2)
	SUBS $4, R1, R1
	BNE  swiglu
	RET

// func vecSwiGLUBwdNEON(dg, du, dy, gate, u *float32, n int, mode int)
// s = σ(g); mode&2: du += (dy·g)·s; mode&1: dg += ((dy·u)·s)·(1 + g·(1−s))
TEXT ·vecSwiGLUBwdNEON(SB), NOSPLIT, $0-56
	MOVD dg+0(FP), R4
	MOVD du+8(FP), R5
	MOVD dy+16(FP), R6
	MOVD gate+24(FP), R0
	MOVD u+32(FP), R3
	MOVD n+40(FP), R1
	MOVD mode+48(FP), R7
	EXPCONST

swiglubwd:
	VLD1.P 16(R0), [V0.S4]  // g
	VLD1.P 16(R3), [V1.S4]  // u
	VLD1.P 16(R6), [V8.S4]  // dy
	FSUB4(2, 19, 0)
	EXP(2, 3, 4, 5, 6, 7)
	FADD4(2, 2, 23)
	FDIV4(2, 23, 2)         // s
	TBZ  $1, R7, swiglubwddg
	VLD1 (R5), [V9.S4]
	FMUL4(10, 8, 0)
	FMUL4(10, 10, 2)
	FADD4(9, 9, 10)
	VST1 [V9.S4], (R5)

swiglubwddg:
	TBZ  $0, R7, swiglubwdnext
	VLD1 (R4), [V9.S4]
	FMUL4(10, 8, 1)
	FMUL4(10, 10, 2)
	FSUB4(11, 23, 2)        // 1−s
	FMUL4(11, 0, 11)        // g·(1−s)
	FADD4(11, 23, 11)       // 1 + g·(1−s)
	FMUL4(10, 10, 11)
	FADD4(9, 9, 10)
	VST1 [V9.S4], (R4)

swiglubwdnext:
	ADD  $16, R4, R4
	ADD  $16, R5, R5
	SUBS $4, R1, R1
	BNE  swiglubwd
	RET

// func vecAdamWNEON(w, grad, m, v *float32, n int, c *adamConsts)
// No fused multiply-add, reference order: see AdamW in vec.go.
TEXT ·vecAdamWNEON(SB), NOSPLIT, $0-48
	MOVD w+0(FP), R2
	MOVD grad+8(FP), R0
	MOVD m+16(FP), R3
	MOVD v+24(FP), R4
	MOVD n+32(FP), R1
	MOVD c+40(FP), R9
	VLD1R.P 4(R9), [V16.S4] // β1
	VLD1R.P 4(R9), [V17.S4] // 1−β1
	VLD1R.P 4(R9), [V18.S4] // β2
	VLD1R.P 4(R9), [V19.S4] // 1−β2
	VLD1R.P 4(R9), [V20.S4] // decay
	VLD1R.P 4(R9), [V21.S4] // step
	VLD1R.P 4(R9), [V22.S4] // sqrt(bc2)
	VLD1R.P 4(R9), [V23.S4] // eps
	VLD1R (R9), [V24.S4]    // grad scale

adamw:
	VLD1.P 16(R0), [V0.S4]
	VLD1 (R3), [V1.S4]
	VLD1 (R4), [V3.S4]
	VLD1 (R2), [V4.S4]
	FMUL4(0, 0, 24)         // gj
	FMUL4(1, 16, 1)         // β1·m
	FMUL4(2, 17, 0)         // (1−β1)·gj
	FADD4(1, 1, 2)          // m
	VST1.P [V1.S4], 16(R3)
	FMUL4(2, 19, 0)         // (1−β2)·gj
	FMUL4(2, 2, 0)          // ·gj
	FMUL4(3, 18, 3)         // β2·v
	FADD4(3, 3, 2)          // v
	VST1.P [V3.S4], 16(R4)
	FSQRT4(3, 3)
	FDIV4(3, 3, 22)
	FADD4(3, 3, 23)
	FMUL4(1, 21, 1)         // step·m
	FDIV4(1, 1, 3)
	FMUL4(4, 4, 20)         // w·decay
	FSUB4(4, 4, 1)
	VST1.P [V4.S4], 16(R2)
	SUBS $4, R1, R1
	BNE  adamw
	RET
