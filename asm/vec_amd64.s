//go:build amd64 && gc && !purego

#include "textflag.h"

// Vector kernels (see vec.go for the semantics and the exp algorithm).
// Every function handles n elements, n a positive multiple of its width
// (16 for AVX-512, 8 for AVX2); the Go wrappers bound n and do the tails.

// Constants, each repeated 8 times (32 bytes) so that AVX2 can use them as
// memory operands; AVX-512 broadcasts the first copy.
#define C8(off, v) DATA vecconst<>+(off)(SB)/4, $v; DATA vecconst<>+(off+4)(SB)/4, $v; DATA vecconst<>+(off+8)(SB)/4, $v; DATA vecconst<>+(off+12)(SB)/4, $v; DATA vecconst<>+(off+16)(SB)/4, $v; DATA vecconst<>+(off+20)(SB)/4, $v; DATA vecconst<>+(off+24)(SB)/4, $v; DATA vecconst<>+(off+28)(SB)/4, $v

C8(0, 0x3fb8aa3b)   // log2(e)
C8(32, 0x3f317218)  // ln2 high part (float32(ln2))
C8(64, 0xb102e308)  // ln2 low part (ln2 − float32(ln2))
C8(96, 0x3ab511e7)  // c6
C8(128, 0x3c091d10) // c5
C8(160, 0x3d2aac79) // c4
C8(192, 0x3e2aaa49) // c3
C8(224, 0x3efffffe) // c2
C8(256, 0x3f800000) // 1
C8(288, 0xc2ae999a) // −87.3: AVX2 flushes exp below it to 0
C8(320, 0x42b17217) // 88.72283: largest float32 with a finite exp
C8(352, 0x7f800000) // +Inf
C8(384, 0xc2d00000) // −104: AVX-512 clamp (exp rounds to 0)
C8(416, 0x42b20000) // 89: AVX-512 clamp (exp overflows to +Inf)
C8(448, 0xff800000) // −Inf
GLOBL vecconst<>(SB), RODATA|NOPTR, $480

#define K_LOG2E vecconst<>+0(SB)
#define K_C1 vecconst<>+32(SB)
#define K_C2 vecconst<>+64(SB)
#define K_P6 vecconst<>+96(SB)
#define K_P5 vecconst<>+128(SB)
#define K_P4 vecconst<>+160(SB)
#define K_P3 vecconst<>+192(SB)
#define K_P2 vecconst<>+224(SB)
#define K_ONE vecconst<>+256(SB)
#define K_LO vecconst<>+288(SB)
#define K_HI vecconst<>+320(SB)
#define K_INF vecconst<>+352(SB)
#define K_LO512 vecconst<>+384(SB)
#define K_HI512 vecconst<>+416(SB)
#define K_NEGINF vecconst<>+448(SB)

// ---------------------------------------------------------------------------
// AVX-512. Exp constants live in Z21–Z31.

#define EXPCONST512 \
	VBROADCASTSS K_LOG2E, Z31; \
	VBROADCASTSS K_C1, Z30;    \
	VBROADCASTSS K_C2, Z29;    \
	VBROADCASTSS K_P6, Z28;    \
	VBROADCASTSS K_P5, Z27;    \
	VBROADCASTSS K_P4, Z26;    \
	VBROADCASTSS K_P3, Z25;    \
	VBROADCASTSS K_P2, Z24;    \
	VBROADCASTSS K_ONE, Z23;   \
	VBROADCASTSS K_LO512, Z22; \
	VBROADCASTSS K_HI512, Z21

