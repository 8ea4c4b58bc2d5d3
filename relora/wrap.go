package relora

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/model"
)

// LoRAConfig describes the low-rank factors of the wrapped Linears.
type LoRAConfig struct {
	R        int     // --lora_r
	Alpha    float64 // --lora_alpha; the scale is Alpha/R
	Dropout  float64 // --lora_dropout, on the low-rank branch's input
	LoraOnly bool    // --lora_only: no W0 at all (low-rank training from scratch)
}

// Wrap replaces the seven Linears of every block with ReLoRA layers. Each
// dense weight becomes the frozen W0 of its layer (same storage, gradient
// buffer dropped) unless LoraOnly drops it. A is drawn from rng, B is zero,
// so the wrapped model computes what the plain one did (under LoraOnly B
// is drawn too: see below). The caller must
// give the new trainable set gradient buffers and a fresh optimizer.
func Wrap(m *model.Model, c LoRAConfig, rng *rand.Rand, seed uint64) ([]*Linear, error) {
	if c.R <= 0 {
		return nil, fmt.Errorf("--lora_r must be positive, got %d", c.R)
	}
	if c.Dropout < 0 || c.Dropout >= 1 {
		return nil, fmt.Errorf("--lora_dropout must be in [0, 1), got %g", c.Dropout)
	}
	total := 0
	for l := range m.Blocks {
		for _, slot := range m.Blocks[l].Projections() {
			d, ok := (*slot).(*model.Dense)
			if !ok {
				return nil, fmt.Errorf("relora: layer %d is already wrapped", l)
			}
			total += c.R * (d.W.Rows() + d.W.Cols())
		}
	}
	arena := engine.NewArena(total)
	var layers []*Linear
	for l := range m.Blocks {
		for i, slot := range m.Blocks[l].Projections() {
			w := (*slot).(*model.Dense).W
			out, in := w.Rows(), w.Cols()
			name := fmt.Sprintf("model.layers.%d.%s", l, model.ProjNames[i])
			lin := &Linear{
				W0:      w,
				A:       arena.New(name+".lora_A.weight", false, c.R, in),
				B:       arena.New(name+".lora_B.weight", false, out, c.R),
				Scale:   float32(c.Alpha / float64(c.R)),
				Dropout: float32(c.Dropout),
				Rng:     NewStream(seed, uint64(len(layers))),
			}
			w.Grad = nil // frozen: no gradient, no optimizer state
			lin.ResetFactors(rng)
			if c.LoraOnly {
				// No W0: W = s·B·A from scratch. B = 0 as well would make
				// every block output 0 and every factor gradient 0 (a
				// saddle the model never leaves), so B is drawn like A,
				// U(±1/√r), as the reference's paper version did.
				lin.W0 = nil
				bound := 1 / math.Sqrt(float64(c.R))
				for i := range lin.B.Data {
					lin.B.Data[i] = float32((2*rng.Float64() - 1) * bound)
				}
			}
			*slot = lin
			layers = append(layers, lin)
		}
	}
	return layers, nil
}
