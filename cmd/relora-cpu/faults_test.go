package main

// Tests of issue 16 ("nothing lost, nothing silent") through the command
// line: bad sizes and values, damaged checkpoints, write errors, and a
// SIGKILL soak. The numbers are the items.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relora-go/relora-go/engine/atomicfile"
	"github.com/relora-go/relora-go/model"
	"github.com/relora-go/relora-go/relora/run"
)

// oneLineError fails unless a command exited non-zero with one line on
// stderr that contains want.
func oneLineError(t *testing.T, args []string, want string) {
	t.Helper()
	code, _, errs := runCLI(args...)
	if code == 0 || !strings.Contains(errs, want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("%v: exit %d, stderr %q, want one line containing %q", args, code, errs, want)
	}
}

// Items 6 and 9: sizes that cannot be allocated and values that make no
// sense are refused before anything is allocated or created.
func TestImpossibleSizesAndValuesAreRefused(t *testing.T) {
	tmp := t.TempDir()
	cfg := func(name string, hidden, layers int) string {
		p := filepath.Join(tmp, name)
		os.WriteFile(p, fmt.Appendf(nil, `{"hidden_size": %d, "intermediate_size": 352, "num_attention_heads": 4, "num_hidden_layers": %d, "vocab_size": 256}`, hidden, layers), 0o644)
		return p
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		// item 6: was "panic: makeslice: len out of range"
		{[]string{"--model_config", cfg("huge.json", 4000000, 4)}, "more than a process can address"},
		{[]string{"--model_config", cfg("big.json", 400000, 4)}, "this machine has"},
		{[]string{"--use_peft", "--lora_r", "100000"}, "--lora_r 100000 exceeds the width 128"},
		// item 9
		{[]string{"--use_peft", "--lora_r", "1000"}, "--lora_r 1000 exceeds the width 128"},
		{[]string{"--max_length", "2048"}, "--max_length 2048 exceeds the max_sequence_length 1024"},
		{[]string{"--clip_grad_norm", "NaN"}, "--clip_grad_norm must be a number"},
		{[]string{"--save_every", "-1"}, "--save_every must not be negative"},
		{[]string{"--keep_checkpoints", "-1"}, "--keep_checkpoints must not be negative"},
		// issue 13: a warmup longer than the run is a warning; only a run
		// with no update at a learning rate above 0 is refused
		{[]string{"--num_training_steps", "1", "--warmup_steps", "20"}, "every one of the 1 updates would run at learning rate 0"},
		{[]string{"--lora_dropout", "NaN", "--use_peft"}, "--lora_dropout must be in [0, 1)"},
		// item 8
		{[]string{"--weight_decay", "1e38", "--lr", "10"}, "--weight_decay must be in [0, 1]"},
	} {
		save := filepath.Join(tmp, "run")
		oneLineError(t, append(append([]string{"train", "--tokenizer", "bytes"}, tc.args...), "--save_dir", save), tc.want)
		if _, err := os.Stat(save); err == nil {
			t.Errorf("%v: a failed start created %s", tc.args, save)
			os.RemoveAll(save)
		}
	}
}

