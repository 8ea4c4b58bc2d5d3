package run

import (
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"weak"

	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/model"
	"github.com/relora-go/relora-go/relora"
)

// bf16Run is the short ReLoRA run of the bf16 trainer tests: a full-rank
// warm start (float32) to update 6, then merges and optimizer resets every
// 5 updates (after 12 and 17), dropout on the low-rank branch.
func bf16Run(dtype, dir string) func(*Options) {
	return func(o *Options) {
		o.Relora, o.CycleLength, o.Scheduler, o.RestartWarmup = 5, 5, relora.ScheduleCosineRestarts, 2
		o.WarmStartSteps, o.LoraR, o.Steps, o.WarmupSteps = 6, 8, 26, 2
		o.DType, o.SaveDir = dtype, dir
	}
}

func stepLosses(t *testing.T, tr *Trainer, to int) []float64 {
	t.Helper()
	var losses []float64
	for tr.Update < to {
		r, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.afterUpdate(); err != nil {
			t.Fatal(err)
		}
		losses = append(losses, r.Loss)
	}
	return losses
}

func TestBF16TrainingResumesAndLoadsInFP32(t *testing.T) {
	dir := t.TempDir()
	a := smallTrainer(t, bf16Run("bfloat16", dir))
	f := smallTrainer(t, bf16Run("float32", t.TempDir()))
	la := stepLosses(t, a, 8)
	lf := stepLosses(t, f, 8)
	if !slices.Equal(la[:6], lf[:6]) {
		t.Fatal("the warm start (float32 in both) differs between the bf16 and the float32 run")
	}
	if len(a.Layers) == 0 || !a.Layers[0].W0.IsBF16() || f.Layers[0].W0.IsBF16() {
		t.Fatal("W0 is not held in bf16 after the warm start of the bf16 run (or is in the float32 run)")
	}
	ckpt, err := a.SaveCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	la = append(la, stepLosses(t, a, 20)...)
	lf = append(lf, stepLosses(t, f, 20)...)
	if a.Merges != 2 || a.Resets != 2 {
		t.Fatalf("%d merges and %d resets, want 2 and 2", a.Merges, a.Resets)
	}
	for i, l := range la {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			t.Fatalf("loss %d is %v", i+1, l)
		}
		if d := math.Abs(l - lf[i]); d > 0.02*lf[i] {
			t.Errorf("update %d: bf16 loss %.4f, float32 %.4f", i+1, l, lf[i])
		}
	}
	if first, last := (la[0]+la[1]+la[2])/3, (la[17]+la[18]+la[19])/3; !(last < first-0.3) {
		t.Fatalf("loss did not fall: %.3f over the first 3 updates, %.3f over the last 3", first, last)
	}

	// resumed in bf16: the same losses and weights as the run that went on
	b := smallTrainer(t, bf16Run("bfloat16", dir))
	if err := b.LoadCheckpoint(ckpt); err != nil {
		t.Fatal(err)
	}
	if !b.Layers[0].W0.IsBF16() {
		t.Fatal("resumed bf16 run holds W0 in float32")
	}
	if lb := stepLosses(t, b, 20); !slices.Equal(lb, la[8:]) {
		t.Fatalf("resumed losses %v, uninterrupted %v", lb, la[8:])
	}
	sameWeights(t, a, b)

	// the bf16 checkpoint in a float32 run: W0 exactly the widened bf16
	c := smallTrainer(t, bf16Run("float32", t.TempDir()))
	if err := c.LoadCheckpoint(ckpt); err != nil {
		t.Fatal(err)
	}
	r := smallTrainer(t, bf16Run("bfloat16", t.TempDir()))
	if err := r.LoadCheckpoint(ckpt); err != nil {
		t.Fatal(err)
	}
	for i, l := range c.Layers {
		w := make([]float32, l.W0.Size())
		engine.WidenBF16(w, r.Layers[i].W0.BF16)
		if l.W0.IsBF16() || !slices.Equal(w, l.W0.Data) {
			t.Fatalf("layer %d: the float32 run's W0 is not the checkpoint's bf16 W0 widened", i)
		}
	}
	if _, err := c.Step(); err != nil {
		t.Fatal(err)
	}

	// and a float32 checkpoint in a bf16 run: W0 rounded on load
	fck, err := f.SaveCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	d := smallTrainer(t, bf16Run("bfloat16", t.TempDir()))
	if err := d.LoadCheckpoint(fck); err != nil {
		t.Fatal(err)
	}
	for i, l := range d.Layers {
		want := make([]uint16, l.W0.Size())
		engine.RoundBF16(want, f.Layers[i].W0.Data)
		if !slices.Equal(want, l.W0.BF16) {
			t.Fatalf("layer %d: W0 loaded from a float32 checkpoint is not its rounding", i)
		}
	}
	if _, err := d.Step(); err != nil {
		t.Fatal(err)
	}
}

