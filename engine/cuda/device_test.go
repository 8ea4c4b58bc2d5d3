//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/relora-go/relora-go/asm"
	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/engine/gemm"
	"github.com/relora-go/relora-go/engine/sched"
)

// The device tests run every Device method on each available device — the
// CPU emulation always (blocks, warps and lanes shuffled), a real GPU when
// device_gpu_test.go sets gpuOpen and the GPU opens — and compare it with
// the CPU engine's op: the graph builder's forward output and input
// gradients (the upstream gradient is the weights of a WeightedSum loss),
// or asm's reference functions for ops with no builder.
//
// Tolerances (fp32): tolFP32 of the largest magnitude of the expected
// array. The device reduces in float32 trees where the CPU op sums in
// float64 or sequentially, and a GPU contracts multiply-adds; both differ
// by a few float32 roundings of the largest term.
const (
	tolFP32  = 1e-5
	tolExact = 0
)

const emuSeed = 0x5eed_cafe

// gpuOpen opens the real GPU driver; device_gpu_test.go sets it when the
// build has one.
var gpuOpen func() (Driver, error)

type testDevice struct {
	once sync.Once
	dev  *Device
	err  error
}

var emuDevice, gpuDevice testDevice

func (td *testDevice) get(open func() (Driver, error)) (*Device, error) {
	td.once.Do(func() {
		drv, err := open()
		if err != nil {
			td.err = err
			return
		}
		td.dev, td.err = NewDevice(drv)
	})
	return td.dev, td.err
}

// forEachDevice runs f as a subtest on the emulation and on a real GPU
// (skipped when there is none). The devices are opened once per test
// binary and shared; f must free what it allocates (the helpers below
// register the frees with t.Cleanup).
func forEachDevice(t *testing.T, f func(t *testing.T, dev *Device)) {
	t.Helper()
	t.Run("emu", func(t *testing.T) {
		dev, err := emuDevice.get(func() (Driver, error) { return newEmu(EmuOptions{Seed: emuSeed}), nil })
		if err != nil {
			t.Fatalf("opening the emulation: %v", err)
		}
		runOn(t, dev, f)
	})
	t.Run("gpu", func(t *testing.T) {
		if gpuOpen == nil {
			t.Skip("this build has no real GPU driver")
		}
		dev, err := gpuDevice.get(gpuOpen)
		if err != nil {
			t.Skipf("no GPU: %v", err)
		}
		runOn(t, dev, f)
	})
}

func runOn(t *testing.T, dev *Device, f func(t *testing.T, dev *Device)) {
	t.Helper()
	if err := dev.Sync(); err != nil {
		t.Fatalf("the device failed in an earlier test: %v", err)
	}
	math0, chunk0 := dev.Math, dev.dwChunkRows
	defer func() { dev.Math, dev.dwChunkRows = math0, chunk0 }()
	f(t, dev)
	if err := dev.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// ---------------------------------------------------------------------------
// helpers

func alloc(t *testing.T, dev *Device, n int) Buf {
	t.Helper()
	b := dev.Alloc(n)
	if b.Nil() {
		t.Fatalf("Alloc(%d) failed: %v", n, dev.Sync())
	}
	t.Cleanup(func() { dev.Free(b) })
	return b
}

func up(t *testing.T, dev *Device, x []float32) Buf {
	t.Helper()
	b := alloc(t, dev, len(x))
	dev.Upload(b, x)
	return b
}

func upInt(t *testing.T, dev *Device, x []int32) Buf {
	t.Helper()
	b := alloc(t, dev, len(x))
	dev.UploadInt32(b, x)
	return b
}

func down(t *testing.T, dev *Device, b Buf) []float32 {
	t.Helper()
	out := make([]float32, b.N)
	dev.Download(out, b)
	if err := dev.Sync(); err != nil {
		t.Fatalf("Download: %v", err)
	}
	return out
}

func randn(rng *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * scale)
	}
	return x
}

func clone(x []float32) []float32 { return append([]float32(nil), x...) }

// near checks got against want within tol times want's largest magnitude
// (tol 0: bit for bit, NaN equal to NaN).
func near(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, len(got), len(want))
	}
	var scale float64
	for _, w := range want {
		if a := math.Abs(float64(w)); a > scale && !math.IsInf(a, 0) {
			scale = a
		}
	}
	lim := tol * scale
	bad, worst := 0, 0.0
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		var ok bool
		if tol == 0 {
			ok = math.Float32bits(got[i]) == math.Float32bits(want[i]) || (math.IsNaN(g) && math.IsNaN(w))
		} else {
			ok = (math.IsNaN(g) && math.IsNaN(w)) || g == w || math.Abs(g-w) <= lim
		}
		if !ok {
			if bad < 4 {
				t.Errorf("%s[%d] = %.9g, want %.9g (tolerance %.3g)", what, i, g, w, lim)
			}
			bad++
			worst = max(worst, math.Abs(g-w))
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements differ, by up to %.3g (tolerance %.3g = %g of %.3g)", what, bad, len(want), worst, lim, tol, scale)
	}
}

// tolBitwise is the tolerance of an op whose kernel does exactly the CPU
// op's float32 operations in the same order: bit for bit on the emulation
// on amd64 (where neither g++ nor Go fuses multiply-adds), tolFP32
// elsewhere (a GPU contracts a·b+c into an FMA).
func tolBitwise(dev *Device) float64 {
	if _, ok := dev.Driver().(*emu); ok && runtime.GOARCH == "amd64" {
		return tolExact
	}
	return tolFP32
}

func newCPU(t *testing.T) (*engine.Graph, *engine.Arena) {
	pool := sched.New(1)
	t.Cleanup(pool.Close)
	return engine.NewGraph(pool), engine.NewArena(1 << 12)
}

