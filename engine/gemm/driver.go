package gemm

import (
	"unsafe"

	"github.com/relora-go/relora-go/asm"
	"github.com/relora-go/relora-go/engine/sched"
)

// blocking holds the cache block sizes for one kernel.
type blocking struct {
	kc int // reduction block: an MR×KC A panel stays in L1
	nc int // columns of the packed B block (KC×NC, in L2); a multiple of NR
	mc int // most rows per parallel work unit; a multiple of MR
}

// testBlocking, when non-nil, replaces blocksFor (tests use tiny blocks to
// exercise every blocking loop on small matrices).
var testBlocking *blocking

// noSup turns off the unpacked skinny-m path (tests compare).
var noSup bool

// supK is the most reduction steps one Sup call runs (assembly is not
// preempted, so a call must stay short).
const supK = 2048

// noDirect turns off the in-place A path (tests and benchmarks compare).
var noDirect bool

// workspace is everything one Sgemm call needs besides its operands.
type workspace struct {
	// The call.
	kern           asm.Kernel
	pool           *sched.Pool
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int

	// The current (jc, pc) block.
	jc, nc, pc, kc int
	betaBlk        float32
	strips         int  // NR-wide strips in the block
	mu, mUnits     int  // rows per unit (a multiple of MR), row units
	direct         bool // full MR-row strips read A in place (kern.TileA)
	nChunks        int  // column chunks per row unit

	apack []float32   // packed op(A)[:, pc:pc+KC], all rows (direct: the partial strip), shared
	bpack []float32   // packed B block, shared
	tile  [][]float32 // per worker: an MR×NR edge tile

	packA   packATask
	packB   packBTask
	sup     supTask
	dot     dotTask
	compute computeTask

	sk     skinnyPlan  // the skinny path's plan (skinny.go)
	wpack  [][]float32 // skinny path: per worker, its own packed part of the large operand
	skPack skPackTask
	skComp skComputeTask

	own     ownedPlan   // the owner-computes path's plan (owned.go)
	wtail   [][]float32 // owner-computes path: per worker, a packed partial strip of a direct A
	ownPack ownPackTask
	ownComp ownCompTask
}

// alignedFloats returns n floats starting on a 64-byte boundary.
func alignedFloats(n int) []float32 {
	buf := make([]float32, n+16)
	off := int(uintptr(unsafe.Pointer(&buf[0]))&63) / 4
	if off != 0 {
		off = 16 - off
	}
	return buf[off : off+n : off+n]
}

func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return alignedFloats(n)
	}
	return buf[:n]
}

