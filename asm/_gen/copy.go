package main

// copyX86 is copy_avx512_amd64.s: PackStrips' kernel for widths 1..16.
func copyX86() *emitter {
	e := newFile("amd64 && gc && !purego")
	textFunc(e, "packStrips16AVX512", "(dst []float32, ldd int, src []float32, lds int, rows, width, strips int)", "$0-88",
		"dst[s*ldd + r*width + j] = src[r*lds + s*width + j] (width 1..16), a",
		"strip at a time (the caller keeps rows small enough for the source rows",
		"to stay in L1 across strips), two rows per iteration, masked zmm moves.")
	e.op("MOVQ dst_base+0(FP), DI")
	e.op("MOVQ ldd+24(FP), R8")
	e.op("SHLQ $2, R8") // dst strip stride in bytes
	e.op("MOVQ src_base+32(FP), SI")
	e.op("MOVQ lds+56(FP), R9")
	e.op("SHLQ $2, R9") // src row stride
	e.op("MOVQ width+72(FP), R11")
	// K1 = the low width lanes.
	e.op("MOVL $1, BX")
	e.op("MOVQ R11, CX")
	e.op("SHLL CX, BX")
	e.op("DECL BX")
	e.op("KMOVW BX, K1")
	e.op("SHLQ $2, R11") // dst row stride, also the src strip stride
	e.op("MOVQ rows+64(FP), CX")
	e.op("MOVQ strips+80(FP), DX")
	e.op("TESTQ CX, CX")
	e.op("JZ psdone")
	e.op("TESTQ DX, DX")
	e.op("JZ psdone")
	e.op("LEAQ (R9)(R9*1), R13")   // two src rows
	e.op("LEAQ (R11)(R11*1), R14") // two dst rows
	e.label("psstrip")
	e.op("MOVQ SI, AX")
	e.op("MOVQ DI, BX")
	e.op("MOVQ CX, R12")
	e.op("SHRQ $1, R12")
	e.op("JZ pstail")
	e.label("pspair")
	e.op("VMOVUPS.Z (AX), K1, Z0")
	e.op("VMOVUPS.Z (AX)(R9*1), K1, Z1")
	e.op("VMOVUPS Z0, K1, (BX)")
	e.op("VMOVUPS Z1, K1, (BX)(R11*1)")
	e.op("ADDQ R13, AX")
	e.op("ADDQ R14, BX")
	e.op("DECQ R12")
	e.op("JNZ pspair")
	e.label("pstail")
	e.op("TESTQ $1, CX")
	e.op("JZ psnext")
	e.op("VMOVUPS.Z (AX), K1, Z0")
	e.op("VMOVUPS Z0, K1, (BX)")
	e.label("psnext")
	e.op("ADDQ R11, SI")
	e.op("ADDQ R8, DI")
	e.op("DECQ DX")
	e.op("JNZ psstrip")
	e.label("psdone")
	e.op("VZEROUPPER")
	e.op("RET")
	return e
}