// ---------------------------------------------------------------------------
// memory

func TestKernelTable(t *testing.T) {
	if len(kernelTable) != numKernels {
		t.Fatalf("kernelTable has %d entries, want %d", len(kernelTable), numKernels)
	}
	seen := map[string]bool{}
	for i, k := range kernelTable {
		if k.Name == "" || seen[k.Name] {
			t.Errorf("kernelTable[%d] = %+v: empty or repeated name", i, k)
		}
		seen[k.Name] = true
	}
	for _, k := range kernelTable {
		found := false
		for _, src := range kernelSources {
			found = found || strings.Contains(src, "__global__ void "+k.Name+"(")
		}
		if !found {
			t.Errorf("kernel %s is in no source of kernels/*.cu", k.Name)
		}
	}
}

func TestSizeClass(t *testing.T) {
	for _, b := range []int{0, 1, 4, 256, 257, 1000, 4096, 4097, 100000, smallMax, smallMax + 1, 5 << 20, 123456789} {
		c := sizeClass(b)
		if c < b || c < minBlock || c%minBlock != 0 {
			t.Errorf("sizeClass(%d) = %d", b, c)
		}
		if b > 2*minBlock && b <= smallMax && float64(c) > 1.125*float64(b) {
			t.Errorf("sizeClass(%d) = %d wastes more than 12.5%%", b, c)
		}
		if b > smallMax && c%largeStep != 0 {
			t.Errorf("sizeClass(%d) = %d, not a multiple of %d", b, c, largeStep)
		}
	}
}

func TestMemory(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		rng := rand.New(rand.NewPCG(1, 1))
		for _, n := range []int{1, 37, 1023, 4099, smallMax/4 + 5} {
			x := randn(rng, n, 1)
			a := dev.Alloc(n)
			dev.Upload(a, x)
			near(t, "Upload/Download", down(t, dev, a), x, tolExact)
			b := alloc(t, dev, n)
			near(t, "Alloc zeroed", down(t, dev, b), make([]float32, n), tolExact)
			dev.Copy(b, a)
			near(t, "Copy", down(t, dev, b), x, tolExact)
			dev.Zero(a)
			near(t, "Zero", down(t, dev, a), make([]float32, n), tolExact)
			// a freed block is reused, and comes back zeroed
			dev.Upload(a, x)
			dev.Free(a)
			c := dev.Alloc(n)
			if c.Ptr != a.Ptr {
				t.Errorf("n=%d: a freed block was not reused (%#x, then %#x)", n, a.Ptr, c.Ptr)
			}
			near(t, "reused block zeroed", down(t, dev, c), make([]float32, n), tolExact)
			dev.Free(c)
		}
		ids := []int32{0, -1, 7, math.MaxInt32, math.MinInt32}
		ib := upInt(t, dev, ids)
		got := make([]int32, len(ids))
		dev.DownloadInt32(got, ib)
		for i := range ids {
			if got[i] != ids[i] {
				t.Fatalf("UploadInt32/DownloadInt32: %v, want %v", got, ids)
			}
		}
		z := dev.Alloc(0)
		if z.Nil() || z.N != 0 {
			t.Errorf("Alloc(0) = %+v", z)
		}
		dev.Free(z)
		inUse, _, held := dev.MemStats()
		if inUse <= 0 || held < inUse {
			t.Errorf("MemStats: %d in use, %d held", inUse, held)
		}
	})
}

func TestFreeUnknownPanics(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		b := alloc(t, dev, 10)
		defer func() {
			if recover() == nil {
				t.Error("Free of a slice of a buffer did not panic")
			}
		}()
		dev.Free(b.Slice(1, 5))
	})
}

// failingDriver wraps a driver and fails every launch after the first
// `after`.
type failingDriver struct {
	Driver
	after int
}

var errInjected = errors.New("injected launch failure")

func (f *failingDriver) Launch(k int, grid, block Dim3, shared int, args []uint64) error {
	if f.after <= 0 {
		return errInjected
	}
	f.after--
	return f.Driver.Launch(k, grid, block, shared, args)
}

func TestStickyError(t *testing.T) {
	drv := &failingDriver{Driver: newEmu(EmuOptions{Seed: emuSeed}), after: 1}
	dev, err := NewDevice(drv)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	x := dev.Alloc(100)
	y := dev.Alloc(100)
	dev.Upload(x, make([]float32, 100))
	dev.Add(y, x, x, 100) // runs
	dev.Mul(y, x, x, 100) // fails
	if err := dev.Sync(); !errors.Is(err, errInjected) {
		t.Fatalf("Sync = %v, want the injected error", err)
	}
	// later calls do nothing (no panic on a failed Alloc's zero Buf either)
	b := dev.Alloc(10)
	dev.Add(b, b, b, 10)
	dev.Gemm(false, false, 2, 2, 2, 1, b, 2, b, 2, 0, b, 2)
	out := []float32{42}
	dev.Download(out, x)
	if out[0] != 42 {
		t.Error("Download ran after the error")
	}
	if err := dev.Sync(); !errors.Is(err, errInjected) {
		t.Fatalf("second Sync = %v", err)
	}
}

// nopDriver does nothing: it measures the Device's own allocations.
type nopDriver struct{ next Ptr }

