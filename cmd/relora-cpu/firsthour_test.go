package main

// Tests of issue 13 ("a user's first hour") through the command line.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relora-go/relora-go/relora/run"
)

// tinyTrain are the flags of a fast run on the embedded corpus's bytes.
var tinyTrain = []string{"train", "--tokenizer", "bytes", "--max_length", "16", "--batch_size", "2", "--warmup_steps", "2",
	"--eval_every", "0", "--eval_batches", "1", "--threads", "1", "--log_every", "50"}

func tinyArgs(dir string, extra ...string) []string {
	return append(append(append([]string(nil), tinyTrain...), "--save_dir", dir), extra...)
}

// Bugs 3 and 4 and SIGINT: a live run locks its directory (a second run is
// refused with the holder's pid); SIGINT ends it after an update with a
// checkpoint, exit status 130 and the command that continues it; that
// command finishes the run; --autoresume on the finished run says it is
// complete and trains nothing.
func TestLockInterruptResumeComplete(t *testing.T) {
	if _, err := os.Stat("/proc/self"); err != nil {
		t.Skip("needs a Unix process to signal")
	}
	dir := filepath.Join(t.TempDir(), "run")
	args := tinyArgs(dir, "--num_training_steps", "400")
	child := asMain(t, 0, args...)
	var out bytes.Buffer
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	// wait for its first updates
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		if b, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl")); bytes.Count(b, []byte("\n")) >= 3 {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the run did not start:\n%s", out.String())
		}
	}
	lock, _ := os.ReadFile(filepath.Join(dir, lockFile))
	if strings.TrimSpace(string(lock)) != strconv.Itoa(child.Process.Pid) {
		t.Errorf("run.lock holds %q, the run's pid is %d", lock, child.Process.Pid)
	}
	// bug 3: a second run on the same directory is refused, naming the pid
	oneLineError(t, tinyArgs(dir, "--num_training_steps", "400", "--autoresume"), fmt.Sprintf("in use by process %d", child.Process.Pid))
	oneLineError(t, tinyArgs(dir, "--num_training_steps", "400"), fmt.Sprintf("in use by process %d", child.Process.Pid))

	child.Process.Signal(syscall.SIGINT)
	err := <-done
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Fatalf("after SIGINT: %v (want exit status 130)\n%s", err, out.String())
	}
	m := regexp.MustCompile(`SIGINT: stopped after update (\d+) of 400 with checkpoint (\S+); continue with:\n  relora-cpu (train .*)\n`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no resume line in:\n%s", out.String())
	}
	stopped, _ := strconv.Atoi(m[1])
	if m[2] != run.CheckpointDir(dir, stopped) {
		t.Errorf("checkpoint %s, want %s", m[2], run.CheckpointDir(dir, stopped))
	}
	if _, err := os.Stat(filepath.Join(m[2], "training_state.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, lockFile)); err == nil {
		t.Error("the interrupted run left its lock")
	}
	if got := lastUpdate(filepath.Join(dir, "metrics.jsonl")); got != stopped {
		t.Errorf("metrics.jsonl ends at update %d, the run stopped after %d", got, stopped)
	}
	// the printed command continues the run (its words are plain: no quotes)
	resume := strings.Fields(m[3])
	if resume[len(resume)-1] != "--autoresume" {
		t.Errorf("resume command %q", m[3])
	}
	code, stdout, errs := runCLI(resume...)
	if code != 0 {
		t.Fatalf("resume: exit %d: %s", code, errs)
	}
	if !strings.Contains(stdout, fmt.Sprintf("resumed from %s at update %d", m[2], stopped)) || !strings.Contains(stdout, "update   400/400") {
		t.Errorf("resume output:\n%s", stdout)
	}
	// bug 4: --autoresume on a finished run
	before, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	code, stdout, errs = runCLI(resume...)
	if code != 0 || !strings.Contains(stdout, "is complete: 400 of 400 updates") || strings.Contains(stdout, "update ") {
		t.Errorf("autoresume of a complete run: exit %d, stdout %q, stderr %q", code, stdout, errs)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl")); !bytes.Equal(before, after) {
		t.Error("autoresume of a complete run changed metrics.jsonl")
	}
	// a lock left by a process that died is taken over
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no true(1)")
	}
	os.WriteFile(filepath.Join(dir, lockFile), []byte(strconv.Itoa(dead.Process.Pid)+"\n"), 0o644)
	code, _, errs = runCLI(tinyArgs(filepath.Join(dir), "--num_training_steps", "400", "--autoresume")...)
	if code != 0 || !strings.Contains(errs, fmt.Sprintf("left by process %d, which has ended", dead.Process.Pid)) {
		t.Errorf("a stale lock: exit %d, stderr %q", code, errs)
	}
}

