//go:build cuda

package cuda

/*
#cgo CXXFLAGS: -std=c++17 -O2 -Wall
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int emu_kernel_count(void);
const char *emu_kernel_name(int i);
const char *emu_kernel_sig(int i);
void emu_launch(int i, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
	size_t shared, const uint64_t *args, uint64_t seed);

static void *emu_alloc(size_t bytes) {
	void *p = NULL;
	if (posix_memalign(&p, 256, bytes ? bytes : 4) != 0)
		return NULL;
	uint32_t *w = (uint32_t *)p;
	for (size_t i = 0; i < bytes / 4; i++)
		w[i] = 0x7fc00000u;
	memset((char *)p + bytes / 4 * 4, 0xff, bytes % 4);
	return p;
}

static void emu_fill32(void *p, uint32_t v, size_t n) {
	uint32_t *w = (uint32_t *)p;
	for (size_t i = 0; i < n; i++)
		w[i] = v;
}
*/
import "C"

import (
	"embed"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/relora-go/relora-go/engine/gemm"
)

// emuSources are the files the emulation compiles in; embedding them makes
// the go command rebuild the package (and its cgo objects) when they change,
// which it would not do for headers outside the package directory.
//
//go:embed kernels/emu.h kernels/kernels.def kernels/reduce.cuh kernels/*.cu
var emuSources embed.FS

// EmuOptions configures the CPU emulation of a CUDA GPU.
type EmuOptions struct {
	// Seed 0 runs each launch's blocks, warps and lanes in order; any other
	// value runs them in a permutation drawn per launch from a sequence
	// seeded with it.
	Seed uint64
}

// emuMaxShared is the most dynamic shared memory a launch may ask for: the
// 48 KiB every GPU gives without opting in (cuFuncSetAttribute).
const emuMaxShared = 48 << 10

// emuKernels is the emulation's registry (kernels/kernels.def): kernel name
// → parameter letters derived from the C++ parameter types.
func emuKernels() map[string]string {
	emuRegOnce.Do(func() {
		n := int(C.emu_kernel_count())
		emuReg = make(map[string]string, n)
		emuRegIndex = make(map[string]int, n)
		for i := 0; i < n; i++ {
			name := C.GoString(C.emu_kernel_name(C.int(i)))
			if _, dup := emuReg[name]; dup {
				emuRegErr = fmt.Errorf("cuda emu: kernel %s is listed twice in kernels/kernels.def", name)
			}
			emuReg[name] = C.GoString(C.emu_kernel_sig(C.int(i)))
			emuRegIndex[name] = i
		}
	})
	return emuReg
}

var (
	emuRegOnce  sync.Once
	emuReg      map[string]string
	emuRegIndex map[string]int
	emuRegErr   error
)

type emuAlloc struct {
	base  uintptr
	bytes int
	p     unsafe.Pointer
}

type emu struct {
	opt      EmuOptions
	table    []Kernel
	ids      []C.int
	allocs   []emuAlloc // sorted by base
	args     *C.uint64_t
	nargs    int
	launches uint64
	err      error
	closed   bool
	sa, sb   []float32 // GEMM operand scratch (TF32, BF16)
}

// newEmu returns the CPU emulation of a CUDA GPU: device memory is C heap
// memory (fresh allocations hold NaN words), kernels run from the registry
// compiled from kernels/*.cu, and GEMMs run on the engine's SGEMM.
func newEmu(opt EmuOptions) Driver {
	return &emu{opt: opt}
}

func (d *emu) Name() string {
	if d.opt.Seed != 0 {
		return fmt.Sprintf("CPU emulation (fibers, blocks shuffled, seed %d)", d.opt.Seed)
	}
	return "CPU emulation (fibers, blocks in order)"
}

// fail records err as the first error (Sync's) and returns it.
func (d *emu) fail(err error) error {
	if d.err == nil {
		d.err = err
	}
	return err
}

