package gemm

// The skinny path serves products where one of m, n is small and the other
// large, with a pool of several threads: the rank-r products of a ReLoRA
// layer (dA = dUᵀ·X̃ with m = r, dB = dYᵀ·U and dU = dY·B with n = r, and
// u = X·Aᵀ with n = r). The blocked driver would run two or three pool
// barriers per (K block, N block) for very little work each; here a call
// has at most two:
//
//  1. the small operand is packed whole (every K block) by the pool;
//  2. the large dimension is split into units (NR-wide column strips when m
//     is small, MR-aligned row blocks when n is small); each worker packs
//     the part of the large operand that its unit needs into a buffer of its
//     own (or reads a row-major A in place) and runs every tile of the
//     unit, K blocks outermost, so that each unit owns its C entries.
//
// The work per tile, the tile order in L1/L2 and the kernel are those of the
// blocked driver.

// skinnyDim bounds the small dimension (tests lower it to reach the path
// with small matrices); the large one must be at least twice it.
var skinnyDim = 256

// noSkinny turns the path off (tests and benchmarks compare).
var noSkinny bool

// skinnyPlan is the skinny path's layout for one call.
type skinnyPlan struct {
	smallM          bool // m small: units are column strips; else row blocks
	kBlocks, kcb    int  // K blocks of kcb (the last may be shorter)
	mPad, nPad      int  // m, n rounded up to MR, NR
	strips          int  // NR-wide column strips of C
	rowStrips       int  // MR-tall row strips of C
	unitRows, units int  // smallM: rows per unit is m; else MR-aligned rows per unit
	perUnit         int  // strips (smallM) per unit
	rowGroups       int  // smallM with supB: row-strip groups per strip unit (balance when strips are few)
	packTasks       int  // tasks of step 1
	// With an unpacked-operand kernel (asm.Kernel.Sup): supB reads a
	// row-major B in place (m small: only op(A) is packed), supAB reads a
	// transposed A and a row-major B in place (n small: nothing is packed).
	supB, supAB bool
}

// noSkinnySup makes the skinny path pack as the blocked driver does
// (benchmarks compare).
var noSkinnySup bool

// trySkinny runs the call on the skinny path if it fits it and reports
// whether it did.
func (ws *workspace) trySkinny(blk blocking, kBlocks, kcb, threads int) bool {
	m, n := ws.m, ws.n
	if threads < 2 || noSkinny {
		return false
	}
	smallM := m <= skinnyDim && n >= 2*skinnyDim
	smallN := n <= skinnyDim && m >= 2*skinnyDim
	if !smallM && !smallN {
		return false
	}
	mr, nr := ws.kern.MR, ws.kern.NR
	p := &ws.sk
	*p = skinnyPlan{smallM: smallM, kBlocks: kBlocks, kcb: kcb,
		mPad: ceilDiv(m, mr) * mr, nPad: ceilDiv(n, nr) * nr,
		strips: ceilDiv(n, nr), rowStrips: ceilDiv(m, mr)}
	ws.direct = !ws.transA && ws.kern.TileA != nil && !noDirect
	sup := ws.kern.Sup != nil && ws.kern.MR == 6 && !noSkinnySup && !noSup
	p.supB = sup && smallM && !ws.transB
	p.supAB = sup && smallN && ws.transA && !ws.transB
	for len(ws.tile) < threads {
		ws.tile = append(ws.tile, nil)
	}
	for len(ws.wpack) < threads {
		ws.wpack = append(ws.wpack, nil)
	}
	for w := 0; w < threads; w++ {
		ws.tile[w] = grow(ws.tile[w], mr*nr)
	}
	if smallM {
		// Step 1 packs op(A) whole: every K block, all rows (direct: the
		// partial last strip only). Step 2: one unit per NR strip (fewer,
		// wider units only when there are many strips).
		if ws.direct {
			ws.apack = grow(ws.apack, kBlocks*mr*kcb)
			p.packTasks = 0
			if m%mr != 0 {
				p.packTasks = kBlocks
			}
		} else {
			ws.apack = grow(ws.apack, kBlocks*p.mPad*kcb)
			p.unitRows = min(p.mPad, max(mr, ceilDiv(ceilDiv(m, 2*threads), mr)*mr))
			p.packTasks = kBlocks * ceilDiv(m, p.unitRows)
		}
		p.perUnit = max(1, p.strips/(8*threads))
		p.units = ceilDiv(p.strips, p.perUnit)
		p.rowGroups = 1
		if p.supB && p.units < 8*threads { // nothing to repack: split the rows too
			p.rowGroups = min(p.rowStrips, ceilDiv(8*threads, p.units))
		}
		p.units *= p.rowGroups
		for w := 0; w < threads; w++ {
			ws.wpack[w] = grow(ws.wpack[w], kcb*nr*p.perUnit)
		}
	} else {
		// Step 1 packs op(B) whole; step 2 runs MR-aligned row blocks,
		// about six a thread.
		ws.bpack = grow(ws.bpack, kBlocks*kcb*p.nPad)
		p.packTasks = kBlocks * p.strips
		if p.supAB {
			p.packTasks = 0
		}
		p.unitRows = min(blk.mc, max(mr, ceilDiv(ceilDiv(m, 6*threads), mr)*mr))
		p.units = ceilDiv(m, p.unitRows)
		for w := 0; w < threads; w++ {
			ws.wpack[w] = grow(ws.wpack[w], p.unitRows*kcb)
		}
	}
	ws.pool.Run(p.packTasks, &ws.skPack)
	ws.pool.Run(p.units, &ws.skComp)
	return true
}