func (*nopDriver) Name() string                           { return "nop" }
func (*nopDriver) Load(map[string]string, []Kernel) error { return nil }
func (d *nopDriver) Alloc(bytes int) (Ptr, error) {
	p := d.next + 1<<32
	d.next += Ptr(bytes+255) &^ 255
	return p, nil
}
func (*nopDriver) Free(Ptr) error                              { return nil }
func (*nopDriver) CopyHtoD(Ptr, unsafe.Pointer, int) error     { return nil }
func (*nopDriver) CopyDtoH(unsafe.Pointer, Ptr, int) error     { return nil }
func (*nopDriver) CopyDtoD(Ptr, Ptr, int) error                { return nil }
func (*nopDriver) Memset32(Ptr, uint32, int) error             { return nil }
func (*nopDriver) Launch(int, Dim3, Dim3, int, []uint64) error { return nil }
func (*nopDriver) Gemm(*Gemm) error                            { return nil }
func (*nopDriver) Sync() error                                 { return nil }
func (*nopDriver) Timer() func() float64                       { return func() float64 { return 0 } }
func (*nopDriver) Close() error                                { return nil }

// asanBuild is set by device_asan_test.go under -asan.
var asanBuild bool

func TestNoAllocationsInSteadyState(t *testing.T) {
	if asanBuild {
		t.Skip("allocation counts do not hold under -asan")
	}
	dev, err := NewDevice(&nopDriver{})
	if err != nil {
		t.Fatal(err)
	}
	const rows, d, vocab = 300, 64, 100
	x, y, w := dev.Alloc(rows*d), dev.Alloc(rows*d), dev.Alloc(d)
	rs, ids := dev.Alloc(rows), dev.Alloc(rows)
	logits := dev.Alloc(rows * vocab)
	cs, sn := dev.Alloc(rows*d), dev.Alloc(rows*d)
	host := make([]float32, rows*d)
	step := func() {
		dev.Upload(x, host)
		tmp := dev.Alloc(rows * d)
		dev.Embedding(y, x, ids, rows, d)
		dev.RMSNorm(y, rs, x, w, rows, d, 1e-5)
		dev.RMSNormBackward(x, w, y, x, w, rs, rows, d)
		dev.RoPE(y, x, cs, sn, rows, rows, 4, d/4)
		dev.CausalSoftmax(y, 1, 64)
		dev.SwiGLUBackward(x, y, tmp, x, y, rows*d)
		dev.CrossEntropy(rs, rs, logits, ids, rows, vocab)
		dev.CrossEntropyBackward(logits, logits, rs, ids, rows, vocab, 0.1)
		dev.Gemm(false, true, rows, d, d, 1, x, d, y, d, 0, tmp, d)
		dev.GemmBatched(true, false, d, d, rows/2, 1, x, d, rows/2*d, y, d, rows/2*d, 1, tmp, d, d*d, 2)
		dev.AdamW(x, y, tmp, cs, asm.AdamWParams{Beta1: 0.9})
		dev.SumSquares(rs, x, 1000)
		dev.Dropout(y, x, 0.1, 7)
		dev.Free(tmp)
		dev.Download(host, y)
	}
	step()
	if n := testing.AllocsPerRun(20, step); n != 0 {
		t.Errorf("a step of device calls allocates %v times", n)
	}
	if err := dev.Sync(); err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------------------
// GEMM

func gemmShape(trans bool, rows, cols, pad int) (r, c, ld int) {
	if trans {
		rows, cols = cols, rows
	}
	return rows, cols, cols + pad
}

func TestGemm(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		rng := rand.New(rand.NewPCG(2, 1))
		for _, s := range [][3]int{{1, 1, 1}, {5, 7, 3}, {33, 17, 65}, {3, 130, 37}} {
			m, n, k := s[0], s[1], s[2]
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, beta := range []float32{0, 1} {
					pad := 0
					if m > 1 {
						pad = 3 // leading dimensions above the minimum
					}
					ar, _, lda := gemmShape(tr[0], m, k, pad)
					br, _, ldb := gemmShape(tr[1], k, n, pad)
					ldc := n + pad
					a, b := randn(rng, ar*lda, 1), randn(rng, br*ldb, 1)
					c := randn(rng, m*ldc, 1)
					if beta == 0 {
						for i := range c {
							c[i] = float32(math.NaN())
						}
					}
					want := clone(c)
					gemm.Ref(tr[0], tr[1], m, n, k, 0.5, a, lda, b, ldb, beta, want, ldc)
					A, B, C := up(t, dev, a), up(t, dev, b), up(t, dev, c)
					dev.Gemm(tr[0], tr[1], m, n, k, 0.5, A, lda, B, ldb, beta, C, ldc)
					got := down(t, dev, C)
					if beta == 0 { // the padding columns keep their NaN
						for i := 0; i < m; i++ {
							for j := n; j < ldc; j++ {
								got[i*ldc+j], want[i*ldc+j] = 0, 0
							}
						}
					}
					near(t, fmt.Sprintf("Gemm %v %dx%dx%d beta %g", tr, m, n, k, beta), got, want, tolFP32)
				}
			}
		}
	})
}

