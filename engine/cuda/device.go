//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
	"unsafe"

	"github.com/relora-go/relora-go/asm"
	"github.com/relora-go/relora-go/engine"
)

// Device is an engine.Device over a Driver: the engine's ops as launches of
// the kernels of kernels/*.cu and cuBLAS GEMMs, memory from a caching
// allocator. It is used from one goroutine at a time, like its Driver.
//
// Errors: the first Driver error is kept; every later call does nothing and
// Sync returns it. Arguments that do not fit (a buffer shorter than the
// shape the call names, a Free of something Alloc did not return) are
// programming errors and panic, as the CPU ops do on shape mismatches.
//
// Launches and GEMMs allocate nothing on the Go heap (the argument slots
// and the GEMM descriptor live in the Device), and in steady state neither
// does the allocator: freed blocks wait in per-size free lists.
type Device struct {
	// Math is the arithmetic of every GEMM (MathFP32 by default). With
	// MathBF16, A and B hold bfloat16 elements (see ToBF16).
	Math Math
	// BF16 runs fp32 GEMMs on bf16 tensor cores: A and B (fp32 in memory)
	// are rounded to bfloat16 into scratch before each product, which then
	// accumulates in fp32 into an fp32 C — what autocast does to a matmul.
	// Every other op stays fp32, as do weights and optimizer state.
	BF16 bool
	bfA  Buf // scratch for the rounded operands
	bfB  Buf

	// Exact makes every Alloc a driver allocation of exactly its size,
	// freed by Free (no size classes, slabs or caching): on the emulation
	// that lets the address sanitizer and the emulator's bounds checks see
	// a kernel that reads past its buffer.
	Exact bool

	drv  Driver
	err  error
	args [16]uint64
	gemm Gemm

	// The caching allocator. Blocks of a size class up to smallMax are
	// carved from slabs of slabBytes; larger ones are driver allocations of
	// their own. Either kind returns to its class's free list on Free.
	free    map[int][]Ptr // size class in bytes → free blocks
	live    map[Ptr]int   // block → its size class
	owned   []Ptr         // every driver allocation (slabs and large blocks)
	large   map[Ptr]bool  // driver allocations that are one large block
	slab    Ptr           // the slab being carved
	slabOff int
	inUse   int64 // bytes of live blocks (by size class)
	peak    int64 // the most inUse has been
	held    int64 // bytes allocated from the driver

	// scratch for two-stage reductions (RMSNorm's weight gradient)
	scratch Buf
	// dwChunkRows is how many rows one partial sum of RMSNorm's weight
	// gradient covers (tests lower it to exercise the two-stage path).
	dwChunkRows int
}

var _ engine.Device = (*Device)(nil)

// Allocator constants.
const (
	minBlock  = 256     // bytes: the smallest block, and every block's alignment
	smallMax  = 1 << 20 // bytes: larger classes are driver allocations of their own
	slabBytes = 16 << 20
	largeStep = 2 << 20 // large classes are multiples of this

	block1D  = 256  // threads per block of elementwise kernels
	maxGrid  = 4096 // blocks of a grid-stride launch
	maxGridY = 65535
)

// NewDevice loads the kernels into drv and returns the device over it.
func NewDevice(drv Driver) (*Device, error) {
	if err := drv.Load(kernelSources, kernelTable); err != nil {
		return nil, fmt.Errorf("cuda: loading the kernels: %w", err)
	}
	return &Device{
		Math:        MathFP32,
		drv:         drv,
		free:        map[int][]Ptr{},
		live:        map[Ptr]int{},
		large:       map[Ptr]bool{},
		dwChunkRows: 64,
	}, nil
}

// Driver is the driver under the device.
func (d *Device) Driver() Driver { return d.drv }

// Name describes the device (the driver's description).
func (d *Device) Name() string { return d.drv.Name() }

// Err is the first error recorded (what Sync would return, without waiting).
func (d *Device) Err() error { return d.err }

func (d *Device) fail(err error) {
	if err != nil && d.err == nil {
		d.err = err
	}
}

// MemStats reports the bytes in live blocks (rounded to their size
// classes), the most there have been, and the bytes held from the driver.
func (d *Device) MemStats() (inUse, peak, held int64) { return d.inUse, d.peak, d.held }

