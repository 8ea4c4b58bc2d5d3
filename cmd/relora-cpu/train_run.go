package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/relora-go/relora-go/data/tokenizer"
	"github.com/relora-go/relora-go/engine/atomicfile"
	"github.com/relora-go/relora-go/engine/comm"
	"github.com/relora-go/relora-go/engine/prof"
	"github.com/relora-go/relora-go/relora/run"
)

// tokenCount is a number of tokens with an optional K, M or B suffix
// (1e3, 1e6, 1e9), as the reference's --max_train_tokens takes it: 100M,
// 1.5B, 20000.
type tokenCount int64

func (c *tokenCount) String() string {
	if *c == 0 {
		return ""
	}
	return run.Count(int64(*c))
}

func (c *tokenCount) Set(s string) error {
	v, err := parseCount(s)
	if err != nil {
		return err
	}
	*c = tokenCount(v)
	return nil
}

// parseCount reads "20000", "100M", "1.5B", "2e9", "64K" (any case).
func parseCount(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mul := 1.0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k', 'K':
			mul, t = 1e3, t[:n-1]
		case 'm', 'M':
			mul, t = 1e6, t[:n-1]
		case 'b', 'B', 'g', 'G':
			mul, t = 1e9, t[:n-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || !(f > 0) || f*mul > math.MaxInt64/2 {
		return 0, fmt.Errorf("want a positive number of tokens such as 20000, 100M or 1.5B, got %q", s)
	}
	return int64(math.Round(f * mul)), nil
}

// trainExtras are train's flags that are not run options: they are turned
// into options before validation.
type trainExtras struct {
	maxTokens tokenCount
}

func addTrainExtras(fs *flag.FlagSet) *trainExtras {
	e := &trainExtras{}
	fs.Var(&e.maxTokens, "max_train_tokens", "train on `N` tokens: sets --num_training_steps to tokens / (total_batch_size × max_length), rounded down (K, M, B suffixes: 100M, 1B); the reference's flag, which divides by sequences instead")
	return e
}

// applyExtras derives options from the others: --num_training_steps from
// --max_train_tokens, and --cycle_length from --relora when only --relora
// is given (the period of the merges is then also that of the optimizer
// resets and learning-rate restarts, as in all of the paper's runs).
func applyExtras(fs *flag.FlagSet, o *run.Options, e *trainExtras, stderr io.Writer) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if e.maxTokens > 0 {
		perUpdate := int64(o.BatchSize) * int64(o.Accumulation()) * int64(o.MaxLength)
		if o.BatchSize <= 0 || o.MaxLength <= 0 || o.TotalBatchSize < 0 {
			return nil // Validate says what is wrong
		}
		steps := int64(e.maxTokens) / perUpdate
		if steps < 1 {
			return fmt.Errorf("--max_train_tokens %s is less than one update of %d tokens (--total_batch_size × --max_length)", e.maxTokens.String(), perUpdate)
		}
		if steps > math.MaxInt32 {
			return fmt.Errorf("--max_train_tokens %s is %d updates of %d tokens, more than a run can count", e.maxTokens.String(), steps, perUpdate)
		}
		if set["num_training_steps"] && int64(o.Steps) != steps {
			fmt.Fprintf(stderr, "note: --max_train_tokens %s replaces --num_training_steps %d with %d\n", e.maxTokens.String(), o.Steps, steps)
		}
		o.Steps = int(steps)
	}
	if o.Relora > 0 && o.CycleLength == 0 && !set["cycle_length"] {
		o.CycleLength = o.Relora
	}
	return nil
}

// interrupted is closed by the first SIGINT or SIGTERM during training;
// sig names it. A second signal stops the process at once (the default
// action: checkpoints are written atomically, so nothing is damaged).
type interrupted struct {
	c   chan struct{}
	sig os.Signal
}

func catchSignals() (*interrupted, func()) {
	in := &interrupted{c: make(chan struct{})}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			in.sig = s
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			close(in.c)
		case <-done:
		}
	}()
	return in, func() { signal.Stop(ch); close(done) }
}

