package gemm

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"testing"

	"github.com/relora-go/relora-go/asm"
)

// TestCPUTable checks the lookup for the CPUs the table is meant for and
// that every entry's blocks fit its kernel.
func TestCPUTable(t *testing.T) {
	for _, tc := range []struct {
		cpu  CPU
		want string // entry name prefix, "" for none
	}{
		{CPU{Arch: "amd64", Vendor: "AuthenticAMD", Family: 26, Model: 2}, "AMD Zen 5"},
		{CPU{Arch: "amd64", Vendor: "AuthenticAMD", Family: 25, Model: 0x61}, "AMD Zen 4"},
		{CPU{Arch: "amd64", Vendor: "AuthenticAMD", Family: 25, Model: 0x21}, "AMD Zen 3"},
		{CPU{Arch: "amd64", Vendor: "AuthenticAMD", Family: 23, Model: 0x31}, "AMD Zen/Zen 2"},
		{CPU{Arch: "amd64", Vendor: "GenuineIntel", Family: 6, Model: 207}, "Intel Sapphire"},
		{CPU{Arch: "amd64", Vendor: "GenuineIntel", Family: 6, Model: 106}, "Intel Skylake-SP"},
		{CPU{Arch: "amd64", Vendor: "GenuineIntel", Family: 6, Model: 183}, "Intel AVX2-only"},
		{CPU{Arch: "amd64", Vendor: "GenuineIntel", Family: 6, Model: 1}, ""},
		{CPU{Arch: "amd64", Vendor: "HygonGenuine", Family: 24, Model: 1}, ""},
		{CPU{Arch: "arm64", Family: 0, Model: 0}, "arm64"},
	} {
		var got string
		for _, e := range cpuTable { // the table itself, whatever this CPU runs
			if e.matches(tc.cpu) {
				got = e.Name
				break
			}
		}
		if !strings.HasPrefix(got, tc.want) || (tc.want == "" && got != "") {
			t.Errorf("%+v: entry %q, want %q", tc.cpu, got, tc.want)
		}
	}
	for _, e := range cpuTable {
		k := asm.Kernel{Name: e.Kernel, MR: 6, NR: 64}
		switch e.Kernel {
		case "avx2":
			k.NR = 16
		case "neon":
			k.MR, k.NR = 8, 12
		}
		b := tableBlocks(e, k, CPU{Arch: e.Arch, L1D: 48 << 10, L2: 1 << 20})
		if b.fit(k) != b || b.kc < 64 || b.nc < k.NR || b.mc < k.MR {
			t.Errorf("%s: blocks %+v do not fit %s", e.Name, b, e.Kernel)
		}
	}
}

// TestChoiceForced runs every kernel, forced, with the table's, derived
// and forced (RELORA_BLOCKS) blocks against the reference on ragged shapes.
func TestChoiceForced(t *testing.T) {
	c := detectCPU()
	for _, kern := range asm.Available() {
		var blks []blocking
		blks = append(blks, deriveBlocks(kern, c))
		for _, e := range cpuTable {
			if e.Kernel == kern.Name {
				blks = append(blks, tableBlocks(e, kern, c))
			}
		}
		forced, _, err := parseBlocks("kc=40,nc=1,mc=7")
		if err != nil {
			t.Fatal(err)
		}
		blks = append(blks, forced.fit(kern))
		for _, blk := range blks {
			t.Run(fmt.Sprintf("%s/kc=%d/nc=%d/mc=%d", kern.Name, blk.kc, blk.nc, blk.mc), func(t *testing.T) {
				testBlocking = &blk
				defer func() { testBlocking = nil }()
				rng := rand.New(rand.NewSource(11))
				for _, s := range []shape{
					{false, false, 2*kern.MR + 1, 3*kern.NR + 5, blk.kc + 3, 0}, {true, false, 37, 2*kern.NR - 1, 2*blk.kc + 1, 1},
					{false, true, 3*kern.MR - 1, kern.NR + 1, 77, 2}, {true, true, 29, 31, blk.kc - 5, 3},
				} {
					for _, beta := range []float32{0, 1} {
						check(t, rng, s, 0.5, beta, "", func(s shape, alpha float32, o *operands, beta float32) {
							SgemmKernel(kern, pool2, s.transA, s.transB, s.m, s.n, s.k, alpha, o.a, o.lda, o.b, o.ldb, beta, o.c, o.ldc)
						})
					}
				}
			})
		}
	}
}