// Close frees every driver allocation and closes the driver. The device
// and all its buffers are unusable afterwards.
func (d *Device) Close() error {
	var errs []error
	if d.Exact {
		for p := range d.live {
			d.owned = append(d.owned, p)
		}
	}
	for _, p := range d.owned {
		if err := d.drv.Free(p); err != nil {
			errs = append(errs, err)
		}
	}
	d.owned, d.free, d.live, d.large = nil, map[int][]Ptr{}, map[Ptr]int{}, map[Ptr]bool{}
	d.slab, d.slabOff, d.inUse, d.held, d.scratch = 0, 0, 0, 0, Buf{}
	if err := d.drv.Close(); err != nil {
		errs = append(errs, err)
	}
	if d.err == nil {
		d.err = errors.New("cuda: device closed")
	}
	return errors.Join(errs...)
}

// Buf is engine.Buf.
type Buf = engine.Buf

// ---------------------------------------------------------------------------
// Memory

// sizeClass rounds a request up: small sizes to one eighth of their power
// of two (at least minBlock), so that a class wastes at most 12.5%; large
// sizes to multiples of largeStep.
func sizeClass(bytes int) int {
	if bytes <= minBlock {
		return minBlock
	}
	if bytes > smallMax {
		return (bytes + largeStep - 1) / largeStep * largeStep
	}
	g := max(minBlock, (1<<(bits.Len(uint(bytes))-1))>>3)
	return (bytes + g - 1) / g * g
}

// Alloc returns n zeroed elements (4 bytes each). Alloc(0) returns a
// non-nil Buf of no elements.
func (d *Device) Alloc(n int) Buf {
	if n < 0 {
		panic(fmt.Sprintf("cuda: Alloc(%d)", n))
	}
	if d.err != nil {
		return Buf{}
	}
	c := sizeClass(n * 4)
	var p Ptr
	var err error
	if d.Exact {
		c = max(n*4, 4)
		p, err = d.drv.Alloc(c)
	} else {
		p, err = d.block(c)
	}
	if err != nil {
		d.fail(fmt.Errorf("cuda: Alloc of %d bytes: %w", n*4, err))
		return Buf{}
	}
	d.live[p] = c
	d.inUse += int64(c)
	d.peak = max(d.peak, d.inUse)
	if n > 0 {
		d.fail(d.drv.Memset32(p, 0, n))
	}
	return Buf{Ptr: uintptr(p), N: n}
}

// block returns a block of size class c: a free one, carved from a slab,
// or a driver allocation.
func (d *Device) block(c int) (Ptr, error) {
	if l := d.free[c]; len(l) > 0 {
		p := l[len(l)-1]
		d.free[c] = l[:len(l)-1]
		return p, nil
	}
	if c > smallMax {
		p, err := d.driverAlloc(c)
		if err != nil {
			return 0, err
		}
		d.large[p] = true
		return p, nil
	}
	if d.slab == 0 || d.slabOff+c > slabBytes {
		p, err := d.driverAlloc(slabBytes)
		if err != nil {
			return 0, err
		}
		d.slab, d.slabOff = p, 0
	}
	p := d.slab + Ptr(d.slabOff)
	d.slabOff += c
	return p, nil
}

// driverAlloc allocates from the driver; when that fails it hands the
// cached large blocks back and tries once more.
func (d *Device) driverAlloc(bytes int) (Ptr, error) {
	p, err := d.drv.Alloc(bytes)
	if err != nil && d.releaseCached() {
		p, err = d.drv.Alloc(bytes)
	}
	if err != nil {
		return 0, err
	}
	d.owned = append(d.owned, p)
	d.held += int64(bytes)
	return p, nil
}

// releaseCached frees the large blocks waiting in free lists (slab blocks
// stay: a slab goes back only whole). It reports whether it freed any.
func (d *Device) releaseCached() bool {
	freed := false
	for c, l := range d.free {
		if c <= smallMax {
			continue
		}
		for _, p := range l {
			if d.drv.Free(p) == nil {
				delete(d.large, p)
				d.held -= int64(c)
				for i, q := range d.owned {
					if q == p {
						d.owned = append(d.owned[:i], d.owned[i+1:]...)
						break
					}
				}
				freed = true
			}
		}
		delete(d.free, c)
	}
	return freed
}