// resumeCommand is the command line that continues an interrupted run:
// the same flags with --save_dir (if it was chosen by default) and
// --autoresume.
func resumeCommand(args []string, saveDir string) string {
	has := func(name string) bool {
		for _, a := range args {
			n := strings.TrimLeft(a, "-")
			if strings.HasPrefix(a, "-") && (n == name || strings.HasPrefix(n, name+"=")) {
				return true
			}
		}
		return false
	}
	out := append([]string{"relora-cpu", "train"}, args...)
	if !has("save_dir") {
		out = append(out, "--save_dir", saveDir)
	}
	if !has("autoresume") {
		out = append(out, "--autoresume")
	}
	for i, a := range out {
		out[i] = shellQuote(a)
	}
	return strings.Join(out, " ")
}

// shellQuote quotes a word for sh when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// lastUpdate is the highest update_step of a metrics.jsonl (0 if none).
func lastUpdate(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	last := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Step int `json:"update_step"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil {
			last = max(last, rec.Step)
		}
	}
	return last
}

// missingDirs lists dir and those of its parents that do not exist,
// innermost first: what creating dir would create.
func missingDirs(dir string) []string {
	var out []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			return out
		}
		out = append(out, d)
		if filepath.Dir(d) == d {
			return out
		}
	}
}

// runComplete reports whether the run in o.SaveDir already did all of
// o.Steps and saved final/.
func runComplete(o run.Options) bool {
	if _, err := os.Stat(filepath.Join(o.SaveDir, "final", "config.json")); err != nil {
		return false
	}
	return lastUpdate(filepath.Join(o.SaveDir, "metrics.jsonl")) == o.Steps
}

// tokenizerName says which tokenizer a run's data was encoded with.
func tokenizerName(o run.Options, c *run.Corpus) string {
	if _, ok := c.Tokenizer.(tokenizer.ByteTokenizer); ok {
		return "bytes (byte-level, 256 tokens; relora-cpu prepare --train_tokenizer N or --tokenizer FILE gives a BPE)"
	}
	name := o.Tokenizer
	switch {
	case name == tokenizer.Embedded || name == "" && o.Data == "" && o.InitFrom == "":
		name = "the embedded Brown BPE"
	case name == "" && o.InitFrom != "":
		name = tokenizer.NextTo(o.InitFrom)
	case name == "":
		name = filepath.Join(o.Data, tokenizer.FileName)
	}
	return fmt.Sprintf("%s (%d tokens)", name, c.Vocab)
}

// runTrain is train after its flags parsed: checks, the run directory's
// lock, the data, the trainer, and the run itself with SIGINT/SIGTERM
// ending it at a checkpoint.
func runTrain(fs *flag.FlagSet, o run.Options, extras *trainExtras, args []string, cpuprofile, kprof string, stdout, stderr io.Writer) (err error) {
	if err := applyExtras(fs, &o, extras, stderr); err != nil {
		return err
	}
	if cpuprofile != "" {
		stop, err := startCPUProfile(cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if err := o.Validate(); err != nil {
		return err
	}
	// the ranks of `mpirun -np N relora-cpu train` (a binary built without
	// -tags mpi refuses several ranks here); alone: Single
	c, err := comm.Open()
	if err != nil {
		return err
	}
	lead := c.Rank() == 0
	if c.Size() > 1 {
		// every rank checks its options, data and state against the
		// others' in NewTrainerComm and Run; rank 0 alone prints and
		// writes. An error on one rank ends the job on every rank (Fail:
		// MPI_Abort), never a rank waiting for one that left.
		if !lead {
			stdout = io.Discard
		}
		defer func() {
			var st *run.Stopped
			var ex *exitError
			if err != nil && !errors.As(err, &st) && !errors.As(err, &ex) {
				comm.Fail(c, err)
			}
			if cerr := c.Close(); err == nil {
				err = cerr
			}
		}()
		if o.SaveDir == "" {
			return fmt.Errorf("--save_dir is needed with %d ranks (every rank must be given the same one)", c.Size())
		}
		fmt.Fprintf(stdout, "data-parallel: %d ranks (%s)\n", c.Size(), c)
	}
	return trainInRunDir(o, c, args, kprof, stdout, stderr)
}

// trainInRunDir is train on this rank of c once the options are valid: the
// run directory (locked by rank 0, removed again if the start is refused),
// the data, the trainer, args.json and the run.
func trainInRunDir(o run.Options, c comm.Comm, args []string, kprof string, stdout, stderr io.Writer) (err error) {
	lead := c.Rank() == 0
	if lead {
		for _, w := range o.Warnings() {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
	}
	if o.Autoresume && o.ResumeFrom == "" && o.SaveDir == "" {
		return fmt.Errorf("--autoresume needs --save_dir: the directory whose newest checkpoint to continue")
	}
	if o.SaveDir == "" {
		o.SaveDir = filepath.Join("runs", time.Now().Format("20060102-150405"))
	}
	created := missingDirs(o.SaveDir)
	unlock := func() {}
	if lead { // rank 0 alone writes the run directory
		if unlock, err = lockRunDir(o.SaveDir, stderr); err != nil {
			return err
		}
	}
	started := false
	defer func() {
		unlock()
		if !started { // a refused start leaves no directory behind
			for _, d := range created { // innermost first; only if empty
				os.Remove(d)
			}
		}
	}()
	if o.Autoresume && o.ResumeFrom == "" && runComplete(o) {
		fmt.Fprintf(stdout, "the run in %s is complete: %d of %d updates, final model in %s; nothing to do (train longer with a new run: --init_from %s)\n",
			o.SaveDir, o.Steps, o.Steps, filepath.Join(o.SaveDir, "final"), filepath.Join(o.SaveDir, "final"))
		return nil
	}
	if _, err := os.Stat(filepath.Join(o.SaveDir, "metrics.jsonl")); err == nil && !o.Autoresume && o.ResumeFrom == "" {
		return fmt.Errorf("--save_dir %s already holds a run (metrics.jsonl): continue it with --autoresume, or choose a new directory", o.SaveDir)
	}
	corpus, err := run.LoadCorpus(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "data %s: %s tokens; validation %s: %s tokens; tokenizer %s\n",
		corpus.TrainSource, run.Count(int64(len(corpus.Train))), corpus.ValSource, run.Count(int64(len(corpus.Val))), tokenizerName(o, corpus))
	t, err := run.NewTrainerComm(o, corpus, stdout, c)
	if err != nil {
		return err
	}
	defer t.Close()
	if lead {
		if err := atomicfile.WriteFile(filepath.Join(o.SaveDir, "args.json"), o.ArgsJSON()); err != nil {
			return err
		}
	}
	started = true
	return trainRun(t, o, args, kprof, stdout)
}

// trainRun runs the trainer with SIGINT/SIGTERM stopping it at a
// checkpoint (the exit code and the command that continues), and the
// kernel profile when --kernel_profile asks for one.
func trainRun(t *run.Trainer, o run.Options, args []string, kprof string, stdout io.Writer) error {
	var kp *prof.Kernels
	if kprof != "" {
		kp = prof.New()
		t.Profiler = kp
	}
	sig, stopSignals := catchSignals()
	t.Stop = sig.c
	err := t.Run()
	stopSignals()
	var st *run.Stopped
	if errors.As(err, &st) {
		code := 130 // 128 + SIGINT, as shells report it
		name := "SIGINT"
		if sig.sig == syscall.SIGTERM {
			code, name = 143, "SIGTERM"
		}
		return &exitError{code: code, err: fmt.Errorf("%s: stopped after update %d of %d with checkpoint %s; continue with:\n  %s",
			name, st.Update, o.Steps, st.Checkpoint, resumeCommand(args, o.SaveDir))}
	}
	if err != nil {
		return err
	}
	if kp != nil {
		fmt.Fprintln(stdout, "kernel profile (training steps):")
		kp.WriteTable(stdout, 12)
		return writeKernelProfile(kp, kprof)
	}
	return nil
}
