package engine_test

import (
	"math"
	"testing"

	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/engine/sched"
	"github.com/relora-go/relora-go/model"
)

// Each op against PyTorch on its own (testdata/golden/ops.safetensors,
// made by testdata/golden/gen_llama.py): outputs and the gradients of
// Σ y·dy, within 1e-5 of each tensor's largest magnitude.
func TestOpsAgainstPyTorch(t *testing.T) {
	st, err := model.ReadSafetensors("../testdata/golden/ops.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) []float32 {
		v, _, err := st.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	load := func(ar *engine.Arena, name string, shape ...int) *engine.Tensor {
		x := ar.New(name, true, shape...)
		copy(x.Data, get(name))
		return x
	}
	check := func(what string, got, want []float32) {
		t.Helper()
		var scale, worst float64
		for i, w := range want {
			scale = math.Max(scale, math.Abs(float64(w)))
			worst = math.Max(worst, math.Abs(float64(got[i]-w)))
		}
		if len(got) != len(want) || !(worst <= 1e-5*scale) {
			t.Errorf("%s: off by %g (scale %g)", what, worst, scale)
		}
	}
	run := func(g *engine.Graph, _ engine.Loss) { // the loss op ends the graph
		g.Forward()
		g.Backward()
	}
	pool := sched.New(2)
	defer pool.Close()

	{ // RMSNorm
		g, ar := engine.NewGraph(pool), engine.NewArena(1<<10)
		x, w := load(ar, "rmsnorm.x", 3, 8), load(ar, "rmsnorm.w", 8)
		y := g.RMSNorm(x, w, 1e-6)
		run(g, g.WeightedSum(y, get("rmsnorm.dy")))
		check("rmsnorm y", y.Data, get("rmsnorm.y"))
		check("rmsnorm dx", x.Grad, get("rmsnorm.dx"))
		check("rmsnorm dw", w.Grad, get("rmsnorm.dw"))
	}
	{ // RoPE: [T, H, hd] rows are positions 0..4
		g, ar := engine.NewGraph(pool), engine.NewArena(1<<10)
		x := load(ar, "rope.x", 5, 16)
		y := g.RoPE(x, 5, 2)
		run(g, g.WeightedSum(y, get("rope.dy")))
		check("rope y", y.Data, get("rope.y"))
		check("rope dx", x.Grad, get("rope.dx"))
	}
	{ // causal attention, [T, H·hd]
		g, ar := engine.NewGraph(pool), engine.NewArena(1<<10)
		q, k, v := load(ar, "attn.q", 6, 8), load(ar, "attn.k", 6, 8), load(ar, "attn.v", 6, 8)
		y := g.Attention(q, k, v, 6, 2)
		run(g, g.WeightedSum(y, get("attn.dy")))
		check("attention y", y.Data, get("attn.y"))
		check("attention dq", q.Grad, get("attn.dq"))
		check("attention dk", k.Grad, get("attn.dk"))
		check("attention dv", v.Grad, get("attn.dv"))
	}
	{ // SwiGLU
		g, ar := engine.NewGraph(pool), engine.NewArena(1<<10)
		gt, up := load(ar, "swiglu.g", 4, 6), load(ar, "swiglu.u", 4, 6)
		y := g.SwiGLU(gt, up)
		run(g, g.WeightedSum(y, get("swiglu.dy")))
		check("swiglu y", y.Data, get("swiglu.y"))
		check("swiglu dg", gt.Grad, get("swiglu.dg"))
		check("swiglu du", up.Grad, get("swiglu.du"))
	}
	{ // cross-entropy
		g, ar := engine.NewGraph(pool), engine.NewArena(1<<10)
		logits := load(ar, "ce.logits", 5, 7)
		targets, _, err := st.Int32("ce.targets")
		if err != nil {
			t.Fatal(err)
		}
		loss := g.CrossEntropy(logits, targets)
		run(g, loss)
		if want := float64(get("ce.loss")[0]); math.Abs(loss.Value()-want) > 1e-6 {
			t.Errorf("cross-entropy %.8f, PyTorch %.8f", loss.Value(), want)
		}
		check("cross-entropy dlogits", logits.Grad, get("ce.dlogits"))
	}
}
