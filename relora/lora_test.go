package relora

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/relora-go/relora-go/engine"
)

func TestGradLoRALinear(t *testing.T) {
	for _, p := range []float32{0, 0.3} {
		gradLoRA(t, p, false, false)
		gradLoRA(t, p, false, true) // W0 held in bf16
	}
	gradLoRA(t, 0, true, false)
}

func gradLoRA(t *testing.T, dropout float32, loraOnly, bf16 bool) {
	g := engine.NewGraph(nil)
	g.Training = true
	ar := engine.NewArena(1 << 12)
	rng := rand.New(rand.NewPCG(3, 4))
	x := ar.New("x", true, 5, 6)
	l := &Linear{W0: ar.New("w0", false, 4, 6), A: ar.New("A", true, 3, 6), B: ar.New("B", true, 4, 3), Scale: 0.7, Dropout: dropout}
	for _, ts := range [][]float32{x.Data, l.W0.Data, l.A.Data, l.B.Data} {
		for i := range ts {
			ts[i] = float32(rng.NormFloat64())
		}
	}
	if loraOnly {
		l.W0 = nil
	}
	if bf16 {
		StoreW0BF16([]*Linear{l})
	}
	y := l.Apply(g, x)
	r := make([]float32, y.Size())
	for i := range r {
		r[i] = float32(rng.NormFloat64())
	}
	loss := g.WeightedSum(y, r)
	obj := func() float64 {
		l.Rng = NewStream(9, 9)
		l.Invalidate() // the test edits A and B behind the layer's back
		g.Forward()
		return loss.Value()
	}
	obj()
	g.Backward()
	for _, in := range []*engine.Tensor{x, l.A, l.B} {
		for i := range in.Data {
			orig := in.Data[i]
			in.Data[i] = orig + 1e-2
			up := obj()
			in.Data[i] = orig - 1e-2
			down := obj()
			in.Data[i] = orig
			fd := (up - down) / 2e-2
			if math.Abs(fd-float64(in.Grad[i])) > 2e-3+2e-2*math.Abs(fd) {
				t.Fatalf("dropout %g: d/d%s[%d]: analytic %g, finite difference %g", dropout, in.Name, i, in.Grad[i], fd)
			}
		}
	}
}
