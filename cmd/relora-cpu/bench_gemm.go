package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/engine/gemm"
	"github.com/relora-go/relora-go/engine/gemm/gemmbench"
	"github.com/relora-go/relora-go/engine/sched"
)

// benchGEMM implements "relora-cpu bench gemm": GFLOP/s of gemm.Sgemm per
// shape, layout, thread count and kernel, the median of several timed
// repetitions (each long enough to fill --seconds) after a warm-up call.
// Shapes are MxKxN with C M×N and K the reduction; NT reads B stored N×K,
// TN reads A stored K×M (the convention of cblas_sgemm benchmarks on
// row-major data, so that figures compare with OpenBLAS's directly).
func benchGEMM(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench gemm", flag.ContinueOnError)
	var shapes, layouts, threadList listFlag
	fs.Var(&shapes, "shape", "`MxKxN` to measure (repeatable; default: square shapes and the forward and weight-gradient shapes of the 60M model's training step)")
	fs.Var(&layouts, "layout", "`NN|NT|TN|TT` (repeatable; default NN, NT, TN)")
	fs.Var(&threadList, "threads", "worker `N` (repeatable; default 1 and 2)")
	kernel := fs.String("kernel", engine.SelectedKernel().Name, "micro-kernel `name` (available: "+strings.Join(kernelNames(), ", ")+")")
	jsonOut := fs.Bool("json", false, "print one JSON object per line instead of a table")
	reps := fs.Int("reps", 5, "timed repetitions per case (the median is reported)")
	secs := fs.Float64("seconds", 0.3, "minimum duration of one repetition, in seconds")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	kern, err := engine.KernelByName(*kernel)
	if err != nil {
		return err
	}
	if *reps < 1 {
		return fmt.Errorf("--reps must be at least 1")
	}
	for _, l := range layouts {
		if l != "NN" && l != "NT" && l != "TN" && l != "TT" {
			return fmt.Errorf("--layout %q: want NN, NT, TN or TT", l)
		}
	}
	cases, err := benchCases(shapes, layouts)
	if err != nil {
		return err
	}
	threads, err := benchThreads(threadList)
	if err != nil {
		return err
	}
	return runBenchGEMM(stdout, kern, cases, threads, *reps, *secs, *jsonOut)
}

// runBenchGEMM measures every case at every thread count and prints a
// table, or one JSON object per line.
func runBenchGEMM(stdout io.Writer, kern engine.Kernel, cases []gemmbench.Shape, threads []int, reps int, secs float64, jsonOut bool) error {
	const row = "%-6s %6v %6v %6v %7v %-12s %8v %8v %8v\n"
	if !jsonOut {
		fmt.Fprintf(stdout, row, "layout", "M", "K", "N", "threads", "kernel", "GFLOP/s", "min", "max")
	}
	enc := json.NewEncoder(stdout)
	for _, th := range threads {
		var pool *sched.Pool
		if th > 1 {
			pool = sched.New(th)
		}
		for _, c := range cases {
			med, lo, hi := measureGEMM(kern, pool, c, reps, secs)
			if jsonOut {
				if err := enc.Encode(benchRecord{
					M: c.M, K: c.K, N: c.N, Layout: c.Layout, Threads: th,
					Kernel: kern.Name, GFLOPS: round1(med),
				}); err != nil {
					pool.Close()
					return err
				}
				continue
			}
			fmt.Fprintf(stdout, row, c.Layout, c.M, c.K, c.N, th, kern.Name,
				fmt.Sprintf("%.1f", med), fmt.Sprintf("%.1f", lo), fmt.Sprintf("%.1f", hi))
		}
		pool.Close()
	}
	return nil
}

// benchCases is --shape × --layout, or the default list for --layout.
func benchCases(shapes, layouts listFlag) ([]gemmbench.Shape, error) {
	if len(shapes) == 0 {
		return gemmbench.Shapes(layouts), nil
	}
	if len(layouts) == 0 {
		layouts = listFlag{"NN", "NT", "TN"}
	}
	var cases []gemmbench.Shape
	for _, s := range shapes {
		dims, err := parseShape(s)
		if err != nil {
			return nil, err
		}
		for _, l := range layouts {
			cases = append(cases, gemmbench.Shape{Layout: l, M: dims[0], K: dims[1], N: dims[2]})
		}
	}
	return cases, nil
}

// benchThreads is --threads (default 1 and 2).
func benchThreads(list listFlag) ([]int, error) {
	if len(list) == 0 {
		return []int{1, 2}, nil
	}
	var threads []int
	for _, t := range list {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--threads %q: want a positive integer", t)
		}
		threads = append(threads, n)
	}
	return threads, nil
}

// benchRecord is one line of --json output.
type benchRecord struct {
	M       int     `json:"m"`
	K       int     `json:"k"`
	N       int     `json:"n"`
	Layout  string  `json:"layout"`
	Threads int     `json:"threads"`
	Kernel  string  `json:"kernel"`
	GFLOPS  float64 `json:"gflops"`
}

func kernelNames() []string {
	var names []string
	for _, k := range engine.AvailableKernels() {
		names = append(names, k.Name)
	}
	return names
}

func parseShape(s string) ([3]int, error) {
	var d [3]int
	parts := strings.Split(strings.ToLower(s), "x")
	if len(parts) != 3 {
		return d, fmt.Errorf("--shape %q: want MxKxN", s)
	}
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 1 {
			return d, fmt.Errorf("--shape %q: want three positive integers MxKxN", s)
		}
		d[i] = v
	}
	return d, nil
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

// measureGEMM returns the median, min and max GFLOP/s over reps
// repetitions, each running the call enough times to last secs.
func measureGEMM(kern engine.Kernel, pool *sched.Pool, s gemmbench.Shape, reps int, secs float64) (med, lo, hi float64) {
	ta, tb := s.Trans()
	rng := rand.New(rand.NewSource(12345))
	a := make([]float32, s.M*s.K)
	b := make([]float32, s.K*s.N)
	c := make([]float32, s.M*s.N)
	for _, x := range [][]float32{a, b, c} {
		for i := range x {
			x[i] = rng.Float32() - 0.5
		}
	}
	lda, ldb := s.K, s.N
	if ta {
		lda = s.M
	}
	if tb {
		ldb = s.K
	}
	call := func() {
		gemm.SgemmKernel(kern, pool, ta, tb, s.M, s.N, s.K, 1, a, lda, b, ldb, 0, c, s.N)
	}
	call() // warm-up: sizes the workspace, faults the pages in
	t0 := time.Now()
	call()
	iters := max(1, int(secs/max(time.Since(t0).Seconds(), 1e-6)))
	g := make([]float64, reps)
	for r := range g {
		t0 := time.Now()
		for i := 0; i < iters; i++ {
			call()
		}
		g[r] = s.Flops() * float64(iters) / time.Since(t0).Seconds() / 1e9
	}
	slices.Sort(g)
	return g[reps/2], g[0], g[reps-1]
}