// TestGemmMath runs the TF32 and BF16 arithmetics through the Device: TF32
// within its 10-bit mantissa, BF16 on operands converted by ToBF16 against
// the fp32 product of the rounded operands.
func TestGemmMath(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		rng := rand.New(rand.NewPCG(2, 3))
		const m, n, k = 7, 9, 65
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			a, b := randn(rng, m*k, 1), randn(rng, k*n, 1)
			lda, ldb := k, n
			if tr[0] {
				lda = m
			}
			if tr[1] {
				ldb = k
			}
			A, B, C := up(t, dev, a), up(t, dev, b), alloc(t, dev, m*n)
			want := make([]float32, m*n)
			gemm.Ref(tr[0], tr[1], m, n, k, 1, a, lda, b, ldb, 0, want, n)
			dev.Math = MathTF32
			dev.Gemm(tr[0], tr[1], m, n, k, 1, A, lda, B, ldb, 0, C, n)
			near(t, fmt.Sprintf("TF32 Gemm %v", tr), down(t, dev, C), want, 5e-3)

			ra, rb := make([]float32, len(a)), make([]float32, len(b))
			for i, v := range a {
				ra[i] = math.Float32frombits(uint32(bf16RNE(v)) << 16)
			}
			for i, v := range b {
				rb[i] = math.Float32frombits(uint32(bf16RNE(v)) << 16)
			}
			gemm.Ref(tr[0], tr[1], m, n, k, 1, ra, lda, rb, ldb, 0, want, n)
			HA, HB := alloc(t, dev, (m*k+1)/2), alloc(t, dev, (k*n+1)/2)
			dev.ToBF16(HA, A, m*k)
			dev.ToBF16(HB, B, k*n)
			dev.Math = MathBF16
			dev.Gemm(tr[0], tr[1], m, n, k, 1, HA, lda, HB, ldb, 0, C, n)
			dev.Math = MathFP32
			near(t, fmt.Sprintf("BF16 Gemm %v", tr), down(t, dev, C), want, tolFP32)

			// Device.BF16: the same product from fp32 operands, rounded by the
			// device itself, batched, with leading dimensions wider than the rows
			dev.BF16 = true
			dev.Gemm(tr[0], tr[1], m, n, k, 1, A, lda, B, ldb, 0, C, n)
			near(t, fmt.Sprintf("BF16 Gemm from fp32 %v", tr), down(t, dev, C), want, tolFP32)
			C2 := alloc(t, dev, 2*m*n)
			dev.GemmBatched(tr[0], tr[1], m, n, k, 1, A, lda, 0, B, ldb, 0, 0, C2, n, m*n, 2)
			got := down(t, dev, C2)
			near(t, fmt.Sprintf("BF16 GemmBatched from fp32 %v", tr), got[m*n:], want, tolFP32)
			dev.BF16 = false
		}
	})
}

func TestGemmKZero(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		c := []float32{1, 2, 3, 4, 5, 6}
		C := up(t, dev, c)
		A := alloc(t, dev, 1)
		dev.Gemm(false, false, 2, 2, 0, 1, A, 1, A, 2, 0.5, C, 3)
		near(t, "k=0 beta 0.5", down(t, dev, C), []float32{0.5, 1, 3, 2, 2.5, 6}, tolExact)
		dev.Upload(C, []float32{float32(math.NaN()), 1, 2, 3, 4, 5})
		dev.Gemm(false, false, 2, 2, 0, 1, A, 1, A, 2, 0, C, 3)
		near(t, "k=0 beta 0", down(t, dev, C), []float32{0, 0, 2, 0, 0, 5}, tolExact)
	})
}

func TestGemmBatched(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		rng := rand.New(rand.NewPCG(2, 2))
		const batch = 3
		for _, s := range [][3]int{{1, 1, 1}, {5, 7, 3}, {17, 9, 33}} {
			m, n, k := s[0], s[1], s[2]
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				ar, _, lda := gemmShape(tr[0], m, k, 1)
				br, _, ldb := gemmShape(tr[1], k, n, 2)
				ldc := n + 1
				sa, sb, sc := ar*lda+5, br*ldb+3, m*ldc+7
				a, b := randn(rng, batch*sa, 1), randn(rng, batch*sb, 1)
				c := randn(rng, batch*sc, 1)
				want := clone(c)
				for i := 0; i < batch; i++ {
					gemm.Ref(tr[0], tr[1], m, n, k, 1.5, a[i*sa:], lda, b[i*sb:], ldb, 1, want[i*sc:], ldc)
				}
				A, B, C := up(t, dev, a), up(t, dev, b), up(t, dev, c)
				dev.GemmBatched(tr[0], tr[1], m, n, k, 1.5, A, lda, sa, B, ldb, sb, 1, C, ldc, sc, batch)
				near(t, fmt.Sprintf("GemmBatched %v %dx%dx%d", tr, m, n, k), down(t, dev, C), want, tolFP32)
			}
		}
	})
}

// TestAttention runs the engine's device attention op (strided batched
// GEMMs per head over the sequences and the causal softmax, recorded by a
// device graph) forward and backward against the CPU op.
func TestAttention(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		for _, s := range [][3]int{{1, 1, 4}, {2, 5, 3}, {1, 33, 2}, {3, 17, 2}} {
			batch, T, heads := s[0], s[1], s[2]
			const hd = 6
			d := heads * hd
			rng := rand.New(rand.NewPCG(3, uint64(T)))
			g, ar := newCPU(t)
			q, k, v := ar.New("q", true, batch*T, d), ar.New("k", true, batch*T, d), ar.New("v", true, batch*T, d)
			for _, x := range []*engine.Tensor{q, k, v} {
				copy(x.Data, randn(rng, x.Size(), 1))
				copy(x.Grad, randn(rng, x.Size(), 1))
			}
			pre := [][]float32{clone(q.Grad), clone(k.Grad), clone(v.Grad)}
			y := g.Attention(q, k, v, T, heads)
			wts := randn(rng, y.Size(), 1)
			g.WeightedSum(y, wts)
			g.Forward()
			g.Backward()

			// the same inputs and pre-filled gradients on the device
			dq, dk, dv := ar.New("q", true, batch*T, d), ar.New("k", true, batch*T, d), ar.New("v", true, batch*T, d)
			ins := []*engine.Tensor{dq, dk, dv}
			for i, x := range []*engine.Tensor{q, k, v} {
				copy(ins[i].Data, x.Data)
			}
			engine.ToDevice(dev, ins)
			for i, x := range ins {
				dev.Upload(x.DevGrad, pre[i])
			}
			dg := engine.NewDeviceGraph(sched.New(1), dev)
			dy := dg.Attention(dq, dk, dv, T, heads)
			dg.WeightedSum(dy, wts)
			dg.Forward()
			dg.Backward()
			name := fmt.Sprintf("attention batch %d T %d heads %d", batch, T, heads)
			near(t, name+" y", down(t, dev, dy.Dev), y.Data, tolFP32)
			near(t, name+" dq", down(t, dev, dq.DevGrad), q.Grad, tolFP32)
			near(t, name+" dk", down(t, dev, dk.DevGrad), k.Grad, tolFP32)
			near(t, name+" dv", down(t, dev, dv.DevGrad), v.Grad, tolFP32)
			dg.Release()
			engine.FreeDevice(dev, ins)
		}
	})
}

