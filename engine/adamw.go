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

	// on a device (ToDevice): the moments there, and per-piece sums of squares
	dev        Device
	dm, dv     []Buf
	dpart      Buf
	part       []float32
	partOffset []int // first piece of each parameter

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

// ToDevice moves the optimizer to dev: its moments get device storage
// (uploaded from the host), and Apply, GradNorm and ZeroGrads run there on
// the parameters' Dev and DevGrad (the parameters must be on dev). The host
// moments are a copy, refreshed by MomentsFromDevice and pushed back by
// MomentsToDevice (for checkpoints and optimizer resets).
func (o *AdamW) ToDevice(dev Device) {
	o.dev = dev
	total := 0
	for _, p := range o.params {
		total += p.Size()
	}
	slab := dev.Alloc(max(2*total, 1))
	o.dm, o.dv, o.partOffset = nil, nil, nil
	off, pieces := 0, 0
	for _, p := range o.params {
		o.dm = append(o.dm, slab.Slice(off, off+p.Size()))
		o.dv = append(o.dv, slab.Slice(off+p.Size(), off+2*p.Size()))
		off += 2 * p.Size()
		o.partOffset = append(o.partOffset, pieces)
		pieces += (p.Size() + pieceSize - 1) / pieceSize
	}
	o.dpart = dev.Alloc(max(pieces, 1)).Slice(0, pieces)
	o.part = make([]float32, pieces)
	o.MomentsToDevice()
}

// MomentsToDevice uploads the host moments (after a load or a reset).
func (o *AdamW) MomentsToDevice() {
	for i := range o.params {
		o.dev.Upload(o.dm[i], o.m[i])
		o.dev.Upload(o.dv[i], o.v[i])
	}
}

// MomentsFromDevice downloads the moments into the host copy.
func (o *AdamW) MomentsFromDevice() {
	for i := range o.params {
		o.dev.Download(o.m[i], o.dm[i])
		o.dev.Download(o.v[i], o.dv[i])
	}
}

// OnDevice reports whether the optimizer runs on a device.
func (o *AdamW) OnDevice() bool { return o.dev != nil }

// GradNorm is the global L2 norm of all gradients.
func (o *AdamW) GradNorm(pool *sched.Pool) float64 {
	if o.dev != nil {
		for i, p := range o.params {
			n := (p.Size() + pieceSize - 1) / pieceSize
			o.dev.SumSquares(o.dpart.Slice(o.partOffset[i], o.partOffset[i]+n), p.DevGrad, pieceSize)
		}
		o.dev.Download(o.part, o.dpart)
		var s float64
		for _, n := range o.part {
			s += float64(n)
		}
		return math.Sqrt(s)
	}
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
	if o.dev != nil {
		for i, p := range o.params {
			o.dev.AdamW(p.Dev, p.DevGrad, o.dm[i], o.dv[i], o.stepParams())
		}
		return
	}
	o.phase = 1
	pool.Run(len(o.pieces), o)
}

// ZeroGrads clears the gradients of the optimizer's parameters.
func (o *AdamW) ZeroGrads() {
	for _, t := range o.params {
		if o.dev != nil {
			o.dev.Zero(t.DevGrad)
			continue
		}
		clear(t.Grad)
	}
}

// stepParams are the constants of the current update.
func (o *AdamW) stepParams() asm.AdamWParams {
	c := o.Config
	return asm.AdamWParams{
		Beta1: float32(c.Beta1), Beta2: float32(c.Beta2),
		Decay:     float32(1 - o.lr*c.WeightDecay),
		StepSize:  float32(o.lr / o.bc1),
		BC2Sqrt:   float32(math.Sqrt(o.bc2)),
		Eps:       float32(c.Eps),
		GradScale: o.clip,
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
	asm.AdamW(t.Data[pc.lo:pc.hi], g, o.m[pc.p][pc.lo:pc.hi], o.v[pc.p][pc.lo:pc.hi], o.stepParams())
}