// The reference's habits: boolean flags with a separate value, token
// budgets with suffixes, --cycle_length from --relora, warnings instead of
// errors, args.json under flag names.
func TestReferenceHabits(t *testing.T) {
	tmp := t.TempDir()
	// --flag False, false, 0 and True as separate words
	for _, v := range []string{"False", "false", "0", "FALSE"} {
		dir := filepath.Join(tmp, "bool-"+v)
		code, _, errs := runCLI(tinyArgs(dir, "--num_training_steps", "10", "--relora", "5", "--scheduler", "cosine_restarts",
			"--restart_warmup_steps", "1", "--lora_r", "4", "--reset_optimizer_on_relora", v, "--optimizer_magnitude_pruning", "0.9")...)
		if code != 0 {
			t.Fatalf("--reset_optimizer_on_relora %s: %s", v, errs)
		}
		var args map[string]any
		b, err := os.ReadFile(filepath.Join(dir, "args.json"))
		if err != nil || json.Unmarshal(b, &args) != nil {
			t.Fatalf("args.json: %v %s", err, b)
		}
		// --cycle_length came from --relora
		if args["reset_optimizer_on_relora"] != false || args["cycle_length"] != 5.0 || args["relora"] != 5.0 || args["optimizer_magnitude_pruning"] != 0.9 {
			t.Errorf("--reset_optimizer_on_relora %s: args.json %s", v, b)
		}
	}
	if code, _, errs := runCLI(tinyArgs(filepath.Join(tmp, "peft"), "--num_training_steps", "3", "--use_peft", "True", "--lora_r", "4")...); code != 0 {
		t.Fatalf("--use_peft True: %s", errs)
	}
	// --max_train_tokens 1.6K: 1600 / (2 × 16) = 50 updates
	dir := filepath.Join(tmp, "tokens")
	code, stdout, errs := runCLI(tinyArgs(dir, "--max_train_tokens", "1.6K")...)
	if code != 0 || !strings.Contains(stdout, "training 50 updates") {
		t.Fatalf("--max_train_tokens: exit %d %s\n%s", code, errs, stdout)
	}
	for s, want := range map[string]int64{"100M": 100_000_000, "1B": 1_000_000_000, "2.5k": 2500, "20000": 20000, "1e6": 1_000_000} {
		if v, err := parseCount(s); err != nil || v != want {
			t.Errorf("parseCount(%q) = %d, %v", s, v, err)
		}
	}
	oneLineError(t, tinyArgs(filepath.Join(tmp, "few"), "--max_train_tokens", "10"), "less than one update of 32 tokens")
	oneLineError(t, tinyArgs(filepath.Join(tmp, "bad"), "--max_train_tokens", "lots"), "want a positive number of tokens")
	// a warmup longer than the run is a warning, and the run trains
	code, _, errs = runCLI(tinyArgs(filepath.Join(tmp, "warm"), "--num_training_steps", "5", "--warmup_steps", "10")...)
	if code != 0 || !strings.Contains(errs, "warning: --warmup_steps 10 is not shorter than the run's 5 updates") {
		t.Errorf("warmup > run: exit %d, stderr %q", code, errs)
	}
	code, _, errs = runCLI(tinyArgs(filepath.Join(tmp, "warmstart"), "--num_training_steps", "20", "--warmup_steps", "8",
		"--warm_start_steps", "5", "--use_peft", "--lora_r", "4")...)
	if code != 0 || !strings.Contains(errs, "the warm start is all warmup") {
		t.Errorf("warm start all warmup: exit %d, stderr %q", code, errs)
	}
	// the hint of an unexpected argument no longer says to write what was written
	oneLineError(t, []string{"train", "--lr", "1e-3", "stray"}, `unexpected argument "stray": relora-cpu train takes only flags`)
}

