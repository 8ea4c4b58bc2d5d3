package engine

import (
	"fmt"
	"math"
)

// ropeTable holds cos and sin of t·θ_i for t < seq, i < hd/2.
type ropeTable struct{ cos, sin []float32 }

func (g *Graph) ropeTable(seq, hd int) *ropeTable {
	key := [2]int{seq, hd}
	if t, ok := g.rope[key]; ok {
		return t
	}
	half := hd / 2
	t := &ropeTable{cos: make([]float32, seq*half), sin: make([]float32, seq*half)}
	for i := 0; i < half; i++ {
		// As Hugging Face: inv_freq in float32, angle t·inv_freq in float32.
		inv := float32(1 / math.Pow(10000, float64(2*i)/float64(hd)))
		for p := 0; p < seq; p++ {
			ang := float64(float32(p) * inv)
			t.cos[p*half+i] = float32(math.Cos(ang))
			t.sin[p*half+i] = float32(math.Sin(ang))
		}
	}
	g.rope[key] = t
	return t
}

// ropeOp applies rotary position embeddings ("rotate half" layout, base
// 10000) to x [batch·seq, heads·hd]; row r is position r mod seq.
type ropeOp struct {
	x, y              *Tensor
	tab               *ropeTable
	seq, heads, hd    int
	rows, count, size int
	back              bool
}

// RoPE records rotary embeddings on x, whose rows are positions 0..seq-1
// of consecutive sequences and whose columns are heads of width hd.
func (g *Graph) RoPE(x *Tensor, seq, heads int) *Tensor {
	d := x.Cols()
	if d%heads != 0 || (d/heads)%2 != 0 || x.Rows()%seq != 0 {
		panic(fmt.Sprintf("engine: RoPE on %v with seq %d and %d heads: shapes do not divide", x, seq, heads))
	}
	y := g.NewActivation("rope", needGrad(x), x.Shape...)
	o := &ropeOp{x: x, y: y, seq: seq, heads: heads, hd: d / heads, rows: x.Rows()}
	o.tab = g.ropeTable(seq, o.hd)
	o.count, o.size = g.chunks(o.rows)
	g.Record(o, y)
	return y
}

func (o *ropeOp) Kind() string { return "rope" }

func (o *ropeOp) Forward(g *Graph) { o.back = false; g.Pool.Run(o.count, o) }

func (o *ropeOp) Backward(g *Graph) {
	if o.x.Grad != nil {
		o.back = true
		g.Pool.Run(o.count, o)
	}
}

func (o *ropeOp) Run(_, i int) {
	half := o.hd / 2
	d := o.heads * o.hd
	lo := i * o.size
	hi := min(lo+o.size, o.rows)
	for r := lo; r < hi; r++ {
		p := r % o.seq
		cs := o.tab.cos[p*half : p*half+half]
		sn := o.tab.sin[p*half : p*half+half]
		for h := 0; h < o.heads; h++ {
			base := r*d + h*o.hd
			if !o.back {
				x1 := o.x.Data[base : base+half]
				x2 := o.x.Data[base+half : base+o.hd]
				y1 := o.y.Data[base : base+half]
				y2 := o.y.Data[base+half : base+o.hd]
				for j := range x1 {
					y1[j] = x1[j]*cs[j] - x2[j]*sn[j]
					y2[j] = x2[j]*cs[j] + x1[j]*sn[j]
				}
				continue
			}
			dy1 := o.y.Grad[base : base+half]
			dy2 := o.y.Grad[base+half : base+o.hd]
			dx1 := o.x.Grad[base : base+half]
			dx2 := o.x.Grad[base+half : base+o.hd]
			for j := range dy1 {
				dx1[j] += dy1[j]*cs[j] + dy2[j]*sn[j]
				dx2[j] += dy2[j]*cs[j] - dy1[j]*sn[j]
			}
		}
	}
}
