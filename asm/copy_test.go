package asm

import (
	"math/rand"
	"testing"
)

func TestPackStrips(t *testing.T) {
	rng := rand.New(rand.NewSource(10))
	for _, width := range []int{1, 4, 5, 6, 8, 12, 16, 17, 40} {
		for _, rows := range []int{0, 1, 3, 8, 9, 64} {
			for _, strips := range []int{0, 1, 2, 3, 7} {
				ldd, lds := rows*width+rng.Intn(5), strips*width+rng.Intn(20)
				srcAll, src := guarded(max(0, (rows-1)*lds+strips*width), 9.5)
				dstAll, dst := guarded(max(0, (strips-1)*ldd+rows*width), -9.5)
				for i := range src {
					src[i] = rng.Float32()
				}
				for i := range dst {
					dst[i] = -1
				}
				want := append([]float32(nil), dst...)
				if rows > 0 && strips > 0 {
					RefPackStrips(want, ldd, src, lds, rows, width, strips)
				}
				PackStrips(dst, ldd, src, lds, rows, width, strips)
				checkGuards(t, "src", srcAll, 9.5)
				checkGuards(t, "dst", dstAll, -9.5)
				for i := range dst {
					if dst[i] != want[i] {
						t.Fatalf("width %d rows %d strips %d: dst[%d] = %v, want %v", width, rows, strips, i, dst[i], want[i])
					}
				}
				if rows > 0 && strips > 0 { // the portable path too
					for i := range dst {
						dst[i] = -1
					}
					packStripsGo(dst, ldd, src, lds, rows, width, strips)
					for i := range dst {
						if dst[i] != want[i] {
							t.Fatalf("go: width %d rows %d strips %d: dst[%d] = %v, want %v", width, rows, strips, i, dst[i], want[i])
						}
					}
				}
			}
		}
	}
}
