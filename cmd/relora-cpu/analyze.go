package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/relora-go/relora-go/engine/atomicfile"
	"github.com/relora-go/relora-go/engine/sched"
	"github.com/relora-go/relora-go/model"
	"github.com/relora-go/relora-go/relora"
	"github.com/relora-go/relora-go/relora/run"
)

// defaultThreshold is analyze's --threshold: a singular value counts
// toward the rank of ΔW when it exceeds this fraction of the largest.
// Float32 round-off in the weights puts the spurious values of a rank-r
// update near 1e-7·σ₁ (at most 2⁻²⁴·‖W_final‖_F), four decades below.
const defaultThreshold = 1e-3

func init() {
	docs["analyze"] = commandDoc{
		synopsis: "relora-cpu analyze [flags] RUN_DIR...   |   relora-cpu analyze --base MODEL --model MODEL [flags]",
		about: "The singular values of the learned update ΔW = W_final − W_start of every projection of every layer:\n" +
			"W_start is the model the low-rank stage began from (the initialisation, rebuilt from the run's seed, or\n" +
			"the model at the end of its warm start, or its --init_from) and W_final the run's final/ (or a checkpoint\n" +
			"given as RUN_DIR/model_<N>). Per matrix: the number of singular values above --threshold × the largest,\n" +
			"the stable rank ‖ΔW‖²_F/‖ΔW‖²₂ and the share of ‖ΔW‖²_F in the top r directions. Writes PREFIX.json\n" +
			"(every spectrum and summary), a table on stdout, and PREFIX.png / PREFIX.svg: the spectra side by side\n" +
			"per matrix kind. A warm start the run did not save (no checkpoint at its end) is found with --base,\n" +
			"or retrained with --replay.",
		example: "relora-cpu analyze --out runs/spectra runs/lora runs/relora",
	}
}

// analyzedRun is one run's spectra and what the table and figure say of it.
type analyzedRun struct {
	Name    string           `json:"name"`
	Dir     string           `json:"dir,omitempty"`
	Method  string           `json:"method"`
	LoraR   int              `json:"lora_r,omitempty"`
	R       int              `json:"r"` // the rank the summaries use
	Merges  int              `json:"merges"`
	WStart  string           `json:"w_start"`
	WFinal  string           `json:"w_final"`
	Spectra []analyzedMatrix `json:"matrices"`
	byKind  map[string][]*analyzedMatrix
}

type analyzedMatrix struct {
	Name          string    `json:"name"`
	Layer         int       `json:"layer"`
	Kind          string    `json:"kind"`
	Shape         [2]int    `json:"shape"`
	RankAbove     int       `json:"rank_above_threshold"`
	StableRank    float64   `json:"stable_rank"`
	EnergyTopR    *float64  `json:"energy_top_r"`
	NextToTop     *float64  `json:"sigma_r1_over_sigma1"`
	Norm          float64   `json:"delta_frobenius"`
	StartNorm     float64   `json:"start_frobenius"`
	RoundoffBound float64   `json:"roundoff_bound"` // 2⁻²⁴·‖W_final‖_F
	Sigma         []float64 `json:"sigma"`
	summary       run.SpectrumSummary
}

type analyzeReport struct {
	Threshold float64        `json:"threshold"`
	Note      string         `json:"note"`
	Runs      []*analyzedRun `json:"runs"`
}

// analyzeFlags are analyze's settings.
type analyzeFlags struct {
	out, base, modelDir, names string
	threshold                  float64
	rank, threads, width       int
	replay                     bool
	dirs                       []string
}