// X = exp(X); T, N are clobbered. The clamps keep NaN (it is the second
// source, which MAXPS/MINPS return when either is NaN); VSCALEFPS makes
// overflow +Inf and underflow subnormal or 0.
#define EXP512(X, T, N); \
	VMAXPS X, Z22, X;           \
	VMINPS X, Z21, X;           \
	VMULPS Z31, X, N;           \
	VRNDSCALEPS $0, N, N;       \
	VFNMADD231PS Z30, N, X;     \
	VFNMADD231PS Z29, N, X;     \
	VMOVAPS Z28, T;             \
	VFMADD213PS Z27, X, T;      \
	VFMADD213PS Z26, X, T;      \
	VFMADD213PS Z25, X, T;      \
	VFMADD213PS Z24, X, T;      \
	VFMADD213PS Z23, X, T;      \
	VFMADD213PS Z23, X, T;      \
	VSCALEFPS N, T, X

// Horizontal sum / max of Z0 into X0 (clobbers Z1).
#define HSUM512 \
	VEXTRACTF32X8 $1, Z0, Y1; \
	VADDPS Y1, Y0, Y0;        \
	VEXTRACTF128 $1, Y0, X1;  \
	VADDPS X1, X0, X0;        \
	VPERMILPS $0x4e, X0, X1;  \
	VADDPS X1, X0, X0;        \
	VPERMILPS $0xb1, X0, X1;  \
	VADDPS X1, X0, X0

#define HMAX512 \
	VEXTRACTF32X8 $1, Z0, Y1; \
	VMAXPS Y1, Y0, Y0;        \
	VEXTRACTF128 $1, Y0, X1;  \
	VMAXPS X1, X0, X0;        \
	VPERMILPS $0x4e, X0, X1;  \
	VMAXPS X1, X0, X0;        \
	VPERMILPS $0xb1, X0, X1;  \
	VMAXPS X1, X0, X0

// func vecMaxAVX512(x *float32, n int) float32
// NaN is skipped: the accumulator is the second source of VMAXPS.
TEXT ·vecMaxAVX512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS K_NEGINF, Z0
	VMOVAPS Z0, Z1
	VMOVAPS Z0, Z2
	VMOVAPS Z0, Z3
	CMPQ CX, $64
	JLT  max512one

max512four:
	VMOVUPS (SI), Z4
	VMOVUPS 64(SI), Z5
	VMOVUPS 128(SI), Z6
	VMOVUPS 192(SI), Z7
	VMAXPS  Z0, Z4, Z0
	VMAXPS  Z1, Z5, Z1
	VMAXPS  Z2, Z6, Z2
	VMAXPS  Z3, Z7, Z3
	ADDQ    $256, SI
	SUBQ    $64, CX
	CMPQ    CX, $64
	JGE     max512four

max512one:
	TESTQ CX, CX
	JZ    max512done
	VMOVUPS (SI), Z4
	VMAXPS  Z0, Z4, Z0
	ADDQ    $64, SI
	SUBQ    $16, CX
	JMP     max512one

