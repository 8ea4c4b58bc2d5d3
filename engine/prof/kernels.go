package prof

import (
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/pprof/profile"
	"github.com/relora-go/relora-go/engine"
)

type stat struct {
	calls, ns, flops int64
}

// Kernels aggregates kernel timings by stack. It implements
// engine.Profiler; after the first step it allocates nothing.
type Kernels struct {
	mu    sync.Mutex
	stats map[engine.Frame]*stat
	start time.Time
}

// New returns an empty profile.
func New() *Kernels { return &Kernels{stats: map[engine.Frame]*stat{}, start: time.Now()} }

// Record adds one kernel run.
func (k *Kernels) Record(f engine.Frame, d time.Duration, flops int64) {
	k.mu.Lock()
	s := k.stats[f]
	if s == nil {
		s = &stat{}
		k.stats[f] = s
	}
	s.calls++
	s.ns += int64(d)
	s.flops += flops
	k.mu.Unlock()
}

// Row is one kernel's totals, summed over the stacks it appears in when
// the profile is read by kernel.
type Row struct {
	Kernel, Op string
	Calls      int64
	Time       time.Duration
	Flops      int64
}

// GFLOPS is the kernel's rate.
func (r Row) GFLOPS() float64 {
	if r.Time <= 0 {
		return 0
	}
	return float64(r.Flops) / r.Time.Seconds() / 1e9
}

// ByKernel sums the profile per (kernel, op), largest time first.
func (k *Kernels) ByKernel() []Row {
	k.mu.Lock()
	defer k.mu.Unlock()
	sum := map[[2]string]*Row{}
	for f, s := range k.stats {
		key := [2]string{f.Kernel, f.Op}
		r := sum[key]
		if r == nil {
			r = &Row{Kernel: f.Kernel, Op: f.Op}
			sum[key] = r
		}
		r.Calls += s.calls
		r.Time += time.Duration(s.ns)
		r.Flops += s.flops
	}
	rows := make([]Row, 0, len(sum))
	for _, r := range sum {
		rows = append(rows, *r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Time > rows[j].Time })
	return rows
}

// WriteTable prints the top n kernels with their share of the total time.
func (k *Kernels) WriteTable(w io.Writer, n int) {
	rows := k.ByKernel()
	var total time.Duration
	for _, r := range rows {
		total += r.Time
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kernel\top\tcalls\ttime\tshare\tGFLOP/s\t")
	for i, r := range rows {
		if i == n {
			break
		}
		rate := "-" // a kernel that counts no floating-point work (copies, norms, ...)
		if r.Flops > 0 {
			rate = fmt.Sprintf("%.1f", r.GFLOPS())
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.1f%%\t%s\t\n", r.Kernel, r.Op, r.Calls, r.Time.Round(time.Millisecond),
			100*float64(r.Time)/float64(max(total, 1)), rate)
	}
	tw.Flush()
}

// WritePprof writes the profile in pprof's format (gzipped protobuf). Each
// sample's stack is kernel ← op ← layer ← phase; its values are calls,
// nanoseconds and FLOPs. Read it with `go tool pprof -top FILE` (add
// -sample_index=flops for work instead of time).
func (k *Kernels) WritePprof(w io.Writer) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := &profile.Profile{
		SampleType: []*profile.ValueType{
			{Type: "calls", Unit: "count"},
			{Type: "time", Unit: "nanoseconds"},
			{Type: "flops", Unit: "count"},
		},
		DefaultSampleType: "time",
		TimeNanos:         k.start.UnixNano(),
		DurationNanos:     int64(time.Since(k.start)),
		PeriodType:        &profile.ValueType{Type: "time", Unit: "nanoseconds"},
		Period:            1,
	}
	funcs := map[string]*profile.Function{}
	locs := map[string]*profile.Location{}
	loc := func(name string) *profile.Location {
		if l, ok := locs[name]; ok {
			return l
		}
		fn := funcs[name]
		if fn == nil {
			fn = &profile.Function{ID: uint64(len(p.Function) + 1), Name: name, SystemName: name}
			funcs[name] = fn
			p.Function = append(p.Function, fn)
		}
		l := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: fn}}}
		locs[name] = l
		p.Location = append(p.Location, l)
		return l
	}
	frames := make([]engine.Frame, 0, len(k.stats))
	for f := range k.stats {
		frames = append(frames, f)
	}
	sort.Slice(frames, func(i, j int) bool { return fmt.Sprint(frames[i]) < fmt.Sprint(frames[j]) })
	for _, f := range frames {
		s := k.stats[f]
		scope := f.Scope
		if scope == "" {
			scope = "(model)"
		}
		p.Sample = append(p.Sample, &profile.Sample{
			Location: []*profile.Location{
				loc("kernel " + f.Kernel), loc("op " + f.Op), loc("layer " + scope), loc("phase " + f.Phase.String()),
			},
			Value: []int64{s.calls, s.ns, s.flops},
		})
	}
	if err := p.CheckValid(); err != nil {
		return err
	}
	return p.Write(w)
}

// WritePprofFile writes the profile in pprof's format to the file path.
func (k *Kernels) WritePprofFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := k.WritePprof(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