func (ws *workspace) run(kern asm.Kernel, blk blocking, pool *sched.Pool, transA, transB bool, m, n, k int, alpha float32,
	a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ws.kern, ws.pool = kern, pool
	ws.transA, ws.transB, ws.m, ws.n, ws.k = transA, transB, m, n, k
	ws.alpha, ws.beta = alpha, beta
	ws.a, ws.b, ws.c, ws.lda, ws.ldb, ws.ldc = a, b, c, lda, ldb, ldc
	mr, nr := kern.MR, kern.NR
	threads := pool.Threads()
	if m <= mr && !transB && kern.Sup != nil && !noSup {
		// Skinny m (m = 1 decoding, tiny batches): no packing at all; the
		// column strips are split over the pool.
		ws.sup.strips = ceilDiv(n, nr)
		ws.sup.chunks = min(ws.sup.strips, 4*threads)
		pool.Run(ws.sup.chunks, &ws.sup)
		return
	}
	if kern.Dot == nil { // portable dot products (still far cheaper than packing Bᵀ for tiny m)
		kern.Dot, kern.DotMR = dotGo, 3
		ws.kern = kern
	}
	if m <= 2*kern.DotMR && transB && !transA && !noSup {
		// Skinny m times a transposed B (x·Wᵀ when decoding): dot products
		// over rows of both operands, no packing.
		ws.sup.strips = ceilDiv(n, nr)
		ws.sup.chunks = min(ws.sup.strips, 4*threads)
		pool.Run(ws.sup.chunks, &ws.dot)
		return
	}

	// Equal-sized K blocks of at most KC, and N blocks of at most NC.
	kBlocks := ceilDiv(k, blk.kc)
	kcb := ceilDiv(k, kBlocks)
	if ws.trySkinny(blk, kBlocks, kcb, threads) {
		return
	}
	// A short reduction leaves room in L2 for a wider B block.
	nc := blk.nc
	if kcb < blk.kc && testBlocking == nil {
		nc = max(nc, min(4*nc, nc*blk.kc/kcb/nr*nr))
	}
	// With a pool, products of more than one (K block, N block) take the
	// owner-computes path (owned.go); a single block keeps the loop below:
	// its two or three barriers a call, B shared, and finer row units that
	// balance a worker that starts late.
	if threads > 1 && !noOwned && (kBlocks > 1 || n > nc) {
		ws.runOwned(kBlocks, kcb, nc, threads)
		return
	}
	nBlocks := ceilDiv(n, nc)
	ncb := ceilDiv(ceilDiv(n, nBlocks), nr) * nr

	// Row units: with several threads, aim for about three units a thread.
	ws.mu = blk.mc
	if threads > 1 {
		ws.mu = min(blk.mc, max(mr, ceilDiv(ceilDiv(m, 3*threads), mr)*mr))
	}
	ws.mUnits = ceilDiv(m, ws.mu)

	for len(ws.tile) < threads {
		ws.tile = append(ws.tile, nil)
	}
	for w := 0; w < threads; w++ {
		ws.tile[w] = grow(ws.tile[w], mr*nr)
	}
	// A row-major op(A) is read in place by kernels that can (no packing);
	// only a last, partial strip of rows is packed.
	ws.direct = !transA && kern.TileA != nil && !noDirect
	if ws.direct {
		ws.apack = grow(ws.apack, mr*kcb) // the partial strip only
	} else {
		ws.apack = grow(ws.apack, ceilDiv(m, mr)*mr*kcb)
	}
	ws.bpack = grow(ws.bpack, kcb*ncb)

	// The reduction is the outer loop: op(A)[:, pc:pc+KC] is packed once,
	// shared by all workers and all column blocks (it streams from L3 one
	// L1-sized MR×KC strip at a time), while each B block stays in L2.
	for pc := 0; pc < k; pc += kcb {
		ws.pc, ws.kc = pc, min(kcb, k-pc)
		ws.betaBlk = beta
		if pc > 0 {
			ws.betaBlk = 1
		}
		if !ws.direct || m%mr != 0 {
			pool.Run(ws.mUnits, &ws.packA)
		}
		for jc := 0; jc < n; jc += ncb {
			ws.jc, ws.nc = jc, min(ncb, n-jc)
			ws.strips = ceilDiv(ws.nc, nr)
			ws.nChunks = 1
			if threads > 1 && ws.mUnits < 2*threads {
				ws.nChunks = min(ws.strips, ceilDiv(2*threads, ws.mUnits))
			}
			ws.packB.chunks = min(ws.strips, threads)
			pool.Run(ws.packB.chunks, &ws.packB)
			pool.Run(ws.mUnits*ws.nChunks, &ws.compute)
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// packBTask packs the B block, strips split evenly over chunks.
type packBTask struct {
	ws     *workspace
	chunks int
}

func (t *packBTask) Run(w, i int) {
	ws := t.ws
	nr := ws.kern.NR
	s0, s1 := i*ws.strips/t.chunks, (i+1)*ws.strips/t.chunks
	j0, j1 := s0*nr, min(ws.nc, s1*nr)
	packBStrips(ws.bpack[s0*ws.kc*nr:s1*ws.kc*nr], nr, j1-j0, ws.kc, ws.transB, ws.b, ws.ldb, ws.jc+j0, ws.pc)
}

// computeTask runs one work unit: a block of rows × a chunk of strips.
type computeTask struct{ ws *workspace }

func (t *computeTask) Run(w, i int) {
	ws := t.ws
	mr, nr, kc := ws.kern.MR, ws.kern.NR, ws.kc
	mi, ni := i/ws.nChunks, i%ws.nChunks
	i0, i1 := mi*ws.mu, min(ws.m, (mi+1)*ws.mu)
	s0, s1 := ni*ws.strips/ws.nChunks, (ni+1)*ws.strips/ws.nChunks
	j0 := ws.jc + s0*nr
	cols := min(ws.nc, s1*nr) - s0*nr
	bp := ws.bpack[s0*kc*nr : s1*kc*nr]
	for ir := i0; ir < i1; ir += mr {
		mrr := min(mr, i1-ir)
		c := ws.c[ir*ws.ldc+j0:]
		if ws.direct && mrr == mr {
			ws.tileRowA(w, kc, ws.a[ir*ws.lda+ws.pc:], bp, cols, c, ws.betaBlk)
			continue
		}
		off := ir * kc
		if ws.direct { // only the partial strip is packed, at the start
			off = 0
		}
		ws.tileRow(w, kc, ws.apack[off:off+mr*kc], bp, mrr, cols, c, ws.betaBlk)
	}
}

// tileRow runs the tiles of one MR-row strip of C (mrr rows valid) against
// consecutive packed B strips bp (kc×NR each; cols columns valid): c is C
// at the strip's first row and column. Edge tiles go through the worker's
// scratch tile.
func (ws *workspace) tileRow(w, kc int, ap, bp []float32, mrr, cols int, c []float32, beta float32) {
	mr, nr, ldc, tile := ws.kern.MR, ws.kern.NR, ws.ldc, ws.tile[w]
	for j := 0; j < cols; j += nr {
		b := bp[j*kc : (j+nr)*kc]
		if nrr := min(nr, cols-j); mrr < mr || nrr < nr {
			ws.kern.Tile(kc, ap, b, tile, nr, ws.alpha, 0)
			mergeTile(tile, nr, mrr, nrr, beta, c[j:], ldc)
			continue
		}
		ws.kern.Tile(kc, ap, b, c[j:], ldc, ws.alpha, beta)
	}
}

// tileRowA is tileRow for a full MR-row strip whose A is read in place
// (a at the strip's first row and the K block's first column).
func (ws *workspace) tileRowA(w, kc int, a, bp []float32, cols int, c []float32, beta float32) {
	mr, nr, ldc, tile := ws.kern.MR, ws.kern.NR, ws.ldc, ws.tile[w]
	for j := 0; j < cols; j += nr {
		b := bp[j*kc : (j+nr)*kc]
		if nrr := min(nr, cols-j); nrr < nr {
			ws.kern.TileA(kc, a, ws.lda, b, tile, nr, ws.alpha, 0)
			mergeTile(tile, nr, mr, nrr, beta, c[j:], ldc)
			continue
		}
		ws.kern.TileA(kc, a, ws.lda, b, c[j:], ldc, ws.alpha, beta)
	}
}

// supTask runs the skinny-m path over a chunk of NR-wide column strips.
type supTask struct {
	ws             *workspace
	strips, chunks int
}

func (t *supTask) Run(w, i int) {
	ws := t.ws
	nr := ws.kern.NR
	rsA, csA := ws.lda, 1
	if ws.transA {
		rsA, csA = 1, ws.lda
	}
	for s := i * t.strips / t.chunks; s < (i+1)*t.strips/t.chunks; s++ {
		j := s * nr
		nrr := min(nr, ws.n-j)
		for pc := 0; pc < ws.k; pc += supK {
			beta := ws.beta
			if pc > 0 {
				beta = 1
			}
			ws.kern.Sup(ws.m, nrr, min(supK, ws.k-pc), ws.a[pc*csA:], rsA, csA, ws.b[pc*ws.ldb+j:], ws.ldb,
				ws.c[j:], ws.ldc, ws.alpha, beta)
		}
	}
}

// dotTask runs the skinny-m, transposed-B path over a chunk of column
// strips (it shares supTask's strip and chunk counts).
type dotTask struct{ ws *workspace }

func (t *dotTask) Run(w, i int) {
	ws := t.ws
	nr, dmr := ws.kern.NR, ws.kern.DotMR
	strips, chunks := ws.sup.strips, ws.sup.chunks
	for s := i * strips / chunks; s < (i+1)*strips/chunks; s++ {
		j := s * nr
		nrr := min(nr, ws.n-j)
		for i0 := 0; i0 < ws.m; i0 += dmr {
			for pc := 0; pc < ws.k; pc += supK {
				beta := ws.beta
				if pc > 0 {
					beta = 1
				}
				ws.kern.Dot(min(dmr, ws.m-i0), nrr, min(supK, ws.k-pc), ws.a[i0*ws.lda+pc:], ws.lda,
					ws.b[j*ws.ldb+pc:], ws.ldb, ws.c[i0*ws.ldc+j:], ws.ldc, ws.alpha, beta)
			}
		}
	}
}

// dotGo is the portable asm.DotFunc: four partial sums per dot product.
func dotGo(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	for i := 0; i < m; i++ {
		ar := a[i*lda : i*lda+k]
		for j := 0; j < n; j++ {
			br := b[j*ldb : j*ldb+k]
			var s0, s1, s2, s3 float32
			p := 0
			for ; p+3 < len(ar) && p+3 < len(br); p += 4 {
				s0 += ar[p] * br[p]
				s1 += ar[p+1] * br[p+1]
				s2 += ar[p+2] * br[p+2]
				s3 += ar[p+3] * br[p+3]
			}
			for ; p < len(ar) && p < len(br); p++ {
				s0 += ar[p] * br[p]
			}
			s := (s0 + s1) + (s2 + s3)
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// packATask packs the rows of one unit of op(A)[:, pc:pc+kc].
type packATask struct{ ws *workspace }

func (t *packATask) Run(w, i int) {
	ws := t.ws
	i0, i1 := i*ws.mu, min(ws.m, (i+1)*ws.mu)
	mr, kc := ws.kern.MR, ws.kc
	if ws.direct { // only a partial last strip needs packing
		if i1 != ws.m || ws.m%mr == 0 {
			return
		}
		i0 = ws.m / mr * mr
		packA(ws.apack[:mr*kc], mr, i1-i0, kc, ws.transA, ws.a, ws.lda, i0, ws.pc)
		return
	}
	packA(ws.apack[i0*kc:ceilDiv(i1, mr)*mr*kc], mr, i1-i0, kc, ws.transA, ws.a, ws.lda, i0, ws.pc)
}

// mergeTile writes the top-left mrr×nrr of an edge tile into C with beta.
func mergeTile(tile []float32, nr, mrr, nrr int, beta float32, c []float32, ldc int) {
	for i := 0; i < mrr; i++ {
		t := tile[i*nr : i*nr+nrr]
		row := c[i*ldc : i*ldc+nrr]
		if beta == 0 {
			copy(row, t)
			continue
		}
		for j, v := range t {
			row[j] = v + beta*row[j]
		}
	}
}

// packA packs rows i0..i0+rows of op(A), columns pc..pc+kc, into dst as
// ⌈rows/mr⌉ strips, each kc columns of mr values (zero rows pad the last).
func packA(dst []float32, mr, rows, kc int, trans bool, a []float32, lda, i0, pc int) {
	strips := ceilDiv(rows, mr)
	dst = dst[:strips*mr*kc]
	if trans { // A stored k×m: column p of op(A) is contiguous
		full := rows / mr
		packAT(dst, mr, full, kc, a, lda, i0, pc)
		if full == strips {
			return
		}
		for p := 0; p < kc; p++ {
			src := a[(pc+p)*lda+i0:]
			src = src[:rows]
			if full < strips {
				d := dst[full*mr*kc+p*mr : full*mr*kc+p*mr+mr]
				n := copy(d, src[full*mr:])
				clear(d[n:])
			}
		}
		return
	}
	for s := 0; s < strips; s++ {
		ds := dst[s*mr*kc : (s+1)*mr*kc]
		mrr := min(mr, rows-s*mr)
		r0 := i0 + s*mr
		if mrr == mr && mr == 6 {
			packA6(ds, kc, a, lda, r0*lda+pc)
			continue
		}
		for r := 0; r < mrr; r++ {
			src := a[(r0+r)*lda+pc:]
			src = src[:kc]
			for p, v := range src {
				ds[p*mr+r] = v
			}
		}
		if mrr < mr {
			for p := 0; p < kc; p++ {
				clear(ds[p*mr+mrr : p*mr+mr])
			}
		}
	}
}

// packAT packs full mr-wide strips of a transposed A (stored k×m): a row
// of memory at a time, each row's mr-wide pieces to their strips.
func packAT(dst []float32, mr, strips, kc int, a []float32, lda, i0, pc int) {
	if strips == 0 {
		return
	}
	asm.PackStrips(dst, mr*kc, a[pc*lda+i0:], lda, kc, mr, strips)
}

// packA6 is packA for six full rows of a row-major A.
func packA6(dst []float32, kc int, a []float32, lda, off int) {
	r0 := a[off : off+kc]
	r1 := a[off+lda : off+lda+kc]
	r2 := a[off+2*lda : off+2*lda+kc]
	r3 := a[off+3*lda : off+3*lda+kc]
	r4 := a[off+4*lda : off+4*lda+kc]
	r5 := a[off+5*lda : off+5*lda+kc]
	dst = dst[:6*kc]
	for p := range r0 {
		d := dst[p*6 : p*6+6 : p*6+6]
		d[0], d[1], d[2], d[3], d[4], d[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
	}
}

// packBStrips packs columns j0..j0+cols of op(B), rows pc..pc+kc, into dst
// as ⌈cols/nr⌉ consecutive strips of packB's layout. A row-major B is read
// a whole row of the block at a time (one contiguous run per row instead of
// one per row and strip, which the hardware prefetchers follow from DRAM).
func packBStrips(dst []float32, nr, cols, kc int, trans bool, b []float32, ldb, j0, pc int) {
	strips := ceilDiv(cols, nr)
	dst = dst[:strips*kc*nr]
	if trans || strips == 1 {
		for s := 0; s < strips; s++ {
			packB(dst[s*kc*nr:(s+1)*kc*nr], nr, min(nr, cols-s*nr), kc, trans, b, ldb, j0+s*nr, pc)
		}
		return
	}
	full := cols / nr
	for p := 0; p < kc; p++ {
		row := b[(pc+p)*ldb+j0:]
		row = row[:cols]
		for s := 0; s < full; s++ {
			copy(dst[s*kc*nr+p*nr:s*kc*nr+p*nr+nr], row[s*nr:s*nr+nr])
		}
		if full < strips {
			d := dst[full*kc*nr+p*nr : full*kc*nr+p*nr+nr]
			n := copy(d, row[full*nr:])
			clear(d[n:])
		}
	}
}

// packB packs columns j0..j0+nrr of op(B), rows pc..pc+kc, into dst as kc
// rows of nr values (zero columns pad nrr up to nr).
func packB(dst []float32, nr, nrr, kc int, trans bool, b []float32, ldb, j0, pc int) {
	dst = dst[:nr*kc]
	if !trans { // B stored k×n: row p of op(B) is contiguous
		for p := 0; p < kc; p++ {
			d := dst[p*nr : p*nr+nr]
			copy(d, b[(pc+p)*ldb+j0:(pc+p)*ldb+j0+nrr])
			clear(d[nrr:])
		}
		return
	}
	// B stored n×k: column j of op(B) is contiguous. Transpose in blocks of
	// pb values of p (the block's writes, pb·nr floats, stay in L1), eight
	// columns at a time (eight sequential reads, one 32-byte run of writes
	// per p).
	const pb = 64
	j8 := nrr &^ 7
	for p0 := 0; p0 < kc; p0 += pb {
		pl := min(pb, kc-p0)
		for j := 0; j < j8; j += 8 {
			packBT8(dst[p0*nr+j:], nr, pl, b[(j0+j)*ldb+pc+p0:], ldb)
		}
		for j := j8; j < nrr; j++ {
			src := b[(j0+j)*ldb+pc+p0:]
			src = src[:pl]
			for q, v := range src {
				dst[(p0+q)*nr+j] = v
			}
		}
		if nrr < nr {
			for q := 0; q < pl; q++ {
				clear(dst[(p0+q)*nr+nrr : (p0+q)*nr+nr])
			}
		}
	}
}

// packBT8 transposes eight rows of b (stride ldb), pl values each, into
// eight adjacent columns of dst (stride nr): dst[q*nr+r] = b[r*ldb+q].
func packBT8(dst []float32, nr, pl int, b []float32, ldb int) {
	r0 := b[:pl]
	r1 := b[ldb:][:len(r0)]
	r2 := b[2*ldb:][:len(r0)]
	r3 := b[3*ldb:][:len(r0)]
	r4 := b[4*ldb:][:len(r0)]
	r5 := b[5*ldb:][:len(r0)]
	r6 := b[6*ldb:][:len(r0)]
	r7 := b[7*ldb:][:len(r0)]
	dst = dst[:(pl-1)*nr+8]
	for q := range r0 {
		d := dst[q*nr : q*nr+8 : q*nr+8]
		d[0], d[1], d[2], d[3] = r0[q], r1[q], r2[q], r3[q]
		d[4], d[5], d[6], d[7] = r4[q], r5[q], r6[q], r7[q]
	}
}
