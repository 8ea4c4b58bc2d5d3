package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/relora-go/relora-go/relora/run"
)

// TestMain lets the test binary act as relora-cpu itself (for tests that
// need a real process to kill).
func TestMain(m *testing.M) {
	if os.Getenv("RELORA_CPU_AS_MAIN") == "1" {
		if n, _ := strconv.Atoi(os.Getenv("RELORA_CPU_FSIZE")); n > 0 {
			limitFileSize(n) // a full disk, for the tests of write errors
		}
		os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = runMain(args, &out, &errb)
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
		for _, k := range []string{"update_step", "loss", "lr", "tokens_seen", "tokens_per_s", "update_s"} {
			if _, ok := rec[k]; !ok {
				t.Fatalf("metrics line %q lacks %q", sc.Text(), k)
			}
		}
		updates++
	}
	if updates != run.DefaultOptions().Steps || evals == 0 {
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
	// update k uses λ(k−1): update 27 uses λ(26) = 0.1789439999 (docs/METHOD.md §5)
	if lines[26] != "27 0.1789439999" || lines[25] != "26 0" {
		t.Fatalf("updates 26 and 27: %q %q", lines[25], lines[26])
	}
}