// tinyModelDir saves an initialised plain model of 256 tokens.
func tinyModelDir(t *testing.T) string {
	t.Helper()
	c := model.Config{Hidden: 32, Intermediate: 48, Heads: 4, Layers: 1, Vocab: 256, NormEps: 1e-6, InitRange: 0.02, Act: "silu", MaxSeq: 64}
	m := model.New(c)
	m.Init(rand.New(rand.NewPCG(1, 2)))
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := run.SaveModelDir(dir, m, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Item 6: --max_new_tokens is checked against the context before a cache
// is allocated (was a makeslice panic, then an out-of-memory death).
func TestGenerateChecksTheContext(t *testing.T) {
	dir := tinyModelDir(t)
	for _, n := range []string{"9223372036854775807", "1000000000", "2048"} {
		oneLineError(t, []string{"generate", "--checkpoint", dir, "--prompt", "hi", "--max_new_tokens", n}, "exceeds the model's context of 2048 tokens")
	}
	if code, out, errs := runCLI("generate", "--checkpoint", dir, "--prompt", "hi", "--max_new_tokens", "5", "--threads", "1"); code != 0 {
		t.Fatalf("a short generation: exit %d: %s %s", code, out, errs)
	}
	oneLineError(t, []string{"eval", "--checkpoint", dir, "--data", filepath.Join(dir, "config.json"), "--max_length", "4096"}, "--max_length 4096 exceeds the model's context")
}

// Items 4 and 5: eval, export, generate and train --init_from refuse a
// damaged checkpoint, a model with non-finite weights, and a safetensors
// file whose tensors overlap; nothing is written.
func TestCommandsRefuseDamagedModels(t *testing.T) {
	dir, val, _ := trainTiny(t)
	ck := run.CheckpointDir(dir, 4)
	overlap := filepath.Join(t.TempDir(), "overlap")
	os.MkdirAll(overlap, 0o755)
	{ // the final model with two tensors given the same bytes
		st, err := model.ReadSafetensors(filepath.Join(dir, "final", "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(st.Path)
		n := binary.LittleEndian.Uint64(raw)
		var header map[string]json.RawMessage
		json.Unmarshal(raw[8:8+n], &header)
		var norm map[string]any
		json.Unmarshal(header["model.norm.weight"], &norm)
		var first map[string]any
		json.Unmarshal(header["model.layers.0.input_layernorm.weight"], &first)
		first["data_offsets"] = norm["data_offsets"] // same size, same bytes
		header["model.layers.0.input_layernorm.weight"], _ = json.Marshal(first)
		h, _ := json.Marshal(header)
		for len(h)%8 != 0 {
			h = append(h, ' ')
		}
		out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
		os.WriteFile(filepath.Join(overlap, "model.safetensors"), append(append(out, h...), raw[8+n:]...), 0o644)
		cfg, _ := os.ReadFile(filepath.Join(dir, "final", "config.json"))
		os.WriteFile(filepath.Join(overlap, "config.json"), cfg, 0o644)
	}
	p := filepath.Join(ck, "model.safetensors")
	raw, _ := os.ReadFile(p)
	for i := len(raw) / 3; i < len(raw)/3+4096; i++ {
		raw[i] = 0xff
	}
	os.WriteFile(p, raw, 0o644)
	for _, src := range []struct{ dir, want string }{{ck, p}, {overlap, "overlaps tensor"}} {
		out := filepath.Join(t.TempDir(), "out")
		for _, args := range [][]string{
			{"eval", "--checkpoint", src.dir, "--data", val, "--max_length", "16"},
			{"export", "--checkpoint", src.dir, "--out", out},
			{"generate", "--checkpoint", src.dir, "--prompt", "a"},
			{"train", "--init_from", src.dir, "--data", val, "--max_length", "16", "--batch_size", "1", "--save_dir", filepath.Join(out, "run")},
		} {
			oneLineError(t, args, src.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: a refused command wrote %s", src.dir, out)
		}
	}
}

// asMain runs the test binary as relora-cpu (TestMain) with a file size
// limit in bytes (0: none) for the tests of write errors.
func asMain(t *testing.T, fsize int, args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(exe, args...)
	c.Env = append(os.Environ(), "RELORA_CPU_AS_MAIN=1", fmt.Sprintf("RELORA_CPU_FSIZE=%d", fsize))
	return c
}

// Items 7 and 2: a failed write of metrics.jsonl or of a checkpoint stops
// the run at once with the path and the reason, and leaves no partial
// checkpoint or final/ (a file size limit stands for a full disk).
func TestWriteErrorsStopTheRun(t *testing.T) {
	if _, err := os.Stat("/proc/self"); err != nil {
		t.Skip("needs Linux (RLIMIT_FSIZE)")
	}
	base := []string{"train", "--tokenizer", "bytes", "--max_length", "16", "--batch_size", "1", "--warmup_steps", "1",
		"--eval_every", "0", "--eval_batches", "1", "--threads", "1"}
	for _, tc := range []struct {
		name  string
		fsize int
		args  []string
		want  string
	}{
		{"metrics", 3000, []string{"--num_training_steps", "200", "--save_every", "0"}, "metrics.jsonl: file too large"},
		{"checkpoint", 1 << 20, []string{"--num_training_steps", "20", "--save_every", "2"}, ".model_2.tmp/model.safetensors: file too large"},
		{"final", 1 << 20, []string{"--num_training_steps", "4", "--save_every", "0"}, "final: writing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			out, err := asMain(t, tc.fsize, append(append(base, tc.args...), "--save_dir", dir)...).CombinedOutput()
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if last := lines[len(lines)-1]; err == nil || !strings.Contains(last, tc.want) || !strings.Contains(last, "file too large") {
				t.Fatalf("exit %v, want an error with %q; output:\n%s", err, tc.want, out)
			}
			if _, err := os.Stat(filepath.Join(dir, "final")); err == nil {
				t.Error("the run went on to write final/")
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if atomicfile.IsTemp(e.Name()) || strings.HasPrefix(e.Name(), "model_") {
					t.Errorf("left behind: %s", e.Name())
				}
			}
			if tc.name == "metrics" {
				b, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
				if n := bytes.Count(b, []byte("\n")); n > 30 {
					t.Errorf("the run logged %d lines after the write error", n)
				}
			}
		})
	}
}

// The SIGKILL soak: one run killed at several moments (before its first
// checkpoint, inside checkpoint writes, inside the write of final/, at a
// random instant) and continued with --autoresume each time ends with the
// uninterrupted run's final weights, bitwise, the same metrics.jsonl line
// for line (timing aside), and no temporary files.
func TestKillSoakAndAutoresume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two trainings and several partial ones")
	}
	args := []string{"train", "--max_length", "64", "--batch_size", "4", "--total_batch_size", "8",
		"--num_training_steps", "40", "--warmup_steps", "4", "--warm_start_steps", "8", "--relora", "8",
		"--cycle_length", "8", "--scheduler", "cosine_restarts", "--restart_warmup_steps", "2", "--lora_r", "16",
		"--save_every", "3", "--keep_checkpoints", "2", "--eval_every", "5", "--eval_batches", "2", "--threads", "2"}
	cmd := func(dir string, extra ...string) *exec.Cmd {
		return asMain(t, 0, append(append(append([]string(nil), args...), "--save_dir", dir), extra...)...)
	}
	tmp := t.TempDir()
	ref := filepath.Join(tmp, "ref")
	if out, err := cmd(ref).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	dir := filepath.Join(tmp, "killed")
	exists := func(glob string) bool { m, _ := filepath.Glob(filepath.Join(dir, glob)); return len(m) > 0 }
	// each kill waits for its moment, polling every 200 µs
	kills := []struct {
		name string
		when func(start time.Time) bool
	}{
		{"before the first checkpoint", func(time.Time) bool { b, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl")); return len(b) > 0 }},
		{"inside a checkpoint write", func(time.Time) bool { return exists(".model_*.tmp") }},
		{"at a random instant", func(s time.Time) bool { return time.Since(s) > time.Duration(500+rand.IntN(1500))*time.Millisecond }},
		{"inside a checkpoint write", func(time.Time) bool {
			return exists(".model_*.tmp/optimizer.safetensors") || exists(".model_*.tmp/.optimizer.safetensors.tmp*")
		}},
		{"inside the write of final/", func(time.Time) bool { return exists(".final.tmp") }},
	}
	for i, k := range kills {
		c := cmd(dir, "--autoresume")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		start, killed := time.Now(), false
	wait:
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run %d: %v", i, err)
				}
				break wait
			default:
			}
			if k.when(start) {
				c.Process.Signal(syscall.SIGKILL)
				<-done
				killed = true
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		temps := exists(".*.tmp") || exists(".*.tmp/*")
		t.Logf("kill %d (%s): killed %v, temporary files at the kill: %v", i+1, k.name, killed, temps)
		if !killed {
			break // the run finished first
		}
	}
	if out, err := cmd(dir, "--autoresume").CombinedOutput(); err != nil {
		t.Fatalf("resumed run: %v\n%s", err, out)
	}
	want, _ := os.ReadFile(filepath.Join(ref, "final", "model.safetensors"))
	got, err := os.ReadFile(filepath.Join(dir, "final", "model.safetensors"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("final weights differ from the uninterrupted run (%v)", err)
	}
	if a, b := metricsOf(t, dir), metricsOf(t, ref); a != b {
		t.Fatalf("metrics.jsonl differs from the uninterrupted run's:\n%s\nwant:\n%s", a, b)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && atomicfile.IsTemp(d.Name()) {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

// metricsOf is a run's metrics.jsonl without its timing field.
func metricsOf(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		delete(rec, "tokens_per_s") // timings differ between runs
		delete(rec, "update_s")
		delete(rec, "allreduce_s")
		delete(rec, "time")
		js, _ := json.Marshal(rec)
		out = append(out, string(js))
	}
	return strings.Join(out, "\n")
}