func (d *emu) Load(sources map[string]string, table []Kernel) error {
	reg := emuKernels()
	if emuRegErr != nil {
		return d.fail(emuRegErr)
	}
	ids := make([]C.int, len(table))
	for i, k := range table {
		sig, ok := reg[k.Name]
		if !ok {
			return d.fail(fmt.Errorf("cuda emu: kernel %s is not in the emulation's registry (kernels/kernels.def)", k.Name))
		}
		if sig != k.Params {
			return d.fail(fmt.Errorf("cuda emu: kernel %s: the table expects parameters %q, the source has %q", k.Name, k.Params, sig))
		}
		ids[i] = C.int(emuRegIndex[k.Name])
	}
	d.table = append([]Kernel(nil), table...)
	d.ids = ids
	return nil
}

// find returns the allocation holding [p, p+bytes), or -1.
func (d *emu) find(p Ptr, bytes int) int {
	i := sort.Search(len(d.allocs), func(i int) bool { return d.allocs[i].base > uintptr(p) }) - 1
	if i < 0 || bytes < 0 {
		return -1
	}
	a := &d.allocs[i]
	if off := uintptr(p) - a.base; off > uintptr(a.bytes) || uintptr(bytes) > uintptr(a.bytes)-off {
		return -1
	}
	return i
}

// host returns the host address of device range [p, p+bytes).
func (d *emu) host(p Ptr, bytes int, what string) (unsafe.Pointer, error) {
	if d.closed {
		return nil, errors.New("cuda emu: driver closed")
	}
	i := d.find(p, bytes)
	if i < 0 {
		return nil, d.fail(fmt.Errorf("cuda emu: %s: [%#x, +%d bytes) is not inside one allocation", what, uintptr(p), bytes))
	}
	a := &d.allocs[i]
	return unsafe.Add(a.p, uintptr(p)-a.base), nil
}

func (d *emu) Alloc(bytes int) (Ptr, error) {
	if d.closed {
		return 0, errors.New("cuda emu: driver closed")
	}
	if bytes < 0 {
		return 0, d.fail(fmt.Errorf("cuda emu: Alloc(%d)", bytes))
	}
	p := C.emu_alloc(C.size_t(bytes))
	if p == nil {
		return 0, d.fail(fmt.Errorf("cuda emu: out of memory allocating %d bytes", bytes))
	}
	a := emuAlloc{base: uintptr(p), bytes: bytes, p: p}
	i := sort.Search(len(d.allocs), func(i int) bool { return d.allocs[i].base > a.base })
	d.allocs = append(d.allocs, emuAlloc{})
	copy(d.allocs[i+1:], d.allocs[i:])
	d.allocs[i] = a
	return Ptr(a.base), nil
}

func (d *emu) Free(p Ptr) error {
	if p == 0 {
		return nil
	}
	i := sort.Search(len(d.allocs), func(i int) bool { return d.allocs[i].base >= uintptr(p) })
	if i == len(d.allocs) || d.allocs[i].base != uintptr(p) {
		return d.fail(fmt.Errorf("cuda emu: Free(%#x): not an allocation", uintptr(p)))
	}
	C.free(d.allocs[i].p)
	d.allocs = append(d.allocs[:i], d.allocs[i+1:]...)
	return nil
}

func (d *emu) CopyHtoD(dst Ptr, src unsafe.Pointer, bytes int) error {
	if bytes == 0 {
		return nil
	}
	p, err := d.host(dst, bytes, "CopyHtoD destination")
	if err != nil {
		return err
	}
	C.memcpy(p, src, C.size_t(bytes))
	return nil
}

func (d *emu) CopyDtoH(dst unsafe.Pointer, src Ptr, bytes int) error {
	if bytes == 0 {
		return nil
	}
	p, err := d.host(src, bytes, "CopyDtoH source")
	if err != nil {
		return err
	}
	C.memcpy(dst, p, C.size_t(bytes))
	return nil
}

