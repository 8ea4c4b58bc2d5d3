package gemm

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/cpuid/v2"
	"github.com/relora-go/relora-go/asm"
)

// The micro-kernel and cache blocks that fit the CPU the process runs on.
//
// Order of precedence, first match wins:
//
//  1. RELORA_KERNEL forces the kernel (package asm) and RELORA_BLOCKS
//     forces any of the blocks ("kc=384,nc=1024,mc=96"; the others come
//     from the steps below). RELORA_BLOCKS=measure ignores the table and the
//     cache and measures again (rewriting the cache).
//  2. The table (cpuTable), keyed by CPU vendor, family and model: the
//     kernel and the blocks measured or designed for that CPU; a block left
//     0 there is derived from cpuid's cache sizes (deriveBlocks).
//  3. With no table entry: a short measurement at first use (measure.go),
//     cached per machine under os.UserCacheDir(), keyed by the CPU
//     signature; a corrupt or foreign cache file is ignored and remeasured.
//
// `relora-cpu kernels` prints the choice and the reason (Choice.Describe).

// EnvBlocks is the environment variable that forces cache blocks.
const EnvBlocks = "RELORA_BLOCKS"

// CPU is what the choice is keyed by.
type CPU struct {
	Arch          string // GOARCH
	Vendor        string // cpuid vendor string ("GenuineIntel", "AuthenticAMD"); "" on arm64
	Family, Model int
	Brand         string
	L1D, L2, L3   int    // bytes per core (L3: as cpuid reports it); 0 when unknown
	Kernels       string // the kernels this CPU and build can run, comma-separated
}

// Signature identifies the machine for the measurement cache: everything
// a measured choice depends on.
func (c CPU) Signature() string {
	return fmt.Sprintf("%s/%s/%d/%d/%q/l1d=%d/l2=%d/%s", c.Arch, c.Vendor, c.Family, c.Model, c.Brand, c.L1D, c.L2, c.Kernels)
}

// String is the one-line description `relora-cpu kernels` prints.
func (c CPU) String() string {
	v := c.Vendor
	if v == "" {
		v = c.Arch
	}
	return fmt.Sprintf("%s family %d model %d (%s), L1D %s, L2 %s, L3 %s per cpuid; %s",
		v, c.Family, c.Model, strings.TrimSpace(c.Brand), kib(c.L1D), kib(c.L2), kib(c.L3), c.Arch)
}

