package engine

import (
	"math"

	"github.com/relora-go/relora-go/asm"

	"github.com/relora-go/relora-go/engine/sched"
)

// AdamWConfig holds the optimizer's hyper-parameters (PyTorch's names).
type AdamWConfig struct {
	Beta1, Beta2, Eps, WeightDecay float64
}

// AdamW is PyTorch's AdamW: decoupled weight decay, bias-corrected moments.
// Its moments live in one arena; Step counts updates (bias correction uses
// it and ReLoRA's optimizer reset leaves it alone).
type AdamW struct {
	Config AdamWConfig
	Step   int

	params []*Tensor
	m, v   [][]float32
	pieces []piece
	norms  []float64 // per piece, for the gradient norm

	// set per call
	lr, bc1, bc2 float64
	clip         float32
	phase        int // 0 sum of squares, 1 update
}

type piece struct{ p, lo, hi int }

const pieceSize = 1 << 15

// NewAdamW builds an optimizer for the trainable tensors among params
// (frozen ones are skipped: they get no state).
func NewAdamW(params []*Tensor, cfg AdamWConfig) *AdamW {
	o := &AdamW{Config: cfg}
	total := 0
	for _, t := range params {
		if t.Grad != nil {
			o.params = append(o.params, t)
			total += t.Size()
		}
	}
	arena := NewArena(max(2*total, 1))
	for i, t := range o.params {
		o.m = append(o.m, arena.Alloc(t.Size()))
		o.v = append(o.v, arena.Alloc(t.Size()))
		for lo := 0; lo < t.Size(); lo += pieceSize {
			o.pieces = append(o.pieces, piece{i, lo, min(lo+pieceSize, t.Size())})
		}
	}
	o.norms = make([]float64, len(o.pieces))
	return o
}

// Params are the tensors the optimizer updates, in order.
func (o *AdamW) Params() []*Tensor { return o.params }

// Moments returns the first and second moment buffers of parameter i.
func (o *AdamW) Moments(i int) (m, v []float32) { return o.m[i], o.v[i] }

// GradNorm is the global L2 norm of all gradients.
func (o *AdamW) GradNorm(pool *sched.Pool) float64 {
	o.phase = 0
	pool.Run(len(o.pieces), o)
	var s float64
	for _, n := range o.norms {
		s += n
	}
	return math.Sqrt(s)
}

// ClipCoef is PyTorch's clip_grad_norm_ factor for a gradient of global
// norm norm: maxNorm/(norm+1e-6) when that is below 1, else 1 (and 1 when
// maxNorm <= 0, which disables clipping).
func ClipCoef(norm, maxNorm float64) float64 {
	if maxNorm > 0 {
		if c := maxNorm / (norm + 1e-6); c < 1 {
			return c
		}
	}
	return 1
}

// Apply performs one AdamW step at learning rate lr on the gradients
// multiplied by gradScale (the clipping coefficient).
func (o *AdamW) Apply(pool *sched.Pool, lr, gradScale float64) {
	o.clip = float32(gradScale)
	o.Step++
	o.lr = lr
	o.bc1 = 1 - math.Pow(o.Config.Beta1, float64(o.Step))
	o.bc2 = 1 - math.Pow(o.Config.Beta2, float64(o.Step))
	o.phase = 1
	pool.Run(len(o.pieces), o)
}

// ZeroGrads clears the gradients of the optimizer's parameters.
func (o *AdamW) ZeroGrads() {
	for _, t := range o.params {
		clear(t.Grad)
	}
}

// Run processes one piece of one parameter.
func (o *AdamW) Run(_, i int) {
	pc := o.pieces[i]
	t := o.params[pc.p]
	g := t.Grad[pc.lo:pc.hi]
	if o.phase == 0 {
		o.norms[i] = asm.SumSquares(g)
		return
	}
	c := o.Config
	asm.AdamW(t.Data[pc.lo:pc.hi], g, o.m[pc.p][pc.lo:pc.hi], o.v[pc.p][pc.lo:pc.hi], asm.AdamWParams{
		Beta1: float32(c.Beta1), Beta2: float32(c.Beta2),
		Decay:     float32(1 - o.lr*c.WeightDecay),
		StepSize:  float32(o.lr / o.bc1),
		BC2Sqrt:   float32(math.Sqrt(o.bc2)),
		Eps:       float32(c.Eps),
		GradScale: o.clip,
	})
}