// What a user sees: progress with tokens, MFU and ETA, the last update
// always, the end with the final validation loss and the paths, events as
// key=value, a wall clock in metrics.jsonl.
func TestProgressAndSummary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	code, out, errs := runCLI(tinyArgs(dir, "--num_training_steps", "23", "--log_every", "10", "--relora", "10",
		"--scheduler", "cosine_restarts", "--restart_warmup_steps", "1", "--lora_r", "4", "--warm_start_steps", "3")...)
	if code != 0 {
		t.Fatal(errs)
	}
	line := regexp.MustCompile(`(?m)^update +(\d+)/23  loss \S+  lr \S+  grad_norm \S+  tokens (\S+) +\d+ tok/s  MFU +[\d.]+%  \S+  ETA (\S+)$`)
	var logged []string
	for _, m := range line.FindAllStringSubmatch(out, -1) {
		logged = append(logged, m[1])
		if m[1] == "23" && (m[2] != "736" || m[3] != "0s") {
			t.Errorf("last line: tokens %s, ETA %s", m[2], m[3])
		}
	}
	if strings.Join(logged, ",") != "1,10,20,23" {
		t.Errorf("progress lines for updates %v, want 1,10,20,23 (the last always):\n%s", logged, out)
	}
	for _, want := range []string{
		"data embedded Brown train excerpt: 1.42M tokens; validation embedded Brown val: 300K tokens; tokenizer bytes",
		"MFU: the engine's FLOPs per second over an FMA peak of",
		"event      3  warm_start_end trainable_params=",
		"event     14  merge merges=1",
		"optimizer_reset fraction_zeroed=0.999",
		"final val_loss ",
		"  metrics:   " + filepath.Join(dir, "metrics.jsonl"),
		"  model:     " + filepath.Join(dir, "final"),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "map[") {
		t.Errorf("Go map syntax in the output:\n%s", out)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec map[string]any
		json.Unmarshal([]byte(l), &rec)
		ts, _ := rec["time"].(string)
		if when, err := time.Parse(time.RFC3339Nano, ts); err != nil || time.Since(when) > time.Hour || time.Since(when) < 0 {
			t.Errorf("metrics line without a wall clock: %s", l)
			break
		}
	}
}

