package asm

import (
	"math/rand"
	"testing"
)

func TestCopyRows(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for _, width := range []int{1, 5, 6, 8, 15, 16, 17, 40} {
		for _, rows := range []int{0, 1, 3, 4, 5, 9, 64} {
			ldd, lds := width+rng.Intn(3), width+rng.Intn(20)
			srcAll, src := guarded(max(0, (rows-1)*lds+width), 9.5)
			dstAll, dst := guarded(max(0, (rows-1)*ldd+width), -9.5)
			for i := range src {
				src[i] = rng.Float32()
			}
			for i := range dst {
				dst[i] = -1
			}
			CopyRows(dst, ldd, src, lds, rows, width)
			checkGuards(t, "src", srcAll, 9.5)
			checkGuards(t, "dst", dstAll, -9.5)
			for r := 0; r < rows; r++ {
				for j := 0; j < ldd && r*ldd+j < len(dst); j++ {
					want := float32(-1)
					if j < width {
						want = src[r*lds+j]
					}
					if dst[r*ldd+j] != want {
						t.Fatalf("width %d rows %d: dst[%d][%d] = %v, want %v", width, rows, r, j, dst[r*ldd+j], want)
					}
				}
			}
		}
	}
}
