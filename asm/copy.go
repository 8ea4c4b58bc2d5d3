package asm

import "fmt"

// PackStrips gathers strips column strips of a row-major matrix, each width
// wide, into consecutive blocks of rows×width:
//
//	dst[s*ldd + r*width + j] = src[r*lds + s*width + j]
//
// for s < strips, r < rows, j < width. GEMM packs a transposed A with it
// (one strip per MR rows of op(A)), a block of a few rows at a time so
// that the rows stay in L1 across the strips (a power-of-two lds maps them
// to few sets) and the writes to a strip are contiguous. Widths up to 16
// use masked AVX-512 moves where available; RefPackStrips is the reference.
func PackStrips(dst []float32, ldd int, src []float32, lds int, rows, width, strips int) {
	if rows <= 0 || width <= 0 || strips <= 0 {
		return
	}
	if ldd < rows*width || lds < strips*width || len(dst) < (strips-1)*ldd+rows*width || len(src) < (rows-1)*lds+strips*width {
		panic(fmt.Sprintf("asm: PackStrips out of range: rows=%d width=%d strips=%d len(dst)=%d ldd=%d len(src)=%d lds=%d",
			rows, width, strips, len(dst), ldd, len(src), lds))
	}
	const rb = 8 // rows per block
	for r0 := 0; r0 < rows; r0 += rb {
		rr := min(rb, rows-r0)
		d, s := dst[r0*width:], src[r0*lds:]
		if width <= 16 && packStripsAsm(d, ldd, s, lds, rr, width, strips) {
			continue
		}
		packStripsGo(d, ldd, s, lds, rr, width, strips)
	}
}

// RefPackStrips is the reference for PackStrips.
func RefPackStrips(dst []float32, ldd int, src []float32, lds int, rows, width, strips int) {
	for s := 0; s < strips; s++ {
		for r := 0; r < rows; r++ {
			for j := 0; j < width; j++ {
				dst[s*ldd+r*width+j] = src[r*lds+s*width+j]
			}
		}
	}
}

// packStripsGo is the portable PackStrips (one block of rows): a strip at
// a time, six values at a time for the usual width.
func packStripsGo(dst []float32, ldd int, src []float32, lds int, rows, width, strips int) {
	for s := 0; s < strips; s++ {
		ds := dst[s*ldd : s*ldd+rows*width]
		for r := 0; r < rows; r++ {
			v := src[r*lds+s*width : r*lds+s*width+width]
			if width == 6 {
				d := ds[r*6 : r*6+6 : r*6+6]
				v = v[:6:6]
				d[0], d[1], d[2], d[3], d[4], d[5] = v[0], v[1], v[2], v[3], v[4], v[5]
				continue
			}
			copy(ds[r*width:r*width+width], v)
		}
	}
}