// Free returns b's block to its free list (the zero Buf is ignored). b
// must be a Buf that Alloc returned, not a slice of one.
func (d *Device) Free(b Buf) {
	if b.Nil() {
		return
	}
	p := Ptr(b.Ptr)
	c, ok := d.live[p]
	if !ok {
		panic(fmt.Sprintf("cuda: Free of %#x, which is not a live buffer from Alloc", b.Ptr))
	}
	delete(d.live, p)
	d.inUse -= int64(c)
	if d.Exact {
		d.fail(d.drv.Free(p))
		return
	}
	d.free[c] = append(d.free[c], p)
}

// need panics unless b holds at least n elements (and is not nil when
// n > 0).
func need(what string, b Buf, n int) { need2(what, "", b, n) }

// need2 is need for argument arg of op (joined only when it panics, so
// that the check allocates nothing).
func need2(op, arg string, b Buf, n int) {
	if n > 0 && (b.Nil() || b.N < n) {
		if arg != "" {
			op += " " + arg
		}
		panic(fmt.Sprintf("cuda: %s: buffer of %d elements (ptr %#x) where %d are needed", op, b.N, b.Ptr, n))
	}
}

// Zero writes zeros over b.
func (d *Device) Zero(b Buf) {
	if d.err != nil || b.N == 0 {
		return
	}
	need("Zero", b, b.N)
	d.fail(d.drv.Memset32(Ptr(b.Ptr), 0, b.N))
}

// Copy copies src's src.N elements to the start of dst.
func (d *Device) Copy(dst, src Buf) {
	if d.err != nil || src.N == 0 {
		return
	}
	need("Copy destination", dst, src.N)
	need("Copy source", src, src.N)
	d.fail(d.drv.CopyDtoD(Ptr(dst.Ptr), Ptr(src.Ptr), src.N*4))
}

// Upload copies src to the start of dst.
func (d *Device) Upload(dst Buf, src []float32) {
	if d.err != nil || len(src) == 0 {
		return
	}
	need("Upload", dst, len(src))
	d.fail(d.drv.CopyHtoD(Ptr(dst.Ptr), unsafe.Pointer(unsafe.SliceData(src)), len(src)*4))
}

// UploadInt32 copies src (token ids, targets) to the start of dst.
func (d *Device) UploadInt32(dst Buf, src []int32) {
	if d.err != nil || len(src) == 0 {
		return
	}
	need("UploadInt32", dst, len(src))
	d.fail(d.drv.CopyHtoD(Ptr(dst.Ptr), unsafe.Pointer(unsafe.SliceData(src)), len(src)*4))
}

// Download copies the first len(dst) elements of src into dst, after all
// work issued before it.
func (d *Device) Download(dst []float32, src Buf) {
	if d.err != nil || len(dst) == 0 {
		return
	}
	need("Download", src, len(dst))
	d.fail(d.drv.CopyDtoH(unsafe.Pointer(unsafe.SliceData(dst)), Ptr(src.Ptr), len(dst)*4))
}

// DownloadInt32 is Download into an int32 slice.
func (d *Device) DownloadInt32(dst []int32, src Buf) {
	if d.err != nil || len(dst) == 0 {
		return
	}
	need("DownloadInt32", src, len(dst))
	d.fail(d.drv.CopyDtoH(unsafe.Pointer(unsafe.SliceData(dst)), Ptr(src.Ptr), len(dst)*4))
}

// Sync waits for all issued work and returns the first error.
func (d *Device) Sync() error {
	if d.err != nil {
		return d.err
	}
	d.fail(d.drv.Sync())
	return d.err
}

// scratchBuf returns at least n elements of the device's scratch (its
// contents are undefined), growing it when needed.
func (d *Device) scratchBuf(n int) Buf {
	if d.scratch.N < n {
		d.Free(d.scratch)
		d.scratch = d.Alloc(max(n, 1<<14))
	}
	return d.scratch.Slice(0, n)
}

// ---------------------------------------------------------------------------
// Launches

// Argument slots (Driver.Launch): pointers, and int32 or float32 bits in
// the low 4 bytes.
func pa(b Buf) uint64     { return uint64(b.Ptr) }
func ia(i int) uint64     { return uint64(uint32(int32(i))) }
func fa(f float32) uint64 { return uint64(math.Float32bits(f)) }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// rowBlock is the block size of a kernel that gives one block to a row of
// n elements: a whole number of warps, at most 256.
func rowBlock(n int) int { return min(256, max(32, ceilDiv(n, 32)*32)) }

// gridFor is the grid of a grid-stride launch over n elements.
func gridFor(n int) int { return max(1, min(maxGrid, ceilDiv(n, block1D))) }

