package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

func TestKernelProfileOfATrainingRun(t *testing.T) {
	dir := t.TempDir()
	kp := filepath.Join(dir, "kernels.prof")
	code, _, errs := runCLI("train", "--num_training_steps", "3", "--warmup_steps", "1", "--max_length", "32", "--batch_size", "2",
		"--eval_every", "0", "--eval_batches", "1", "--save_dir", filepath.Join(dir, "run"), "--kernel_profile", kp)
	if code != 0 {
		t.Fatal(errs)
	}
	f, err := os.Open(kp)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, fn := range p.Function {
		names[fn.Name] = true
	}
	for _, want := range []string{"kernel sgemm_nt", "kernel sgemm_tn", "kernel attention", "kernel adamw",
		"op matmul", "layer model.layers.0.mlp", "phase forward", "phase backward", "phase optimizer"} {
		if !names[want] {
			t.Errorf("the profile has no frame %q", want)
		}
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool to run pprof")
	}
	out, err := exec.Command("go", "tool", "pprof", "-top", kp).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "kernel sgemm_nt") {
		t.Fatalf("go tool pprof -top: %v\n%s", err, out)
	}
}
