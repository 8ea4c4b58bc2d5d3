package gemm

import (
	"math/rand"
	"testing"

	"github.com/relora-go/relora-go/asm"
	"github.com/relora-go/relora-go/engine/sched"
)

// TestSgemmOwned covers the owner-computes path (a pool of several
// threads, no small dimension): every layout, A read in place and packed,
// ragged edges, several K blocks and groups of K blocks (a lowered packing
// budget), row groups (fewer strips than threads), short and long calls,
// with 2 and 3 threads.
func TestSgemmOwned(t *testing.T) {
	pool3 := sched.New(3)
	defer pool3.Close()
	defer func(b int) { ownedABudget, noDirect, noOwned, testBlocking = b, false, false, nil }(ownedABudget)
	for _, kern := range asm.Available() {
		mr, nr := kern.MR, kern.NR
		t.Run(kern.Name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(8))
			shapes := []shape{
				{false, false, 3*mr + 2, 5*nr + 3, 61, 1}, {true, false, 4*mr + 1, 3 * nr, 70, 0},
				{false, true, 5 * mr, 2*nr - 1, 45, 2}, {true, true, 2*mr + 5, 4*nr + 9, 33, 0},
				{false, false, 7*mr + 3, nr - 5, 40, 0}, {true, false, 9 * mr, nr + 1, 25, 1}, // row groups
				{false, false, mr - 1, 3*nr + 1, 30, 0},
				{false, false, 600, 280, 24, 1}, {true, false, 560, 270, 20, 0}, {false, true, 530, 257, 12, 2}, // rows split
			}
			for _, nd := range []bool{false, true} {
				noDirect = nd
				for _, blk := range []*blocking{nil, {kc: 8, nc: nr, mc: mr}, {kc: 16, nc: 2 * nr, mc: 2 * mr}} {
					testBlocking = blk
					for _, budget := range []int{4 << 20, 1} { // one group; one K block a group
						ownedABudget = budget
						for si, s := range shapes {
							// 2 and 3 threads, beta 0 and not, alternating.
							p, beta := pool2, float32(0)
							if si%2 == 1 {
								p = pool3
							}
							if (si/2+budget)%2 == 1 {
								beta = -0.5
							}
							check(t, rng, s, 0.75, beta, "", func(s shape, alpha float32, o *operands, beta float32) {
								SgemmKernel(kern, p, s.transA, s.transB, s.m, s.n, s.k, alpha, o.a, o.lda, o.b, o.ldb, beta, o.c, o.ldc)
							})
						}
					}
				}
			}
			// The blocked driver's own parallel loops (noOwned: benchmarks compare).
			noOwned = true
			for _, s := range shapes[:4] {
				check(t, rng, s, 0.75, 1, "", func(s shape, alpha float32, o *operands, beta float32) {
					SgemmKernel(kern, pool3, s.transA, s.transB, s.m, s.n, s.k, alpha, o.a, o.lda, o.b, o.ldb, beta, o.c, o.ldc)
				})
			}
			noOwned = false
			noDirect, testBlocking, ownedABudget = false, nil, 4<<20
			if testing.Short() {
				return
			}
			// Long calls (one unit a thread) at real blocks.
			for _, s := range []shape{{true, false, 260, 300, 1100, 0}, {false, false, 300, 270, 600, 1}, {false, true, 301, 777, 300, 0}} {
				check(t, rng, s, 1, 1, "", func(s shape, alpha float32, o *operands, beta float32) {
					SgemmKernel(kern, pool2, s.transA, s.transB, s.m, s.n, s.k, alpha, o.a, o.lda, o.b, o.ldb, beta, o.c, o.ldc)
				})
			}
		})
	}
}

// TestOwnedUnits checks the split of the tile grid: every strip and row
// strip in exactly one unit, units no wider than maxW, and even shares.
func TestOwnedUnits(t *testing.T) {
	for _, c := range []struct{ strips, rowStrips, maxW, threads, minUnits, wantCol, wantRG int }{
		{8, 86, 8, 2, 2, 2, 1},       // TN 512×4096×512: one unit a thread
		{22, 86, 8, 2, 2, 4, 1},      // n = 1376: 5, 6, 5, 6 strips
		{500, 86, 8, 2, 2, 64, 1},    // n = 32000
		{4, 43, 8, 2, 8, 4, 1},       // NN 256³, short: one strip a unit
		{1, 50, 8, 2, 2, 1, 2},       // one strip: row groups
		{3, 50, 8, 2, 2, 2, 2},       // 2 and 1 strips: row groups even it out
		{8, 683, 32, 3, 3, 3, -1},    // three threads
		{100, 10, 8, 16, 16, 16, -1}, // many threads
	} {
		col, rg := ownedUnits(c.strips, c.rowStrips, c.maxW, c.threads, c.minUnits, false)
		if col != c.wantCol || (c.wantRG >= 0 && rg != c.wantRG) || rg < 1 || rg > c.rowStrips {
			t.Errorf("%+v: got %d column units × %d row groups", c, col, rg)
		}
		if w := ceilDiv(c.strips, col); w > c.maxW {
			t.Errorf("%+v: units %d strips wide", c, w)
		}
	}
	// Row splits (n small against m): NN 4096×128×512 at 2 threads, and
	// n = 1376 (3 column units) at 2 and 3 threads.
	for _, c := range []struct{ strips, rowStrips, maxW, threads, minUnits, wantCol, wantRG int }{
		{8, 683, 32, 2, 2, 1, 2}, {22, 683, 8, 2, 2, 3, 2}, {22, 683, 8, 3, 3, 3, 1}, {8, 683, 8, 2, 8, 1, 8},
	} {
		if col, rg := ownedUnits(c.strips, c.rowStrips, c.maxW, c.threads, c.minUnits, true); col != c.wantCol || rg != c.wantRG {
			t.Errorf("rows %+v: got %d column units × %d row groups", c, col, rg)
		}
	}
}