// launch runs kernel k on a 1-D grid with the argument slots in args (a
// prefix of d.args).
func (d *Device) launch(k, grid, block, shared int, args []uint64) {
	d.launch2(k, Dim3{grid, 1, 1}, block, shared, args)
}

func (d *Device) launch2(k int, grid Dim3, block, shared int, args []uint64) {
	if err := d.drv.Launch(k, grid, Dim3{block, 1, 1}, shared, args); err != nil {
		d.fail(fmt.Errorf("cuda: launching %s: %w", kernelTable[k].Name, err))
	}
}

// elementwise launches k over n elements with the given argument slots.
func (d *Device) elementwise(k, n int, args []uint64) {
	d.launch(k, gridFor(n), block1D, 0, args)
}

// checkN panics on a negative or int32-overflowing element count (kernel
// int parameters are 32-bit).
func checkN(what string, ns ...int) {
	for _, n := range ns {
		if n < 0 || n > math.MaxInt32 {
			panic(fmt.Sprintf("cuda: %s: size %d outside [0, 2³¹)", what, n))
		}
	}
}

// ---------------------------------------------------------------------------
// GEMM

// Gemm is C = alpha·op(A)·op(B) + beta·C in engine (row-major) layout.
func (d *Device) Gemm(transA, transB bool, m, n, k int, alpha float32, a Buf, lda int, b Buf, ldb int, beta float32, c Buf, ldc int) {
	d.GemmBatched(transA, transB, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1)
}

// GemmBatched runs batch products, operand i at element offset i·stride.
//
// A row-major matrix is its transpose in column-major, so the row-major
// C = op(A)·op(B) is the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: cuBLAS gets B as
// its A and A as its B, the transposes swapped the same way, and M = n,
// N = m.
func (d *Device) GemmBatched(transA, transB bool, m, n, k int, alpha float32, a Buf, lda, strideA int,
	b Buf, ldb, strideB int, beta float32, c Buf, ldc, strideC int, batch int) {
	if d.err != nil || m == 0 || n == 0 || batch == 0 {
		return
	}
	if m < 0 || n < 0 || k < 0 || batch < 0 {
		panic(fmt.Sprintf("cuda: Gemm of %d×%d×%d, batch %d", m, n, k, batch))
	}
	// elements per 4-byte Buf element in A and B
	per := 1
	if d.Math == MathBF16 {
		per = 2
	}
	ar, ac := m, k // A as stored
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	gemmOperand("A", a, ar, ac, lda, strideA, batch, per)
	gemmOperand("B", b, br, bc, ldb, strideB, batch, per)
	gemmOperand("C", c, m, n, ldc, strideC, batch, 1)
	if k == 0 { // C = beta·C: cuBLAS would want leading dimensions ≥ 1 of empty operands
		for i := 0; i < batch; i++ {
			ci := c.Slice(i*strideC, c.N)
			d.elementwise(kScale2D, m*n, append(d.args[:0], pa(ci), ia(m), ia(n), ia(ldc), fa(beta)))
		}
		return
	}
	math := d.Math
	if d.BF16 && d.Math == MathFP32 {
		a, d.bfA = d.roundBF16(d.bfA, a, operandSpan(ar, ac, lda, strideA, batch))
		b, d.bfB = d.roundBF16(d.bfB, b, operandSpan(br, bc, ldb, strideB, batch))
		math = MathBF16
	}
	g := &d.gemm
	*g = Gemm{
		TransA: transB, TransB: transA,
		M: n, N: m, K: k,
		Alpha: alpha, Beta: beta,
		A: Ptr(b.Ptr), LDA: ldb,
		B: Ptr(a.Ptr), LDB: lda,
		C: Ptr(c.Ptr), LDC: ldc,
		Batch:   batch,
		StrideA: int64(strideB), StrideB: int64(strideA), StrideC: int64(strideC),
		Math: math,
	}
	if err := d.drv.Gemm(g); err != nil {
		d.fail(fmt.Errorf("cuda: Gemm %v %v %d×%d×%d batch %d: %w", transA, transB, m, n, k, batch, err))
	}
}

// operandSpan is the elements a row-major operand of rows×cols with
// leading dimension ld, batch copies stride apart, reaches.
func operandSpan(rows, cols, ld, stride, batch int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (batch-1)*stride + (rows-1)*ld + cols
}

