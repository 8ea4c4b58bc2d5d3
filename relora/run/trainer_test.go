package run

import (
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/relora-go/relora-go/data/tokenizer"
	"github.com/relora-go/relora-go/model"
)

func smallTrainer(t *testing.T, mod func(*Options)) *Trainer {
	t.Helper()
	o := DefaultOptions()
	o.Steps, o.MaxLength, o.BatchSize, o.TotalBatchSize = 50, 32, 2, 4
	o.EvalBatches = 2
	o.Tokenizer = "bytes" // small and fast; the default run's BPE is tested by the CLI
	o.SaveDir = t.TempDir()
	if mod != nil {
		mod(&o)
	}
	return trainerFor(t, o)
}

// trainerFor builds a trainer for o on its corpus, closed when the test ends.
func trainerFor(t *testing.T, o Options) *Trainer {
	t.Helper()
	c, err := LoadCorpus(o)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(o, c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestStepAllocatesNothing(t *testing.T) {
	for name, mod := range map[string]func(*Options){
		"full-rank":         nil,
		"relora":            func(o *Options) { o.Relora, o.CycleLength, o.LoraR = 25, 25, 8 },
		"relora no dropout": func(o *Options) { o.Relora, o.CycleLength, o.LoraR, o.LoraDropout = 25, 25, 8, 0 },
		"relora bf16":       func(o *Options) { o.Relora, o.CycleLength, o.LoraR, o.DType = 25, 25, 8, "bfloat16" },
		"relora bf16 no dropout": func(o *Options) {
			o.Relora, o.CycleLength, o.LoraR, o.LoraDropout, o.DType = 25, 25, 8, 0, "bfloat16"
		},
	} {
		tr := smallTrainer(t, mod)
		tr.Step() // warm up: first-use buffers
		allocs := testing.AllocsPerRun(5, func() {
			if _, err := tr.Step(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 0 {
			t.Errorf("%s: a training step allocates %.1f times, want 0", name, allocs)
		}
	}
}

func TestNonFiniteLossStopsBeforeTheUpdate(t *testing.T) {
	tr := smallTrainer(t, nil)
	tr.Model.Head.Data[5] = float32(math.NaN())
	before := append([]float32(nil), tr.Model.Embed.Data...)
	_, err := tr.Step()
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("Step with a NaN weight: error %v, want ErrNonFinite", err)
	}
	for i, v := range tr.Model.Embed.Data {
		if v != before[i] {
			t.Fatal("weights changed by an update whose loss was not finite")
		}
	}
	if tr.Update != 0 {
		t.Fatalf("update counter %d after a refused update", tr.Update)
	}
}

func TestAccumulationEqualsOneBigBatch(t *testing.T) {
	// Two micro-batches of 2 must give the same update as one batch of 4
	// holding the same sequences (up to float32 summation order).
	a := smallTrainer(t, func(o *Options) { o.BatchSize, o.TotalBatchSize = 2, 4 })
	b := smallTrainer(t, func(o *Options) { o.BatchSize, o.TotalBatchSize = 4, 4 })
	// Same data order: both batchers draw windows in the same shuffled order.
	for i := 0; i < 3; i++ {
		ra, err := a.Step()
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.Step()
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(ra.Loss-rb.Loss) > 1e-5 || math.Abs(ra.GradNorm-rb.GradNorm) > 1e-4*rb.GradNorm {
			t.Fatalf("update %d: accumulated loss %.6f norm %.6f, big batch %.6f %.6f", i+1, ra.Loss, ra.GradNorm, rb.Loss, rb.GradNorm)
		}
	}
	for i, v := range a.Model.Head.Data {
		if d := math.Abs(float64(v - b.Model.Head.Data[i])); d > 1e-5 {
			t.Fatalf("head weight %d differs by %g after 3 updates", i, d)
		}
	}
}

func TestInitFromStartsFromSavedWeights(t *testing.T) {
	full := smallTrainer(t, nil)
	for i := 0; i < 3; i++ {
		if _, err := full.Step(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	if err := full.Model.Save(dir); err != nil {
		t.Fatal(err)
	}
	warm := smallTrainer(t, func(o *Options) { o.InitFrom, o.UsePeft, o.LoraR = dir, true, 8 })
	if warm.Layers == nil {
		t.Fatal("a low-rank run from a saved model did not wrap it")
	}
	for _, l := range warm.Layers {
		if l.W0.Grad != nil {
			t.Fatal("W0 not frozen")
		}
	}
	if !slices.Equal(warm.Model.Head.Data, full.Model.Head.Data) || !slices.Equal(warm.Layers[3].W0.Data, full.Model.Blocks[0].O.(*model.Dense).W.Data) {
		t.Fatal("the saved weights were not loaded")
	}
	// a wrapped model without its checkpoint state is refused
	if err := warm.Model.Save(dir); err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.InitFrom, o.UsePeft = dir, true
	c, _ := LoadCorpus(o)
	if _, err := NewTrainer(o, c, io.Discard); err == nil || !strings.Contains(err.Error(), "low-rank factors") {
		t.Fatalf("loading a wrapped model as a start: error %v", err)
	}
	// a vocabulary that does not fit the data's tokenizer is refused
	o.Tokenizer = tokenizer.Embedded
	c, _ = LoadCorpus(o)
	if err := full.Model.Save(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := NewTrainer(o, c, io.Discard); err == nil || !strings.Contains(err.Error(), "vocabulary") {
		t.Fatalf("a model of 256 tokens with a 4096-token tokenizer: error %v", err)
	}
}

func TestLearningRateAcrossAWarmStart(t *testing.T) {
	o := DefaultOptions()
	o.Steps, o.WarmupSteps, o.WarmStartSteps, o.UsePeft = 20, 2, 10, true
	o.LR, o.WarmStartLR, o.MinLRRatio = 2, 1, 0.1
	// warm stage: the full-rank cosine over all 20 updates at the warm LR;
	// cosmult(x) = m + (1−m)·0.5·(1 + cos(π·x/(N−W1))), update k uses λ(k−1)
	cos := func(t int) float64 { return 0.1 + 0.9*0.5*(1+math.Cos(math.Pi*float64(t-2)/18)) }
	want := map[int]float64{1: 0, 2: 0.5, 3: 1, 10: cos(9),
		// low-rank stage: its own schedule over the remaining 10 updates, from 0
		11: 0, 12: 2 * 0.5, 13: 2 * 1}
	for k, w := range want {
		if got := o.LRAt(k); math.Abs(got-w) > 1e-12 {
			t.Errorf("update %d: lr %.12g, want %.12g", k, got, w)
		}
	}
}
