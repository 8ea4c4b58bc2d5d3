//go:build cuda

package cuda

import (
	"bytes"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// selftestTable is the Go table of kernels/selftest.cu.
var selftestTable = []Kernel{
	{"emu_block_sum", "ppi"},
	{"emu_warp_reduce", "ppi"},
	{"emu_dyn_reverse", "ppif"},
	{"emu_dyn_peek", "p"},
	{"emu_atomic", "pppi"},
	{"emu_index", "pifu"},
	{"emu_barriers", "pi"},
	{"emu_diverge", "pi"},
	{"emu_shfl_half", "p"},
	{"emu_oob", "ppi"},
	{"emu_bar_lines", "p"},
	{"emu_shfl_mask", "p"},
}

// kidx returns the table index of kernel name.
func kidx(t testing.TB, name string) int {
	for i, k := range selftestTable {
		if k.Name == name {
			return i
		}
	}
	t.Fatalf("no kernel %s", name)
	return -1
}

func testEmu(t testing.TB, seed uint64) Driver {
	t.Helper()
	d := newEmu(EmuOptions{Seed: seed})
	if err := d.Load(nil, selftestTable); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// upload returns a device copy of x.
func upload(t testing.TB, d Driver, x []float32) Ptr {
	t.Helper()
	p, err := d.Alloc(4 * len(x))
	must(t, err)
	if len(x) > 0 {
		must(t, d.CopyHtoD(p, unsafe.Pointer(&x[0]), 4*len(x)))
	}
	return p
}

func download(t testing.TB, d Driver, p Ptr, n int) []float32 {
	t.Helper()
	x := make([]float32, n)
	if n > 0 {
		must(t, d.CopyDtoH(unsafe.Pointer(&x[0]), p, 4*n))
	}
	return x
}

func f32arg(f float32) uint64 { return uint64(math.Float32bits(f)) }
func i32arg(i int) uint64     { return uint64(uint32(int32(i))) }

func randFloats(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func close32(a, b float64, tol float64) bool {
	return math.Abs(a-b) <= tol*(1+math.Abs(b))
}

var raggedSizes = []int{1, 31, 33, 1000, 4097}

func TestEmuBlockSum(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, seed := range []uint64{0, 7} {
		d := testEmu(t, seed)
		for _, n := range raggedSizes {
			x := randFloats(r, n)
			const bs = 256
			grid := (n + bs - 1) / bs
			px, pout := upload(t, d, x), upload(t, d, make([]float32, grid))
			must(t, d.Launch(kidx(t, "emu_block_sum"), Dim3{grid, 1, 1}, Dim3{bs, 1, 1}, 0,
				[]uint64{uint64(px), uint64(pout), i32arg(n)}))
			got := download(t, d, pout, grid)
			for b := 0; b < grid; b++ {
				var want float64
				for i := b * bs; i < min(n, (b+1)*bs); i++ {
					want += float64(x[i])
				}
				if !close32(float64(got[b]), want, 1e-5) {
					t.Errorf("seed %d n %d block %d: sum %v, want %v", seed, n, b, got[b], want)
				}
			}
			must(t, d.Sync())
		}
	}
}

func TestEmuWarpReduce(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, seed := range []uint64{0, 11} {
		d := testEmu(t, seed)
		for _, bs := range []int{32, 256, 1024} {
			for _, n := range raggedSizes {
				x := randFloats(r, n)
				grid := (n + bs - 1) / bs
				px, pout := upload(t, d, x), upload(t, d, make([]float32, 2*grid))
				must(t, d.Launch(kidx(t, "emu_warp_reduce"), Dim3{grid, 1, 1}, Dim3{bs, 1, 1}, 0,
					[]uint64{uint64(px), uint64(pout), i32arg(n)}))
				got := download(t, d, pout, 2*grid)
				for b := 0; b < grid; b++ {
					var sum float64
					mx := math.Inf(-1)
					for i := b * bs; i < min(n, (b+1)*bs); i++ {
						sum += float64(x[i])
						mx = math.Max(mx, float64(x[i]))
					}
					if !close32(float64(got[2*b]), sum, 1e-5) || float64(got[2*b+1]) != mx {
						t.Errorf("seed %d block %d n %d: block %d: sum, max %v, %v; want %v, %v", seed, bs, n, b, got[2*b], got[2*b+1], sum, mx)
					}
				}
			}
		}
	}
}

func TestEmuDynamicShared(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, seed := range []uint64{0, 5} {
		d := testEmu(t, seed)
		for _, bs := range []int{64, 256} {
			for _, n := range raggedSizes {
				x := randFloats(r, n)
				grid := (n + bs - 1) / bs
				px, pout := upload(t, d, x), upload(t, d, make([]float32, n))
				must(t, d.Launch(kidx(t, "emu_dyn_reverse"), Dim3{grid, 1, 1}, Dim3{bs, 1, 1}, 2*4*bs,
					[]uint64{uint64(px), uint64(pout), i32arg(n), f32arg(2)}))
				got := download(t, d, pout, n)
				for b := 0; b < grid; b++ {
					lo, hi := b*bs, min(n, (b+1)*bs)
					for i := lo; i < hi; i++ {
						if want := 2 * x[hi-1-(i-lo)]; got[i] != want {
							t.Fatalf("seed %d block %d n %d: out[%d] = %v, want %v", seed, bs, n, i, got[i], want)
						}
					}
				}
			}
		}
		// Dynamic shared memory starts as NaN in every block, whatever the
		// previous one left.
		const bs, grid = 128, 3
		pout := upload(t, d, make([]float32, bs*grid))
		must(t, d.Launch(kidx(t, "emu_dyn_peek"), Dim3{grid, 1, 1}, Dim3{bs, 1, 1}, 4*bs, []uint64{uint64(pout)}))
		for i, v := range download(t, d, pout, bs*grid) {
			if math.Float32bits(v) != 0x7fc00000 {
				t.Fatalf("dynamic shared word %d = %#x, want NaN 0x7fc00000", i, math.Float32bits(v))
			}
		}
	}
}

func TestEmuAtomicAndIndex(t *testing.T) {
	d := testEmu(t, 3)
	x := make([]float32, 1000)
	for i := range x {
		x[i] = float32(i % 7)
	}
	px, pout := upload(t, d, x), upload(t, d, []float32{0.5})
	pc, err := d.Alloc(4)
	must(t, err)
	must(t, d.Memset32(pc, 0, 1))
	must(t, d.Launch(kidx(t, "emu_atomic"), Dim3{4, 1, 1}, Dim3{256, 1, 1}, 0,
		[]uint64{uint64(px), uint64(pout), uint64(pc), i32arg(len(x))}))
	var want float32 = 0.5
	for _, v := range x {
		want += v
	}
	if got := download(t, d, pout, 1)[0]; got != want {
		t.Errorf("atomic sum %v, want %v", got, want)
	}
	var count int32
	must(t, d.CopyDtoH(unsafe.Pointer(&count), pc, 4))
	if count != 1000 {
		t.Errorf("atomic count %d, want 1000", count)
	}

	grid, block := Dim3{3, 2, 2}, Dim3{4, 2, 3}
	nb, nt := 12, 24
	po, err := d.Alloc(4 * 2 * nb * nt)
	must(t, err)
	u := uint64(5)<<40 | 0xdeadbeef
	must(t, d.Launch(kidx(t, "emu_index"), grid, block, 0, []uint64{uint64(po), i32arg(-3), f32arg(10), u}))
	out := make([]int32, 2*nb*nt)
	must(t, d.CopyDtoH(unsafe.Pointer(&out[0]), po, 4*len(out)))
	for i := 0; i < nb*nt; i++ {
		if b, th := i/nt, i%nt; out[2*i] != int32(b*1024+th) || out[2*i+1] != -3+10+5 {
			t.Fatalf("index slot %d = %d, %d; want %d, %d", i, out[2*i], out[2*i+1], b*1024+th, 12)
		}
	}
}

func TestEmuMemory(t *testing.T) {
	d := testEmu(t, 0)
	p, err := d.Alloc(40)
	must(t, err)
	for i, v := range download(t, d, p, 10) {
		if math.Float32bits(v) != 0x7fc00000 {
			t.Fatalf("fresh word %d = %#x, want NaN", i, math.Float32bits(v))
		}
	}
	must(t, d.Memset32(p+8, math.Float32bits(3), 4))
	q, err := d.Alloc(40)
	must(t, err)
	must(t, d.CopyDtoD(q, p, 40))
	got := download(t, d, q, 10)
	if got[1] == got[1] || got[2] != 3 || got[5] != 3 || got[6] == got[6] {
		t.Errorf("after Memset32 and CopyDtoD: %v", got)
	}
	if err := d.CopyDtoD(q+4, p, 40); err == nil {
		t.Error("CopyDtoD past the end: no error")
	}
	if err := d.Free(p + 4); err == nil {
		t.Error("Free of an inner address: no error")
	}
	must(t, d.Free(p))
	if err := d.Memset32(p, 0, 1); err == nil {
		t.Error("Memset32 of freed memory: no error")
	}
	if d.Sync() == nil {
		t.Error("Sync after errors: nil")
	}
}

func TestEmuLoadAndLaunchErrors(t *testing.T) {
	d := newEmu(EmuOptions{})
	defer d.Close()
	err := d.Load(nil, []Kernel{{"emu_block_sum", "pp"}})
	if err == nil || !strings.Contains(err.Error(), `emu_block_sum`) || !strings.Contains(err.Error(), `"pp"`) || !strings.Contains(err.Error(), `"ppi"`) {
		t.Errorf("wrong signature: %v", err)
	}
	if err := d.Load(nil, []Kernel{{"no_such_kernel", "p"}}); err == nil || !strings.Contains(err.Error(), "no_such_kernel") {
		t.Errorf("unknown kernel: %v", err)
	}
	d = testEmu(t, 0)
	p, err := d.Alloc(64)
	must(t, err)
	k := kidx(t, "emu_block_sum")
	args := []uint64{uint64(p), uint64(p), 1}
	for _, c := range []struct {
		grid, block Dim3
		shared      int
		args        []uint64
		want        string
	}{
		{Dim3{1, 1, 1}, Dim3{1025, 1, 1}, 0, args, "block"},
		{Dim3{1, 1, 1}, Dim3{0, 1, 1}, 0, args, "block"},
		{Dim3{0, 1, 1}, Dim3{32, 1, 1}, 0, args, "grid"},
		{Dim3{1, 1, 1}, Dim3{32, 1, 1}, 1 << 20, args, "shared"},
		{Dim3{1, 1, 1}, Dim3{32, 1, 1}, 0, args[:2], "arguments"},
		{Dim3{1, 1, 1}, Dim3{32, 1, 1}, 0, []uint64{12345, uint64(p), 1}, "not device memory"},
	} {
		if err := d.Launch(k, c.grid, c.block, c.shared, c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Launch(%v, %v, %d, %v): %v, want an error about %s", c.grid, c.block, c.shared, c.args, err, c.want)
		}
	}
}

// TestEmuAbortChild is the child process of TestEmuAbort.
func TestEmuAbortChild(t *testing.T) {
	name := os.Getenv("EMU_ABORT_KERNEL")
	if name == "" {
		t.Skip("run by TestEmuAbort")
	}
	d := testEmu(t, 0)
	p, err := d.Alloc(4 * 64)
	must(t, err)
	d.Launch(kidx(t, name), Dim3{1, 1, 1}, Dim3{64, 1, 1}, 0, []uint64{uint64(p), 64}[:len(selftestTable[kidx(t, name)].Params)])
	t.Fatal("the launch returned")
}

func TestEmuAbort(t *testing.T) {
	for _, c := range []struct{ kernel, want string }{
		{"emu_diverge", `cuda emu: kernel emu_diverge block \(0,0,0\): __syncthreads not reached by every thread of the block: thread \(0,0,0\) waits at __syncthreads on line \d+ but thread \(5,0,0\) exited`},
		{"emu_shfl_half", `cuda emu: kernel emu_shfl_half block \(0,0,0\): warp operation not reached by all 32 lanes: thread \(0,0,0\) waits at a warp operation on line \d+ but thread \(16,0,0\) exited`},
		{"emu_bar_lines", `cuda emu: kernel emu_bar_lines block \(0,0,0\): __syncthreads not reached by every thread of the block: thread \(0,0,0\) waits at __syncthreads on line (\d+) but thread \(1,0,0\) waits at __syncthreads on line \d+`},
		{"emu_shfl_mask", `cuda emu: kernel emu_shfl_mask block \(0,0,0\): thread \(\d+,0,0\): warp operation at line \d+ with mask 0xffff: only the full mask 0xffffffff is supported`},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEmuAbortChild$", "-test.v")
		cmd.Env = append(os.Environ(), "EMU_ABORT_KERNEL="+c.kernel)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if err == nil {
			t.Errorf("%s: the child process succeeded", c.kernel)
		}
		if !regexp.MustCompile(c.want).Match(out.Bytes()) {
			t.Errorf("%s: output lacks %q:\n%s", c.kernel, c.want, firstLines(out.String(), 20))
		}
	}
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	return strings.Join(l[:min(n, len(l))], "\n")
}

func TestEmuLaunchAllocs(t *testing.T) {
	d := testEmu(t, 9)
	px, pout := upload(t, d, make([]float32, 256)), upload(t, d, make([]float32, 4))
	k := kidx(t, "emu_block_sum")
	args := []uint64{uint64(px), uint64(pout), 256}
	if n := testing.AllocsPerRun(20, func() {
		d.Launch(k, Dim3{2, 1, 1}, Dim3{128, 1, 1}, 0, args)
	}); n != 0 {
		t.Errorf("Launch allocates %v times", n)
	}
}

// TestEmuBarrierCost logs the cost of one __syncthreads of 256 threads.
func TestEmuBarrierCost(t *testing.T) {
	d := testEmu(t, 0)
	pout := upload(t, d, make([]float32, 256*4))
	k := kidx(t, "emu_barriers")
	const iters, grid = 200, 4
	run := func() time.Duration {
		t0 := time.Now()
		must(t, d.Launch(k, Dim3{grid, 1, 1}, Dim3{256, 1, 1}, 0, []uint64{uint64(pout), iters}))
		return time.Since(t0)
	}
	run()
	base := time.Now()
	must(t, d.Launch(k, Dim3{grid, 1, 1}, Dim3{256, 1, 1}, 0, []uint64{uint64(pout), 0}))
	t0 := time.Since(base)
	el := run()
	t.Logf("__syncthreads of 256 threads: %.2f µs (%d blocks × %d barriers in %v; a block without barriers %v)",
		float64(el-t0)/1e3/(grid*iters), grid, iters, el, t0/grid)
}

// naiveGemm is cuBLAS's column-major GEMM as a triple loop, in float64.
func naiveGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for j := 0; j < n; j++ {
		for i := 0; i < m; i++ {
			var s float64
			for l := 0; l < k; l++ {
				var av, bv float32
				if transA {
					av = a[l+i*lda]
				} else {
					av = a[i+l*lda]
				}
				if transB {
					bv = b[j+l*ldb]
				} else {
					bv = b[l+j*ldb]
				}
				s += float64(av) * float64(bv)
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i+j*ldc])
			}
			c[i+j*ldc] = float32(v)
		}
	}
}

