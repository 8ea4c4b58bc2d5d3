package gemm

// The owner-computes path serves the blocked products of more than one
// (K block, N block) with a pool of several threads (the skinny path,
// skinny.go, takes the products with one small dimension first). The tile grid of C is cut into units of whole
// NR-wide column strips (× row groups, only where the columns alone cannot
// keep every worker busy); a unit owns its C entries over the whole
// reduction:
//
//  1. op(A) is packed for a group of K blocks at once, all rows, shared by
//     every worker (skipped when a row-major A is read in place, see
//     asm.Kernel.TileA; then each unit packs a partial last strip itself);
//  2. each unit runs the K blocks of the group outermost: it packs its own
//     KC × (its columns) block of op(B) into a buffer of its worker (so the
//     block is written to, and read from, the L2 of the core that uses it)
//     and runs its tiles with the same loops as the blocked driver.
//
// A call has two pool barriers per group of K blocks (one where A is read
// in place) instead of two or three per (K block, N block), no packed B
// block is read across cores, and the units are sized so that the workers'
// shares of the grid are even.

// noOwned turns the path off (tests and benchmarks compare with the
// blocked driver's per-block barriers).
var noOwned bool

// ownedShortFlops is the size below which a call is short (see runOwned).
const ownedShortFlops = 512e6

// ownedABudget bounds the packed op(A) of one group of K blocks, in floats
// (16 MiB: in L3, read by every unit of the group).
var ownedABudget = 4 << 20

// ownedPlan is the owner-computes path's layout for one call.
type ownedPlan struct {
	kBlocks, kcb int // K blocks of kcb (the last may be shorter)
	mPad         int // m rounded up to MR
	strips       int // NR-wide column strips of C
	rowStrips    int // MR-tall row strips of C
	colUnits     int // column units: strips split evenly
	rowGroups    int // row groups per column unit
	maxW         int // most strips per column unit
	groupBlocks  int // K blocks per group (packed op(A) for a group)
	g0, g1       int // the current group's K blocks
	packRows     int // rows per packing task (a multiple of MR)
	packChunks   int // packing tasks per K block
}

// runOwned runs the call on the owner-computes path.
func (ws *workspace) runOwned(kBlocks, kcb, nc, threads int) {
	m, n := ws.m, ws.n
	mr, nr := ws.kern.MR, ws.kern.NR
	p := &ws.own
	*p = ownedPlan{kBlocks: kBlocks, kcb: kcb, mPad: ceilDiv(m, mr) * mr,
		strips: ceilDiv(n, nr), rowStrips: ceilDiv(m, mr), maxW: max(1, nc/nr)}
	// A short call (under about a millisecond on two cores) takes up to
	// four units a thread, so that a worker that wakes late takes fewer.
	minUnits := threads
	if 2*float64(m)*float64(n)*float64(ws.k) < ownedShortFlops {
		minUnits = 4 * threads
	}
	// Each column unit beyond the first reads all of op(A) (m×k) once more,
	// each row group beyond the first packs its columns of op(B) (k×n, a
	// read and a write) once more: the rows are split where that is cheaper.
	rows := 2*n < m
	p.colUnits, p.rowGroups = ownedUnits(p.strips, p.rowStrips, p.maxW, threads, minUnits, rows)
	ws.direct = !ws.transA && ws.kern.TileA != nil && !noDirect

	p.groupBlocks = kBlocks
	if !ws.direct {
		p.groupBlocks = max(1, min(kBlocks, ownedABudget/(p.mPad*kcb)))
		groups := ceilDiv(kBlocks, p.groupBlocks)
		p.groupBlocks = ceilDiv(kBlocks, groups)
		ws.apack = grow(ws.apack, p.groupBlocks*p.mPad*kcb)
		// Packing tasks: about four a thread per group.
		p.packChunks = min(p.rowStrips, max(1, ceilDiv(4*threads, p.groupBlocks)))
		p.packRows = ceilDiv(p.rowStrips, p.packChunks) * mr
		p.packChunks = ceilDiv(m, p.packRows)
	}
	for len(ws.tile) < threads {
		ws.tile = append(ws.tile, nil)
	}
	for len(ws.wpack) < threads {
		ws.wpack = append(ws.wpack, nil)
	}
	for len(ws.wtail) < threads {
		ws.wtail = append(ws.wtail, nil)
	}
	w := ceilDiv(p.strips, p.colUnits) // the widest unit
	for t := 0; t < threads; t++ {
		ws.tile[t] = grow(ws.tile[t], mr*nr)
		ws.wpack[t] = grow(ws.wpack[t], w*nr*kcb)
		if ws.direct && m%mr != 0 {
			ws.wtail[t] = grow(ws.wtail[t], mr*kcb)
		}
	}
	for g0 := 0; g0 < kBlocks; g0 += p.groupBlocks {
		p.g0, p.g1 = g0, min(kBlocks, g0+p.groupBlocks)
		if !ws.direct {
			ws.pool.Run((p.g1-p.g0)*p.packChunks, &ws.ownPack)
		}
		ws.pool.Run(p.colUnits*p.rowGroups, &ws.ownComp)
	}
}

