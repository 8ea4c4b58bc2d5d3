package relora

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/engine/sched"
)

// roundTrip is x rounded to bf16 and widened back.
func roundTrip(x []float32) []float32 {
	h := make([]uint16, len(x))
	engine.RoundBF16(h, x)
	w := make([]float32, len(x))
	engine.WidenBF16(w, h)
	return w
}

// layerPair is one ReLoRA layer twice over the same random values: ref with
// a float32 W0 already rounded to bf16 values, bf with W0 held in bf16.
type layerPair struct {
	ref, bf *Linear
	x       [2]*engine.Tensor
	y       [2]*engine.Tensor
	g       [2]*engine.Graph
}

func newLayerPair(t *testing.T, dropout float32, out, in, r int) *layerPair {
	rng := rand.New(rand.NewPCG(5, 6))
	rand32 := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	w0, a, b, x, dy := rand32(out*in), rand32(r*in), rand32(out*r), rand32(7*in), rand32(7*out)
	p := &layerPair{}
	for k := range 2 {
		ar := engine.NewArena(1 << 12)
		l := &Linear{W0: ar.New("w0", false, out, in), A: ar.New("A", true, r, in), B: ar.New("B", true, out, r),
			Scale: 0.7, Dropout: dropout, Rng: NewStream(9, 9)}
		copy(l.W0.Data, roundTrip(w0))
		if k == 1 {
			copy(l.W0.Data, w0)
			StoreW0BF16([]*Linear{l}) // rounds here
		}
		copy(l.A.Data, a)
		copy(l.B.Data, b)
		g := engine.NewGraph(sched.New(2))
		g.Training = true
		p.x[k] = ar.New("x", true, 7, in)
		copy(p.x[k].Data, x)
		p.y[k] = l.Apply(g, p.x[k])
		g.WeightedSum(p.y[k], dy)
		p.g[k] = g
		if k == 0 {
			p.ref = l
		} else {
			p.bf = l
		}
	}
	return p
}

// A bf16 layer computes what the float32 layer does on W0 rounded to bf16:
// bit for bit where both run the unfused branches (dropout), within
// float32 reassociation where the float32 layer fuses W_eff (no dropout).
func TestBF16LayerEqualsFP32OnRoundedW0(t *testing.T) {
	for _, dropout := range []float32{0.3, 0} {
		p := newLayerPair(t, dropout, 24, 40, 4)
		if p.bf.fused() || !p.bf.W0.IsBF16() {
			t.Fatal("a bf16 layer must run unfused on bf16 storage")
		}
		for k := range 2 {
			p.g[k].Forward()
			p.g[k].Backward()
		}
		if p.bf.eff != nil {
			t.Fatal("a bf16 layer kept a float32 W_eff")
		}
		tol := float32(0)
		if dropout == 0 {
			tol = 2e-5
		}
		for _, c := range []struct {
			what     string
			ref, got []float32
		}{{"y", p.y[0].Data, p.y[1].Data}, {"dX", p.x[0].Grad, p.x[1].Grad},
			{"dA", p.ref.A.Grad, p.bf.A.Grad}, {"dB", p.ref.B.Grad, p.bf.B.Grad}} {
			var scale float32
			for _, v := range c.ref {
				scale = max(scale, float32(math.Abs(float64(v))))
			}
			for i := range c.ref {
				if d := float32(math.Abs(float64(c.ref[i] - c.got[i]))); d > tol*scale || (tol == 0 && c.ref[i] != c.got[i]) {
					t.Fatalf("dropout %g: %s[%d] = %g, the float32 layer on rounded W0 gives %g", dropout, c.what, i, c.got[i], c.ref[i])
				}
			}
		}
	}
}

// Merge of a bf16 W0 is round(widen(W0) + s·B·A): bit for bit what the
// float32 merge on the rounded W0 gives once rounded, and within half a
// bf16 ulp (plus float32 round-off) of the sum computed in float64.
func TestBF16Merge(t *testing.T) {
	p := newLayerPair(t, 0, 24, 40, 4)
	w0 := append([]float32(nil), p.ref.W0.Data...) // = widen(bf16 W0)
	s, out, in, r := float64(p.bf.Scale), 24, 40, 4
	exact := make([]float64, out*in)
	for i := range out {
		for j := range in {
			sum := float64(w0[i*in+j])
			for k := range r {
				sum += s * float64(p.bf.B.Data[i*r+k]) * float64(p.bf.A.Data[k*in+j])
			}
			exact[i*in+j] = sum
		}
	}
	p.ref.Merge(nil, nil, rand.New(rand.NewPCG(1, 1)))
	p.bf.Merge(nil, nil, rand.New(rand.NewPCG(1, 1)))
	want := make([]uint16, out*in)
	engine.RoundBF16(want, p.ref.W0.Data)
	if !slices.Equal(want, p.bf.W0.BF16) {
		t.Fatal("bf16 merge differs from the rounded float32 merge")
	}
	for i, e := range exact {
		got := float64(engine.BF16ToFloat32(p.bf.W0.BF16[i]))
		ulp := math.Ldexp(1, math.Ilogb(e)-7) // bf16: 8 significant bits
		if math.Abs(got-e) > ulp/2+1e-6*math.Abs(e) {
			t.Fatalf("W0[%d] after merge %g, exact sum %g (bf16 ulp %g)", i, got, e, ulp)
		}
	}
	if !slices.Equal(p.ref.A.Data, p.bf.A.Data) || slices.ContainsFunc(p.bf.B.Data, func(v float32) bool { return v != 0 }) {
		t.Fatal("factors not restarted as the float32 layer's")
	}
}