// skPackTask packs one part of the small operand (step 1).
type skPackTask struct{ ws *workspace }

func (t *skPackTask) Run(w, i int) {
	ws := t.ws
	p := &ws.sk
	mr, nr := ws.kern.MR, ws.kern.NR
	if p.smallM {
		if ws.direct { // block i: the partial last strip
			pc := i * p.kcb
			kc := min(p.kcb, ws.k-pc)
			i0 := ws.m / mr * mr
			packA(ws.apack[i*mr*p.kcb:i*mr*p.kcb+mr*kc], mr, ws.m-i0, kc, ws.transA, ws.a, ws.lda, i0, pc)
			return
		}
		units := ceilDiv(ws.m, p.unitRows)
		b, u := i/units, i%units
		pc := b * p.kcb
		kc := min(p.kcb, ws.k-pc)
		i0, i1 := u*p.unitRows, min(ws.m, (u+1)*p.unitRows)
		base := b * p.mPad * p.kcb
		packA(ws.apack[base+i0*kc:base+ceilDiv(i1, mr)*mr*kc], mr, i1-i0, kc, ws.transA, ws.a, ws.lda, i0, pc)
		return
	}
	b, s := i/p.strips, i%p.strips
	pc := b * p.kcb
	kc := min(p.kcb, ws.k-pc)
	j0 := s * nr
	off := b*p.kcb*p.nPad + s*kc*nr
	packB(ws.bpack[off:off+kc*nr], nr, min(nr, ws.n-j0), kc, ws.transB, ws.b, ws.ldb, j0, pc)
}

// skComputeTask runs one unit of step 2.
type skComputeTask struct{ ws *workspace }

