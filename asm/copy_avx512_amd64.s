//go:build amd64 && gc && !purego

#include "textflag.h"

// func copyRows16AVX512(dst []float32, ldd int, src []float32, lds int, rows, width int)
// Copies rows×width floats (width 1..16) with masked zmm moves.
TEXT ·copyRows16AVX512(SB), NOSPLIT, $0-80
	MOVQ dst_base+0(FP), DI
	MOVQ ldd+24(FP), R8
	SHLQ $2, R8
	MOVQ src_base+32(FP), SI
	MOVQ lds+56(FP), R9
	SHLQ $2, R9
	MOVQ width+72(FP), CX
	MOVL $1, BX
	SHLL CX, BX
	DECL BX
	KMOVW BX, K1
	MOVQ rows+64(FP), CX
	TESTQ CX, CX
	JZ done
	MOVQ CX, DX
	SHRQ $2, DX
	JZ tail
loop4:
	VMOVUPS.Z (SI), K1, Z0
	ADDQ R9, SI
	VMOVUPS.Z (SI), K1, Z1
	ADDQ R9, SI
	VMOVUPS.Z (SI), K1, Z2
	ADDQ R9, SI
	VMOVUPS.Z (SI), K1, Z3
	ADDQ R9, SI
	VMOVUPS Z0, K1, (DI)
	ADDQ R8, DI
	VMOVUPS Z1, K1, (DI)
	ADDQ R8, DI
	VMOVUPS Z2, K1, (DI)
	ADDQ R8, DI
	VMOVUPS Z3, K1, (DI)
	ADDQ R8, DI
	DECQ DX
	JNZ loop4
tail:
	ANDQ $3, CX
	JZ done
loop1:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS Z0, K1, (DI)
	ADDQ R9, SI
	ADDQ R8, DI
	DECQ CX
	JNZ loop1
done:
	VZEROUPPER
	RET