func kib(n int) string {
	switch {
	case n <= 0:
		return "?"
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}

// detectCPU reads this machine's CPU.
func detectCPU() CPU {
	c := CPU{Arch: runtime.GOARCH, Vendor: cpuid.CPU.VendorString, Family: cpuid.CPU.Family, Model: cpuid.CPU.Model,
		Brand: cpuid.CPU.BrandName, L1D: cpuid.CPU.Cache.L1D, L2: cpuid.CPU.Cache.L2, L3: cpuid.CPU.Cache.L3}
	var names []string
	for _, k := range asm.Available() {
		names = append(names, k.Name)
	}
	c.Kernels = strings.Join(names, ",")
	return c
}

// cpuEntry is one row of the table.
type cpuEntry struct {
	Name         string
	Arch, Vendor string // Vendor "" matches any (arm64)
	Family       int    // -1 matches any
	Models       []int  // nil matches any model of the family
	Kernel       string // the kernel to use (if this CPU and build have it)
	KC, NC, MC   int    // 0: derived from the cache sizes
	Basis        string // where the numbers come from
}

func (e cpuEntry) matches(c CPU) bool {
	if e.Arch != c.Arch || (e.Vendor != "" && e.Vendor != c.Vendor) || (e.Family >= 0 && e.Family != c.Family) {
		return false
	}
	if e.Models == nil {
		return true
	}
	for _, m := range e.Models {
		if m == c.Model {
			return true
		}
	}
	return false
}

func modelRange(lo, hi int) []int {
	var m []int
	for i := lo; i <= hi; i++ {
		m = append(m, i)
	}
	return m
}

// cpuTable lists the CPUs whose kernel and blocks are known, most specific
// first. Family and model are cpuid's display family and model.
var cpuTable = []cpuEntry{
	{Name: "Intel Sapphire/Emerald/Granite Rapids (AVX-512, 2 FMA units, 48 KiB L1D, 2 MiB L2)",
		Arch: "amd64", Vendor: "GenuineIntel", Family: 6, Models: []int{143, 207, 173, 174}, Kernel: "avx512",
		KC: 512, NC: 512, MC: 192,
		Basis: "measured on Emerald Rapids (model 207, KVM, 2 cores): KC 512 NC 512 against KC 384/256 and NC 1024/2048, relora-cpu bench gemm, 1 thread"},
	{Name: "Intel Skylake-SP/Cascade Lake/Ice Lake/Tiger Lake (AVX-512)",
		Arch: "amd64", Vendor: "GenuineIntel", Family: 6, Models: []int{85, 106, 108, 125, 126, 140, 141, 167}, Kernel: "avx512",
		Basis: "design: 6×64 with blocks from cpuid's caches (1-1.25 MiB L2); not measured here"},
	{Name: "Intel AVX2-only (Haswell to Arrow Lake client, Alder/Raptor/Meteor Lake hybrids)",
		Arch: "amd64", Vendor: "GenuineIntel", Family: 6,
		Models: []int{60, 63, 69, 70, 61, 71, 79, 86, 78, 94, 142, 158, 165, 166, 151, 154, 183, 186, 191, 170, 172, 189, 197, 198},
		Kernel: "avx2", Basis: "design: 6×16 with blocks from cpuid's caches (P-core sizes); not measured here"},
	{Name: "AMD Zen 5 (full-width AVX-512: 2×512-bit FMA, 48 KiB L1D, 1 MiB L2)",
		Arch: "amd64", Vendor: "AuthenticAMD", Family: 26, Kernel: "avx512", KC: 512, NC: 512, MC: 192,
		Basis: "design: the Zen 4 blocks with NC doubled for the doubled FMA rate (the B block fills the 1 MiB L2); not re-measured in this tree"},
	{Name: "AMD Zen 4 (AVX-512 on 256-bit units, 32 KiB L1D, 1 MiB L2)",
		Arch: "amd64", Vendor: "AuthenticAMD", Family: 25, Models: append(append(modelRange(0x10, 0x1f), modelRange(0x60, 0x7f)...), modelRange(0xa0, 0xaf)...),
		Kernel: "avx512", KC: 512, NC: 256, MC: 192,
		Basis: "measured on Zen 4 (2 cores; KC 512 as BLIS's zen4 configuration)"},
	{Name: "AMD Zen 3 (AVX2)", Arch: "amd64", Vendor: "AuthenticAMD", Family: 25, Kernel: "avx2",
		Basis: "design: 6×16 with blocks from cpuid's caches; not measured here"},
	{Name: "AMD Zen/Zen 2 (AVX2)", Arch: "amd64", Vendor: "AuthenticAMD", Family: 23, Kernel: "avx2",
		Basis: "design: 6×16 with blocks from cpuid's caches; not measured here"},
	{Name: "arm64 (NEON)", Arch: "arm64", Family: -1, Kernel: "neon",
		Basis: "design: 8×12 with blocks from the caches (cpuid often reports none on arm64: 64 KiB L1D, 1 MiB L2 assumed)"},
}

// lookupCPU returns the table entry for c whose kernel this build and CPU
// run, if any.
func lookupCPU(c CPU) (cpuEntry, bool) {
	for _, e := range cpuTable {
		if !e.matches(c) {
			continue
		}
		if _, err := asm.ByName(e.Kernel); err != nil {
			continue
		}
		return e, true
	}
	return cpuEntry{}, false
}

// cacheSizes returns the L1D and L2 sizes to derive blocks from, with
// fallbacks where cpuid reports nothing plausible.
func cacheSizes(c CPU) (l1, l2 int) {
	l1, l2 = c.L1D, c.L2
	if l1 < 16<<10 || l1 > 256<<10 {
		l1 = 32 << 10
		if c.Arch == "arm64" {
			l1 = 64 << 10
		}
	}
	if l2 < 128<<10 || l2 > 8<<20 {
		l2 = 512 << 10
		if c.Arch == "arm64" {
			l2 = 1 << 20
		}
	}
	return l1, l2
}

// deriveBlocks derives block sizes from the L1 and L2 data cache sizes:
// the A panel (MR×KC floats) fills at most half of L1 and the packed B
// block (KC×NC) at most half of L2. KC is capped at 512.
func deriveBlocks(kern asm.Kernel, c CPU) blocking {
	l1, l2 := cacheSizes(c)
	kc := l1 / 2 / (4 * kern.MR)
	kc = max(64, min(512, kc&^7))
	nc := l2 / 2 / (4 * kc)
	nc = max(kern.NR, nc/kern.NR*kern.NR)
	mc := max(kern.MR, 192/kern.MR*kern.MR)
	return blocking{kc: kc, nc: nc, mc: mc}
}

// fit rounds blocks to the kernel's tile (nc a multiple of NR, mc of MR,
// kc of 8) and clamps them to sane ranges.
func (b blocking) fit(kern asm.Kernel) blocking {
	b.kc = max(8, min(4096, b.kc&^7))
	b.nc = max(kern.NR, min(16384, b.nc/kern.NR*kern.NR))
	b.mc = max(kern.MR, min(3072, b.mc/kern.MR*kern.MR))
	return b
}

// Choice is the kernel and blocks GEMM uses, and why.
type Choice struct {
	Kernel     asm.Kernel
	KC, NC, MC int
	CPU        CPU
	Source     string // "env", "table", "cache", "measured", "derived"
	Reason     string // one or more sentences
	GFLOPS     float64
}

func (ch Choice) blocks() blocking { return blocking{kc: ch.KC, nc: ch.NC, mc: ch.MC} }

// Describe is the text `relora-cpu kernels` prints about the choice.
func (ch Choice) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "selected: %s (%d×%d tiles), blocks KC %d NC %d MC %d [%s]\n", ch.Kernel.Name, ch.Kernel.MR, ch.Kernel.NR, ch.KC, ch.NC, ch.MC, ch.Source)
	fmt.Fprintf(&b, "cpu: %s\n", ch.CPU)
	fmt.Fprintf(&b, "why: %s\n", ch.Reason)
	fmt.Fprintf(&b, "force: %s=<kernel>, %s=kc=N,nc=N,mc=N (any subset) or %s=measure\n", asm.EnvKernel, EnvBlocks, EnvBlocks)
	return b.String()
}

