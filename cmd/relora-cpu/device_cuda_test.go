//go:build cuda

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The CLI on the emulated GPU: train, then eval the result on the device,
// and the same eval on the CPU gives the same loss line.
func TestTrainAndEvalOnTheEmulatedDevice(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tiny.json")
	os.WriteFile(cfg, []byte(`{"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
		"num_hidden_layers": 2, "vocab_size": 259, "max_sequence_length": 64}`), 0o644)
	run := filepath.Join(dir, "run")
	code, out, errs := runCLI("train", "--device", "emu", "--model_config", cfg, "--tokenizer", "bytes",
		"--num_training_steps", "6", "--warmup_steps", "1", "--batch_size", "2", "--max_length", "16",
		"--use_peft", "--lora_r", "4", "--relora", "3", "--cycle_length", "3", "--scheduler", "cosine_restarts",
		"--restart_warmup_steps", "1", "--eval_batches", "1", "--log_every", "1", "--save_dir", run)
	if code != 0 {
		t.Fatalf("train --device emu: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "event      4  merge") || !strings.Contains(out, "done in") {
		t.Fatalf("train --device emu: no merge at update 4, or no end:\n%s", out)
	}
	text := filepath.Join(dir, "val.txt")
	os.WriteFile(text, []byte(strings.Repeat("The jury said it did find that the election was conducted. ", 8)), 0o644)
	loss := map[string]string{}
	for _, dev := range []string{"emu", "cpu"} {
		code, out, errs := runCLI("eval", "--device", dev, "--checkpoint", filepath.Join(run, "final"),
			"--data", text, "--max_length", "16", "--batch_size", "2")
		if code != 0 {
			t.Fatalf("eval --device %s: exit %d: %s", dev, code, errs)
		}
		i := strings.Index(out, "loss ")
		if i < 0 {
			t.Fatalf("eval --device %s: no loss in %q", dev, out)
		}
		loss[dev] = strings.Fields(out[i:])[1]
	}
	if loss["emu"] != loss["cpu"] {
		t.Fatalf("eval: loss %s on the emulated device, %s on the CPU", loss["emu"], loss["cpu"])
	}
}

// Without a GPU (or its libraries) --device cuda is one line and exit 1.
func TestDeviceCudaWithoutAGPU(t *testing.T) {
	t.Setenv("RELORA_CUDA_LIB_DIR", t.TempDir())
	code, out, errs := runCLI("train", "--device", "cuda", "--num_training_steps", "2", "--warmup_steps", "1",
		"--save_dir", filepath.Join(t.TempDir(), "run"))
	if _, err := os.Stat("/dev/nvidia0"); err == nil {
		t.Skip("this machine has a GPU")
	}
	if code != 1 || !strings.Contains(errs, "libcuda.so.1") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("train --device cuda without a GPU: exit %d, stderr %q (want exit 1 and one line naming libcuda.so.1); stdout %q", code, errs, out)
	}
}