func (d *emu) CopyDtoD(dst, src Ptr, bytes int) error {
	if bytes == 0 {
		return nil
	}
	q, err := d.host(dst, bytes, "CopyDtoD destination")
	if err != nil {
		return err
	}
	p, err := d.host(src, bytes, "CopyDtoD source")
	if err != nil {
		return err
	}
	C.memmove(q, p, C.size_t(bytes))
	return nil
}

func (d *emu) Memset32(dst Ptr, v uint32, n int) error {
	if n == 0 {
		return nil
	}
	p, err := d.host(dst, 4*n, "Memset32")
	if err != nil {
		return err
	}
	C.emu_fill32(p, C.uint32_t(v), C.size_t(n))
	return nil
}

func (d *emu) Launch(k int, grid, block Dim3, shared int, args []uint64) error {
	if d.closed {
		return errors.New("cuda emu: driver closed")
	}
	if k < 0 || k >= len(d.table) {
		return d.fail(fmt.Errorf("cuda emu: Launch: kernel index %d outside the loaded table (%d kernels)", k, len(d.table)))
	}
	kern := &d.table[k]
	if len(args) != len(kern.Params) {
		return d.fail(fmt.Errorf("cuda emu: kernel %s: %d arguments for parameters %q", kern.Name, len(args), kern.Params))
	}
	threads := block.X * block.Y * block.Z
	if block.X < 1 || block.Y < 1 || block.Z < 1 || block.X > 1024 || block.Y > 1024 || block.Z > 64 || threads > 1024 {
		return d.fail(fmt.Errorf("cuda emu: kernel %s: block %v (1..1024 threads; x, y ≤ 1024, z ≤ 64)", kern.Name, block))
	}
	if grid.X < 1 || grid.Y < 1 || grid.Z < 1 || grid.X > math.MaxInt32 || grid.Y > 65535 || grid.Z > 65535 ||
		grid.X*grid.Y*grid.Z > math.MaxUint32 {
		return d.fail(fmt.Errorf("cuda emu: kernel %s: grid %v", kern.Name, grid))
	}
	if shared < 0 || shared > emuMaxShared {
		return d.fail(fmt.Errorf("cuda emu: kernel %s: %d bytes of dynamic shared memory (at most %d)", kern.Name, shared, emuMaxShared))
	}
	for i, c := range kern.Params {
		if c == 'p' && args[i] != 0 && d.find(Ptr(args[i]), 0) < 0 {
			return d.fail(fmt.Errorf("cuda emu: kernel %s: argument %d (%#x) is not device memory", kern.Name, i, args[i]))
		}
	}
	if d.nargs < len(args) {
		C.free(unsafe.Pointer(d.args))
		d.nargs = max(len(args), 16)
		d.args = (*C.uint64_t)(C.malloc(C.size_t(8 * d.nargs)))
	}
	if len(args) > 0 {
		copy(unsafe.Slice((*uint64)(unsafe.Pointer(d.args)), len(args)), args)
	}
	var seed uint64
	if d.opt.Seed != 0 {
		d.launches++
		s := d.opt.Seed + d.launches*0x9e3779b97f4a7c15
		s = (s ^ s>>30) * 0xbf58476d1ce4e5b9
		s = (s ^ s>>27) * 0x94d049bb133111eb
		seed = s ^ s>>31 | 1
	}
	C.emu_launch(d.ids[k], C.unsigned(grid.X), C.unsigned(grid.Y), C.unsigned(grid.Z),
		C.unsigned(block.X), C.unsigned(block.Y), C.unsigned(block.Z), C.size_t(shared), d.args, C.uint64_t(seed))
	return nil
}

