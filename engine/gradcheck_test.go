package engine

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/relora-go/relora-go/engine/sched"
)

func randFill(rng *rand.Rand, x []float32, scale float64) {
	for i := range x {
		x[i] = float32(rng.NormFloat64() * scale)
	}
}

// checkGrads compares the analytic gradient of every input against central
// finite differences of the objective (computed in float64 from float32
// forward passes), on up to 40 sampled elements per input.
func checkGrads(t *testing.T, name string, g *Graph, objective func() float64, inputs ...*Tensor) {
	t.Helper()
	g.Forward()
	for _, in := range inputs {
		clear(in.Grad)
	}
	g.Backward()
	rng := rand.New(rand.NewPCG(7, 7))
	for _, in := range inputs {
		analytic := append([]float32(nil), in.Grad...)
		n := in.Size()
		for s := 0; s < min(n, 40); s++ {
			i := s
			if n > 40 {
				i = rng.IntN(n)
			}
			orig := in.Data[i]
			h := float32(1e-2) * max(1, float32(math.Abs(float64(orig))))
			in.Data[i] = orig + h
			g.Forward()
			up := objective()
			in.Data[i] = orig - h
			g.Forward()
			down := objective()
			in.Data[i] = orig
			fd := (up - down) / float64(2*h)
			an := float64(analytic[i])
			if math.Abs(fd-an) > 2e-3+3e-2*math.Abs(fd) {
				t.Errorf("%s: d/d%s[%d]: analytic %.6g, finite difference %.6g", name, in.Name, i, an, fd)
			}
		}
	}
	g.Forward()
}

func newTestGraph() (*Graph, *Arena) {
	return NewGraph(sched.New(2)), NewArena(1 << 16)
}

// probe ends a test graph with the objective Σ y⊙r for a fixed random r,
// so that every output element gets a distinct upstream gradient.
func probe(g *Graph, y *Tensor, seed uint64) func() float64 {
	r := make([]float32, y.Size())
	randFill(rand.New(rand.NewPCG(seed, 1)), r, 1)
	return g.WeightedSum(y, r).Value
}

func TestGradMatMul(t *testing.T) {
	for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
		g, ar := newTestGraph()
		rng := rand.New(rand.NewPCG(1, 2))
		m, k, n := 5, 7, 3
		as, bs := []int{m, k}, []int{k, n}
		if tr[0] {
			as = []int{k, m}
		}
		if tr[1] {
			bs = []int{n, k}
		}
		a, b := ar.New("a", true, as...), ar.New("b", true, bs...)
		randFill(rng, a.Data, 1)
		randFill(rng, b.Data, 1)
		obj := probe(g, g.MatMul(a, b, tr[0], tr[1]), 3)
		checkGrads(t, "matmul", g, obj, a, b)
	}
}

func TestGradLinearFrozenWeight(t *testing.T) {
	g, ar := newTestGraph()
	rng := rand.New(rand.NewPCG(1, 3))
	x, w := ar.New("x", true, 2, 3, 6), ar.New("w", false, 4, 6)
	randFill(rng, x.Data, 1)
	randFill(rng, w.Data, 1)
	y := g.Linear(x, w)
	if y.Shape[0] != 2 || y.Shape[1] != 3 || y.Shape[2] != 4 {
		t.Fatalf("Linear output shape %v, want [2 3 4]", y.Shape)
	}
	checkGrads(t, "linear", g, probe(g, y, 4), x)
	if w.Grad != nil {
		t.Fatal("frozen weight gained a gradient buffer")
	}
}

func TestGradElementwise(t *testing.T) {
	g, ar := newTestGraph()
	rng := rand.New(rand.NewPCG(1, 4))
	a, b := ar.New("a", true, 9, 11), ar.New("b", true, 9, 11)
	randFill(rng, a.Data, 1)
	randFill(rng, b.Data, 1)
	s := g.Add(a, b)
	p := g.Mul(s, b)
	y := g.SwiGLU(p, a)
	checkGrads(t, "add/mul/swiglu", g, probe(g, y, 5), a, b)
}

func TestGradRMSNorm(t *testing.T) {
	g, ar := newTestGraph()
	rng := rand.New(rand.NewPCG(1, 5))
	x, w := ar.New("x", true, 6, 10), ar.New("w", true, 10)
	randFill(rng, x.Data, 1)
	randFill(rng, w.Data, 1)
	checkGrads(t, "rmsnorm", g, probe(g, g.RMSNorm(x, w, 1e-6), 6), x, w)
}