func cmdAnalyze(args []string, stdout, stderr io.Writer) error {
	var f analyzeFlags
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	fs.StringVar(&f.out, "out", "spectra", "output `prefix`: writes PREFIX.json, PREFIX.png and PREFIX.svg")
	fs.StringVar(&f.base, "base", "", "W_start `MODEL`: a final/, a checkpoint or a Hugging Face directory (with --model: the pair to compare; with one RUN_DIR: that run's start)")
	fs.StringVar(&f.modelDir, "model", "", "W_final `MODEL` compared with --base (instead of RUN_DIRs)")
	fs.Float64Var(&f.threshold, "threshold", defaultThreshold, "count the singular values above this fraction of the largest")
	fs.IntVar(&f.rank, "rank", 0, "r of the summaries (energy in the top r, σ_{r+1}/σ₁) (default: each run's --lora_r; for full-rank runs the low-rank runs' r)")
	fs.StringVar(&f.names, "names", "", "comma-separated names of the runs in the table and legend (default: the directories' names)")
	fs.BoolVar(&f.replay, "replay", false, "retrain a warm start that the run did not save (its first --warm_start_steps updates, on its data and thread count)")
	fs.IntVar(&f.threads, "threads", 0, "worker threads (0: all cores)")
	fs.IntVar(&f.width, "width", 1400, "figure width in pixels")
	var err error
	if f.dirs, err = parseFlagsPaths(fs, args, stdout); err != nil {
		return err
	}
	legend, err := f.check()
	if err != nil {
		return err
	}
	pool := sched.New(f.threads)
	defer pool.Close()
	jobs, err := analyzeJobs(f, legend, stderr)
	if err != nil {
		return err
	}
	report := &analyzeReport{Threshold: f.threshold,
		Note: "sigma: singular values of ΔW = W_final − W_start (float64, largest first); rank_above_threshold counts sigma_i > threshold·sigma_1; " +
			"stable_rank = Σσ²/σ₁²; energy_top_r = Σ_{i≤r}σ²/Σσ²; roundoff_bound = 2⁻²⁴·‖W_final‖_F bounds what float32 rounding of the weights adds to any σ"}
	for _, j := range jobs {
		if err := j.spectra(pool, f.threshold, stderr); err != nil {
			return err
		}
		report.Runs = append(report.Runs, j.run)
	}
	uniqueRunNames(report.Runs)
	writeSpectraTable(stdout, report)
	if err := writeAnalyzeFiles(f.out, report, f.width); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s.json, %s.png, %s.svg\n", f.out, f.out, f.out)
	return nil
}

// check refuses contradictory flags and returns the --names legend.
func (f analyzeFlags) check() ([]string, error) {
	switch {
	case !(f.threshold > 0 && f.threshold < 1):
		return nil, fmt.Errorf("--threshold must be in (0, 1), got %g", f.threshold)
	case f.rank < 0 || f.threads < 0:
		return nil, fmt.Errorf("--rank and --threads must not be negative")
	case f.width < 600 || f.width > 8000:
		return nil, fmt.Errorf("--width must be in [600, 8000], got %d", f.width)
	case f.modelDir != "" && (f.base == "" || len(f.dirs) > 0):
		return nil, fmt.Errorf("--model compares with --base and takes no RUN_DIR: relora-cpu analyze --base MODEL --model MODEL")
	case f.modelDir == "" && len(f.dirs) == 0:
		return nil, fmt.Errorf("name the run directories: relora-cpu analyze RUN_DIR... (or --base MODEL --model MODEL; see relora-cpu analyze --help)")
	case f.base != "" && len(f.dirs) > 1:
		return nil, fmt.Errorf("--base is the start of one run: give one RUN_DIR with it (or --model)")
	}
	var legend []string
	if f.names != "" {
		legend = strings.Split(f.names, ",")
		if n := max(len(f.dirs), 1); len(legend) != n {
			return nil, fmt.Errorf("--names has %d names for %d runs", len(legend), n)
		}
	}
	return legend, nil
}

// analyzeJob is one pair of models to compare, and what is said of it.
type analyzeJob struct {
	run          *analyzedRun
	start, final *model.Model
}

// analyzeJobs loads the pairs: --base against --model, or each run's
// W_start against its W_final; each gets its r and its --names name.
func analyzeJobs(f analyzeFlags, legend []string, stderr io.Writer) ([]analyzeJob, error) {
	var jobs []analyzeJob
	if f.modelDir != "" {
		start, err := run.LoadModelDir(f.base)
		if err != nil {
			return nil, fmt.Errorf("--base: %w", err)
		}
		final, err := run.LoadModelDir(run.ResolveModelDir(f.modelDir, stderr))
		if err != nil {
			return nil, fmt.Errorf("--model: %w", err)
		}
		r := &analyzedRun{Name: filepath.Base(filepath.Clean(f.modelDir)), Method: "a model against a base", R: f.rank, WStart: f.base, WFinal: f.modelDir}
		jobs = append(jobs, analyzeJob{r, start, final})
	}
	for _, dir := range f.dirs {
		r, start, final, err := loadAnalyzedRun(dir, f.base, f.replay, stderr)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, analyzeJob{r, start, final})
	}
	// r for the runs without one: the low-rank runs' (the largest)
	lowR := 0
	for _, j := range jobs {
		lowR = max(lowR, j.run.LoraR)
	}
	for i, j := range jobs {
		switch {
		case f.rank > 0:
			j.run.R = f.rank
		case j.run.LoraR > 0:
			j.run.R = j.run.LoraR
		default:
			j.run.R = lowR
		}
		if legend != nil {
			j.run.Name = legend[i]
		}
	}
	return jobs, nil
}