// roundBF16 rounds the first n floats of x to bfloat16 into scratch (grown
// when short; two bf16 per 4-byte element, same layout) and returns the
// rounded operand and the scratch.
func (d *Device) roundBF16(scratch, x Buf, n int) (Buf, Buf) {
	if need := ceilDiv(n, 2); scratch.N < need {
		d.Free(scratch)
		scratch = d.Alloc(max(need, 1<<14))
	}
	d.ToBF16(scratch, x, n)
	return scratch, scratch
}

// gemmOperand checks that a row-major operand of rows×cols elements with
// leading dimension ld (and batch copies stride apart) fits its buffer,
// which holds per elements in each of its 4-byte elements.
func gemmOperand(what string, x Buf, rows, cols, ld, stride, batch, per int) {
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols || (batch > 1 && stride < 0) {
		panic(fmt.Sprintf("cuda: Gemm operand %s of %d×%d with leading dimension %d and stride %d", what, rows, cols, ld, stride))
	}
	last := (batch-1)*stride + (rows-1)*ld + cols
	need2("Gemm operand", what, x, ceilDiv(last, per))
}

// ---------------------------------------------------------------------------
// Ops

// Embedding: y[r] = table[ids[r]] for the rows ids (int32). An id outside
// the table gives a NaN row (the CPU op panics).
func (d *Device) Embedding(y, table, ids Buf, rows, cols int) {
	if d.err != nil || rows == 0 || cols == 0 {
		return
	}
	checkN("Embedding", rows*cols, table.N)
	need("Embedding y", y, rows*cols)
	need("Embedding ids", ids, rows)
	vocab := table.N / cols
	d.elementwise(kEmbeddingFwd, rows*cols, append(d.args[:0], pa(y), pa(table), pa(ids), ia(rows), ia(cols), ia(vocab)))
}

// EmbeddingBackward: dtable[ids[r]] += dy[r] with the rows grouped by id
// (engine.GroupRows): one block per (group, column chunk), each thread
// adding its column of the group's rows in order — deterministic, the
// CPU's order, and parallel over the distinct ids. Ids outside the table
// are skipped.
func (d *Device) EmbeddingBackward(dtable, dy, ids, order, starts Buf, groups, cols int) {
	if d.err != nil || groups == 0 || cols == 0 || dtable.Nil() {
		return
	}
	rows := order.N
	checkN("EmbeddingBackward", rows*cols, dtable.N, groups)
	need("EmbeddingBackward dy", dy, rows*cols)
	need("EmbeddingBackward ids", ids, rows)
	need("EmbeddingBackward starts", starts, groups+1)
	bs := rowBlock(cols)
	d.launch2(kEmbeddingBwd, Dim3{groups, ceilDiv(cols, bs), 1}, bs, 0,
		append(d.args[:0], pa(dtable), pa(dy), pa(ids), pa(order), pa(starts), ia(cols), ia(dtable.N/cols)))
}

// RMSNorm: y = x·rstd·w per row of width d, rstd[r] saved.
func (d *Device) RMSNorm(y, rstd, x, w Buf, rows, cols int, eps float32) {
	if d.err != nil || rows == 0 || cols == 0 {
		return
	}
	checkN("RMSNorm", rows*cols)
	need("RMSNorm y", y, rows*cols)
	need("RMSNorm x", x, rows*cols)
	need("RMSNorm rstd", rstd, rows)
	need("RMSNorm w", w, cols)
	bs := rowBlock(cols)
	d.launch(kRMSNormFwd, rows, bs, bs/32*4, append(d.args[:0], pa(y), pa(rstd), pa(x), pa(w), ia(rows), ia(cols), fa(eps)))
}