// ---------------------------------------------------------------------------
// ops with a graph builder

func TestEmbedding(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		for _, s := range [][3]int{{1, 5, 7}, {3, 33, 7}, {37, 5, 7}, {37, 130, 1000}} {
			rows, d, vocab := s[0], s[1], s[2]
			rng := rand.New(rand.NewPCG(4, uint64(rows*d)))
			g, ar := newCPU(t)
			table := ar.New("table", true, vocab, d)
			copy(table.Data, randn(rng, table.Size(), 1))
			copy(table.Grad, randn(rng, table.Size(), 1))
			pre := clone(table.Grad)
			ids := make([]int32, rows)
			for i := range ids {
				ids[i] = int32(rng.IntN(vocab))
			}
			y := g.Embedding(table, ids)
			wts := randn(rng, y.Size(), 1)
			g.WeightedSum(y, wts)
			g.Forward()
			g.Backward()

			Tb, I := up(t, dev, table.Data), upInt(t, dev, ids)
			Y := alloc(t, dev, rows*d)
			dev.Embedding(Y, Tb, I, rows, d)
			dT := up(t, dev, pre)
			order, starts := make([]int32, rows), make([]int32, rows+1)
			groups := engine.GroupRows(ids, order, starts, make([]int32, vocab))
			dev.EmbeddingBackward(dT, up(t, dev, wts), I, upInt(t, dev, order), upInt(t, dev, starts[:groups+1]), groups, d)
			name := fmt.Sprintf("embedding %dx%d vocab %d", rows, d, vocab)
			near(t, name+" y", down(t, dev, Y), y.Data, tolExact)
			// the columns are summed in row order, as on the CPU
			near(t, name+" dtable", down(t, dev, dT), table.Grad, tolExact)
		}
	})
}

func TestRMSNorm(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		for _, s := range [][3]int{{1, 5, 64}, {3, 33, 64}, {37, 130, 64}, {7, 1000, 64}, {131, 33, 16}, {300, 5, 7}} {
			rows, d := s[0], s[1]
			dev.dwChunkRows = s[2] // 131 and 300 rows: partial sums over chunks
			const eps = 1e-5
			rng := rand.New(rand.NewPCG(5, uint64(rows*d)))
			g, ar := newCPU(t)
			x, w := ar.New("x", true, rows, d), ar.New("w", true, d)
			copy(x.Data, randn(rng, x.Size(), 1))
			copy(w.Data, randn(rng, d, 1))
			copy(x.Grad, randn(rng, x.Size(), 1))
			copy(w.Grad, randn(rng, d, 1))
			preX, preW := clone(x.Grad), clone(w.Grad)
			y := g.RMSNorm(x, w, eps)
			wts := randn(rng, y.Size(), 1)
			g.WeightedSum(y, wts)
			g.Forward()
			g.Backward()
			wantRstd := make([]float32, rows)
			for r := range wantRstd {
				wantRstd[r] = float32(1 / math.Sqrt(asm.RefSumSquares(x.Data[r*d:r*d+d])/float64(d)+eps))
			}

			X, W := up(t, dev, x.Data), up(t, dev, w.Data)
			Y, R := alloc(t, dev, rows*d), alloc(t, dev, rows)
			dev.RMSNorm(Y, R, X, W, rows, d, eps)
			dX, dW, dY := up(t, dev, preX), up(t, dev, preW), up(t, dev, wts)
			dev.RMSNormBackward(dX, dW, dY, X, W, R, rows, d)
			name := fmt.Sprintf("rmsnorm %dx%d", rows, d)
			near(t, name+" y", down(t, dev, Y), y.Data, tolFP32)
			near(t, name+" rstd", down(t, dev, R), wantRstd, tolFP32)
			near(t, name+" dx", down(t, dev, dX), x.Grad, tolFP32)
			near(t, name+" dw", down(t, dev, dW), w.Grad, tolFP32)

			// either gradient alone
			dX2, dW2 := up(t, dev, preX), up(t, dev, preW)
			dev.RMSNormBackward(dX2, Buf{}, dY, X, W, R, rows, d)
			dev.RMSNormBackward(Buf{}, dW2, dY, X, W, R, rows, d)
			near(t, name+" dx alone", down(t, dev, dX2), x.Grad, tolFP32)
			near(t, name+" dw alone", down(t, dev, dW2), w.Grad, tolFP32)
		}
	})
}

