package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relora-go/relora-go/relora"
)

// TestMain lets the test binary act as relora-cpu itself (for tests that
// need a real process to kill).
func TestMain(m *testing.M) {
	if os.Getenv("RELORA_CPU_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestTrainWithDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the default run takes about a minute")
	}
	dir := filepath.Join(t.TempDir(), "run")
	code, out, errs := runCLI("train", "--save_dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var losses []float64
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[0] == "update" && f[2] == "loss" {
			v, err := strconv.ParseFloat(f[3], 64)
			if err != nil {
				t.Fatalf("bad loss in %q", line)
			}
			losses = append(losses, v)
		}
	}
	if len(losses) < 5 {
		t.Fatalf("only %d loss lines in:\n%s", len(losses), out)
	}
	first, last := losses[0], losses[len(losses)-1]
	if last > 0.7*first {
		t.Fatalf("loss fell from %.4f to %.4f, less than 30%%", first, last)
	}
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	updates, evals := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		if _, ok := rec["val_loss"]; ok {
			evals++
			continue
		}
		for _, k := range []string{"update_step", "loss", "lr", "tokens_seen", "tokens_per_s"} {
			if _, ok := rec[k]; !ok {
				t.Fatalf("metrics line %q lacks %q", sc.Text(), k)
			}
		}
		updates++
	}
	if updates != relora.DefaultOptions().Steps || evals == 0 {
		t.Fatalf("metrics.jsonl has %d update lines and %d evaluations", updates, evals)
	}
	if _, err := os.Stat(filepath.Join(dir, "final", "model.safetensors")); err != nil {
		t.Fatal(err)
	}
}

func TestBadInputGivesOneLineErrors(t *testing.T) {
	tmp := t.TempDir()
	malformed := filepath.Join(tmp, "bad.json")
	os.WriteFile(malformed, []byte("{\n  \"hidden_size\": 64,\n  \"num_hidden_layers\": \n}"), 0o644)
	missingField := filepath.Join(tmp, "nolayers.json")
	os.WriteFile(missingField, []byte(`{"hidden_size": 64, "intermediate_size": 100, "num_attention_heads": 4, "vocab_size": 256}`), 0o644)
	short := filepath.Join(tmp, "short.txt")
	os.WriteFile(short, []byte("too short for a batch"), 0o644)
	empty := filepath.Join(tmp, "empty.txt")
	os.WriteFile(empty, nil, 0o644)
	notGzip := filepath.Join(tmp, "x.txt.gz")
	os.WriteFile(notGzip, []byte("plain text"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--no_such_flag", "1"}, "not defined: -no_such_flag"},
		{[]string{"train", "--lr", "fast"}, `invalid value "fast" for flag -lr`},
		{[]string{"train", "--batch_size", "0"}, "--batch_size must be positive"},
		{[]string{"train", "--total_batch_size", "12", "--batch_size", "8"}, "multiple of --batch_size"},
		{[]string{"train", "--model_config", filepath.Join(tmp, "none.json")}, "no such file"},
		{[]string{"train", "--model_config", malformed}, "malformed JSON at line 4"},
		{[]string{"train", "--model_config", missingField}, `"num_hidden_layers" is missing`},
		{[]string{"train", "--data", short}, "one batch of 8 sequences"},
		{[]string{"train", "--data", empty}, "is empty"},
		{[]string{"train", "--data", notGzip}, "not a valid gzip"},
		{[]string{"train", "--data", filepath.Join(tmp, "absent.txt")}, "no such file"},
		{[]string{"train", "--relora", "10", "--cycle_length", "7", "--scheduler", "cosine_restarts", "--restart_warmup_steps", "2"}, "divisible"},
		{[]string{"train", "--warm_start_steps", "10"}, "--use_peft"},
		{[]string{"train", "extra"}, "unexpected argument"},
		{[]string{"frobnicate"}, "unknown command"},
	} {
		save := filepath.Join(tmp, "run")
		args := append(tc.args, "--save_dir", save)
		if tc.args[0] == "frobnicate" {
			args = tc.args
		}
		code, _, errs := runCLI(args...)
		if code == 0 {
			t.Errorf("%v: exit 0", tc.args)
			continue
		}
		if !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%v: stderr %q, want one line containing %q", tc.args, errs, tc.want)
		}
		if _, err := os.Stat(save); err == nil {
			t.Errorf("%v: a failed start created %s", tc.args, save)
			os.RemoveAll(save)
		}
	}
}