// RMSNormBackward: dx += rstd·(dy⊙w − x̂·mean(dy⊙w⊙x̂)) and dw += Σ_r
// dy·x·rstd (either may be the zero Buf). dw sums partials over chunks of
// rows in a fixed order (deterministic).
func (d *Device) RMSNormBackward(dx, dw, dy, x, w, rstd Buf, rows, cols int) {
	if d.err != nil || rows == 0 || cols == 0 {
		return
	}
	checkN("RMSNormBackward", rows*cols)
	need("RMSNormBackward dy", dy, rows*cols)
	need("RMSNormBackward x", x, rows*cols)
	need("RMSNormBackward rstd", rstd, rows)
	if !dx.Nil() {
		need("RMSNormBackward dx", dx, rows*cols)
		need("RMSNormBackward w", w, cols)
		bs := rowBlock(cols)
		d.launch(kRMSNormBwdDx, rows, bs, bs/32*4, append(d.args[:0], pa(dx), pa(dy), pa(x), pa(w), pa(rstd), ia(rows), ia(cols)))
	}
	if !dw.Nil() {
		need("RMSNormBackward dw", dw, cols)
		chunkRows := max(1, d.dwChunkRows)
		if ceilDiv(rows, chunkRows) > maxGridY {
			chunkRows = ceilDiv(rows, maxGridY)
		}
		chunks := ceilDiv(rows, chunkRows)
		bs := rowBlock(cols)
		grid := Dim3{ceilDiv(cols, bs), chunks, 1}
		if chunks == 1 {
			d.launch2(kRMSNormBwdDw, grid, bs, 0, append(d.args[:0], pa(dw), pa(dy), pa(x), pa(rstd), ia(rows), ia(cols), ia(chunkRows), ia(1)))
			return
		}
		checkN("RMSNormBackward partials", chunks*cols)
		part := d.scratchBuf(chunks * cols)
		d.launch2(kRMSNormBwdDw, grid, bs, 0, append(d.args[:0], pa(part), pa(dy), pa(x), pa(rstd), ia(rows), ia(cols), ia(chunkRows), ia(0)))
		d.launch(kColSumAcc, grid.X, bs, 0, append(d.args[:0], pa(dw), pa(part), ia(chunks), ia(cols)))
	}
}

// RoPE on rows of heads·hd, row r at position r mod seq, with [seq, hd/2]
// cos and sin tables (engine.RoPETable). y may be x.
func (d *Device) RoPE(y, x, cos, sin Buf, rows, seq, heads, hd int) {
	d.rope(kRoPEFwd, "RoPE", y, x, cos, sin, rows, seq, heads, hd)
}

// RoPEBackward: dx += rotateᵀ(dy).
func (d *Device) RoPEBackward(dx, dy, cos, sin Buf, rows, seq, heads, hd int) {
	if dx.Nil() {
		return
	}
	d.rope(kRoPEBwd, "RoPEBackward", dx, dy, cos, sin, rows, seq, heads, hd)
}

func (d *Device) rope(k int, what string, y, x, cos, sin Buf, rows, seq, heads, hd int) {
	if d.err != nil || rows == 0 || heads == 0 || hd == 0 {
		return
	}
	if hd%2 != 0 || seq <= 0 {
		panic(fmt.Sprintf("cuda: %s with seq %d and head width %d", what, seq, hd))
	}
	n := rows * heads * hd
	checkN(what, n)
	need2(what, "output", y, n)
	need2(what, "input", x, n)
	need2(what, "cos", cos, min(rows, seq)*hd/2)
	need2(what, "sin", sin, min(rows, seq)*hd/2)
	d.elementwise(k, n/2, append(d.args[:0], pa(y), pa(x), pa(cos), pa(sin), ia(rows), ia(seq), ia(heads), ia(hd)))
}

// softmaxLaunch is the launch of a warp-per-row kernel over rows rows.
func softmaxLaunch(rows int) (grid, block int) {
	const warps = block1D / 32
	if rows < warps {
		return 1, 32 * rows
	}
	return ceilDiv(rows, warps), block1D
}

// CausalSoftmax: for count blocks of T×T scores, row t becomes the softmax
// of its first t+1 entries and zero after (in place).
func (d *Device) CausalSoftmax(p Buf, count, T int) {
	if d.err != nil || count == 0 || T == 0 {
		return
	}
	checkN("CausalSoftmax", count*T*T)
	need("CausalSoftmax", p, count*T*T)
	grid, bs := softmaxLaunch(count * T)
	d.launch(kCausalSoftmaxFwd, grid, bs, 0, append(d.args[:0], pa(p), ia(count), ia(T)))
}

// CausalSoftmaxBackward turns dp into p ⊙ (dp − rowsum(dp ⊙ p)) with zeros
// above the diagonal (in place).
func (d *Device) CausalSoftmaxBackward(dp, p Buf, count, T int) {
	if d.err != nil || count == 0 || T == 0 {
		return
	}
	checkN("CausalSoftmaxBackward", count*T*T)
	need("CausalSoftmaxBackward dp", dp, count*T*T)
	need("CausalSoftmaxBackward p", p, count*T*T)
	grid, bs := softmaxLaunch(count * T)
	d.launch(kCausalSoftmaxBwd, grid, bs, 0, append(d.args[:0], pa(dp), pa(p), ia(count), ia(T)))
}