func TestGradRoPE(t *testing.T) {
	g, ar := newTestGraph()
	rng := rand.New(rand.NewPCG(1, 6))
	x := ar.New("x", true, 2*5, 3*8)
	randFill(rng, x.Data, 1)
	checkGrads(t, "rope", g, probe(g, g.RoPE(x, 5, 3), 7), x)
}

func TestGradAttention(t *testing.T) {
	g, ar := newTestGraph()
	rng := rand.New(rand.NewPCG(1, 7))
	q, k, v := ar.New("q", true, 2*6, 2*4), ar.New("k", true, 2*6, 2*4), ar.New("v", true, 2*6, 2*4)
	randFill(rng, q.Data, 1)
	randFill(rng, k.Data, 1)
	randFill(rng, v.Data, 1)
	checkGrads(t, "attention", g, probe(g, g.Attention(q, k, v, 6, 2), 8), q, k, v)
}

func TestAttentionIsCausal(t *testing.T) {
	g, ar := newTestGraph()
	rng := rand.New(rand.NewPCG(2, 7))
	q, k, v := ar.New("q", false, 5, 4), ar.New("k", false, 5, 4), ar.New("v", false, 5, 4)
	randFill(rng, q.Data, 1)
	randFill(rng, k.Data, 1)
	randFill(rng, v.Data, 1)
	y := g.Attention(q, k, v, 5, 1)
	g.Forward()
	before := append([]float32(nil), y.Data[:3*4]...)
	for i := 3 * 4; i < 5*4; i++ { // change the future: positions 3 and 4
		k.Data[i] += 1
		v.Data[i] -= 2
	}
	g.Forward()
	for i, b := range before {
		if y.Data[i] != b {
			t.Fatalf("output at position %d changed when only later positions changed", i/4)
		}
	}
	// position 0 attends to itself only
	for j := 0; j < 4; j++ {
		if y.Data[j] != v.Data[j] {
			t.Fatalf("position 0 output %v, want its own value row %v", y.Data[:4], v.Data[:4])
		}
	}
}

func TestGradEmbedding(t *testing.T) {
	g, ar := newTestGraph()
	rng := rand.New(rand.NewPCG(1, 8))
	table := ar.New("table", true, 7, 5)
	randFill(rng, table.Data, 1)
	ids := []int32{3, 1, 3, 6, 0, 3}
	checkGrads(t, "embedding", g, probe(g, g.Embedding(table, ids), 9), table)
}

func TestGradCrossEntropy(t *testing.T) {
	g, ar := newTestGraph()
	rng := rand.New(rand.NewPCG(1, 9))
	logits := ar.New("logits", true, 6, 11)
	randFill(rng, logits.Data, 3)
	targets := []int32{0, 10, 4, -1, 4, 7}
	loss := g.CrossEntropy(logits, targets)
	checkGrads(t, "cross_entropy", g, loss.Value, logits)
	// independent value: mean over the 5 valid rows of logsumexp − x[target]
	var want float64
	for r, tg := range targets {
		if tg < 0 {
			continue
		}
		var s float64
		for _, x := range logits.Data[r*11 : r*11+11] {
			s += math.Exp(float64(x))
		}
		want += math.Log(s) - float64(logits.Data[r*11+int(tg)])
	}
	want /= 5
	if math.Abs(loss.Value()-want) > 1e-5 {
		t.Fatalf("loss %.7f, want %.7f", loss.Value(), want)
	}
}

func TestCrossEntropyStableForHugeLogits(t *testing.T) {
	g, ar := newTestGraph()
	logits := ar.New("logits", true, 1, 3)
	copy(logits.Data, []float32{1000, 0, -1000})
	loss := g.CrossEntropy(logits, []int32{0})
	g.Forward()
	g.Backward()
	if math.IsNaN(loss.Value()) || math.IsInf(loss.Value(), 0) || loss.Value() > 1e-6 {
		t.Fatalf("loss %v for a confident correct prediction, want ~0", loss.Value())
	}
	for _, d := range logits.Grad {
		if math.IsNaN(float64(d)) {
			t.Fatal("NaN gradient")
		}
	}
}
