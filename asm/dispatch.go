package asm

import (
	"fmt"
	"os"
	"strings"
)

// EnvKernel is the environment variable that forces a kernel by name
// (go, avx2, avx512, neon, ...). If it names a kernel this CPU or build
// lacks, Selected falls back to the best available one, SelectionError
// reports why, and a one-line message goes to standard error at start-up.
const EnvKernel = "RELORA_KERNEL"

var (
	available []Kernel // best first; GoKernel last
	selected  Kernel
	selectErr error
	forced    bool
)

func init() {
	available = append(archKernels(), GoKernel)
	selected = available[0]
	if name := strings.TrimSpace(os.Getenv(EnvKernel)); name != "" {
		k, err := ByName(name)
		if err != nil {
			selectErr = fmt.Errorf("%s=%s: %w; using %q", EnvKernel, name, err, selected.Name)
			fmt.Fprintln(os.Stderr, "relora:", selectErr)
		} else {
			selected, forced = k, true
		}
	}
}

// Selected is the kernel GEMM uses: the best one this CPU runs, or the one
// RELORA_KERNEL forces.
func Selected() Kernel { return selected }

// SelectionError is non-nil when RELORA_KERNEL named a kernel that is not
// available, so Selected fell back.
func SelectionError() error { return selectErr }

// Available lists the kernels this CPU and build can run, best first; the
// portable GoKernel is always last. The slice is a copy.
func Available() []Kernel { return append([]Kernel(nil), available...) }

// ByName returns the available kernel with that name, or an error saying
// whether the name is unknown or the CPU (or build) lacks it.
func ByName(name string) (Kernel, error) {
	for _, k := range available {
		if k.Name == name {
			return k, nil
		}
	}
	names := make([]string, len(available))
	for i, k := range available {
		names[i] = k.Name
	}
	for _, n := range append(archKnown, "avx2", "avx512", "neon") {
		if n == name {
			return Kernel{}, fmt.Errorf("kernel %q is not available on this CPU or build (available: %s)",
				name, strings.Join(names, ", "))
		}
	}
	return Kernel{}, fmt.Errorf("unknown kernel %q (available: %s)", name, strings.Join(names, ", "))
}

// checkTile panics if a tile call would read or write outside its slices.
func checkTile(mr, nr, k int, a, b, c []float32, ldc int) {
	if k < 0 || len(a) < k*mr || len(b) < k*nr || ldc < nr || len(c) < (mr-1)*ldc+nr {
		panic(fmt.Sprintf("asm: %d×%d tile out of range: k=%d len(a)=%d len(b)=%d len(c)=%d ldc=%d",
			mr, nr, k, len(a), len(b), len(c), ldc))
	}
}

// checkTileA is checkTile for a DirectTileFunc.
func checkTileA(mr, nr, k int, a []float32, lda int, b, c []float32, ldc int) {
	if k < 0 || lda < k || (k > 0 && len(a) < (mr-1)*lda+k) || len(b) < k*nr || ldc < nr || len(c) < (mr-1)*ldc+nr {
		panic(fmt.Sprintf("asm: %d×%d direct tile out of range: k=%d len(a)=%d lda=%d len(b)=%d len(c)=%d ldc=%d",
			mr, nr, k, len(a), lda, len(b), len(c), ldc))
	}
}

// checkSup is checkTile for a SupFunc.
func checkSup(mr, nr, m, n, k int, a []float32, rsA, csA int, b []float32, ldb int, c []float32, ldc int) {
	ok := m >= 0 && m <= mr && n >= 0 && n <= nr && k >= 0 && rsA >= 0 && csA >= 0 && ldb >= n && ldc >= n
	if ok && m > 0 && n > 0 {
		ok = len(c) >= (m-1)*ldc+n
		if k > 0 {
			ok = ok && len(a) > (m-1)*rsA+(k-1)*csA && len(b) >= (k-1)*ldb+n
		}
	}
	if !ok {
		panic(fmt.Sprintf("asm: sup tile out of range: m=%d n=%d k=%d len(a)=%d rsA=%d csA=%d len(b)=%d ldb=%d len(c)=%d ldc=%d",
			m, n, k, len(a), rsA, csA, len(b), ldb, len(c), ldc))
	}
}

// checkDot is checkTile for a DotFunc.
func checkDot(maxM, maxN, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	ok := m >= 0 && m <= maxM && n >= 0 && n <= maxN && k >= 0 && lda >= k && ldb >= k && ldc >= n
	if ok && m > 0 && n > 0 {
		ok = len(c) >= (m-1)*ldc+n
		if k > 0 {
			ok = ok && len(a) >= (m-1)*lda+k && len(b) >= (n-1)*ldb+k
		}
	}
	if !ok {
		panic(fmt.Sprintf("asm: dot tile out of range: m=%d n=%d k=%d len(a)=%d lda=%d len(b)=%d ldb=%d len(c)=%d ldc=%d",
			m, n, k, len(a), lda, len(b), ldb, len(c), ldc))
	}
}

// Forced reports whether RELORA_KERNEL named an available kernel, which
// Selected then is (GEMM's per-CPU choice defers to it).
func Forced() bool { return forced }
