package engine

import (
	"fmt"
	"math"
)

// ropeTable holds cos and sin of t·θ_i for t < seq, i < hd/2.
type ropeTable struct{ cos, sin []float32 }

// ropeKey names a RoPE table in the graph's memo.
type ropeKey struct{ seq, hd int }

// ropeTable is the graph's table for (seq, hd), computed once per graph.
func (g *Graph) ropeTable(seq, hd int) *ropeTable {
	return g.memo(ropeKey{seq, hd}, func() any {
		t := &ropeTable{}
		t.cos, t.sin = RoPETable(seq, hd)
		return t
	}).(*ropeTable)
}

// devRopeTable uploads the RoPE table for (seq, hd) once per graph.
func (g *Graph) devRopeTable(seq, hd int) (cos, sin Buf) {
	name := fmt.Sprintf("rope.%d.%d", seq, hd)
	if b, ok := g.dtemp[name+".cos"]; ok {
		return b, g.dtemp[name+".sin"]
	}
	c, s := RoPETable(seq, hd)
	cos, sin = g.dev.Alloc(len(c)), g.dev.Alloc(len(s))
	g.dev.Upload(cos, c)
	g.dev.Upload(sin, s)
	g.dtemp[name+".cos"], g.dtemp[name+".sin"] = cos, sin
	return cos, sin
}

// RoPETable returns cos and sin of p·θ_i, [seq, hd/2] row-major, with
// θ_i = 10000^(−2i/hd), computed as Hugging Face does (inverse frequency
// and angle in float32).
func RoPETable(seq, hd int) (cos, sin []float32) {
	half := hd / 2
	cos, sin = make([]float32, seq*half), make([]float32, seq*half)
	for i := 0; i < half; i++ {
		inv := float32(1 / math.Pow(10000, float64(2*i)/float64(hd)))
		for p := 0; p < seq; p++ {
			ang := float64(float32(p) * inv)
			cos[p*half+i] = float32(math.Cos(ang))
			sin[p*half+i] = float32(math.Sin(ang))
		}
	}
	return cos, sin
}

// RoPERow rotates one position's row in place: every head of width
// 2·len(cs) in x, "rotate half" layout, with that position's cos and sin.
func RoPERow(y, x, cs, sn []float32) {
	half := len(cs)
	for h := 0; h+2*half <= len(x); h += 2 * half {
		x1, x2 := x[h:h+half], x[h+half:h+2*half]
		y1, y2 := y[h:h+half], y[h+half:h+2*half]
		for j := range cs {
			a, b := x1[j], x2[j]
			y1[j] = a*cs[j] - b*sn[j]
			y2[j] = b*cs[j] + a*sn[j]
		}
	}
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
	if g.dev != nil {
		cos, sin := g.devRopeTable(seq, o.hd)
		g.Record(&devRoPE{o, cos, sin}, y)
		return y
	}
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
		if !o.back {
			RoPERow(o.y.Data[r*d:r*d+d], o.x.Data[r*d:r*d+d], cs, sn)
			continue
		}
		for h := 0; h < o.heads; h++ {
			base := r*d + h*o.hd
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
