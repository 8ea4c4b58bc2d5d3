package run

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/relora-go/relora-go/relora"
)

// runTo steps a trainer (with events) until update n.
func runTo(t *testing.T, tr *Trainer, n int) {
	t.Helper()
	for tr.Update < n {
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
		if err := tr.afterUpdate(); err != nil {
			t.Fatal(err)
		}
	}
}

func sameWeights(t *testing.T, a, b *Trainer) {
	t.Helper()
	na, nb := a.Model.Tensors(), b.Model.Tensors()
	if len(na) != len(nb) {
		t.Fatalf("%d tensors against %d", len(na), len(nb))
	}
	for i := range na {
		if na[i].Name != nb[i].Name || !slices.Equal(na[i].T.Data, nb[i].T.Data) || !slices.Equal(na[i].T.BF16, nb[i].T.BF16) {
			t.Fatalf("tensor %s differs", na[i].Name)
		}
	}
}

func TestCheckpointResumeIsBitwise(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Options)
	}{
		{"full-rank", nil},
		// warm start at 6, checkpoint at 8 inside the low-rank stage, merges at 6+5+1=12 and 17
		{"relora", func(o *Options) {
			o.Relora, o.CycleLength, o.Scheduler, o.RestartWarmup = 5, 5, relora.ScheduleCosineRestarts, 2
			o.WarmStartSteps, o.LoraR, o.Steps, o.WarmupSteps = 6, 8, 26, 2
			o.ResetOptimizer, o.RandomPruning = false, 0.5 // exercises the prune stream
		}},
		// checkpoint at 4, before the wrap at 6
		{"warm-start", func(o *Options) {
			o.Relora, o.CycleLength, o.Scheduler, o.RestartWarmup = 5, 5, relora.ScheduleCosineRestarts, 2
			o.WarmStartSteps, o.LoraR, o.Steps, o.WarmupSteps = 6, 8, 26, 2
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mod := func(o *Options) {
				o.SaveDir = dir
				if tc.mod != nil {
					tc.mod(o)
				}
			}
			at := 8
			if tc.name == "warm-start" {
				at = 4
			}
			a := smallTrainer(t, mod)
			runTo(t, a, at)
			if _, err := a.SaveCheckpoint(); err != nil {
				t.Fatal(err)
			}
			runTo(t, a, 20)

			b := smallTrainer(t, mod)
			if err := b.LoadCheckpoint(CheckpointDir(dir, at)); err != nil {
				t.Fatal(err)
			}
			if b.Update != at {
				t.Fatalf("resumed at update %d, want %d", b.Update, at)
			}
			runTo(t, b, 20)
			sameWeights(t, a, b)
			if a.Merges != b.Merges || a.Resets != b.Resets || a.TokensSeen != b.TokensSeen {
				t.Fatalf("counters differ: merges %d/%d resets %d/%d tokens %d/%d", a.Merges, b.Merges, a.Resets, b.Resets, a.TokensSeen, b.TokensSeen)
			}
		})
	}
}

func TestCheckpointRefusals(t *testing.T) {
	dir := t.TempDir()
	a := smallTrainer(t, func(o *Options) { o.SaveDir = dir })
	runTo(t, a, 2)
	ck, err := a.SaveCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	// a different batch size is a different run
	b := smallTrainer(t, func(o *Options) { o.SaveDir = dir; o.BatchSize, o.TotalBatchSize = 1, 4 })
	if err := b.LoadCheckpoint(ck); !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), "--batch_size 2") {
		t.Fatalf("mismatched options: error %v", err)
	}
	// threads and logging may change
	c := smallTrainer(t, func(o *Options) { o.SaveDir = dir; o.Threads, o.LogEvery = 1, 3 })
	if err := c.LoadCheckpoint(ck); err != nil {
		t.Fatalf("run-control options must not block a resume: %v", err)
	}
	// a flipped byte in the weights is caught by the hash
	p := filepath.Join(ck, "model.safetensors")
	raw, _ := os.ReadFile(p)
	raw[len(raw)-3] ^= 0x40
	os.WriteFile(p, raw, 0o644)
	d := smallTrainer(t, func(o *Options) { o.SaveDir = dir })
	if err := d.LoadCheckpoint(ck); !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged weights: error %v", err)
	}
	// a missing state file
	if err := d.LoadCheckpoint(filepath.Join(dir, "nothing")); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("missing checkpoint: error %v", err)
	}
}

func TestKeepCheckpointsAndLatest(t *testing.T) {
	dir := t.TempDir()
	a := smallTrainer(t, func(o *Options) { o.SaveDir, o.KeepCheckpoints = dir, 2 })
	for n := 1; n <= 4; n++ {
		runTo(t, a, n)
		if _, err := a.SaveCheckpoint(); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(dir, ".model_5.tmp"), 0o755) // a crash mid-save
	os.MkdirAll(filepath.Join(dir, "model_9"), 0o755)      // no training_state.json: incomplete
	steps, _ := listCheckpoints(dir)
	if !slices.Equal(steps, []int{3, 4}) {
		t.Fatalf("checkpoints kept: %v, want [3 4]", steps)
	}
	if got := LatestCheckpoint(dir); got != CheckpointDir(dir, 4) {
		t.Fatalf("latest %s", got)
	}
}

func TestTruncateMetrics(t *testing.T) {
	p := filepath.Join(t.TempDir(), "metrics.jsonl")
	os.WriteFile(p, []byte(`{"update_step":1,"loss":2}
{"update_step":2,"loss":1.5}
{"update_step":2,"val_loss":1.4}
{"update_step":3,"loss":1.2}
{"update_st`), 0o644)
	if err := TruncateMetrics(p, 2); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if strings.Count(string(b), "\n") != 3 || strings.Contains(string(b), `"update_step":3`) {
		t.Fatalf("after truncation:\n%s", b)
	}
}

var _ = io.Discard
