package gemm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"time"

	"github.com/relora-go/relora-go/asm"
)

// A CPU without a table entry gets its kernel and blocks from a short
// measurement at first use: every SIMD kernel this CPU runs, each with the
// blocks derived from the caches and three variants (KC halved, NC doubled,
// both), timed single-threaded on one mid-size product (best of three runs
// each, robust to a busy machine; about 0.1-0.3 s in all). The winner is
// cached in os.UserCacheDir()/relora-go, in a file named after a hash of
// the CPU signature and holding the whole signature; a file that does not
// parse, has another format or another signature, or names a kernel or
// blocks this build cannot use is ignored and the measurement redone.

// measureShape is the product each candidate is timed on (m, n, k);
// tests shrink it.
var measureShape = [3]int{288, 1024, 768}

// tuneFormat is the cache file's format version.
const tuneFormat = 1

// tuneRecord is one cache file.
type tuneRecord struct {
	Format     int     `json:"format"`
	Signature  string  `json:"signature"`
	Kernel     string  `json:"kernel"`
	KC         int     `json:"kc"`
	NC         int     `json:"nc"`
	MC         int     `json:"mc"`
	GFLOPS     float64 `json:"gflops"`
	Candidates int     `json:"candidates"`
	Measured   string  `json:"measured"`
}

// tuneCache is the directory measurements are kept in.
type tuneCache struct{ dir string }

func defaultCache() *tuneCache {
	d, err := os.UserCacheDir()
	if err != nil {
		return nil
	}
	return &tuneCache{dir: filepath.Join(d, "relora-go")}
}

func (tc *tuneCache) path(sig string) string {
	h := sha256.Sum256([]byte(sig))
	return filepath.Join(tc.dir, "gemm-tune-"+hex.EncodeToString(h[:8])+".json")
}

// load returns the cached choice for sig, or why there is none usable.
func (tc *tuneCache) load(sig string) (tuneRecord, asm.Kernel, error) {
	var r tuneRecord
	data, err := os.ReadFile(tc.path(sig))
	if err != nil {
		return r, asm.Kernel{}, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, asm.Kernel{}, fmt.Errorf("corrupt: %v", err)
	}
	if r.Format != tuneFormat {
		return r, asm.Kernel{}, fmt.Errorf("format %d, want %d", r.Format, tuneFormat)
	}
	if r.Signature != sig {
		return r, asm.Kernel{}, fmt.Errorf("foreign: written for %s", r.Signature)
	}
	k, err := asm.ByName(r.Kernel)
	if err != nil {
		return r, asm.Kernel{}, fmt.Errorf("invalid: %v", err)
	}
	if b := (blocking{kc: r.KC, nc: r.NC, mc: r.MC}); b.fit(k) != b || r.KC < 8 {
		return r, asm.Kernel{}, fmt.Errorf("invalid blocks kc=%d nc=%d mc=%d for %s", r.KC, r.NC, r.MC, k.Name)
	}
	return r, k, nil
}

// store writes r atomically (temp file, rename).
func (tc *tuneCache) store(r tuneRecord) error {
	if err := os.MkdirAll(tc.dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(tc.dir, ".gemm-tune-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(append(data, '\n'))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), tc.path(r.Signature)); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// measureCandidates lists what the measurement tries.
func measureCandidates(c CPU) []Choice {
	var ks []asm.Kernel
	for _, k := range asm.Available() {
		if k.Name != asm.GoKernel.Name {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		ks = []asm.Kernel{asm.GoKernel}
	}
	var out []Choice
	for _, k := range ks {
		d := deriveBlocks(k, c)
		seen := map[blocking]bool{}
		for _, b := range []blocking{d, {kc: d.kc / 2, nc: d.nc, mc: d.mc}, {kc: d.kc, nc: 2 * d.nc, mc: d.mc}, {kc: d.kc / 2, nc: 2 * d.nc, mc: d.mc}} {
			b = b.fit(k)
			if !seen[b] {
				seen[b] = true
				out = append(out, Choice{Kernel: k, KC: b.kc, NC: b.nc, MC: b.mc})
			}
		}
	}
	return out
}

// measureChoice returns the cached measurement for c or (force, or none
// usable) measures and caches it.
func measureChoice(c CPU, cache *tuneCache, force bool) Choice {
	sig := c.Signature()
	note := ""
	if cache != nil && !force {
		r, k, err := cache.load(sig)
		if err == nil {
			return Choice{Kernel: k, KC: r.KC, NC: r.NC, MC: r.MC, CPU: c, Source: "cache", GFLOPS: r.GFLOPS,
				Reason: fmt.Sprintf("no table entry for this CPU; measured at first use on %s (%d candidates, best %.1f GFLOP/s single-threaded), cached in %s",
					r.Measured, r.Candidates, r.GFLOPS, cache.path(sig))}
		}
		if !errors.Is(err, os.ErrNotExist) {
			note = fmt.Sprintf("; the cache file %s was ignored (%v)", cache.path(sig), err)
		}
	}
	cands := measureCandidates(c)
	best := cands[0]
	if len(cands) > 1 {
		for i := range cands {
			cands[i].GFLOPS = timeCandidate(cands[i])
			if cands[i].GFLOPS > best.GFLOPS {
				best = cands[i]
			}
		}
	}
	best.CPU, best.Source = c, "measured"
	where := "not cached (no user cache directory)"
	if cache != nil {
		r := tuneRecord{Format: tuneFormat, Signature: sig, Kernel: best.Kernel.Name, KC: best.KC, NC: best.NC, MC: best.MC,
			GFLOPS: best.GFLOPS, Candidates: len(cands), Measured: time.Now().UTC().Format(time.RFC3339)}
		if err := cache.store(r); err != nil {
			where = fmt.Sprintf("not cached (%v)", err)
		} else {
			where = "cached in " + cache.path(sig)
		}
	}
	pre := "no table entry for this CPU"
	if force {
		pre = "the table and the cache skipped"
	}
	best.Reason = fmt.Sprintf("%s; measured now (%d candidates, best %.1f GFLOP/s single-threaded), %s%s",
		pre, len(cands), best.GFLOPS, where, note)
	return best
}

// timeCandidate returns the best of three single-threaded GFLOP/s of one
// candidate on measureShape.
func timeCandidate(ch Choice) float64 {
	m, n, k := measureShape[0], measureShape[1], measureShape[2]
	rng := rand.New(rand.NewSource(1))
	a := make([]float32, m*k)
	b := make([]float32, k*n)
	c := make([]float32, m*n)
	for i := range a {
		a[i] = rng.Float32() - 0.5
	}
	for i := range b {
		b[i] = rng.Float32() - 0.5
	}
	blk := ch.blocks()
	call := func() {
		ws := getWorkspace()
		ws.run(ch.Kernel, blk, nil, false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		putWorkspace(ws)
	}
	call() // warm-up
	best := 0.0
	for r := 0; r < 3; r++ {
		t0 := time.Now()
		call()
		if g := 2 * float64(m) * float64(n) * float64(k) / max(time.Since(t0).Seconds(), 1e-9) / 1e9; g > best {
			best = g
		}
	}
	return best
}