// The final model of a bf16 run is its bf16 W0 widened plus s·B·A.
func TestBF16Unwrap(t *testing.T) {
	a := smallTrainer(t, bf16Run("bfloat16", t.TempDir()))
	stepLosses(t, a, 9)
	plain := relora.Unwrap(a.Model, nil)
	l := a.Layers[3]
	w := make([]float32, l.W0.Size())
	engine.WidenBF16(w, l.W0.BF16)
	out, in, r := l.B.Rows(), l.A.Cols(), l.A.Rows()
	for i := range out {
		for j := range in {
			var sum float32
			for k := range r {
				sum += l.B.Data[i*r+k] * l.A.Data[k*in+j]
			}
			w[i*in+j] += l.Scale * sum
		}
	}
	for _, n := range plain.Tensors() {
		if n.Name != "model.layers.0.self_attn.o_proj.weight" {
			continue
		}
		for i := range w {
			if d := math.Abs(float64(w[i] - n.T.Data[i])); d > 1e-6 {
				t.Fatalf("unwrapped o_proj[%d] = %g, W0 + s·B·A = %g", i, n.T.Data[i], w[i])
			}
		}
		return
	}
	t.Fatal("no o_proj in the unwrapped model")
}

// After the wrap of a bf16 run the W0s take half the host memory, the
// other tensors as much as in a float32 run, and the float32 weights of
// the blocks are garbage (collected).
func TestBF16HalvesW0Memory(t *testing.T) {
	bytes := func(dtype string) (w0, rest int64, tr *Trainer) {
		tr = smallTrainer(t, func(o *Options) { o.Relora, o.CycleLength, o.LoraR, o.DType = 5, 5, 8, dtype })
		frozen := map[*engine.Tensor]bool{}
		for _, l := range tr.Layers {
			frozen[l.W0] = true
		}
		for _, n := range tr.Model.Tensors() {
			if frozen[n.T] {
				w0 += n.T.HostBytes()
			} else {
				rest += n.T.HostBytes()
			}
		}
		return w0, rest, tr
	}
	w32, r32, _ := bytes("float32")
	w16, r16, _ := bytes("bfloat16")
	if w32 == 0 || 2*w16 != w32 || r16 != r32 {
		t.Fatalf("W0 %d bytes in bf16, %d in float32; the rest %d and %d", w16, w32, r16, r32)
	}

	// the block slab a W0 was carved from is freed by the conversion (and
	// kept in the float32 run)
	for _, dtype := range []string{"float32", "bfloat16"} {
		tr := smallTrainer(t, func(o *Options) {
			o.Relora, o.CycleLength, o.LoraR, o.WarmStartSteps, o.Steps, o.DType = 5, 5, 8, 2, 22, dtype
		})
		slab := weak.Make(&tr.Model.Blocks[1].Q.(*model.Dense).W.Data[0])
		stepLosses(t, tr, 3) // wraps after update 2
		runtime.GC()
		if freed := slab.Value() == nil; freed != (dtype == "bfloat16") {
			t.Errorf("%s: block 1's float32 weights freed: %v", dtype, freed)
		}
		runtime.KeepAlive(tr)
	}
}

// --dtype on the CPU: bfloat16 only where there is a W0 to hold, tf32
// never; each refusal says why and what to use.
func TestCPUDTypeRefusals(t *testing.T) {
	for _, c := range []struct {
		mod  func(*Options)
		want string // "" accepted
	}{
		{func(o *Options) { o.DType = "tf32" }, "--dtype tf32 is the tensor-core arithmetic of a GPU"},
		{func(o *Options) { o.DType, o.UsePeft, o.LoraR = "tf32", true, 8 }, "the CPU computes in float32"},
		{func(o *Options) { o.DType = "bfloat16" }, "a full-rank run has no frozen weights"},
		{func(o *Options) { o.DType, o.LoraOnly, o.LoraR = "bfloat16", true, 8 }, "--lora_only has no W0"},
		{func(o *Options) { o.DType, o.UsePeft, o.LoraR = "bfloat16", true, 8 }, ""},
		{func(o *Options) { o.DType, o.UsePeft, o.LoraR, o.Device = "bfloat16", true, 8, "cuda" }, ""}, // the device's to check
		{func(o *Options) { o.DType = "float32" }, ""},
	} {
		o := DefaultOptions()
		c.mod(&o)
		err := o.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("--dtype %s (device %q, low-rank %v): %v, want %q", o.DType, o.Device, o.LowRank(), err, c.want)
		}
	}
	o := DefaultOptions()
	o.DType, o.UsePeft, o.LoraR = "bfloat16", true, 8
	if !o.BF16W0() || o.DeviceDType() != "" {
		t.Fatal("bf16 on the CPU must mean bf16 W0 storage and a float32 engine")
	}
	o.Device = "emu"
	if o.BF16W0() || o.DeviceDType() != "bfloat16" {
		t.Fatal("bf16 on a device must mean the device's bf16 GEMMs, not bf16 storage")
	}
}