var chosen struct {
	once sync.Once
	ch   Choice
}

// Chosen returns the kernel and blocks for this machine, deciding on the
// first call (which may measure, see the package's tuning notes above).
func Chosen() Choice {
	chosen.once.Do(func() { chosen.ch = choose(detectCPU(), os.Getenv(EnvBlocks), defaultCache()) })
	return chosen.ch
}

// blocksFor returns the blocks for kern: the chosen ones when kern is the
// chosen kernel, else the table's or the derived ones for kern.
func blocksFor(kern asm.Kernel) blocking {
	if testBlocking != nil {
		return *testBlocking
	}
	ch := Chosen()
	if ch.Kernel.Name == kern.Name {
		return ch.blocks()
	}
	if e, ok := lookupCPU(ch.CPU); ok && e.Kernel == kern.Name {
		return tableBlocks(e, kern, ch.CPU)
	}
	return deriveBlocks(kern, ch.CPU)
}

func tableBlocks(e cpuEntry, kern asm.Kernel, c CPU) blocking {
	d := deriveBlocks(kern, c)
	if e.KC > 0 {
		d.kc = e.KC
	}
	if e.NC > 0 {
		d.nc = e.NC
	}
	if e.MC > 0 {
		d.mc = e.MC
	}
	return d.fit(kern)
}