// spectra computes the job's spectra into its run, with progress on stderr.
func (j analyzeJob) spectra(pool *sched.Pool, threshold float64, stderr io.Writer) error {
	t0 := time.Now()
	n := len(j.final.Blocks) * len(model.ProjNames)
	fmt.Fprintf(stderr, "%s: the spectra of %d matrices (%s)\n", j.run.Name, n, j.run.WStart)
	done := 0
	spectra, err := run.UpdateSpectra(pool, j.start, j.final, func(u run.UpdateSpectrum) {
		done++
		if u.Rows*u.Cols >= 1<<20 {
			fmt.Fprintf(stderr, "  %d/%d %s (%d×%d) %.1fs\n", done, n, u.Name, u.Rows, u.Cols, time.Since(t0).Seconds())
		}
	})
	if err != nil {
		return fmt.Errorf("%s: %w", j.run.Name, err)
	}
	j.run.add(spectra, threshold)
	fmt.Fprintf(stderr, "%s: done in %.1fs\n", j.run.Name, time.Since(t0).Seconds())
	return nil
}

// writeAnalyzeFiles writes PREFIX.json, PREFIX.png and PREFIX.svg.
func writeAnalyzeFiles(out string, report *analyzeReport, width int) error {
	if dir := filepath.Dir(out); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	js, err := json.MarshalIndent(report, "", " ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(out+".json", append(js, '\n')); err != nil {
		return err
	}
	png, svg, err := drawSpectra(report, float64(width))
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		body []byte
	}{{out + ".png", png}, {out + ".svg", svg}} {
		if err := atomicfile.WriteFile(f.path, f.body); err != nil {
			return err
		}
	}
	return nil
}

// loadAnalyzedRun finds a run's W_final (final/, or the checkpoint the
// path names) and W_start.
func loadAnalyzedRun(dir, base string, replay bool, stderr io.Writer) (*analyzedRun, *model.Model, *model.Model, error) {
	runDir, finalDir := dir, filepath.Join(dir, "final")
	_, errState := os.Stat(filepath.Join(dir, "training_state.json"))
	_, errConfig := os.Stat(filepath.Join(dir, "config.json"))
	if errState == nil || errConfig == nil { // RUN_DIR/model_<N> or RUN_DIR/final
		runDir, finalDir = filepath.Dir(filepath.Clean(dir)), dir
	} else if _, err := os.Stat(filepath.Join(finalDir, "config.json")); err != nil {
		if ck := run.LatestCheckpoint(dir); ck != "" {
			fmt.Fprintf(stderr, "note: %s has no final/ yet: using its newest checkpoint %s\n", dir, ck)
			finalDir = ck
		} else {
			return nil, nil, nil, fmt.Errorf("%s: not a run directory (no final/ and no checkpoint)", dir)
		}
	}
	o, optErr := run.RunOptions(runDir)
	if optErr != nil && base == "" {
		return nil, nil, nil, optErr
	}
	final, err := run.LoadModelDir(finalDir)
	if err != nil {
		return nil, nil, nil, err
	}
	r := &analyzedRun{Name: filepath.Base(filepath.Clean(runDir)), Dir: runDir, WFinal: finalDir, Method: "unknown (no args.json)"}
	if optErr == nil {
		r.Method, r.LoraR, r.Merges = describeRun(o, updateOf(finalDir, o.Steps))
	}
	var start *model.Model
	if base != "" {
		if start, err = run.LoadModelDir(base); err != nil {
			return nil, nil, nil, fmt.Errorf("--base: %w", err)
		}
		r.WStart = base
	} else {
		var where string
		start, where, err = run.RunStart(runDir, o, final, run.StartOptions{Replay: replay, Log: stderr})
		if err != nil {
			return nil, nil, nil, err
		}
		r.WStart = where
	}
	return r, start, final, nil
}

// updateOf is the update a checkpoint directory model_<N> holds, else the
// run's last.
func updateOf(dir string, last int) int {
	if n, ok := strings.CutPrefix(filepath.Base(filepath.Clean(dir)), "model_"); ok {
		if v, err := strconv.Atoi(n); err == nil {
			return v
		}
	}
	return last
}