func TestEmuGemm(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	d := testEmu(t, 0)
	for _, sh := range [][3]int{{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {64, 1, 129}, {1, 40, 9}, {5, 6, 0}} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, beta := range []float32{0, 1} {
					for _, mth := range []Math{MathFP32, MathTF32, MathBF16} {
						testGemmCase(t, r, d, sh[0], sh[1], sh[2], ta, tb, beta, mth)
					}
				}
			}
		}
	}
}

func testGemmCase(t *testing.T, r *rand.Rand, d Driver, m, n, k int, ta, tb bool, beta float32, mth Math) {
	ra, ca := m, k
	if ta {
		ra, ca = k, m
	}
	rb, cb := k, n
	if tb {
		rb, cb = n, k
	}
	lda, ldb, ldc := max(ra, 1)+2, max(rb, 1)+1, m+3
	const batch = 3
	sa, sb, sc := lda*ca+5, ldb*cb+1, ldc*n+2
	a, b := randFloats(r, batch*sa), randFloats(r, batch*sb)
	c := randFloats(r, batch*sc)
	if beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	round := func(x []float32) []float32 {
		y := make([]float32, len(x))
		for i, v := range x {
			switch mth {
			case MathTF32:
				y[i] = tf32(v)
			case MathBF16:
				y[i] = math.Float32frombits(math.Float32bits(v) &^ 0xffff)
			default:
				y[i] = v
			}
		}
		return y
	}
	ar, br := round(a), round(b)
	want := append([]float32(nil), c...)
	for i := 0; i < batch; i++ {
		naiveGemm(ta, tb, m, n, k, 1.5, ar[i*sa:], lda, br[i*sb:], ldb, beta, want[i*sc:], ldc)
	}
	var pa, pb Ptr
	if mth == MathBF16 {
		pa, pb = uploadBF16(t, d, a), uploadBF16(t, d, b)
	} else {
		pa, pb = upload(t, d, a), upload(t, d, b)
	}
	pc := upload(t, d, c)
	defer d.Free(pa)
	defer d.Free(pb)
	defer d.Free(pc)
	must(t, d.Gemm(&Gemm{TransA: ta, TransB: tb, M: m, N: n, K: k, Alpha: 1.5, Beta: beta,
		A: pa, LDA: lda, B: pb, LDB: ldb, C: pc, LDC: ldc,
		Batch: batch, StrideA: int64(sa), StrideB: int64(sb), StrideC: int64(sc), Math: mth}))
	got := download(t, d, pc, len(c))
	for i := range got {
		inC := i%sc < (n-1)*ldc+m && i%sc%ldc < m
		if inC && !close32(float64(got[i]), float64(want[i]), 1e-4) ||
			!inC && math.Float32bits(got[i]) != math.Float32bits(c[i]) {
			t.Fatalf("m n k %d %d %d transA %v transB %v beta %v math %d: C[%d] = %v, want %v",
				m, n, k, ta, tb, beta, mth, i, got[i], want[i])
		}
	}
}