func TestRoPE(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		for _, s := range [][4]int{{1, 3, 2, 4}, {5, 10, 3, 6}, {33, 66, 2, 16}, {5, 5, 1, 2}} {
			seq, rows, heads, hd := s[0], s[1], s[2], s[3]
			d := heads * hd
			rng := rand.New(rand.NewPCG(6, uint64(rows*d)))
			g, ar := newCPU(t)
			x := ar.New("x", true, rows, d)
			copy(x.Data, randn(rng, x.Size(), 1))
			copy(x.Grad, randn(rng, x.Size(), 1))
			pre := clone(x.Grad)
			y := g.RoPE(x, seq, heads)
			wts := randn(rng, y.Size(), 1)
			g.WeightedSum(y, wts)
			g.Forward()
			g.Backward()

			cos, sin := engine.RoPETable(seq, hd)
			C, S := up(t, dev, cos), up(t, dev, sin)
			X := up(t, dev, x.Data)
			Y := alloc(t, dev, rows*d)
			dev.RoPE(Y, X, C, S, rows, seq, heads, hd)
			dX := up(t, dev, pre)
			dev.RoPEBackward(dX, up(t, dev, wts), C, S, rows, seq, heads, hd)
			name := fmt.Sprintf("rope seq %d rows %d heads %d hd %d", seq, rows, heads, hd)
			near(t, name+" y", down(t, dev, Y), y.Data, tolBitwise(dev))
			near(t, name+" dx", down(t, dev, dX), x.Grad, tolBitwise(dev))
			// in place
			dev.RoPE(X, X, C, S, rows, seq, heads, hd)
			near(t, name+" in place", down(t, dev, X), y.Data, tolFP32)
		}
	})
}

func TestSwiGLU(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		for _, n := range []int{1, 1023, 4099} {
			rng := rand.New(rand.NewPCG(7, uint64(n)))
			g, ar := newCPU(t)
			gt, u := ar.New("gate", true, n), ar.New("up", true, n)
			copy(gt.Data, randn(rng, n, 3))
			copy(u.Data, randn(rng, n, 1))
			copy(gt.Grad, randn(rng, n, 1))
			copy(u.Grad, randn(rng, n, 1))
			preG, preU := clone(gt.Grad), clone(u.Grad)
			y := g.SwiGLU(gt, u)
			wts := randn(rng, n, 1)
			g.WeightedSum(y, wts)
			g.Forward()
			g.Backward()

			G, U := up(t, dev, gt.Data), up(t, dev, u.Data)
			Y := alloc(t, dev, n)
			dev.SwiGLU(Y, G, U, n)
			dG, dU, dY := up(t, dev, preG), up(t, dev, preU), up(t, dev, wts)
			dev.SwiGLUBackward(dG, dU, dY, G, U, n)
			name := fmt.Sprintf("swiglu n %d", n)
			near(t, name+" y", down(t, dev, Y), y.Data, tolFP32)
			near(t, name+" dgate", down(t, dev, dG), gt.Grad, tolFP32)
			near(t, name+" dup", down(t, dev, dU), u.Grad, tolFP32)
			dG2, dU2 := up(t, dev, preG), up(t, dev, preU)
			dev.SwiGLUBackward(dG2, Buf{}, dY, G, U, n)
			dev.SwiGLUBackward(Buf{}, dU2, dY, G, U, n)
			near(t, name+" dgate alone", down(t, dev, dG2), gt.Grad, tolFP32)
			near(t, name+" dup alone", down(t, dev, dU2), u.Grad, tolFP32)
		}
	})
}

// TestAddMul checks Add and Mul forward, and their backward as the device
// graph would run it (Accumulate with s = 1, MulAccumulate), against the
// CPU ops.
func TestAddMul(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		for _, n := range []int{1, 1023, 4099} {
			for _, mul := range []bool{false, true} {
				rng := rand.New(rand.NewPCG(8, uint64(n)))
				g, ar := newCPU(t)
				a, b := ar.New("a", true, n), ar.New("b", true, n)
				copy(a.Data, randn(rng, n, 1))
				copy(b.Data, randn(rng, n, 1))
				copy(a.Grad, randn(rng, n, 1))
				copy(b.Grad, randn(rng, n, 1))
				preA, preB := clone(a.Grad), clone(b.Grad)
				var y *engine.Tensor
				if mul {
					y = g.Mul(a, b)
				} else {
					y = g.Add(a, b)
				}
				wts := randn(rng, n, 1)
				g.WeightedSum(y, wts)
				g.Forward()
				g.Backward()

				A, B := up(t, dev, a.Data), up(t, dev, b.Data)
				Y := alloc(t, dev, n)
				dA, dB, dY := up(t, dev, preA), up(t, dev, preB), up(t, dev, wts)
				if mul {
					dev.Mul(Y, A, B, n)
					dev.MulAccumulate(dA, dY, B, n)
					dev.MulAccumulate(dB, dY, A, n)
				} else {
					dev.Add(Y, A, B, n)
					dev.Accumulate(dA, dY, 1, n)
					dev.Accumulate(dB, dY, 1, n)
				}
				name := fmt.Sprintf("add n %d", n)
				if mul {
					name = fmt.Sprintf("mul n %d", n)
				}
				near(t, name+" y", down(t, dev, Y), y.Data, tolExact)
				near(t, name+" da", down(t, dev, dA), a.Grad, tolFP32)
				near(t, name+" db", down(t, dev, dB), b.Grad, tolFP32)
			}
		}
	})
}

func TestAccumulate(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		for _, n := range []int{1, 1023, 4099} {
			rng := rand.New(rand.NewPCG(9, uint64(n)))
			dst, src := randn(rng, n, 1), randn(rng, n, 1)
			want := clone(dst)
			for i := range want {
				want[i] += 0.37 * src[i]
			}
			D := up(t, dev, dst)
			dev.Accumulate(D, up(t, dev, src), 0.37, n)
			near(t, fmt.Sprintf("accumulate n %d", n), down(t, dev, D), want, tolFP32)
		}
	})
}