// SwiGLU: y = silu(gate)·up.
func (d *Device) SwiGLU(y, gate, up Buf, n int) {
	if d.err != nil || n == 0 {
		return
	}
	checkN("SwiGLU", n)
	need("SwiGLU y", y, n)
	need("SwiGLU gate", gate, n)
	need("SwiGLU up", up, n)
	d.elementwise(kSwiGLUFwd, n, append(d.args[:0], pa(y), pa(gate), pa(up), ia(n)))
}

// SwiGLUBackward: dgate += dy·u·s·(1 + g·(1−s)), dup += dy·g·s with
// s = σ(gate) (either may be the zero Buf).
func (d *Device) SwiGLUBackward(dgate, dup, dy, gate, up Buf, n int) {
	if d.err != nil || n == 0 || (dgate.Nil() && dup.Nil()) {
		return
	}
	checkN("SwiGLUBackward", n)
	if !dgate.Nil() {
		need("SwiGLUBackward dgate", dgate, n)
	}
	if !dup.Nil() {
		need("SwiGLUBackward dup", dup, n)
	}
	need("SwiGLUBackward dy", dy, n)
	need("SwiGLUBackward gate", gate, n)
	need("SwiGLUBackward up", up, n)
	d.elementwise(kSwiGLUBwd, n, append(d.args[:0], pa(dgate), pa(dup), pa(dy), pa(gate), pa(up), ia(n)))
}

func (d *Device) binary(k int, what string, y, a, b Buf, n int) {
	if d.err != nil || n == 0 {
		return
	}
	checkN(what, n)
	need(what, y, n)
	need(what, a, n)
	need(what, b, n)
	d.elementwise(k, n, append(d.args[:0], pa(y), pa(a), pa(b), ia(n)))
}

// Add: y = a + b.
func (d *Device) Add(y, a, b Buf, n int) { d.binary(kAddFwd, "Add", y, a, b, n) }

// Mul: y = a ⊙ b.
func (d *Device) Mul(y, a, b Buf, n int) { d.binary(kMulFwd, "Mul", y, a, b, n) }

// MulAccumulate: dst += a ⊙ b.
func (d *Device) MulAccumulate(dst, a, b Buf, n int) {
	if dst.Nil() {
		return
	}
	d.binary(kMulAccumulate, "MulAccumulate", dst, a, b, n)
}

// Accumulate: dst += s·src.
func (d *Device) Accumulate(dst, src Buf, s float32, n int) {
	if d.err != nil || n == 0 || dst.Nil() {
		return
	}
	checkN("Accumulate", n)
	need("Accumulate dst", dst, n)
	need("Accumulate src", src, n)
	d.elementwise(kAccumulate, n, append(d.args[:0], pa(dst), pa(src), fa(s), ia(n)))
}

// CrossEntropy: per row, lse[r] = log Σ exp(logits[r]) and rowLoss[r] =
// lse − logits[r, t] (0 where t < 0; NaN where t ≥ vocab, on which the CPU
// op panics). One block per row.
func (d *Device) CrossEntropy(rowLoss, lse, logits, targets Buf, rows, vocab int) {
	if d.err != nil || rows == 0 {
		return
	}
	if vocab <= 0 {
		panic(fmt.Sprintf("cuda: CrossEntropy over a vocabulary of %d", vocab))
	}
	checkN("CrossEntropy", rows*vocab)
	need("CrossEntropy rowLoss", rowLoss, rows)
	need("CrossEntropy lse", lse, rows)
	need("CrossEntropy logits", logits, rows*vocab)
	need("CrossEntropy targets", targets, rows)
	bs := rowBlock(vocab)
	d.launch(kCrossEntropyFwd, rows, bs, 2*(bs/32)*4, append(d.args[:0], pa(rowLoss), pa(lse), pa(logits), pa(targets), ia(rows), ia(vocab)))
}