// Help and consistency: --version, bench --help, a synopsis and an example
// per command, train's flags by subject, schedule's own flags only, no
// GFLOP/s for kernels without FLOPs, eval's default data, run directories
// for generate and eval, prepare's defaults and warnings.
func TestHelpAndConsistency(t *testing.T) {
	if code, out, _ := runCLI("--version"); code != 0 || !strings.HasPrefix(out, "relora-cpu ") || !strings.Contains(out, "go1.") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	if code, out, _ := runCLI("bench", "--help"); code != 0 || !strings.Contains(out, "bench step") {
		t.Errorf("bench --help: exit %d, %q", code, out)
	}
	for _, cmd := range [][]string{{"train"}, {"schedule"}, {"prepare"}, {"tokenize"}, {"generate"}, {"eval"}, {"export"}, {"plot"}, {"bench", "gemm"}, {"bench", "step"}} {
		code, out, _ := runCLI(append(cmd, "--help")...)
		if code != 0 || !strings.HasPrefix(out, "Usage: relora-cpu "+strings.Join(cmd, " ")) || !regexp.MustCompile(`\nExample:\n  .*relora-cpu `).MatchString(out) {
			t.Errorf("%v --help: exit %d:\n%s", cmd, code, out)
		}
	}
	_, out, _ := runCLI("train", "--help")
	for _, g := range []string{"Model flags:", "Data flags:", "Optimizer and schedule flags:", "ReLoRA flags:", "Evaluation, logs and checkpoints flags:", "Performance flags:"} {
		if !strings.Contains(out, "\n"+g+"\n") {
			t.Errorf("train --help has no group %q", g)
		}
	}
	if strings.Contains(out, "Other flags:") {
		t.Errorf("train --help has flags in no group:\n%s", out[strings.Index(out, "Other flags:"):])
	}
	_, out, _ = runCLI("schedule", "--help")
	if strings.Contains(out, "--model_config") || !strings.Contains(out, "--restart_warmup_steps") {
		t.Errorf("schedule --help lists what the schedule does not read:\n%s", out)
	}
	if code, _, errs := runCLI("schedule", "--model_config", "llama_20m", "--data", "x", "--num_training_steps", "20", "--warmup_steps", "2"); code != 0 {
		t.Errorf("schedule with train's flags: %s", errs)
	}

	// a run directory stands for its final/; eval defaults to the embedded val
	dir := filepath.Join(t.TempDir(), "run")
	if code, _, errs := runCLI(tinyArgs(dir, "--num_training_steps", "3", "--kernel_profile", filepath.Join(dir+"-k.prof"))...); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := runCLI("eval", "--checkpoint", dir, "--max_length", "16", "--max_batches", "2", "--threads", "1")
	if code != 0 || !strings.Contains(out, "on embedded Brown val") || !strings.Contains(errs, "using its final model "+filepath.Join(dir, "final")) {
		t.Errorf("eval of a run directory: exit %d, %q, %q", code, out, errs)
	}
	if code, _, errs := runCLI("generate", "--checkpoint", dir, "--prompt", "The", "--max_new_tokens", "3", "--threads", "1"); code != 0 {
		t.Errorf("generate of a run directory: %s", errs)
	}
}

// The kernel table shows no rate for kernels that count no FLOPs.
func TestKernelTableWithoutFlops(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runCLI(tinyArgs(filepath.Join(dir, "run"), "--num_training_steps", "2", "--kernel_profile", filepath.Join(dir, "k.prof"))...)
	if code != 0 {
		t.Fatal(errs)
	}
	if strings.Contains(out, " 0.0\n") || strings.Contains(out, "  0.0  ") {
		t.Errorf("a kernel table with GFLOP/s 0.0:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^ *rmsnorm .* -\s*$`).MatchString(out) {
		t.Errorf("no rmsnorm row without a rate:\n%s", out)
	}
}

// prepare: bytes by default (as train encodes text), embedded accepted,
// 5% held out, and warnings for a short val.bin and a vocabulary smaller
// than asked.
func TestPrepareDefaultsAndWarnings(t *testing.T) {
	tmp := t.TempDir()
	in, _ := testDocs(t, tmp)
	out := filepath.Join(tmp, "bytes")
	code, _, errs := runCLI("prepare", "--data", in, "--out", out, "--quiet")
	if code != 0 || !strings.Contains(errs, "no --tokenizer or --train_tokenizer: byte-level tokens") {
		t.Fatalf("prepare without a tokenizer: exit %d, %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(out, "tokenizer.json")); err == nil {
		t.Error("a byte-level prepare wrote a tokenizer.json")
	}
	code, _, errs = runCLI("prepare", "--data", in, "--out", filepath.Join(tmp, "emb"), "--tokenizer", "embedded", "--quiet", "--val_fraction", "0.1")
	if code != 0 || !strings.Contains(errs, "less than one sequence of train's default --max_length 128") {
		t.Errorf("prepare --tokenizer embedded with a short val: exit %d, %q", code, errs)
	}
	code, _, errs = runCLI("prepare", "--data", in, "--out", filepath.Join(tmp, "bpe"), "--train_tokenizer", "5000", "--quiet")
	if code != 0 || !strings.Contains(errs, "--train_tokenizer 5000: the corpus gives a vocabulary of only") {
		t.Errorf("prepare with too few merges: exit %d, %q", code, errs)
	}
	_, help, _ := runCLI("prepare", "--help")
	if !strings.Contains(help, `(default 0.05)`) || !strings.Contains(help, `"embedded"`) {
		t.Errorf("prepare --help:\n%s", help)
	}
}