func TestExistingRunIsNotOverwritten(t *testing.T) {
	dir := t.TempDir()
	metrics := filepath.Join(dir, "metrics.jsonl")
	os.WriteFile(metrics, []byte("{\"update_step\":1,\"loss\":3}\n"), 0o644)
	code, _, errs := runCLI("train", "--save_dir", dir)
	if code == 0 || !strings.Contains(errs, "already holds a run") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if b, _ := os.ReadFile(metrics); string(b) != "{\"update_step\":1,\"loss\":3}\n" {
		t.Fatal("the earlier run's metrics were changed")
	}
}

func TestScheduleCommand(t *testing.T) {
	code, out, errs := runCLI("schedule", "--num_training_steps", "100", "--warmup_steps", "10", "--lr", "1",
		"--scheduler", "cosine_restarts", "--cycle_length", "25", "--restart_warmup_steps", "5", "--min_lr_ratio", "0.1")
	if code != 0 {
		t.Fatal(errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 100 {
		t.Fatalf("%d lines, want 100", len(lines))
	}
	// update k uses λ(k−1): update 27 uses λ(26) = 0.1789439999 (RELORA.md §5)
	if lines[26] != "27 0.1789439999" || lines[25] != "26 0" {
		t.Fatalf("updates 26 and 27: %q %q", lines[25], lines[26])
	}
}

// A run killed with SIGKILL at a random instant and continued with
// --autoresume ends with weights bitwise equal to an uninterrupted run.
func TestKillAndAutoresumeIsBitwise(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three trainings")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"train", "--max_length", "64", "--batch_size", "4", "--total_batch_size", "8",
		"--num_training_steps", "40", "--warmup_steps", "4", "--warm_start_steps", "8", "--relora", "8",
		"--cycle_length", "8", "--scheduler", "cosine_restarts", "--restart_warmup_steps", "2", "--lora_r", "16",
		"--save_every", "3", "--keep_checkpoints", "2", "--eval_every", "10", "--eval_batches", "2", "--threads", "2"}
	cmd := func(dir string, extra ...string) *exec.Cmd {
		c := exec.Command(exe, append(append(append([]string(nil), args...), "--save_dir", dir), extra...)...)
		c.Env = append(os.Environ(), "RELORA_CPU_AS_MAIN=1")
		return c
	}
	tmp := t.TempDir()
	ref := filepath.Join(tmp, "ref")
	if out, err := cmd(ref).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	want, err := os.ReadFile(filepath.Join(ref, "final", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "killed")
	c := cmd(dir)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// wait for a first checkpoint, then kill at a random instant
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(dir, "model_3", "training_state.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			c.Process.Kill()
			t.Fatal("no checkpoint after 2 minutes")
		}
		time.Sleep(10 * time.Millisecond)
	}
	delay := time.Duration(rand.Int64N(int64(1500 * time.Millisecond)))
	time.Sleep(delay)
	c.Process.Signal(syscall.SIGKILL)
	c.Wait()
	if _, err := os.Stat(filepath.Join(dir, "final")); err == nil {
		t.Logf("the run finished before the kill (%v after the first checkpoint); resuming a finished run", delay)
	}
	if out, err := cmd(dir, "--autoresume").CombinedOutput(); err != nil {
		t.Fatalf("resumed run: %v\n%s", err, out)
	} else if !strings.Contains(string(out), "resumed from") {
		t.Fatalf("the second run did not resume:\n%s", out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "final", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("killed after %v and resumed: final weights differ from the uninterrupted run", delay)
	}
}
