package relora

import (
	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/engine/gemm"
	"github.com/relora-go/relora-go/engine/sched"
	"github.com/relora-go/relora-go/model"
)

// Unwrap returns a plain LLaMA with the function of m: every ReLoRA layer
// becomes a dense weight W0 + s·B·A (s·B·A for lora_only), the other
// tensors are copied. m is left as it is. This is what a run's final/
// directory and `relora-cpu export` hold.
func Unwrap(m *model.Model, pool *sched.Pool) *model.Model {
	plain := model.New(m.Config)
	src, dst := m.Tensors(), plain.Tensors()
	byName := map[string]*model.Named{}
	for i := range src {
		byName[src[i].Name] = &src[i]
	}
	for l := range m.Blocks {
		for i, slot := range m.Blocks[l].Projections() {
			lin, ok := (*slot).(*Linear)
			if !ok {
				continue
			}
			w := (*plain.Blocks[l].Projections()[i]).(*model.Dense).W
			switch {
			case lin.W0 == nil:
			case lin.W0.IsBF16():
				engine.WidenBF16(w.Data, lin.W0.BF16)
			default:
				copy(w.Data, lin.W0.Data)
			}
			out, in, r := lin.B.Rows(), lin.A.Cols(), lin.A.Rows()
			beta := float32(1)
			if lin.W0 == nil {
				beta = 0
			}
			gemm.Sgemm(pool, false, false, out, in, r, lin.Scale, lin.B.Data, r, lin.A.Data, in, beta, w.Data, in)
			delete(byName, w.Name) // done: not a copy
		}
	}
	for _, n := range dst {
		if s, ok := byName[n.Name]; ok {
			copy(n.T.Data, s.T.Data)
		}
	}
	return plain
}
