package engine

import (
	"fmt"

	"github.com/relora-go/relora-go/asm"
)

// binaryOp is y = a + b (residual add) or y = a ⊙ b (elementwise multiply).
type binaryOp struct {
	a, b, y *Tensor
	mul     bool
	back    bool
}

// Add records y = a + b (same shapes).
func (g *Graph) Add(a, b *Tensor) *Tensor { return g.binary(a, b, false) }

// Mul records y = a ⊙ b (same shapes).
func (g *Graph) Mul(a, b *Tensor) *Tensor { return g.binary(a, b, true) }

func (g *Graph) binary(a, b *Tensor, mul bool) *Tensor {
	if a.Size() != b.Size() {
		panic(fmt.Sprintf("engine: elementwise op on %v and %v: sizes differ", a, b))
	}
	y := g.NewActivation("add", needGrad(a, b), a.Shape...)
	if mul {
		y.Name = "mul"
	}
	if g.dev != nil {
		g.Record(&devBinary{binaryOp{a: a, b: b, y: y, mul: mul}}, y)
		return y
	}
	g.Record(&binaryOp{a: a, b: b, y: y, mul: mul}, y)
	return y
}

func (o *binaryOp) Kind() string {
	if o.mul {
		return "mul"
	}
	return "add"
}

// elemChunks is the number of pieces an elementwise op is split into.
const elemChunks = 64

// span is piece i of n elements split into elemChunks pieces.
func span(n, i int) (lo, hi int) {
	per := (n + elemChunks - 1) / elemChunks
	lo = min(i*per, n)
	return lo, min(lo+per, n)
}

func (o *binaryOp) Forward(g *Graph) { o.back = false; g.Pool.Run(elemChunks, o) }

func (o *binaryOp) Backward(g *Graph) { o.back = true; g.Pool.Run(elemChunks, o) }

func (o *binaryOp) Run(_, i int) {
	lo, hi := span(o.a.Size(), i)
	a, b, y := o.a.Data[lo:hi], o.b.Data[lo:hi], o.y.Data[lo:hi]
	if !o.back {
		if o.mul {
			for j := range y {
				y[j] = a[j] * b[j]
			}
		} else {
			for j := range y {
				y[j] = a[j] + b[j]
			}
		}
		return
	}
	dy := o.y.Grad[lo:hi]
	if o.a.Grad != nil {
		da := o.a.Grad[lo:hi]
		for j := range dy {
			if o.mul {
				da[j] += dy[j] * b[j]
			} else {
				da[j] += dy[j]
			}
		}
	}
	if o.b.Grad != nil {
		db := o.b.Grad[lo:hi]
		for j := range dy {
			if o.mul {
				db[j] += dy[j] * a[j]
			} else {
				db[j] += dy[j]
			}
		}
	}
}

// swigluOp is y = silu(gate) ⊙ up, fused.
type swigluOp struct {
	gate, up, y *Tensor
	back        bool
}

// SwiGLU records y = silu(gate) ⊙ up, with silu(x) = x·σ(x).
func (g *Graph) SwiGLU(gate, up *Tensor) *Tensor {
	if gate.Size() != up.Size() {
		panic(fmt.Sprintf("engine: SwiGLU on %v and %v: sizes differ", gate, up))
	}
	y := g.NewActivation("swiglu", needGrad(gate, up), gate.Shape...)
	if g.dev != nil {
		g.Record(&devSwiGLU{swigluOp{gate: gate, up: up, y: y}}, y)
		return y
	}
	g.Record(&swigluOp{gate: gate, up: up, y: y}, y)
	return y
}

func (o *swigluOp) Kind() string { return "swiglu" }

func (o *swigluOp) Forward(g *Graph)  { o.back = false; g.Pool.Run(elemChunks, o) }
func (o *swigluOp) Backward(g *Graph) { o.back = true; g.Pool.Run(elemChunks, o) }

func (o *swigluOp) Run(_, i int) {
	lo, hi := span(o.y.Size(), i)
	gt, up := o.gate.Data[lo:hi], o.up.Data[lo:hi]
	if !o.back {
		asm.SwiGLU(o.y.Data[lo:hi], gt, up)
		return
	}
	var dg, du []float32
	if o.gate.Grad != nil {
		dg = o.gate.Grad[lo:hi]
	}
	if o.up.Grad != nil {
		du = o.up.Grad[lo:hi]
	}
	asm.SwiGLUBackward(dg, du, o.y.Grad[lo:hi], gt, up)
}