// describeRun names the method of a run and counts its merges up to update.
func describeRun(o run.Options, update int) (method string, loraR, merges int) {
	if !o.LowRank() {
		return "full-rank", 0, 0
	}
	for s := 1; s <= update-o.WarmStartSteps; s++ {
		if relora.IsMergeStep(s, o.Relora) {
			merges++
		}
	}
	switch {
	case o.LoraOnly:
		method = fmt.Sprintf("low-rank from scratch (r %d)", o.LoraR)
	case o.Relora > 0:
		method = fmt.Sprintf("ReLoRA (r %d, %d merges)", o.LoraR, merges)
		if merges == 1 {
			method = fmt.Sprintf("ReLoRA (r %d, 1 merge)", o.LoraR)
		}
	default:
		method = fmt.Sprintf("LoRA (r %d, no restarts)", o.LoraR)
	}
	if o.WarmStartSteps > 0 {
		method += fmt.Sprintf(" after a %d-update warm start", o.WarmStartSteps)
	}
	return method, o.LoraR, merges
}

func uniqueRunNames(rs []*analyzedRun) {
	count := map[string]int{}
	for _, r := range rs {
		count[r.Name]++
	}
	for i, r := range rs {
		if count[r.Name] > 1 {
			r.Name = fmt.Sprintf("%s (%d)", r.Name, i+1)
		}
	}
}

// add summarises the spectra into the run.
func (r *analyzedRun) add(spectra []run.UpdateSpectrum, tau float64) {
	r.byKind = map[string][]*analyzedMatrix{}
	r.Spectra = make([]analyzedMatrix, len(spectra))
	for i, u := range spectra {
		s := run.Summarize(u.Sigma, r.R, tau)
		m := &r.Spectra[i]
		*m = analyzedMatrix{Name: u.Name, Layer: u.Layer, Kind: u.Kind, Shape: [2]int{u.Rows, u.Cols},
			RankAbove: s.RankAbove, StableRank: s.StableRank, Norm: u.Norm, StartNorm: u.StartNorm,
			RoundoffBound: 0x1p-24 * u.Final, Sigma: u.Sigma, summary: s}
		if !math.IsNaN(s.EnergyTopR) {
			m.EnergyTopR = &s.EnergyTopR
		}
		if !math.IsNaN(s.NextToTop) {
			m.NextToTop = &s.NextToTop
		}
		r.byKind[u.Kind] = append(r.byKind[u.Kind], m)
	}
}

// writeSpectraTable prints, per run and matrix kind, the rank above the
// threshold layer by layer, the stable rank and the top-r energy (range
// over the layers) and the largest σ_{r+1}/σ₁.
func writeSpectraTable(w io.Writer, rep *analyzeReport) {
	for _, r := range rep.Runs {
		fmt.Fprintf(w, "%s: %s\n  W_start: %s\n  W_final: %s\n", r.Name, r.Method, r.WStart, r.WFinal)
		rh, eh := "σ_{r+1}/σ₁", "top-r energy" // no r: both "-"
		if r.R > 0 {
			rh, eh = fmt.Sprintf("σ_%d/σ₁", r.R+1), fmt.Sprintf("top-%d energy", r.R)
		}
		row := func(cells ...string) { // padded by runes, not bytes
			line := " "
			for i, c := range cells {
				line += " " + c
				if i < len(cells)-1 {
					line += strings.Repeat(" ", max(0, []int{10, 10, 28, 15, 13}[i]-utf8.RuneCountInString(c)))
				}
			}
			fmt.Fprintln(w, line)
		}
		row("matrix", "shape", fmt.Sprintf("σ > %g·σ₁, by layer", rep.Threshold), "stable rank", eh, rh)
		for _, kind := range run.ProjectionKinds() {
			ms := r.byKind[kind]
			if len(ms) == 0 {
				continue
			}
			var ranks []string
			var sr, en, nx []float64
			for _, m := range ms {
				ranks = append(ranks, strconv.Itoa(m.RankAbove))
				sr = append(sr, m.StableRank)
				en = append(en, m.summary.EnergyTopR)
				nx = append(nx, m.summary.NextToTop)
			}
			shape := fmt.Sprintf("%d×%d", ms[0].Shape[0], ms[0].Shape[1])
			row(kind, shape, strings.Join(ranks, " "), span(sr, "%.1f"), span(en, "%.3f"), maxOf(nx))
		}
	}
}

// span writes the range of v ("lo-hi", or one value).
func span(v []float64, f string) string {
	if len(v) == 0 || math.IsNaN(v[0]) {
		return "-"
	}
	lo, hi := slices.Min(v), slices.Max(v)
	a, b := fmt.Sprintf(f, lo), fmt.Sprintf(f, hi)
	if a == b {
		return a
	}
	return a + "-" + b
}

func maxOf(v []float64) string {
	if len(v) == 0 || math.IsNaN(v[0]) {
		return "-"
	}
	return fmt.Sprintf("%.2g", slices.Max(v))
}
