package run

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/relora"
)

func wrappedTrainer(t *testing.T, mod func(*Options)) *Trainer {
	return smallTrainer(t, func(o *Options) {
		o.Relora, o.CycleLength, o.Scheduler = 10, 10, relora.ScheduleCosineRestarts
		o.WarmupSteps, o.RestartWarmup, o.Steps = 4, 2, 40
		o.LoraR, o.LR = 8, 1e-2
		if mod != nil {
			mod(o)
		}
	})
}

func TestWrappedModelStartsAsThePlainModel(t *testing.T) {
	plain := smallTrainer(t, nil)
	wrapped := wrappedTrainer(t, nil)
	for _, tr := range []*Trainer{plain, wrapped} {
		tr.train.Fill(tr.fwd.Inputs, tr.fwd.Targets)
		tr.fwd.Graph.Forward()
	}
	if !slices.Equal(plain.fwd.Logits.Data, wrapped.fwd.Logits.Data) {
		t.Fatal("with B = 0 the wrapped model must compute exactly what the plain one does")
	}
}

func TestMergeKeepsTheFunction(t *testing.T) {
	tr := wrappedTrainer(t, func(o *Options) { o.Relora, o.CycleLength = 100, 100; o.Steps = 100 })
	for i := 0; i < 5; i++ { // make B non-zero
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
	}
	g := tr.fwd.Graph
	g.Training = false
	tr.fwd.Graph.Forward()
	before := append([]float32(nil), tr.fwd.Logits.Data...)
	a0 := append([]float32(nil), tr.Layers[0].A.Data...)
	tr.MergeAll()
	for _, l := range tr.Layers {
		for _, b := range l.B.Data {
			if b != 0 {
				t.Fatal("B is not zero after a merge")
			}
		}
	}
	if slices.Equal(a0, tr.Layers[0].A.Data) {
		t.Fatal("A was not redrawn at the merge")
	}
	tr.fwd.Graph.Forward()
	var scale, worst float64
	for i, v := range before {
		scale = math.Max(scale, math.Abs(float64(v)))
		worst = math.Max(worst, math.Abs(float64(v-tr.fwd.Logits.Data[i])))
	}
	if worst > 1e-5*scale {
		t.Fatalf("logits moved by %g (relative %g) across a merge", worst, worst/scale)
	}
}

func TestFactorGradientsFlowFromTheFirstStep(t *testing.T) {
	tr := wrappedTrainer(t, func(o *Options) { o.LoraDropout = 0 })
	g := tr.fwd.Graph
	g.Training = true
	tr.train.Fill(tr.fwd.Inputs, tr.fwd.Targets)
	g.Forward()
	g.Backward()
	nonzero := func(x []float32) bool {
		for _, v := range x {
			if v != 0 {
				return true
			}
		}
		return false
	}
	for _, l := range tr.Layers {
		if !nonzero(l.B.Grad) {
			t.Fatalf("%s: zero gradient at the first step (A must not start at zero)", l.B.Name)
		}
		if nonzero(l.A.Grad) {
			t.Fatalf("%s: non-zero gradient while B = 0 (dA = s·(dY·B)ᵀ·X must vanish)", l.A.Name)
		}
	}
	// Once B has moved, A learns too.
	tr.opt.ZeroGrads()
	for _, l := range tr.Layers {
		for i := range l.B.Data {
			l.B.Data[i] = 1e-3
		}
	}
	g.Forward()
	g.Backward()
	for _, l := range tr.Layers {
		if !nonzero(l.A.Grad) {
			t.Fatalf("%s: zero gradient once B is non-zero", l.A.Name)
		}
	}
}