// operand returns the float32 view of one GEMM operand: stored (column-
// major) rows×cols with leading dimension ld, at element offset off from p,
// rounded to TF32 or widened from bf16 into scratch as math asks.
func (d *emu) operand(p Ptr, off int64, rows, cols, ld int, m Math, scratch *[]float32, what string) ([]float32, error) {
	n := (cols-1)*ld + rows
	size := 4
	if m == MathBF16 {
		size = 2
	}
	h, err := d.host(p+Ptr(off*int64(size)), n*size, what)
	if err != nil {
		return nil, err
	}
	if m == MathFP32 {
		return unsafe.Slice((*float32)(h), n), nil
	}
	if cap(*scratch) < n {
		*scratch = make([]float32, n)
	}
	s := (*scratch)[:n]
	if m == MathBF16 {
		for i, b := range unsafe.Slice((*uint16)(h), n) {
			s[i] = math.Float32frombits(uint32(b) << 16)
		}
		return s, nil
	}
	for i, x := range unsafe.Slice((*float32)(h), n) {
		s[i] = tf32(x)
	}
	return s, nil
}

// tf32 rounds x to TF32's 10-bit mantissa, to nearest with ties away from
// zero (cvt.rna.tf32.f32); NaN and infinities pass through.
func tf32(x float32) float32 {
	u := math.Float32bits(x)
	if u&0x7f800000 == 0x7f800000 {
		return x
	}
	return math.Float32frombits((u + 0x1000) &^ 0x1fff)
}

func (d *emu) Gemm(g *Gemm) error {
	if d.closed {
		return errors.New("cuda emu: driver closed")
	}
	ra, ca := g.M, g.K
	if g.TransA {
		ra, ca = g.K, g.M
	}
	rb, cb := g.K, g.N
	if g.TransB {
		rb, cb = g.N, g.K
	}
	switch {
	case g.M < 0 || g.N < 0 || g.K < 0:
		return d.fail(fmt.Errorf("cuda emu: Gemm: m, n, k = %d, %d, %d", g.M, g.N, g.K))
	case g.LDA < max(1, ra) || g.LDB < max(1, rb) || g.LDC < max(1, g.M):
		return d.fail(fmt.Errorf("cuda emu: Gemm: lda, ldb, ldc = %d, %d, %d for op(A) %d×%d, op(B) %d×%d (transA %v, transB %v)",
			g.LDA, g.LDB, g.LDC, g.M, g.K, g.K, g.N, g.TransA, g.TransB))
	case g.Math != MathFP32 && g.Math != MathTF32 && g.Math != MathBF16:
		return d.fail(fmt.Errorf("cuda emu: Gemm: math %d", g.Math))
	}
	if g.M == 0 || g.N == 0 {
		return nil
	}
	batch := max(g.Batch, 1)
	for i := 0; i < batch; i++ {
		bi := int64(i)
		c, err := d.host(g.C+Ptr(4*bi*g.StrideC), 4*((g.N-1)*g.LDC+g.M), "Gemm C")
		if err != nil {
			return err
		}
		var a, b []float32
		if g.K > 0 {
			if a, err = d.operand(g.A, bi*g.StrideA, ra, ca, g.LDA, g.Math, &d.sa, "Gemm A"); err != nil {
				return err
			}
			if b, err = d.operand(g.B, bi*g.StrideB, rb, cb, g.LDB, g.Math, &d.sb, "Gemm B"); err != nil {
				return err
			}
		}
		// Column-major C = op(A)·op(B) is row-major Cᵀ = op(B)ᵀ·op(A)ᵀ, and
		// a column-major matrix is its transpose read row-major.
		gemm.Sgemm(nil, g.TransB, g.TransA, g.N, g.M, g.K, g.Alpha, b, g.LDB, a, g.LDA, g.Beta,
			unsafe.Slice((*float32)(c), (g.N-1)*g.LDC+g.M), g.LDC)
	}
	return nil
}

func (d *emu) Sync() error { return d.err }

func (d *emu) Timer() (stop func() float64) {
	t := time.Now()
	return func() float64 { return time.Since(t).Seconds() }
}

func (d *emu) Close() error {
	if d.closed {
		return nil
	}
	for _, a := range d.allocs {
		C.free(a.p)
	}
	d.allocs = nil
	C.free(unsafe.Pointer(d.args))
	d.args, d.nargs = nil, 0
	d.closed = true
	return nil
}
