package engine

import (
	"fmt"
	"math"

	"github.com/relora-go/relora-go/asm"
	"github.com/relora-go/relora-go/engine/gemm"
)

// attentionOp is causal multi-head softmax attention over q, k, v of shape
// [batch·seq, heads·hd] (heads side by side in a row, as the projections
// produce them). The softmax probabilities are saved for backward; one task
// is one (sequence, head) pair and runs its small GEMMs serially.
type attentionOp struct {
	q, k, v, y   *Tensor
	probs        []float32 // [batch, heads, seq, seq]
	dprobs       []float32 // per worker [seq, seq]
	batch, seq   int
	heads, hd, d int
	scale        float32
	back         bool
}

// Attention records causal softmax(q·kᵀ/√hd)·v per head.
func (g *Graph) Attention(q, k, v *Tensor, seq, heads int) *Tensor {
	d := q.Cols()
	if k.Size() != q.Size() || v.Size() != q.Size() || d%heads != 0 || q.Rows()%seq != 0 {
		panic(fmt.Sprintf("engine: Attention on %v %v %v with seq %d and %d heads: shapes do not fit", q, k, v, seq, heads))
	}
	y := g.NewActivation("attention", needGrad(q, k, v), q.Shape...)
	o := &attentionOp{q: q, k: k, v: v, y: y, batch: q.Rows() / seq, seq: seq, heads: heads, hd: d / heads, d: d}
	o.scale = float32(1 / math.Sqrt(float64(o.hd)))
	if g.dev != nil {
		g.Record(&devAttention{o, g.DevScratch(o.batch * heads * seq * seq), g.DevScratch(o.batch * seq * seq)}, y)
		return y
	}
	o.probs = g.Scratch(o.batch * heads * seq * seq)
	o.dprobs = g.Scratch(g.Pool.Threads() * seq * seq)
	g.Record(o, y)
	return y
}

func (o *attentionOp) Kind() string { return "attention" }

func (o *attentionOp) Flops(p Phase) int64 {
	f := 4 * int64(o.batch*o.heads) * int64(o.seq*o.seq) * int64(o.hd) // two T×T×hd products
	if p == PhaseBackward {
		return 2 * f
	}
	return f
}

func (o *attentionOp) Forward(g *Graph) { o.back = false; g.Pool.Run(o.batch*o.heads, o) }

func (o *attentionOp) Backward(g *Graph) { o.back = true; g.Pool.Run(o.batch*o.heads, o) }

func (o *attentionOp) Run(w, i int) {
	b, h := i/o.heads, i%o.heads
	T, d, hd := o.seq, o.d, o.hd
	off := b*T*d + h*hd // first element of this head in q, k, v, y
	P := o.probs[i*T*T : (i+1)*T*T]
	if !o.back {
		// S = scale·Q·Kᵀ (only the causal lower triangle is used)
		gemm.Sgemm(nil, false, true, T, T, hd, o.scale, o.q.Data[off:], d, o.k.Data[off:], d, 0, P, T)
		for t := 0; t < T; t++ {
			row := P[t*T : t*T+T]
			asm.SoftmaxInPlace(row[:t+1]) // causal: keys 0..t
			clear(row[t+1:])
		}
		gemm.Sgemm(nil, false, false, T, hd, T, 1, P, T, o.v.Data[off:], d, 0, o.y.Data[off:], d)
		return
	}
	dy := o.y.Grad[off:]
	dP := o.dprobs[w*T*T : (w+1)*T*T]
	if o.v.Grad != nil { // dV += Pᵀ·dY
		gemm.Sgemm(nil, true, false, T, hd, T, 1, P, T, dy, d, 1, o.v.Grad[off:], d)
	}
	if o.q.Grad == nil && o.k.Grad == nil {
		return
	}
	// dP = dY·Vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P)); the scale folds into the GEMMs.
	gemm.Sgemm(nil, false, true, T, T, hd, 1, dy, d, o.v.Data[off:], d, 0, dP, T)
	for t := 0; t < T; t++ {
		p := P[t*T : t*T+t+1]
		dp := dP[t*T : t*T+T]
		var dot float32
		for j, pv := range p {
			dot += pv * dp[j]
		}
		for j, pv := range p {
			dp[j] = pv * (dp[j] - dot)
		}
		clear(dp[t+1:])
	}
	if o.q.Grad != nil { // dQ += scale·dS·K
		gemm.Sgemm(nil, false, false, T, hd, T, o.scale, dP, T, o.k.Data[off:], d, 1, o.q.Grad[off:], d)
	}
	if o.k.Grad != nil { // dK += scale·dSᵀ·Q
		gemm.Sgemm(nil, true, false, T, hd, T, o.scale, dP, T, o.q.Data[off:], d, 1, o.k.Grad[off:], d)
	}
}
