package model

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/engine/sched"
)

// The golden file is made by testdata/golden/gen_llama.py with PyTorch (see
// its README): a tiny LLaMA's weights, a batch, logits, loss, gradients and
// the weights after three clipped AdamW steps.
const goldenPath = "../testdata/golden/llama_tiny.safetensors"

var tinyConfig = Config{Hidden: 64, Intermediate: 172, Heads: 4, Layers: 2, Vocab: 256, NormEps: 1e-6, InitRange: 0.02, Act: "silu"}

// closeToScale fails when any element differs from want by more than tol
// times the largest magnitude in want.
func closeToScale(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var scale float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	worst, at := 0.0, 0
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	if !(worst <= tol*scale) {
		t.Errorf("%s: element %d is %g, PyTorch %g (off by %.3g, limit %.3g)", what, at, got[at], want[at], worst, tol*scale)
	}
}

func loadGolden(t *testing.T) (*Safetensors, *Model, *Forward) {
	st, err := ReadSafetensors(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	m := New(tinyConfig)
	if err := m.LoadWeights(st); err != nil {
		t.Fatal(err)
	}
	engine.AllocGrads(allTensors(m))
	ids, shape, err := st.Int32("input_ids")
	if err != nil {
		t.Fatal(err)
	}
	B, T := shape[0], shape[1]-1
	f := m.Build(engine.NewGraph(sched.New(2)), B, T)
	for b := 0; b < B; b++ {
		copy(f.Inputs[b*T:(b+1)*T], ids[b*(T+1):b*(T+1)+T])
		copy(f.Targets[b*T:(b+1)*T], ids[b*(T+1)+1:(b+1)*(T+1)])
	}
	return st, m, f
}

func mustFloat(t *testing.T, st *Safetensors, name string) []float32 {
	v, _, err := st.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestGoldenForwardBackward(t *testing.T) {
	st, m, f := loadGolden(t)
	f.Graph.Forward()
	closeToScale(t, "logits", f.Logits.Data, mustFloat(t, st, "logits"), 1e-4)
	if want := float64(mustFloat(t, st, "loss")[0]); math.Abs(f.Loss.Value()-want) > 1e-5 {
		t.Errorf("loss %.8f, PyTorch %.8f", f.Loss.Value(), want)
	}
	f.Graph.Backward()
	n := 0
	for _, p := range m.Tensors() {
		closeToScale(t, "gradient of "+p.Name, p.T.Grad, mustFloat(t, st, "grad."+p.Name), 1e-4)
		n++
	}
	if n != 21 {
		t.Fatalf("checked %d gradients, the tiny model has 21 tensors", n)
	}
}

func TestGoldenAdamWSteps(t *testing.T) {
	st, m, f := loadGolden(t)
	opt := engine.NewAdamW(allTensors(m), engine.AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1})
	norms := mustFloat(t, st, "grad_norm")
	losses := mustFloat(t, st, "step_losses")
	for step := 0; step < 3; step++ {
		opt.ZeroGrads()
		f.Graph.Forward()
		f.Graph.Backward()
		if math.Abs(f.Loss.Value()-float64(losses[step])) > 1e-5 {
			t.Errorf("step %d loss %.7f, PyTorch %.7f", step+1, f.Loss.Value(), losses[step])
		}
		norm := opt.GradNorm(f.Graph.Pool)
		opt.Apply(f.Graph.Pool, 1e-2, engine.ClipCoef(norm, 1.0))
		if math.Abs(norm-float64(norms[step])) > 1e-4*float64(norms[step]) {
			t.Errorf("step %d gradient norm %.7f, PyTorch %.7f", step+1, norm, norms[step])
		}
	}
	// Adam divides by √v: where a gradient is near eps (some q/k entries
	// are ~1e-8) float32 rounding moves an update by a fraction of lr.
	// PyTorch's own float32 and float64 runs differ by up to 1.8e-5 here
	// (testdata/golden/README.md), so the bound is 3e-4 of the largest
	// weight (about 3e-5), 0.3% of one step of size lr.
	for _, p := range m.Tensors() {
		closeToScale(t, "after 3 steps, "+p.Name, p.T.Data, mustFloat(t, st, "after3."+p.Name), 3e-4)
	}
}

func TestSafetensorsRejectsCorruptFiles(t *testing.T) {
	file := func(header string, data int) []byte {
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
		return append(append(b, header...), make([]byte, data)...)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"short", []byte{1, 2}, "too short"},
		{"huge header", []byte{255, 255, 255, 255, 0, 0, 0, 0, '{', '}'}, "exceeds the file size"},
		{"bad json", append([]byte{2, 0, 0, 0, 0, 0, 0, 0}, "{x"...), "not valid JSON"},
		{"range", file(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), "outside"},
		{"shape", file(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), "needs 12 bytes"},
		{"dtype", file(`{"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}`, 8), "not supported"},
	} {
		_, err := ParseSafetensors(tc.name, tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}

func allTensors(m *Model) []*engine.Tensor {
	var ts []*engine.Tensor
	for _, n := range m.Tensors() {
		ts = append(ts, n.T)
	}
	return ts
}