max512done:
	VMAXPS Z1, Z0, Z0
	VMAXPS Z3, Z2, Z2
	VMAXPS Z2, Z0, Z0
	HMAX512
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func vecSumExpAVX512(x *float32, n int, sub float32) float32
TEXT ·vecSumExpAVX512(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS sub+16(FP), Z20
	EXPCONST512
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	CMPQ   CX, $32
	JLT    sumexp512one

sumexp512two:
	VMOVUPS (SI), Z2
	VMOVUPS 64(SI), Z5
	VSUBPS  Z20, Z2, Z2
	VSUBPS  Z20, Z5, Z5
	EXP512(Z2, Z3, Z4)
	EXP512(Z5, Z6, Z7)
	VADDPS  Z2, Z0, Z0
	VADDPS  Z5, Z1, Z1
	ADDQ    $128, SI
	SUBQ    $32, CX
	CMPQ    CX, $32
	JGE     sumexp512two

sumexp512one:
	TESTQ CX, CX
	JZ    sumexp512done
	VMOVUPS (SI), Z2
	VSUBPS  Z20, Z2, Z2
	EXP512(Z2, Z3, Z4)
	VADDPS  Z2, Z0, Z0

sumexp512done:
	VADDPS Z1, Z0, Z0
	HSUM512
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func vecExpStoreAVX512(x *float32, n int, sub float32) float32
TEXT ·vecExpStoreAVX512(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS sub+16(FP), Z20
	EXPCONST512
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	CMPQ   CX, $32
	JLT    expstore512one

expstore512two:
	VMOVUPS (SI), Z2
	VMOVUPS 64(SI), Z5
	VSUBPS  Z20, Z2, Z2
	VSUBPS  Z20, Z5, Z5
	EXP512(Z2, Z3, Z4)
	EXP512(Z5, Z6, Z7)
	VMOVUPS Z2, (SI)
	VMOVUPS Z5, 64(SI)
	VADDPS  Z2, Z0, Z0
	VADDPS  Z5, Z1, Z1
	ADDQ    $128, SI
	SUBQ    $32, CX
	CMPQ    CX, $32
	JGE     expstore512two

expstore512one:
	TESTQ CX, CX
	JZ    expstore512done
	VMOVUPS (SI), Z2
	VSUBPS  Z20, Z2, Z2
	EXP512(Z2, Z3, Z4)
	VMOVUPS Z2, (SI)
	VADDPS  Z2, Z0, Z0

expstore512done:
	VADDPS Z1, Z0, Z0
	HSUM512
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func vecAddScaledExpAVX512(dst, x *float32, n int, sub, scale float32)
TEXT ·vecAddScaledExpAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS sub+24(FP), Z20
	VBROADCASTSS scale+28(FP), Z19
	EXPCONST512
	CMPQ CX, $32
	JLT  ase512one

ase512two:
	VMOVUPS (SI), Z2
	VMOVUPS 64(SI), Z5
	VSUBPS  Z20, Z2, Z2
	VSUBPS  Z20, Z5, Z5
	EXP512(Z2, Z3, Z4)
	EXP512(Z5, Z6, Z7)
	VMOVUPS (DI), Z8
	VMOVUPS 64(DI), Z9
	VFMADD231PS Z19, Z2, Z8
	VFMADD231PS Z19, Z5, Z9
	VMOVUPS Z8, (DI)
	VMOVUPS Z9, 64(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	CMPQ    CX, $32
	JGE     ase512two

ase512one:
	TESTQ CX, CX
	JZ    ase512done
	VMOVUPS (SI), Z2
	VSUBPS  Z20, Z2, Z2
	EXP512(Z2, Z3, Z4)
	VMOVUPS (DI), Z8
	VFMADD231PS Z19, Z2, Z8
	VMOVUPS Z8, (DI)

ase512done:
	VZEROUPPER
	RET

// func vecScaleAVX512(x *float32, n int, s float32)
TEXT ·vecScaleAVX512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Z20

scale512:
	VMULPS  (SI), Z20, Z0
	VMOVUPS Z0, (SI)
	ADDQ    $64, SI
	SUBQ    $16, CX
	JNZ     scale512
	VZEROUPPER
	RET

// func vecScaleMulAVX512(y, x, w *float32, n int, s float32)
// y = (x·s)·w
TEXT ·vecScaleMulAVX512(SB), NOSPLIT, $0-36
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS s+32(FP), Z20

scalemul512:
	VMULPS  (SI), Z20, Z0
	VMULPS  (DX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	SUBQ    $16, CX
	JNZ     scalemul512
	VZEROUPPER
	RET

// func vecSumSqAVX512(x *float32, n int) float32
TEXT ·vecSumSqAVX512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	CMPQ   CX, $64
	JLT    sumsq512one

sumsq512four:
	VMOVUPS (SI), Z4
	VMOVUPS 64(SI), Z5
	VMOVUPS 128(SI), Z6
	VMOVUPS 192(SI), Z7
	VFMADD231PS Z4, Z4, Z0
	VFMADD231PS Z5, Z5, Z1
	VFMADD231PS Z6, Z6, Z2
	VFMADD231PS Z7, Z7, Z3
	ADDQ    $256, SI
	SUBQ    $64, CX
	CMPQ    CX, $64
	JGE     sumsq512four

sumsq512one:
	TESTQ CX, CX
	JZ    sumsq512done
	VMOVUPS (SI), Z4
	VFMADD231PS Z4, Z4, Z0
	ADDQ    $64, SI
	SUBQ    $16, CX
	JMP     sumsq512one

sumsq512done:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	HSUM512
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func vecSwiGLUAVX512(y, gate, u *float32, n int)
// s = 1/(1+exp(−g)); y = (g·s)·u
TEXT ·vecSwiGLUAVX512(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ u+16(FP), DX
	MOVQ n+24(FP), CX
	EXPCONST512
	VXORPS Z20, Z20, Z20

swiglu512:
	VMOVUPS (SI), Z0
	VSUBPS  Z0, Z20, Z2
	EXP512(Z2, Z3, Z4)
	VADDPS  Z23, Z2, Z2
	VDIVPS  Z2, Z23, Z2
	VMULPS  Z2, Z0, Z0
	VMULPS  (DX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	SUBQ    $16, CX
	JNZ     swiglu512
	VZEROUPPER
	RET

// func vecSwiGLUBwdAVX512(dg, du, dy, gate, u *float32, n int, mode int)
// s = σ(g); mode&2: du += (dy·g)·s; mode&1: dg += ((dy·u)·s)·(1 + g·(1−s))
TEXT ·vecSwiGLUBwdAVX512(SB), NOSPLIT, $0-56
	MOVQ dg+0(FP), R8
	MOVQ du+8(FP), R9
	MOVQ dy+16(FP), R10
	MOVQ gate+24(FP), SI
	MOVQ u+32(FP), DX
	MOVQ n+40(FP), CX
	MOVQ mode+48(FP), BX
	EXPCONST512
	VXORPS Z20, Z20, Z20

swiglubwd512:
	VMOVUPS (SI), Z0
	VSUBPS  Z0, Z20, Z2
	EXP512(Z2, Z3, Z4)
	VADDPS  Z23, Z2, Z2
	VDIVPS  Z2, Z23, Z2    // s
	VMOVUPS (R10), Z5      // dy
	TESTQ   $2, BX
	JZ      swiglubwd512dg
	VMULPS  Z0, Z5, Z6
	VMULPS  Z2, Z6, Z6
	VADDPS  (R9), Z6, Z6
	VMOVUPS Z6, (R9)

swiglubwd512dg:
	TESTQ   $1, BX
	JZ      swiglubwd512next
	VMULPS  (DX), Z5, Z6
	VMULPS  Z2, Z6, Z6
	VSUBPS  Z2, Z23, Z7    // 1−s
	VMULPS  Z7, Z0, Z7     // g·(1−s)
	VADDPS  Z23, Z7, Z7    // 1 + g·(1−s)
	VMULPS  Z7, Z6, Z6
	VADDPS  (R8), Z6, Z6
	VMOVUPS Z6, (R8)

swiglubwd512next:
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $64, R10
	SUBQ $16, CX
	JNZ  swiglubwd512
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------
// AVX2+FMA. Y12–Y15 hold exp constants; the rest are memory operands.

#define EXPCONST256 \
	VBROADCASTSS K_ONE, Y12;   \
	VBROADCASTSS K_LOG2E, Y13; \
	VBROADCASTSS K_HI, Y14;    \
	VBROADCASTSS K_LO, Y15

// X = exp(X); T, N, M, H are clobbered. Below −87.3 the result is 0 (M),
// above 88.72283 +Inf (H); the clamps keep NaN, as in EXP512. The scale 2^n
// is added to the exponent bits, so the clamped range keeps results normal.
#define EXP256(X, T, N, M, H) \
	VCMPPS $0x0e, Y14, X, H;      \
	VCMPPS $0x05, Y15, X, M;      \
	VMAXPS X, Y15, X;             \
	VMINPS X, Y14, X;             \
	VMULPS Y13, X, N;             \
	VROUNDPS $0, N, N;            \
	VFNMADD231PS K_C1, N, X;      \
	VFNMADD231PS K_C2, N, X;      \
	VMOVUPS K_P6, T;              \
	VFMADD213PS K_P5, X, T;       \
	VFMADD213PS K_P4, X, T;       \
	VFMADD213PS K_P3, X, T;       \
	VFMADD213PS K_P2, X, T;       \
	VFMADD213PS Y12, X, T;        \
	VFMADD213PS Y12, X, T;        \
	VCVTPS2DQ N, N;               \
	VPSLLD $23, N, N;             \
	VPADDD N, T, X;               \
	VANDPS M, X, X;               \
	VBLENDVPS H, K_INF, X, X

#define HSUM256 \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS X1, X0, X0;       \
	VPERMILPS $0x4e, X0, X1; \
	VADDPS X1, X0, X0;       \
	VPERMILPS $0xb1, X0, X1; \
	VADDPS X1, X0, X0

#define HMAX256 \
	VEXTRACTF128 $1, Y0, X1; \
	VMAXPS X1, X0, X0;       \
	VPERMILPS $0x4e, X0, X1; \
	VMAXPS X1, X0, X0;       \
	VPERMILPS $0xb1, X0, X1; \
	VMAXPS X1, X0, X0

// func vecMaxAVX2(x *float32, n int) float32
TEXT ·vecMaxAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS K_NEGINF, Y0
	VMOVAPS Y0, Y1
	VMOVAPS Y0, Y2
	VMOVAPS Y0, Y3
	CMPQ CX, $32
	JLT  max256one

max256four:
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VMAXPS  Y0, Y4, Y0
	VMAXPS  Y1, Y5, Y1
	VMAXPS  Y2, Y6, Y2
	VMAXPS  Y3, Y7, Y3
	ADDQ    $128, SI
	SUBQ    $32, CX
	CMPQ    CX, $32
	JGE     max256four

max256one:
	TESTQ CX, CX
	JZ    max256done
	VMOVUPS (SI), Y4
	VMAXPS  Y0, Y4, Y0
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     max256one

max256done:
	VMAXPS Y1, Y0, Y0
	VMAXPS Y3, Y2, Y2
	VMAXPS Y2, Y0, Y0
	HMAX256
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func vecSumExpAVX2(x *float32, n int, sub float32) float32
TEXT ·vecSumExpAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS sub+16(FP), Y11
	EXPCONST256
	VXORPS Y0, Y0, Y0

sumexp256:
	VMOVUPS (SI), Y2
	VSUBPS  Y11, Y2, Y2
	EXP256(Y2, Y3, Y4, Y5, Y6)
	VADDPS  Y2, Y0, Y0
	ADDQ    $32, SI
	SUBQ    $8, CX
	JNZ     sumexp256
	HSUM256
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func vecExpStoreAVX2(x *float32, n int, sub float32) float32
TEXT ·vecExpStoreAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS sub+16(FP), Y11
	EXPCONST256
	VXORPS Y0, Y0, Y0

expstore256:
	VMOVUPS (SI), Y2
	VSUBPS  Y11, Y2, Y2
	EXP256(Y2, Y3, Y4, Y5, Y6)
	VMOVUPS Y2, (SI)
	VADDPS  Y2, Y0, Y0
	ADDQ    $32, SI
	SUBQ    $8, CX
	JNZ     expstore256
	HSUM256
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func vecAddScaledExpAVX2(dst, x *float32, n int, sub, scale float32)
TEXT ·vecAddScaledExpAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS sub+24(FP), Y11
	VBROADCASTSS scale+28(FP), Y10
	EXPCONST256

ase256:
	VMOVUPS (SI), Y2
	VSUBPS  Y11, Y2, Y2
	EXP256(Y2, Y3, Y4, Y5, Y6)
	VMOVUPS (DI), Y7
	VFMADD231PS Y10, Y2, Y7
	VMOVUPS Y7, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     ase256
	VZEROUPPER
	RET

// func vecScaleAVX2(x *float32, n int, s float32)
TEXT ·vecScaleAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Y11

scale256:
	VMULPS  (SI), Y11, Y0
	VMOVUPS Y0, (SI)
	ADDQ    $32, SI
	SUBQ    $8, CX
	JNZ     scale256
	VZEROUPPER
	RET

// func vecScaleMulAVX2(y, x, w *float32, n int, s float32)
TEXT ·vecScaleMulAVX2(SB), NOSPLIT, $0-36
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS s+32(FP), Y11

scalemul256:
	VMULPS  (SI), Y11, Y0
	VMULPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     scalemul256
	VZEROUPPER
	RET

// func vecSumSqAVX2(x *float32, n int) float32
TEXT ·vecSumSqAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ   CX, $32
	JLT    sumsq256one

sumsq256four:
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ    $128, SI
	SUBQ    $32, CX
	CMPQ    CX, $32
	JGE     sumsq256four

sumsq256one:
	TESTQ CX, CX
	JZ    sumsq256done
	VMOVUPS (SI), Y4
	VFMADD231PS Y4, Y4, Y0
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     sumsq256one

sumsq256done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM256
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func vecSwiGLUAVX2(y, gate, u *float32, n int)
TEXT ·vecSwiGLUAVX2(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ u+16(FP), DX
	MOVQ n+24(FP), CX
	EXPCONST256
	VXORPS Y11, Y11, Y11

swiglu256:
	VMOVUPS (SI), Y0
	VSUBPS  Y0, Y11, Y2
	EXP256(Y2, Y3, Y4, Y5, Y6)
	VADDPS  Y12, Y2, Y2
	VDIVPS  Y2, Y12, Y2
	VMULPS  Y2, Y0, Y0
	VMULPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     swiglu256
	VZEROUPPER
	RET

// func vecSwiGLUBwdAVX2(dg, du, dy, gate, u *float32, n int, mode int)
TEXT ·vecSwiGLUBwdAVX2(SB), NOSPLIT, $0-56
	MOVQ dg+0(FP), R8
	MOVQ du+8(FP), R9
	MOVQ dy+16(FP), R10
	MOVQ gate+24(FP), SI
	MOVQ u+32(FP), DX
	MOVQ n+40(FP), CX
	MOVQ mode+48(FP), BX
	EXPCONST256
	VXORPS Y11, Y11, Y11

swiglubwd256:
	VMOVUPS (SI), Y0
	VSUBPS  Y0, Y11, Y2
	EXP256(Y2, Y3, Y4, Y5, Y6)
	VADDPS  Y12, Y2, Y2
	VDIVPS  Y2, Y12, Y2    // s
	VMOVUPS (R10), Y5      // dy
	TESTQ   $2, BX
	JZ      swiglubwd256dg
	VMULPS  Y0, Y5, Y6
	VMULPS  Y2, Y6, Y6
	VADDPS  (R9), Y6, Y6
	VMOVUPS Y6, (R9)

swiglubwd256dg:
	TESTQ   $1, BX
	JZ      swiglubwd256next
	VMULPS  (DX), Y5, Y6
	VMULPS  Y2, Y6, Y6
	VSUBPS  Y2, Y12, Y7
	VMULPS  Y7, Y0, Y7
	VADDPS  Y12, Y7, Y7
	VMULPS  Y7, Y6, Y6
	VADDPS  (R8), Y6, Y6
	VMOVUPS Y6, (R8)

swiglubwd256next:
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, R10
	SUBQ $8, CX
	JNZ  swiglubwd256
	VZEROUPPER
	RET

// func vecAdamWAVX2(w, grad, m, v *float32, n int, c *adamConsts)
TEXT ·vecAdamWAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ m+16(FP), R8
	MOVQ v+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), AX
	VBROADCASTSS 0(AX), Y8   // β1
	VBROADCASTSS 4(AX), Y9   // 1−β1
	VBROADCASTSS 8(AX), Y10  // β2
	VBROADCASTSS 12(AX), Y11 // 1−β2
	VBROADCASTSS 16(AX), Y12 // decay
	VBROADCASTSS 20(AX), Y13 // step
	VBROADCASTSS 24(AX), Y14 // sqrt(bc2)
	VBROADCASTSS 28(AX), Y15 // eps
	VBROADCASTSS 32(AX), Y7  // grad scale

adamw256:
	VMULPS  (SI), Y7, Y0
	VMULPS  (R8), Y8, Y1
	VMULPS  Y9, Y0, Y2
	VADDPS  Y2, Y1, Y1
	VMOVUPS Y1, (R8)
	VMULPS  Y11, Y0, Y2
	VMULPS  Y0, Y2, Y2
	VMULPS  (R9), Y10, Y3
	VADDPS  Y2, Y3, Y3
	VMOVUPS Y3, (R9)
	VSQRTPS Y3, Y3
	VDIVPS  Y14, Y3, Y3
	VADDPS  Y15, Y3, Y3
	VMULPS  Y13, Y1, Y1
	VDIVPS  Y3, Y1, Y1
	VMULPS  (DI), Y12, Y4
	VSUBPS  Y1, Y4, Y4
	VMOVUPS Y4, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, R8
	ADDQ    $32, R9
	SUBQ    $8, CX
	JNZ     adamw256
	VZEROUPPER
	RET

// func vecSoftmaxAVX512(x *float32, n int)
// The whole softmax of a row of any length n ≥ 1 in one call (max, then
// exp-store and sum, then scale), the last n%16 elements under mask K1: rows
// of attention are short and mostly not multiples of 16. n ≤ vecChunk.
TEXT ·vecSoftmaxAVX512(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), BX
	MOVQ BX, CX
	ANDQ $15, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1            // tail lanes
	SHRQ $4, BX             // whole vectors
	VBROADCASTSS K_NEGINF, Z19

	// max (NaN skipped)
	VMOVAPS Z19, Z0
	MOVQ SI, DI
	MOVQ BX, DX
	TESTQ DX, DX
	JZ   smax512tail

smax512:
	VMOVUPS (DI), Z4
	VMAXPS  Z0, Z4, Z0
	ADDQ    $64, DI
	DECQ    DX
	JNZ     smax512

smax512tail:
	VMOVAPS Z19, Z4
	VMOVUPS (DI), K1, Z4
	VMAXPS  Z0, Z4, Z0
	HMAX512
	VBROADCASTSS X0, Z20

	// x = exp(x − max), sum
	EXPCONST512
	VXORPS Z0, Z0, Z0
	MOVQ SI, DI
	MOVQ BX, DX
	TESTQ DX, DX
	JZ   sexp512tail

sexp512:
	VMOVUPS (DI), Z2
	VSUBPS  Z20, Z2, Z2
	EXP512(Z2, Z3, Z4)
	VMOVUPS Z2, (DI)
	VADDPS  Z2, Z0, Z0
	ADDQ    $64, DI
	DECQ    DX
	JNZ     sexp512

sexp512tail:
	VMOVAPS Z19, Z2
	VMOVUPS (DI), K1, Z2
	VSUBPS  Z20, Z2, Z2
	EXP512(Z2, Z3, Z4)
	VMOVUPS Z2, K1, (DI)
	VADDPS  Z2, Z0, Z0
	HSUM512
	VMOVSS  K_ONE, X1
	VDIVSS  X0, X1, X1
	VBROADCASTSS X1, Z20

	// x *= 1/sum
	MOVQ SI, DI
	MOVQ BX, DX
	TESTQ DX, DX
	JZ   sscale512tail

sscale512:
	VMULPS  (DI), Z20, Z2
	VMOVUPS Z2, (DI)
	ADDQ    $64, DI
	DECQ    DX
	JNZ     sscale512

sscale512tail:
	VMOVUPS.Z (DI), K1, Z2
	VMULPS  Z2, Z20, Z2
	VMOVUPS Z2, K1, (DI)
	VZEROUPPER
	RET

DATA vecidx<>+0(SB)/4, $0
DATA vecidx<>+4(SB)/4, $1
DATA vecidx<>+8(SB)/4, $2
DATA vecidx<>+12(SB)/4, $3
DATA vecidx<>+16(SB)/4, $4
DATA vecidx<>+20(SB)/4, $5
DATA vecidx<>+24(SB)/4, $6
DATA vecidx<>+28(SB)/4, $7
GLOBL vecidx<>(SB), RODATA|NOPTR, $32

// func vecSoftmaxAVX2(x *float32, n int)
// vecSoftmaxAVX512 for AVX2: the last n%8 elements are read and written with
// VMASKMOVPS under the lane mask Y8 (masked-off lanes read as −Inf).
TEXT ·vecSoftmaxAVX2(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), BX
	MOVQ BX, CX
	ANDQ $7, CX             // tail length
	MOVQ CX, X8
	VPBROADCASTD X8, Y8
	VMOVDQU vecidx<>(SB), Y9
	VPCMPGTD Y9, Y8, Y8     // lane < tail length
	SHRQ $3, BX             // whole vectors
	VBROADCASTSS K_NEGINF, Y10

	// max (NaN skipped)
	VMOVAPS Y10, Y0
	MOVQ SI, DI
	MOVQ BX, DX
	TESTQ DX, DX
	JZ   smax256tail

smax256:
	VMOVUPS (DI), Y4
	VMAXPS  Y0, Y4, Y0
	ADDQ    $32, DI
	DECQ    DX
	JNZ     smax256

smax256tail:
	VMASKMOVPS (DI), Y8, Y4
	VBLENDVPS Y8, Y4, Y10, Y4
	VMAXPS  Y0, Y4, Y0
	HMAX256
	VBROADCASTSS X0, Y11

	// x = exp(x − max), sum
	EXPCONST256
	VXORPS Y0, Y0, Y0
	MOVQ SI, DI
	MOVQ BX, DX
	TESTQ DX, DX
	JZ   sexp256tail

sexp256:
	VMOVUPS (DI), Y2
	VSUBPS  Y11, Y2, Y2
	EXP256(Y2, Y3, Y4, Y5, Y6)
	VMOVUPS Y2, (DI)
	VADDPS  Y2, Y0, Y0
	ADDQ    $32, DI
	DECQ    DX
	JNZ     sexp256

sexp256tail:
	TESTQ CX, CX
	JZ    sexp256sum
	VMASKMOVPS (DI), Y8, Y2
	VBLENDVPS Y8, Y2, Y10, Y2
	VSUBPS  Y11, Y2, Y2
	EXP256(Y2, Y3, Y4, Y5, Y6)
	VMASKMOVPS Y2, Y8, (DI)
	VADDPS  Y2, Y0, Y0

sexp256sum:
	HSUM256
	VMOVSS  K_ONE, X1
	VDIVSS  X0, X1, X1
	VBROADCASTSS X1, Y11

	// x *= 1/sum
	MOVQ SI, DI
	MOVQ BX, DX
	TESTQ DX, DX
	JZ   sscale256tail

sscale256:
	VMULPS  (DI), Y11, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, DI
	DECQ    DX
	JNZ     sscale256

sscale256tail:
	TESTQ CX, CX
	JZ    sscale256done
	VMASKMOVPS (DI), Y8, Y2
	VMULPS  Y11, Y2, Y2
	VMASKMOVPS Y2, Y8, (DI)

sscale256done:
	VZEROUPPER
	RET