// CrossEntropyBackward: dlogits[r] += scale·(softmax(logits[r]) −
// onehot(t)) for rows with 0 ≤ t < vocab. scale is the loss scale already
// divided by the number of valid targets.
func (d *Device) CrossEntropyBackward(dlogits, logits, lse, targets Buf, rows, vocab int, scale float32) {
	if d.err != nil || rows == 0 || vocab == 0 || dlogits.Nil() {
		return
	}
	checkN("CrossEntropyBackward", rows*vocab)
	need("CrossEntropyBackward dlogits", dlogits, rows*vocab)
	need("CrossEntropyBackward logits", logits, rows*vocab)
	need("CrossEntropyBackward lse", lse, rows)
	need("CrossEntropyBackward targets", targets, rows)
	d.launch(kCrossEntropyBwd, rows, rowBlock(vocab), 0, append(d.args[:0], pa(dlogits), pa(logits), pa(lse), pa(targets), ia(rows), ia(vocab), fa(scale)))
}

// SumSquares writes Σ x² of each consecutive piece of x (pieces of piece
// elements, the last one shorter) into partial, one block per piece.
func (d *Device) SumSquares(partial, x Buf, piece int) {
	if d.err != nil || x.N == 0 {
		return
	}
	if piece <= 0 {
		panic(fmt.Sprintf("cuda: SumSquares with pieces of %d", piece))
	}
	checkN("SumSquares", x.N)
	pieces := ceilDiv(x.N, piece)
	need("SumSquares partial", partial, pieces)
	bs := rowBlock(piece)
	d.launch(kSumSquares, pieces, bs, bs/32*4, append(d.args[:0], pa(partial), pa(x), ia(x.N), ia(piece)))
}

// AdamW is asm.AdamW on device memory: w.N elements of w, g, m and v.
func (d *Device) AdamW(w, g, m, v Buf, p asm.AdamWParams) {
	n := w.N
	if d.err != nil || n == 0 {
		return
	}
	checkN("AdamW", n)
	need("AdamW g", g, n)
	need("AdamW m", m, n)
	need("AdamW v", v, n)
	d.elementwise(kAdamW, n, append(d.args[:0], pa(w), pa(g), pa(m), pa(v), ia(n),
		fa(p.Beta1), fa(1-p.Beta1), fa(p.Beta2), fa(1-p.Beta2),
		fa(p.Decay), fa(p.StepSize), fa(p.BC2Sqrt), fa(p.Eps), fa(p.GradScale)))
}

// Dropout: y = x·keep[i]/(1−p) over x.N elements with keep[i] =
// engine.DropoutKeep(seed, i, p).
func (d *Device) Dropout(y, x Buf, p float32, seed uint64) {
	n := x.N
	if d.err != nil || n == 0 {
		return
	}
	checkN("Dropout", n)
	need("Dropout y", y, n)
	d.elementwise(kDropoutFwd, n, append(d.args[:0], pa(y), pa(x), ia(n), fa(p), fa(1/(1-p)), seed))
}

// DropoutBackward: dx += dy·keep/(1−p) over dy.N elements.
func (d *Device) DropoutBackward(dx, dy Buf, p float32, seed uint64) {
	n := dy.N
	if d.err != nil || n == 0 || dx.Nil() {
		return
	}
	checkN("DropoutBackward", n)
	need("DropoutBackward dx", dx, n)
	d.elementwise(kDropoutBwd, n, append(d.args[:0], pa(dx), pa(dy), ia(n), fa(p), fa(1/(1-p)), seed))
}

// ToBF16 converts n floats of src to bfloat16 (round to nearest even) at
// dst, whose 4-byte elements hold two bf16 each (dst.N ≥ ⌈n/2⌉).
func (d *Device) ToBF16(dst, src Buf, n int) {
	if d.err != nil || n == 0 {
		return
	}
	checkN("ToBF16", n)
	need("ToBF16 dst", dst, ceilDiv(n, 2))
	need("ToBF16 src", src, n)
	d.elementwise(kF32ToBF16, n, append(d.args[:0], pa(dst), pa(src), ia(n)))
}

// FromBF16 widens n bfloat16 of src (two per 4-byte element) to floats.
func (d *Device) FromBF16(dst, src Buf, n int) {
	if d.err != nil || n == 0 {
		return
	}
	checkN("FromBF16", n)
	need("FromBF16 dst", dst, n)
	need("FromBF16 src", src, ceilDiv(n, 2))
	d.elementwise(kBF16ToF32, n, append(d.args[:0], pa(dst), pa(src), ia(n)))
}

// Timer times the work issued from now until stop on the device itself
// (CUDA events on a GPU, wall time on the emulation): engine.DeviceTimer.
func (d *Device) Timer() (stop func() time.Duration) {
	s := d.drv.Timer()
	return func() time.Duration { return time.Duration(s() * 1e9) }
}
