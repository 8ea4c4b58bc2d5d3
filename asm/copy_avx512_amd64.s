//go:build amd64 && gc && !purego

#include "textflag.h"

// func packStrips16AVX512(dst []float32, ldd int, src []float32, lds int, rows, width, strips int)
// dst[s*ldd + r*width + j] = src[r*lds + s*width + j] (width 1..16), a
// strip at a time (the caller keeps rows small enough for the source rows
// to stay in L1 across strips), two rows per iteration, masked zmm moves.
TEXT ·packStrips16AVX512(SB), NOSPLIT, $0-88
	MOVQ dst_base+0(FP), DI
	MOVQ ldd+24(FP), R8
	SHLQ $2, R8
	MOVQ src_base+32(FP), SI
	MOVQ lds+56(FP), R9
	SHLQ $2, R9
	MOVQ width+72(FP), R11
	MOVL $1, BX
	MOVQ R11, CX
	SHLL CX, BX
	DECL BX
	KMOVW BX, K1
	SHLQ $2, R11
	MOVQ rows+64(FP), CX
	MOVQ strips+80(FP), DX
	TESTQ CX, CX
	JZ psdone
	TESTQ DX, DX
	JZ psdone
	LEAQ (R9)(R9*1), R13
	LEAQ (R11)(R11*1), R14
psstrip:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ CX, R12
	SHRQ $1, R12
	JZ pstail
pspair:
	VMOVUPS.Z (AX), K1, Z0
	VMOVUPS.Z (AX)(R9*1), K1, Z1
	VMOVUPS Z0, K1, (BX)
	VMOVUPS Z1, K1, (BX)(R11*1)
	ADDQ R13, AX
	ADDQ R14, BX
	DECQ R12
	JNZ pspair
pstail:
	TESTQ $1, CX
	JZ psnext
	VMOVUPS.Z (AX), K1, Z0
	VMOVUPS Z0, K1, (BX)
psnext:
	ADDQ R11, SI
	ADDQ R8, DI
	DECQ DX
	JNZ psstrip
psdone:
	VZEROUPPER
	RET
