package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/engine/prof"
	"github.com/relora-go/relora-go/model"
	"github.com/relora-go/relora-go/relora/run"
)

// benchStepFlags are bench step's settings beyond the run's options.
type benchStepFlags struct {
	layers, vocab, steps int
	kprof                string
	asJSON               bool
}

// benchStep times training steps of a model on random tokens: tokens/s,
// achieved GFLOP/s and peak RSS, full-rank or ReLoRA-wrapped. Run one
// configuration per process so that peak RSS belongs to it alone.
func benchStep(args []string, stdout io.Writer) error {
	o := run.DefaultOptions()
	o.ModelConfig, o.BatchSize, o.TotalBatchSize, o.MaxLength, o.LR = "llama_60m", 4, 4, 256, 1e-3
	o.LoraR, o.LoraDropout = 0, 0
	var bf benchStepFlags
	fs := flag.NewFlagSet("bench step", flag.ContinueOnError)
	fs.StringVar(&o.ModelConfig, "model_config", o.ModelConfig, "model: a built-in name or a JSON config")
	fs.IntVar(&bf.layers, "layers", 0, "override num_hidden_layers (0: the config's)")
	fs.IntVar(&bf.vocab, "vocab", 32000, "vocabulary size")
	fs.IntVar(&o.BatchSize, "batch_size", o.BatchSize, "sequences per step")
	fs.IntVar(&o.MaxLength, "max_length", o.MaxLength, "sequence length")
	fs.IntVar(&o.Threads, "threads", 0, "worker threads (0: all cores)")
	deviceFlag(fs, &o.Device, &o.DType)
	fs.IntVar(&o.LoraR, "lora_r", o.LoraR, "0: full-rank; >0: ReLoRA-wrapped with this rank")
	fs.Float64Var(&o.LoraDropout, "lora_dropout", o.LoraDropout, "dropout on the low-rank branch (0 lets the layer run through W0+s·B·A)")
	fs.IntVar(&bf.steps, "steps", 5, "timed steps (after one warm-up step)")
	fs.StringVar(&bf.kprof, "kernel_profile", "", "write a pprof kernel profile of the timed steps to `file`")
	fs.BoolVar(&bf.asJSON, "json", false, "print one JSON object instead of a table")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	return runBenchStep(o, bf, stdout)
}

// runBenchStep is bench step after its flags parsed.
func runBenchStep(o run.Options, bf benchStepFlags, stdout io.Writer) error {
	cfg, err := model.LoadConfig(o.ModelConfig)
	if err != nil {
		return err
	}
	if bf.layers > 0 {
		cfg.Layers = bf.layers
	}
	cfg.Vocab = bf.vocab
	o.UsePeft = o.LoraR > 0
	o.Steps, o.WarmupSteps, o.TotalBatchSize = 1000, 0, o.BatchSize
	rng := rand.New(rand.NewPCG(1, 2))
	tokens := make([]int32, (o.BatchSize*(o.MaxLength+1))*(bf.steps+2))
	for i := range tokens {
		tokens[i] = int32(rng.IntN(cfg.Vocab))
	}
	corpus := &run.Corpus{Train: tokens, Val: tokens[:o.MaxLength+1], Vocab: cfg.Vocab,
		TrainSource: "random tokens", ValSource: "random tokens"}
	t, err := run.NewTrainerConfig(o, cfg, corpus, io.Discard)
	if err != nil {
		return err
	}
	defer t.Close()
	kp := prof.New()
	med, flops, err := timeSteps(t, bf.steps, kp, bf.kprof != "")
	if err != nil {
		return err
	}
	res := benchStepResult(t, o, cfg, med, flops)
	printBenchStep(stdout, res, o, t, med, bf.asJSON)
	if bf.kprof != "" {
		if !bf.asJSON {
			kp.WriteTable(stdout, 15)
		}
		return writeKernelProfile(kp, bf.kprof)
	}
	return nil
}

// timeSteps runs a warm-up step, which counts the FLOPs of a step
// (first-use buffers), then n timed steps without a profiler unless
// profile asks for kp (on a device the profiler waits for every op); it
// returns the median step time and the FLOPs of one step.
func timeSteps(t *run.Trainer, n int, kp *prof.Kernels, profile bool) (time.Duration, int64, error) {
	count := prof.New()
	t.Profiler = count
	if _, err := t.Step(); err != nil {
		return 0, 0, err
	}
	var flops int64
	for _, r := range count.ByKernel() {
		flops += r.Flops
	}
	t.Profiler = nil
	if profile {
		t.Profiler = kp
	}
	times := make([]time.Duration, n)
	for i := range times {
		start := time.Now()
		if _, err := t.Step(); err != nil {
			return 0, 0, err
		}
		times[i] = time.Since(start)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times[len(times)/2], flops, nil
}

// benchStepResult is bench step's JSON object.
func benchStepResult(t *run.Trainer, o run.Options, cfg model.Config, med time.Duration, flops int64) map[string]any {
	flopsPerStep := float64(flops)
	res := map[string]any{
		"model": fmt.Sprintf("d%d_l%d_ffn%d_v%d", cfg.Hidden, cfg.Layers, cfg.Intermediate, cfg.Vocab),
		"mode":  map[bool]string{false: "full-rank", true: "relora r" + strconv.Itoa(o.LoraR)}[o.UsePeft],
		"batch": o.BatchSize, "seq": o.MaxLength, "threads": t.Pool.Threads(),
		"step_s":       med.Seconds(),
		"tokens_per_s": float64(o.BatchSize*o.MaxLength) / med.Seconds(),
		"gflop_step":   flopsPerStep / 1e9,
		"gflops":       flopsPerStep / med.Seconds() / 1e9,
		"peak_rss_mb":  peakRSSMB(),
		"device":       "cpu",
		"dtype":        "float32",
	}
	if o.DType != "" {
		res["dtype"] = o.DType
	}
	if t.Device != nil {
		res["device"] = t.Device.Name()
		if m, ok := t.Device.(engine.DeviceMemory); ok {
			_, peak, _ := m.MemStats()
			res["peak_device_mb"] = float64(peak) / (1 << 20)
		}
	}
	return res
}

// printBenchStep prints the result as one JSON object or one line.
func printBenchStep(stdout io.Writer, res map[string]any, o run.Options, t *run.Trainer, med time.Duration, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
		return
	}
	where := fmt.Sprintf("%d threads", t.Pool.Threads())
	if t.Device != nil {
		where = fmt.Sprintf("%s, %s, peak device memory %.0f MB", t.Device.Name(), res["dtype"], res["peak_device_mb"])
	}
	fmt.Fprintf(stdout, "%s %s, batch %d × %d, %s: median step %.3f s, %.0f tokens/s, %.1f GFLOP/step, %.1f GFLOP/s, peak RSS %.0f MB\n",
		res["model"], res["mode"], o.BatchSize, o.MaxLength, where, med.Seconds(), res["tokens_per_s"],
		res["gflop_step"], res["gflops"], res["peak_rss_mb"])
}

// peakRSSMB is the process's peak resident set (VmHWM), or 0 where
// /proc is not available.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