// parseBlocks reads RELORA_BLOCKS: "measure", or comma-separated
// kc=N, nc=N, mc=N (0 leaves a block unforced).
func parseBlocks(s string) (b blocking, measure bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return b, false, nil
	}
	if s == "measure" {
		return b, true, nil
	}
	for _, f := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		n, perr := strconv.Atoi(strings.TrimSpace(v))
		if !ok || perr != nil || n < 0 {
			return blocking{}, false, fmt.Errorf("%s=%q: want kc=N,nc=N,mc=N or measure", EnvBlocks, s)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "kc":
			b.kc = n
		case "nc":
			b.nc = n
		case "mc":
			b.mc = n
		default:
			return blocking{}, false, fmt.Errorf("%s=%q: unknown block %q (kc, nc, mc)", EnvBlocks, s, k)
		}
	}
	return b, false, nil
}

// choose decides the kernel and blocks for c. env is RELORA_BLOCKS; cache
// is where measurements are kept (nil: none).
func choose(c CPU, env string, cache *tuneCache) Choice {
	forced, measureNow, err := parseBlocks(env)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relora:", err, "(ignored)")
	}
	kernForced := asm.Forced()
	ch := Choice{CPU: c}
	var why []string
	e, inTable := lookupCPU(c)
	switch {
	case measureNow:
		ch = measureChoice(c, cache, true)
		why = append(why, fmt.Sprintf("%s=measure: %s", EnvBlocks, ch.Reason))
	case kernForced:
		ch.Kernel = asm.Selected()
		ch.Source = "env"
		why = append(why, fmt.Sprintf("%s forces the kernel", asm.EnvKernel))
		if inTable && e.Kernel == ch.Kernel.Name {
			b := tableBlocks(e, ch.Kernel, c)
			ch.KC, ch.NC, ch.MC = b.kc, b.nc, b.mc
			why = append(why, fmt.Sprintf("blocks from the table entry %q", e.Name))
		} else {
			b := deriveBlocks(ch.Kernel, c)
			ch.KC, ch.NC, ch.MC = b.kc, b.nc, b.mc
			why = append(why, "blocks derived from cpuid's cache sizes (A panel ≤ ½ L1D, B block ≤ ½ L2)")
		}
	case inTable:
		ch.Kernel, _ = asm.ByName(e.Kernel)
		b := tableBlocks(e, ch.Kernel, c)
		ch.KC, ch.NC, ch.MC = b.kc, b.nc, b.mc
		ch.Source = "table"
		why = append(why, fmt.Sprintf("table entry %q (%s)", e.Name, e.Basis))
		if e.KC == 0 || e.NC == 0 || e.MC == 0 {
			why = append(why, "unset blocks derived from cpuid's cache sizes")
		}
	default:
		ch = measureChoice(c, cache, false)
		why = append(why, ch.Reason)
	}
	if forced != (blocking{}) {
		if forced.kc > 0 {
			ch.KC = forced.kc
		}
		if forced.nc > 0 {
			ch.NC = forced.nc
		}
		if forced.mc > 0 {
			ch.MC = forced.mc
		}
		b := ch.blocks().fit(ch.Kernel)
		ch.KC, ch.NC, ch.MC = b.kc, b.nc, b.mc
		ch.Source += "+env"
		why = append(why, fmt.Sprintf("%s=%s forces blocks (rounded to the tile)", EnvBlocks, env))
	}
	ch.CPU = c
	ch.Reason = strings.Join(why, "; ")
	return ch
}