func TestCrossEntropy(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		for _, s := range [][2]int{{1, 7}, {3, 7}, {37, 1000}, {5, 33}, {4, 5001}} {
			rows, vocab := s[0], s[1]
			rng := rand.New(rand.NewPCG(10, uint64(rows*vocab)))
			g, ar := newCPU(t)
			logits := ar.New("logits", true, rows, vocab)
			copy(logits.Data, randn(rng, logits.Size(), 3))
			copy(logits.Grad, randn(rng, logits.Size(), 1e-3))
			pre := clone(logits.Grad)
			targets := make([]int32, rows)
			valid := 0
			for i := range targets {
				targets[i] = int32(rng.IntN(vocab))
				if i%3 == 1 {
					targets[i] = -1
				} else {
					valid++
				}
			}
			loss := g.CrossEntropy(logits, targets)
			const lossScale = 0.5
			loss.SetScale(lossScale)
			g.Forward()
			g.Backward()
			wantLse, wantLoss := make([]float32, rows), make([]float32, rows)
			for r := 0; r < rows; r++ {
				x := logits.Data[r*vocab : r*vocab+vocab]
				mx, sum := asm.RefMaxSumExp(x)
				wantLse[r] = mx + float32(math.Log(float64(sum)))
				if targets[r] >= 0 {
					wantLoss[r] = wantLse[r] - x[targets[r]]
				}
			}

			L, Tg := up(t, dev, logits.Data), upInt(t, dev, targets)
			RL, LSE := alloc(t, dev, rows), alloc(t, dev, rows)
			dev.CrossEntropy(RL, LSE, L, Tg, rows, vocab)
			dL := up(t, dev, pre)
			dev.CrossEntropyBackward(dL, L, LSE, Tg, rows, vocab, lossScale/float32(max(valid, 1)))
			name := fmt.Sprintf("cross-entropy %dx%d", rows, vocab)
			rl := down(t, dev, RL)
			near(t, name+" lse", down(t, dev, LSE), wantLse, tolFP32)
			near(t, name+" row loss", rl, wantLoss, tolFP32)
			var sum float64
			for _, l := range rl {
				sum += float64(l)
			}
			if mean := sum / float64(max(valid, 1)); math.Abs(mean-loss.Value()) > tolFP32*math.Abs(loss.Value()) {
				t.Errorf("%s: mean loss %.7g, the CPU op's %.7g", name, mean, loss.Value())
			}
			near(t, name+" dlogits", down(t, dev, dL), logits.Grad, tolFP32)
		}
	})
}

func TestCrossEntropyHugeLogits(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		L := up(t, dev, []float32{1000, 0, -1000, -1000, 0, 1000})
		Tg := upInt(t, dev, []int32{0, 1})
		RL, LSE := alloc(t, dev, 2), alloc(t, dev, 2)
		dev.CrossEntropy(RL, LSE, L, Tg, 2, 3)
		dL := alloc(t, dev, 6)
		dev.CrossEntropyBackward(dL, L, LSE, Tg, 2, 3, 0.5)
		near(t, "row loss", down(t, dev, RL), []float32{0, 1000}, tolFP32)
		near(t, "lse", down(t, dev, LSE), []float32{1000, 1000}, tolFP32)
		near(t, "dlogits", down(t, dev, dL), []float32{0, 0, 0, 0, -0.5, 0.5}, tolFP32)
	})
}

// ---------------------------------------------------------------------------
// ops without a builder: asm references and Go loops

func TestCausalSoftmax(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		for _, s := range [][2]int{{1, 1}, {3, 5}, {2, 33}, {1, 70}, {2, 130}} {
			count, T := s[0], s[1]
			rng := rand.New(rand.NewPCG(11, uint64(count*T)))
			p := randn(rng, count*T*T, 3)
			want := clone(p)
			for r := 0; r < count*T; r++ {
				t0 := r % T
				row := want[r*T : r*T+T]
				asm.RefSoftmaxInPlace(row[:t0+1])
				clear(row[t0+1:])
			}
			dp := randn(rng, count*T*T, 1)
			wantD := clone(dp)
			for r := 0; r < count*T; r++ {
				t0 := r % T
				pr, dr := want[r*T:r*T+T], wantD[r*T:r*T+T]
				var dot float64
				for j := 0; j <= t0; j++ {
					dot += float64(pr[j]) * float64(dr[j])
				}
				for j := range dr {
					if j <= t0 {
						dr[j] = float32(float64(pr[j]) * (float64(dr[j]) - dot))
					} else {
						dr[j] = 0
					}
				}
			}
			P, dP := up(t, dev, p), up(t, dev, dp)
			dev.CausalSoftmax(P, count, T)
			dev.CausalSoftmaxBackward(dP, P, count, T)
			name := fmt.Sprintf("causal softmax %d×%d", count, T)
			near(t, name, down(t, dev, P), want, tolFP32)
			near(t, name+" backward", down(t, dev, dP), wantD, tolFP32)
		}
	})
}

func TestSumSquares(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		for _, s := range [][2]int{{1, 1}, {1023, 256}, {4099, 1000}, {4099, 4099}, {37, 1}, {1023, 5000}} {
			n, piece := s[0], s[1]
			rng := rand.New(rand.NewPCG(12, uint64(n)))
			x := randn(rng, n, 2)
			pieces := (n + piece - 1) / piece
			want := make([]float32, pieces)
			for i := range want {
				want[i] = float32(asm.RefSumSquares(x[i*piece : min(n, (i+1)*piece)]))
			}
			P := alloc(t, dev, pieces)
			dev.SumSquares(P, up(t, dev, x), piece)
			got := down(t, dev, P)
			for i := range want { // each piece relative to itself
				near(t, fmt.Sprintf("sum squares n %d piece %d [%d]", n, piece, i), got[i:i+1], want[i:i+1], tolFP32)
			}
		}
	})
}