func (t *skComputeTask) Run(w, i int) {
	ws := t.ws
	p := &ws.sk
	mr, nr := ws.kern.MR, ws.kern.NR
	c, ldc, alpha := ws.c, ws.ldc, ws.alpha
	tile, wp := ws.tile[w], ws.wpack[w]
	if p.smallM {
		su, rg := i/p.rowGroups, i%p.rowGroups
		s0, s1 := su*p.perUnit, min(p.strips, (su+1)*p.perUnit)
		for b := 0; b < p.kBlocks; b++ {
			pc := b * p.kcb
			kc := min(p.kcb, ws.k-pc)
			beta := ws.beta
			if b > 0 {
				beta = 1
			}
			if p.supB {
				r0, r1 := rg*p.rowStrips/p.rowGroups*mr, min(ws.m, (rg+1)*p.rowStrips/p.rowGroups*mr)
				t.supB(b, pc, kc, r0, r1, s0, s1, beta)
				continue
			}
			for s := s0; s < s1; s++ {
				j0 := s * nr
				nrr := min(nr, ws.n-j0)
				bp := wp[(s-s0)*kc*nr : (s-s0+1)*kc*nr]
				packB(bp, nr, nrr, kc, ws.transB, ws.b, ws.ldb, j0, pc)
			}
			for ir := 0; ir < ws.m; ir += mr {
				mrr := min(mr, ws.m-ir)
				var ap []float32
				switch {
				case ws.direct && mrr < mr:
					ap = ws.apack[b*mr*p.kcb : b*mr*p.kcb+mr*kc]
				case !ws.direct:
					off := b*p.mPad*p.kcb + ir*kc
					ap = ws.apack[off : off+mr*kc]
				}
				for s := s0; s < s1; s++ {
					j := s * nr
					nrr := min(nr, ws.n-j)
					bp := wp[(s-s0)*kc*nr : (s-s0+1)*kc*nr]
					full := mrr == mr && nrr == nr
					switch {
					case ap == nil && full:
						ws.kern.TileA(kc, ws.a[ir*ws.lda+pc:], ws.lda, bp, c[ir*ldc+j:], ldc, alpha, beta)
					case ap == nil:
						ws.kern.TileA(kc, ws.a[ir*ws.lda+pc:], ws.lda, bp, tile, nr, alpha, 0)
						mergeTile(tile, nr, mrr, nrr, beta, c[ir*ldc+j:], ldc)
					case full:
						ws.kern.Tile(kc, ap, bp, c[ir*ldc+j:], ldc, alpha, beta)
					default:
						ws.kern.Tile(kc, ap, bp, tile, nr, alpha, 0)
						mergeTile(tile, nr, mrr, nrr, beta, c[ir*ldc+j:], ldc)
					}
				}
			}
		}
		return
	}
	i0, i1 := i*p.unitRows, min(ws.m, (i+1)*p.unitRows)
	for b := 0; b < p.kBlocks; b++ {
		pc := b * p.kcb
		kc := min(p.kcb, ws.k-pc)
		beta := ws.beta
		if b > 0 {
			beta = 1
		}
		if p.supAB {
			for ir := i0; ir < i1; ir += mr {
				mrr := min(mr, i1-ir)
				for j := 0; j < ws.n; j += nr {
					ws.kern.Sup(mrr, min(nr, ws.n-j), kc, ws.a[pc*ws.lda+ir:], 1, ws.lda, ws.b[pc*ws.ldb+j:], ws.ldb,
						c[ir*ldc+j:], ldc, alpha, beta)
				}
			}
			continue
		}
		// This unit's rows of op(A): all packed, or (direct) only a partial
		// last strip, packed at the start of the buffer.
		if !ws.direct {
			packA(wp[:ceilDiv(i1-i0, mr)*mr*kc], mr, i1-i0, kc, ws.transA, ws.a, ws.lda, i0, pc)
		} else if (i1-i0)%mr != 0 {
			r0 := i0 + (i1-i0)/mr*mr
			packA(wp[:mr*kc], mr, i1-r0, kc, ws.transA, ws.a, ws.lda, r0, pc)
		}
		bb := ws.bpack[b*p.kcb*p.nPad:]
		for ir := i0; ir < i1; ir += mr {
			mrr := min(mr, i1-ir)
			var ap []float32
			switch {
			case !ws.direct:
				ap = wp[(ir-i0)*kc : (ir-i0)*kc+mr*kc]
			case mrr < mr:
				ap = wp[:mr*kc]
			}
			for s := 0; s < p.strips; s++ {
				j := s * nr
				nrr := min(nr, ws.n-j)
				bp := bb[s*kc*nr : (s+1)*kc*nr]
				full := mrr == mr && nrr == nr
				switch {
				case ap == nil && full:
					ws.kern.TileA(kc, ws.a[ir*ws.lda+pc:], ws.lda, bp, c[ir*ldc+j:], ldc, alpha, beta)
				case ap == nil:
					ws.kern.TileA(kc, ws.a[ir*ws.lda+pc:], ws.lda, bp, tile, nr, alpha, 0)
					mergeTile(tile, nr, mrr, nrr, beta, c[ir*ldc+j:], ldc)
				case full:
					ws.kern.Tile(kc, ap, bp, c[ir*ldc+j:], ldc, alpha, beta)
				default:
					ws.kern.Tile(kc, ap, bp, tile, nr, alpha, 0)
					mergeTile(tile, nr, mrr, nrr, beta, c[ir*ldc+j:], ldc)
				}
			}
		}
	}
}

// supB runs K block b of rows r0..r1 (MR-aligned) and strips s0..s1 (m
// small) with B read in place; op(A) is packed by step 1 or (direct) read
// in place.
func (t *skComputeTask) supB(b, pc, kc, r0, r1, s0, s1 int, beta float32) {
	ws := t.ws
	p := &ws.sk
	mr, nr := ws.kern.MR, ws.kern.NR
	c, ldc, alpha := ws.c, ws.ldc, ws.alpha
	for ir := r0; ir < r1; ir += mr {
		mrr := min(mr, ws.m-ir)
		ap, rs, cs := ws.a[ir*ws.lda+pc:], ws.lda, 1
		switch {
		case ws.direct && mrr < mr:
			ap, rs, cs = ws.apack[b*mr*p.kcb:b*mr*p.kcb+mr*kc], 1, mr
		case !ws.direct:
			off := b*p.mPad*p.kcb + ir*kc
			ap, rs, cs = ws.apack[off:off+mr*kc], 1, mr
		}
		for s := s0; s < s1; s++ {
			j := s * nr
			ws.kern.Sup(mrr, min(nr, ws.n-j), kc, ap, rs, cs, ws.b[pc*ws.ldb+j:], ws.ldb, c[ir*ldc+j:], ldc, alpha, beta)
		}
	}
}
