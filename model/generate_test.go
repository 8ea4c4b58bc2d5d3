package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/engine/sched"
)

// randomModel is a small model with random weights and norm weights away
// from 1, so that every parameter matters.
func randomModel(c Config, seed uint64) *Model {
	m := New(c)
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, n := range m.Tensors() {
		for i := range n.T.Data {
			if len(n.T.Shape) == 1 {
				n.T.Data[i] = float32(1 + 0.2*rng.NormFloat64())
			} else {
				n.T.Data[i] = float32(0.15 * rng.NormFloat64())
			}
		}
	}
	return m
}

// graphLogits runs the training graph's forward on one sequence and
// returns its logits [len(ids), vocab].
func graphLogits(m *Model, ids []int32, threads int) []float32 {
	f := m.Build(engine.NewGraph(sched.New(threads)), 1, len(ids))
	copy(f.Inputs, ids)
	f.Graph.Forward()
	return append([]float32(nil), f.Logits.Data...)
}

func TestDecoderMatchesGraph(t *testing.T) {
	c := Config{Hidden: 48, Intermediate: 80, Heads: 3, Layers: 3, Vocab: 97, NormEps: 1e-5, InitRange: 0.02, Act: "silu"}
	m := randomModel(c, 1)
	const T = 37
	ids := make([]int32, T)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range ids {
		ids[i] = int32(rng.IntN(c.Vocab))
	}
	want := graphLogits(m, ids, 2)
	dec, err := NewDecoder(m, T, sched.New(2))
	if err != nil {
		t.Fatal(err)
	}
	var scale float64
	for _, v := range want {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	for pass := 0; pass < 2; pass++ { // the second pass checks Reset
		dec.Reset()
		for p, id := range ids {
			got, err := dec.Step(int(id))
			if err != nil {
				t.Fatal(err)
			}
			row := want[p*c.Vocab : (p+1)*c.Vocab]
			for j := range row {
				if d := math.Abs(float64(got[j] - row[j])); d > 1e-5*scale {
					t.Fatalf("pass %d position %d logit %d: cached %g, graph %g (scale %g)", pass, p, j, got[j], row[j], scale)
				}
			}
		}
	}
	if _, err := dec.Step(0); err == nil {
		t.Fatal("step past the cache length succeeded")
	}
}

func TestSampling(t *testing.T) {
	logits := []float32{0, 3, 1, 2.5, -1}
	rng := rand.New(rand.NewPCG(1, 2))
	if got := (Sampling{}).Sample(logits, rng); got != 1 {
		t.Fatalf("greedy chose %d", got)
	}
	if got := (Sampling{Temperature: 1, TopK: 1}).Sample(logits, rng); got != 1 {
		t.Fatalf("top_k 1 chose %d", got)
	}
	// top_p: softmax probabilities are about 0.05, 0.50, 0.07, 0.31, 0.02;
	// p = 0.75 keeps tokens 1 and 3 only.
	counts := map[int]int{}
	for i := 0; i < 4000; i++ {
		counts[(Sampling{Temperature: 1, TopP: 0.75}).Sample(logits, rng)]++
	}
	if len(counts) != 2 || counts[1] == 0 || counts[3] == 0 {
		t.Fatalf("top_p 0.75 drew %v", counts)
	}
	// frequencies follow the renormalised probabilities e^3 : e^2.5
	want := math.Exp(3) / (math.Exp(3) + math.Exp(2.5))
	if got := float64(counts[1]) / 4000; math.Abs(got-want) > 0.03 {
		t.Fatalf("token 1 drawn %.3f of the time, want %.3f", got, want)
	}
}