func TestFrozenW0HasNoGradientAndStaysBitwiseBetweenMerges(t *testing.T) {
	tr := wrappedTrainer(t, nil)
	snapshot := func() [][]float32 {
		var s [][]float32
		for _, l := range tr.Layers {
			if l.W0.Grad != nil {
				t.Fatalf("%s has a gradient buffer", l.W0.Name)
			}
			s = append(s, append([]float32(nil), l.W0.Data...))
		}
		return s
	}
	same := func(a, b [][]float32) bool {
		for i := range a {
			if !slices.Equal(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	for _, p := range tr.opt.Params() {
		if tr.frozen(p) {
			t.Fatalf("the optimizer holds state for frozen %s", p.Name)
		}
	}
	w := snapshot()
	for tr.Update < 25 {
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
		merges := tr.Merges
		if err := tr.afterUpdate(); err != nil {
			t.Fatal(err)
		}
		now := snapshot()
		if tr.Merges == merges && !same(w, now) {
			t.Fatalf("W0 changed at update %d without a merge", tr.Update)
		}
		if tr.Merges != merges && same(w, now) {
			t.Fatalf("W0 unchanged by the merge at update %d", tr.Update)
		}
		w = now
	}
}

func TestEventTimingFollowsZeroLRUpdates(t *testing.T) {
	tr := wrappedTrainer(t, nil)
	var merges, resets []int
	var lrs []float64
	for tr.Update < tr.Opts.Steps {
		r, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		lrs = append(lrs, r.LR)
		m, z := tr.Merges, tr.Resets
		if err := tr.afterUpdate(); err != nil {
			t.Fatal(err)
		}
		if tr.Merges != m {
			merges = append(merges, tr.Update)
		}
		if tr.Resets != z {
			resets = append(resets, tr.Update)
		}
	}
	want := []int{11, 21, 31} // relora+1, 2·relora+1, ...
	if !slices.Equal(merges, want) || !slices.Equal(resets, want) {
		t.Fatalf("merges at %v and resets at %v, want both at %v", merges, resets, want)
	}
	for _, u := range want {
		if lrs[u-1] != 0 {
			t.Fatalf("update %d (followed by a merge) ran at lr %g, want 0", u, lrs[u-1])
		}
	}
}

func TestOptimizerResetTouchesOnlyFactorMoments(t *testing.T) {
	tr := wrappedTrainer(t, func(o *Options) {
		o.ResetOptimizer, o.MagnitudePruning = false, 0.9
	})
	for i := 0; i < 3; i++ {
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
	}
	step := tr.opt.Step
	var keep [][]float32
	for i := range tr.opt.Params() {
		m, _ := tr.opt.Moments(i)
		keep = append(keep, append([]float32(nil), m...))
	}
	zeroed, total := tr.ResetOptimizer()
	if f := float64(zeroed) / float64(total); f < 0.89 || f > 0.95 {
		t.Fatalf("magnitude pruning 0.9 zeroed %.3f of the factor moments", f)
	}
	for i, p := range tr.opt.Params() {
		m, _ := tr.opt.Moments(i)
		isFactor := false
		for _, l := range tr.Layers {
			isFactor = isFactor || p == l.A || p == l.B
		}
		if !isFactor && !slices.Equal(m, keep[i]) {
			t.Fatalf("reset changed the moments of %s, which is not a factor", p.Name)
		}
	}
	if tr.opt.Step != step {
		t.Fatal("reset changed Adam's step counter")
	}
}

func TestLoraOnlyHasNoFullRankWeights(t *testing.T) {
	tr := smallTrainer(t, func(o *Options) { o.LoraOnly, o.LoraR = true, 8 })
	for _, n := range tr.Model.Tensors() {
		if len(n.Name) > 7 && n.Name[len(n.Name)-7:] == ".weight" && tr.frozen(n.T) {
			t.Fatalf("%s is a frozen full-rank weight in lora_only mode", n.Name)
		}
	}
	for _, l := range tr.Layers {
		if l.W0 != nil {
			t.Fatal("lora_only layer has a W0")
		}
	}
	// Every factor learns from the first step: with W0 absent, B = 0 would
	// zero all block outputs and all factor gradients.
	g := tr.fwd.Graph
	g.Training = true
	tr.train.Fill(tr.fwd.Inputs, tr.fwd.Targets)
	g.Forward()
	g.Backward()
	for _, l := range tr.Layers {
		for _, grad := range [][]float32{l.A.Grad, l.B.Grad} {
			nonzero := false
			for _, v := range grad {
				nonzero = nonzero || v != 0
			}
			if !nonzero {
				t.Fatalf("%s or its A: zero gradient at the first lora_only step", l.B.Name)
			}
		}
	}
}

// A ReLoRA Linear's own gradients against finite differences, with and
// without dropout (the mask is held fixed by reseeding before each pass).
// flopCounter sums the FLOPs of every kernel per phase, as reported by the
// engine's GEMM wrapper from the actual m, n, k of each call.
type flopCounter struct{ byPhase [3]int64 }

func (f *flopCounter) Record(fr engine.Frame, _ time.Duration, flops int64) {
	if strings.HasPrefix(fr.Kernel, "sgemm") {
		f.byPhase[fr.Phase] += flops
	}
}

func TestNoWeightGradientGEMMForW0(t *testing.T) {
	count := func(mod func(*Options)) (*Trainer, [3]int64) {
		tr := smallTrainer(t, func(o *Options) {
			o.TotalBatchSize = o.BatchSize
			o.LoraDropout = 0
			if mod != nil {
				mod(o)
			}
		})
		fc := &flopCounter{}
		tr.Profiler = fc
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
		return tr, fc.byPhase
	}
	_, full := count(nil)
	tr, wrapped := count(func(o *Options) { o.UsePeft, o.LoraR = true, 8 })
	// Per wrapped Linear and micro-batch of n rows, the backward GEMMs are
	// dB = s·dYᵀ·U, dU = s·dY·B, dA = dUᵀ·X (2·n·r·(2·out + in)) and one
	// dX = dY·W_eff (2·n·in·out); full-rank runs dX and dW (2 × 2·n·in·out).
	n := int64(tr.Opts.BatchSize * tr.Opts.MaxLength)
	var extra, saved int64
	for _, l := range tr.Layers {
		in, out, r := int64(l.A.Cols()), int64(l.B.Rows()), int64(l.A.Rows())
		extra += 2 * n * r * (2*out + in)
		saved += 2 * n * in * out
	}
	if got, want := wrapped[engine.PhaseBackward], full[engine.PhaseBackward]-saved+extra; got != want {
		t.Fatalf("backward GEMM FLOPs %d, want %d (full-rank %d minus dW0 %d plus factors %d): a weight gradient for W0 ran",
			got, want, full[engine.PhaseBackward], saved, extra)
	}
}

func TestUnwrapKeepsTheFunction(t *testing.T) {
	for _, loraOnly := range []bool{false, true} {
		tr := wrappedTrainer(t, func(o *Options) {
			if loraOnly {
				o.LoraOnly, o.Relora, o.CycleLength, o.Scheduler = true, 0, 0, relora.ScheduleCosine
			}
		})
		for i := 0; i < 4; i++ { // make B non-zero
			if _, err := tr.Step(); err != nil {
				t.Fatal(err)
			}
		}
		g := tr.fwd.Graph
		g.Training = false
		g.Forward()
		want := append([]float32(nil), tr.fwd.Logits.Data...)
		plain := relora.Unwrap(tr.Model, tr.Pool)
		for _, n := range plain.Tensors() {
			if strings.Contains(n.Name, "lora") {
				t.Fatalf("unwrapped model has %s", n.Name)
			}
		}
		f := plain.Build(engine.NewGraph(tr.Pool), tr.Opts.BatchSize, tr.Opts.MaxLength)
		copy(f.Inputs, tr.fwd.Inputs)
		copy(f.Targets, tr.fwd.Targets)
		f.Graph.Forward()
		var scale, worst float64
		for i, v := range want {
			scale = math.Max(scale, math.Abs(float64(v)))
			worst = math.Max(worst, math.Abs(float64(v-f.Logits.Data[i])))
		}
		if worst > 1e-5*scale {
			t.Fatalf("lora_only=%v: unwrapped logits differ by %g (relative %g)", loraOnly, worst, worst/scale)
		}
	}
}