func TestParseBlocks(t *testing.T) {
	b, m, err := parseBlocks(" kc=384, NC=1024 ")
	if err != nil || m || b != (blocking{kc: 384, nc: 1024}) {
		t.Fatalf("got %+v %v %v", b, m, err)
	}
	if _, m, err := parseBlocks("measure"); err != nil || !m {
		t.Fatalf("measure: %v %v", m, err)
	}
	for _, bad := range []string{"kc", "kc=-1", "xc=3", "kc=3;nc=4"} {
		if _, _, err := parseBlocks(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// Forced blocks are applied on top of the table or the measurement.
	ch := choose(detectCPU(), "kc=100,nc=1,mc=1", nil)
	if ch.KC != 96 || ch.NC != ch.Kernel.NR || ch.MC != ch.Kernel.MR || !strings.Contains(ch.Source, "env") {
		t.Fatalf("forced blocks: %+v", ch)
	}
}

// TestMeasureCache: a CPU with no table entry is measured once and then
// read from the cache; a corrupt or foreign cache file is ignored and the
// measurement redone (and the file rewritten).
func TestMeasureCache(t *testing.T) {
	defer func(s [3]int) { measureShape = s }(measureShape)
	measureShape = [3]int{24, 128, 64}
	cache := &tuneCache{dir: t.TempDir()}
	c := detectCPU()
	c.Arch, c.Vendor, c.Family, c.Model = "testarch", "TestVendor", 99, 1 // no table entry
	if _, ok := lookupCPU(c); ok {
		t.Fatal("test CPU has a table entry")
	}
	ch := measureChoice(c, cache, false)
	if ch.Source != "measured" {
		t.Fatalf("first use: source %q (%s)", ch.Source, ch.Reason)
	}
	ch2 := measureChoice(c, cache, false)
	if ch2.Source != "cache" || ch2.Kernel.Name != ch.Kernel.Name || ch2.blocks() != ch.blocks() {
		t.Fatalf("second use: %+v, first %+v", ch2, ch)
	}
	path := cache.path(c.Signature())
	valid, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec tuneRecord
	if err := json.Unmarshal(valid, &rec); err != nil {
		t.Fatal(err)
	}
	foreign := rec
	foreign.Signature = "amd64/OtherVendor/1/2/\"x\"/l1d=1/l2=2/avx512"
	badKernel := rec
	badKernel.Kernel = "avx1024"
	badBlocks := rec
	badBlocks.NC = ch.Kernel.NR + 1
	oldFormat := rec
	oldFormat.Format = 0
	for name, data := range map[string][]byte{
		"corrupt":   []byte("{\"format\": 1, \"kern"),
		"empty":     nil,
		"foreign":   mustJSON(t, foreign),
		"kernel":    mustJSON(t, badKernel),
		"blocks":    mustJSON(t, badBlocks),
		"oldFormat": mustJSON(t, oldFormat),
	} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got := measureChoice(c, cache, false)
		if got.Source != "measured" || !strings.Contains(got.Reason, "ignored") {
			t.Errorf("%s cache file: source %q, reason %q", name, got.Source, got.Reason)
		}
		if _, _, err := cache.load(c.Signature()); err != nil {
			t.Errorf("%s cache file: not rewritten: %v", name, err)
		}
	}
	// The table is consulted first, unless RELORA_KERNEL forces a kernel.
	if !asm.Forced() {
		if got := choose(c, "", cache); got.Source != "cache" {
			t.Errorf("choose with a valid cache: source %q", got.Source)
		}
	}
	// RELORA_BLOCKS=measure measures even with a valid cache.
	if got := measureChoice(c, cache, true); got.Source != "measured" {
		t.Errorf("measure: source %q", got.Source)
	}
	// No cache directory: measured, not cached.
	if got := measureChoice(c, nil, false); got.Source != "measured" || !strings.Contains(got.Reason, "not cached") {
		t.Errorf("no cache: %+v", got)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestChosenThisCPU: the choice for this machine is a kernel it runs, with
// blocks that fit it, and the selected kernel when RELORA_KERNEL forces one.
func TestChosenThisCPU(t *testing.T) {
	ch := Chosen()
	if _, err := asm.ByName(ch.Kernel.Name); err != nil {
		t.Fatal(err)
	}
	if ch.blocks().fit(ch.Kernel) != ch.blocks() {
		t.Fatalf("blocks %+v do not fit %s", ch.blocks(), ch.Kernel.Name)
	}
	if asm.Forced() && ch.Kernel.Name != asm.Selected().Name {
		t.Fatalf("forced %s, chosen %s", asm.Selected().Name, ch.Kernel.Name)
	}
	if !strings.Contains(ch.Describe(), ch.Kernel.Name) {
		t.Fatal(ch.Describe())
	}
	t.Log(ch.Describe())
}
