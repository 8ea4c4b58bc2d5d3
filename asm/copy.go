package asm

import "fmt"

// CopyRows copies a rows×width block between strided buffers:
//
//	dst[r*ldd+j] = src[r*lds+j]   for r < rows, j < width
//
// GEMM packing uses it to gather narrow column strips of a transposed
// matrix. Widths up to 16 use masked AVX-512 moves where available.
func CopyRows(dst []float32, ldd int, src []float32, lds int, rows, width int) {
	if rows <= 0 || width <= 0 {
		return
	}
	if width > ldd || width > lds || len(dst) < (rows-1)*ldd+width || len(src) < (rows-1)*lds+width {
		panic(fmt.Sprintf("asm: CopyRows out of range: rows=%d width=%d len(dst)=%d ldd=%d len(src)=%d lds=%d",
			rows, width, len(dst), ldd, len(src), lds))
	}
	if width <= 16 && copyRowsAsm(dst, ldd, src, lds, rows, width) {
		return
	}
	copyRowsGo(dst, ldd, src, lds, rows, width)
}

func copyRowsGo(dst []float32, ldd int, src []float32, lds int, rows, width int) {
	for r := 0; r < rows; r++ {
		copy(dst[r*ldd:r*ldd+width], src[r*lds:r*lds+width])
	}
}