func TestAdamW(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		for _, n := range []int{1, 1023, 4099} {
			rng := rand.New(rand.NewPCG(13, uint64(n)))
			w, m, v := randn(rng, n, 1), make([]float32, n), make([]float32, n)
			W, M, V := up(t, dev, w), up(t, dev, m), up(t, dev, v)
			c := engine.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1}
			for step := 1; step <= 3; step++ {
				g := randn(rng, n, 0.1)
				lr := 1e-3
				bc1, bc2 := 1-math.Pow(c.Beta1, float64(step)), 1-math.Pow(c.Beta2, float64(step))
				p := asm.AdamWParams{
					Beta1: float32(c.Beta1), Beta2: float32(c.Beta2),
					Decay: float32(1 - lr*c.WeightDecay), StepSize: float32(lr / bc1),
					BC2Sqrt: float32(math.Sqrt(bc2)), Eps: float32(c.Eps), GradScale: 0.8,
				}
				asm.RefAdamW(w, g, m, v, p)
				dev.AdamW(W, up(t, dev, g), M, V, p)
			}
			name := fmt.Sprintf("adamw n %d", n)
			tol := tolBitwise(dev)
			near(t, name+" w", down(t, dev, W), w, tol)
			near(t, name+" m", down(t, dev, M), m, tol)
			near(t, name+" v", down(t, dev, V), v, tol)
		}
	})
}

func TestDropout(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		for _, n := range []int{1, 1023, 4099} {
			for _, p := range []float32{0, 0.1, 0.5} {
				for _, seed := range []uint64{0, 1, 0xdeadbeefcafef00d} {
					rng := rand.New(rand.NewPCG(14, uint64(n)))
					x, dy, dx := randn(rng, n, 1), randn(rng, n, 1), randn(rng, n, 1)
					inv := 1 / (1 - p)
					wantY, wantDx := make([]float32, n), clone(dx)
					kept := 0
					for i := range x {
						if engine.DropoutKeep(seed, i, p) {
							wantY[i] = x[i] * inv
							wantDx[i] += dy[i] * inv
							kept++
						}
					}
					X, Y, dX := up(t, dev, x), alloc(t, dev, n), up(t, dev, dx)
					dev.Dropout(Y, X, p, seed)
					dev.DropoutBackward(dX, up(t, dev, dy), p, seed)
					name := fmt.Sprintf("dropout n %d p %g seed %#x", n, p, seed)
					// the mask and the forward values bit for bit
					near(t, name+" y", down(t, dev, Y), wantY, tolExact)
					near(t, name+" dx", down(t, dev, dX), wantDx, tolBitwise(dev))
					if n == 4099 && p == 0.5 && (kept < 1900 || kept > 2200) {
						t.Errorf("%s: kept %d of %d", name, kept, n)
					}
				}
			}
		}
	})
}

// bf16RNE is float32 → bfloat16 bits, rounding to nearest even.
func bf16RNE(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

func TestBF16(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		rng := rand.New(rand.NewPCG(15, 1))
		x := randn(rng, 1001, 10)
		special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.Inf(1)), float32(math.Inf(-1)),
			float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-40,
			math.Float32frombits(0x3f808000), // a tie, rounds down to even
			math.Float32frombits(0x3f818000), // a tie, rounds up to even
			math.Float32frombits(0x3f808001), // above the tie
			math.Float32frombits(0x7f7f8000), // rounds to Inf
			math.Float32frombits(0xffc00001), // a negative NaN
		}
		x = append(x, special...)
		n := len(x)
		want := make([]float32, n)
		for i, f := range x {
			want[i] = math.Float32frombits(uint32(bf16RNE(f)) << 16)
		}
		X := up(t, dev, x)
		H := alloc(t, dev, (n+1)/2)
		Y := alloc(t, dev, n)
		dev.ToBF16(H, X, n)
		dev.FromBF16(Y, H, n)
		got := down(t, dev, Y)
		near(t, "bf16 round trip", got, want, tolExact)
		// the packing: element i at bytes 2i, 2i+1 (little-endian words)
		h := down(t, dev, H)
		bits := unsafe.Slice((*uint16)(unsafe.Pointer(&h[0])), n)
		for i, f := range x {
			if bits[i] != bf16RNE(f) {
				t.Fatalf("bf16 element %d: %#x, want %#x", i, bits[i], bf16RNE(f))
			}
		}
	})
}

// TestDynamicSharedNotReadUninitialised runs the kernels with dynamic
// shared memory (which the emulation fills with NaN before every block) on
// block sizes of one warp and of eight, and checks that no NaN leaks into
// their outputs.
func TestDynamicSharedNotReadUninitialised(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev *Device) {
		for _, d := range []int{5, 31, 32, 33, 250, 257, 1000} {
			rng := rand.New(rand.NewPCG(16, uint64(d)))
			const rows = 3
			x := up(t, dev, randn(rng, rows*d, 1))
			w := up(t, dev, randn(rng, d, 1))
			y, r := alloc(t, dev, rows*d), alloc(t, dev, rows)
			dev.RMSNorm(y, r, x, w, rows, d, 1e-5)
			dx := alloc(t, dev, rows*d)
			dev.RMSNormBackward(dx, Buf{}, y, x, w, r, rows, d)
			rl, lse := alloc(t, dev, rows), alloc(t, dev, rows)
			dev.CrossEntropy(rl, lse, x, upInt(t, dev, []int32{0, int32(d - 1), -1}), rows, d)
			ss := alloc(t, dev, rows)
			dev.SumSquares(ss, x, d)
			for name, b := range map[string]Buf{"rmsnorm y": y, "rstd": r, "rmsnorm dx": dx, "ce loss": rl, "lse": lse, "sum squares": ss} {
				for i, v := range down(t, dev, b) {
					if math.IsNaN(float64(v)) {
						t.Fatalf("d %d: %s[%d] is NaN", d, name, i)
					}
				}
			}
		}
	})
}
