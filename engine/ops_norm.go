package engine

import (
	"fmt"
	"math"

	"github.com/relora-go/relora-go/asm"
)

// rmsnormOp is y = x · rsqrt(mean(x²) + eps) · w over the last dimension.
type rmsnormOp struct {
	x, w, y     *Tensor
	rstd        []float32 // per row, saved for backward
	eps         float32
	rows, d     int
	count, size int
	phase       int // 0 forward, 1 backward dx, 2 backward dw
}

// RMSNorm records LLaMA's RMSNorm with weight w [d].
func (g *Graph) RMSNorm(x, w *Tensor, eps float32) *Tensor {
	if w.Size() != x.Cols() {
		panic(fmt.Sprintf("engine: RMSNorm of %v with weight %v: widths differ", x, w))
	}
	y := g.NewActivation("rmsnorm", needGrad(x, w), x.Shape...)
	o := &rmsnormOp{x: x, w: w, y: y, eps: eps, rows: x.Rows(), d: x.Cols()}
	if g.dev != nil {
		g.Record(&devRMSNorm{o, g.DevScratch(o.rows)}, y)
		return y
	}
	o.rstd = g.Scratch(o.rows)
	o.count, o.size = g.chunks(o.rows)
	g.Record(o, y)
	return y
}

func (o *rmsnormOp) Kind() string { return "rmsnorm" }

// RMSNormRow writes y = x · rsqrt(mean(x²) + eps) · w for one row and
// returns the reciprocal RMS it used.
func RMSNormRow(y, x, w []float32, eps float32) float32 {
	rs := float32(1 / math.Sqrt(asm.SumSquares(x)/float64(len(x))+float64(eps)))
	asm.ScaleMul(y, x, w, rs)
	return rs
}

func (o *rmsnormOp) Forward(g *Graph) { o.phase = 0; g.Pool.Run(o.count, o) }

func (o *rmsnormOp) Backward(g *Graph) {
	if o.x.Grad != nil {
		o.phase = 1
		g.Pool.Run(o.count, o)
	}
	if o.w.Grad != nil {
		o.phase = 2
		g.Pool.Run(elemChunks, o)
	}
}

func (o *rmsnormOp) Run(_, i int) {
	d := o.d
	w := o.w.Data
	if o.phase == 2 { // dw[j] += Σ_rows dy[r,j]·x[r,j]·rstd[r], columns split
		lo, hi := span(d, i)
		dw := o.w.Grad[lo:hi]
		for r := 0; r < o.rows; r++ {
			x := o.x.Data[r*d+lo : r*d+hi]
			dy := o.y.Grad[r*d+lo : r*d+hi]
			rs := o.rstd[r]
			for j := range dw {
				dw[j] += dy[j] * x[j] * rs
			}
		}
		return
	}
	lo := i * o.size
	hi := min(lo+o.size, o.rows)
	for r := lo; r < hi; r++ {
		x := o.x.Data[r*d : r*d+d]
		if o.phase == 0 {
			o.rstd[r] = RMSNormRow(o.y.Data[r*d:r*d+d], x, w, o.eps)
			continue
		}
		// dx = rstd·(dy⊙w − x̂·mean(dy⊙w⊙x̂)), x̂ = x·rstd
		rs := o.rstd[r]
		dy := o.y.Grad[r*d : r*d+d]
		var dot float64
		for j, v := range x {
			dot += float64(dy[j] * w[j] * v)
		}
		c := float32(dot/float64(d)) * rs * rs
		dx := o.x.Grad[r*d : r*d+d]
		for j, v := range x {
			dx[j] += rs * (dy[j]*w[j] - v*c)
		}
	}
}