// uploadBF16 uploads x truncated to bf16.
func uploadBF16(t testing.TB, d Driver, x []float32) Ptr {
	h := make([]uint16, len(x)+1)
	for i, v := range x {
		h[i] = uint16(math.Float32bits(v) >> 16)
	}
	p, err := d.Alloc(2 * len(x))
	must(t, err)
	must(t, d.CopyHtoD(p, unsafe.Pointer(&h[0]), 2*len(x)))
	return p
}

func TestEmuTF32(t *testing.T) {
	for _, c := range []struct{ in, want uint32 }{
		{0x3f800000, 0x3f800000},
		{0x3f800fff, 0x3f800000},
		{0x3f801000, 0x3f802000}, // tie: away from zero
		{0xbf801000, 0xbf802000},
		{0x7f7fffff, 0x7f800000}, // rounds up to +inf
		{0x7fc00001, 0x7fc00001},
	} {
		if got := math.Float32bits(tf32(math.Float32frombits(c.in))); got != c.want {
			t.Errorf("tf32(%#x) = %#x, want %#x", c.in, got, c.want)
		}
	}
}

var globalRE = regexp.MustCompile(`extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(`)

// TestEmuSourcesListed checks that emu_kernels.cc includes every .cu file
// and that kernels.def (hence the registry) lists exactly their kernels.
func TestEmuSourcesListed(t *testing.T) {
	files, err := filepath.Glob("kernels/*.cu")
	must(t, err)
	cc, err := os.ReadFile("emu_kernels.cc")
	must(t, err)
	var globals []string
	for _, f := range files {
		if !bytes.Contains(cc, []byte(`#include "`+f+`"`)) {
			t.Errorf("emu_kernels.cc does not include %s", f)
		}
		src, err := os.ReadFile(f)
		must(t, err)
		for _, m := range globalRE.FindAllSubmatch(src, -1) {
			globals = append(globals, string(m[1]))
		}
	}
	var reg []string
	for name := range emuKernels() {
		reg = append(reg, name)
	}
	sort.Strings(globals)
	sort.Strings(reg)
	if fmt.Sprint(globals) != fmt.Sprint(reg) {
		t.Errorf("kernels in the sources:\n%v\nkernels in kernels/kernels.def:\n%v", globals, reg)
	}
	if emuRegErr != nil {
		t.Error(emuRegErr)
	}
}