// ownedUnits splits a grid of strips × rowStrips tiles into colUnits
// column units (at most maxW strips each) × rowGroups row groups for
// threads workers. With rows: the fewest column units, and row groups to
// make at least minUnits units, a multiple of the threads. Else: the fewest
// column units, at least minUnits, that are a
// multiple of the threads (each unit reads all of op(A) once per K block),
// and row groups (each repacks its columns of B) only while they
// shorten the estimated span by more than a tenth.
func ownedUnits(strips, rowStrips, maxW, threads, minUnits int, rows bool) (colUnits, rowGroups int) {
	if rows {
		colUnits = ceilDiv(strips, maxW)
		units := ceilDiv(max(minUnits, colUnits), threads) * threads
		return colUnits, max(1, min(rowStrips, ceilDiv(units, colUnits)))
	}
	colUnits = max(minUnits, ceilDiv(strips, maxW))
	colUnits = min(strips, ceilDiv(colUnits, threads)*threads)
	rowGroups = 1
	best := ownedSpan(strips, rowStrips, colUnits, 1, threads)
	for rg := 2; rg <= min(rowStrips, 2*threads); rg++ {
		if s := ownedSpan(strips, rowStrips, colUnits, rg, threads); s*10 < best*9 {
			best, rowGroups = s, rg
		}
	}
	return colUnits, rowGroups
}

// ownedSpan estimates, in tiles, the time until the last of threads workers
// finishes when the units are handed out in index order to whichever
// worker is free first (as sched.Pool does). More than 16 threads: the
// even share, rounded up to a unit.
func ownedSpan(strips, rowStrips, colUnits, rowGroups, threads int) int {
	unit := func(i int) int {
		cu, rg := i/rowGroups, i%rowGroups
		cols := (cu+1)*strips/colUnits - cu*strips/colUnits
		rows := (rg+1)*rowStrips/rowGroups - rg*rowStrips/rowGroups
		return cols * rows
	}
	units := colUnits * rowGroups
	if threads > 16 {
		return ceilDiv(units, threads) * unit(0)
	}
	var load [16]int
	span := 0
	for i := 0; i < units; i++ {
		w := 0
		for t := 1; t < threads; t++ {
			if load[t] < load[w] {
				w = t
			}
		}
		load[w] += unit(i)
		span = max(span, load[w])
	}
	return span
}

// ownPackTask packs one row chunk of one K block of the group (step 1).
type ownPackTask struct{ ws *workspace }

func (t *ownPackTask) Run(w, i int) {
	ws := t.ws
	p := &ws.own
	mr := ws.kern.MR
	b, u := p.g0+i/p.packChunks, i%p.packChunks
	pc := b * p.kcb
	kc := min(p.kcb, ws.k-pc)
	i0, i1 := u*p.packRows, min(ws.m, (u+1)*p.packRows)
	base := (b - p.g0) * p.mPad * p.kcb
	packA(ws.apack[base+i0*kc:base+ceilDiv(i1, mr)*mr*kc], mr, i1-i0, kc, ws.transA, ws.a, ws.lda, i0, pc)
}

// ownCompTask runs one unit over the group's K blocks (step 2).
type ownCompTask struct{ ws *workspace }

func (t *ownCompTask) Run(w, i int) {
	ws := t.ws
	p := &ws.own
	mr, nr := ws.kern.MR, ws.kern.NR
	cu, rg := i/p.rowGroups, i%p.rowGroups
	s0, s1 := cu*p.strips/p.colUnits, (cu+1)*p.strips/p.colUnits
	r0, r1 := rg*p.rowStrips/p.rowGroups*mr, min(ws.m, (rg+1)*p.rowStrips/p.rowGroups*mr)
	wp := ws.wpack[w]
	j0 := s0 * nr
	cols := min(ws.n, s1*nr) - j0
	tailRow := ws.m / mr * mr // the first row of a partial last strip
	for b := p.g0; b < p.g1; b++ {
		pc := b * p.kcb
		kc := min(p.kcb, ws.k-pc)
		beta := ws.beta
		if b > 0 {
			beta = 1
		}
		if ws.direct && r1 > tailRow && tailRow < ws.m {
			packA(ws.wtail[w][:mr*kc], mr, ws.m-tailRow, kc, ws.transA, ws.a, ws.lda, tailRow, pc)
		}
		base := (b - p.g0) * p.mPad * p.kcb
		bp := wp[:(s1-s0)*kc*nr]
		packBStrips(bp, nr, cols, kc, ws.transB, ws.b, ws.ldb, j0, pc)
		for ir := r0; ir < r1; ir += mr {
			mrr := min(mr, r1-ir)
			c := ws.c[ir*ws.ldc+j0:]
			switch {
			case ws.direct && mrr == mr:
				ws.tileRowA(w, kc, ws.a[ir*ws.lda+pc:], bp, cols, c, beta)
			case ws.direct:
				ws.tileRow(w, kc, ws.wtail[w][:mr*kc], bp, mrr, cols, c, beta)
			default:
				ws.tileRow(w, kc, ws.apack[base+ir*kc:base+ir*kc+mr*kc], bp, mrr, cols, c, beta)
			}
		}
	}
}
