package engine

import (
	"fmt"
	"math"

	"github.com/relora-go/relora-go/asm"
)

// crossEntropyOp is the mean next-token cross-entropy over logits [n, vocab]
// fused with a numerically stable log-softmax. Targets below 0 are ignored.
// Its backward seeds the graph: dlogits = Scale·(softmax − onehot)/count.
type crossEntropyOp struct {
	logits      *Tensor
	targets     []int32
	lse         []float32 // per-row log-sum-exp
	rowLoss     []float32
	loss        float64
	valid       int
	scale       float32
	count, size int
	back        bool
}

// Loss is the handle to a recorded cross-entropy: its value after Forward,
// and the factor its backward multiplies the seed gradient by (1 by
// default; 1/accumulation steps under gradient accumulation).
type Loss struct{ op lossOp }

type lossOp interface {
	value() float64
}

// Value is the loss computed by the last Forward.
func (l Loss) Value() float64 { return l.op.value() }

// SetScale sets the factor applied to a cross-entropy's gradient.
func (l Loss) SetScale(s float32) {
	switch ce := l.op.(type) {
	case *crossEntropyOp:
		ce.scale = s
	case *devCrossEntropy:
		ce.scale = s
	}
}

// CrossEntropy records the mean cross-entropy of logits against targets
// (a caller-owned slice, refilled before each Forward). It must be the last
// op recorded: its backward writes the first gradient.
func (g *Graph) CrossEntropy(logits *Tensor, targets []int32) Loss {
	if len(targets) != logits.Rows() {
		panic(fmt.Sprintf("engine: CrossEntropy of %v with %d targets", logits, len(targets)))
	}
	o := &crossEntropyOp{logits: logits, targets: targets, scale: 1}
	if g.dev != nil {
		n := logits.Rows()
		d := &devCrossEntropy{crossEntropyOp: o, dtargets: g.DevScratch(n), dlse: g.DevScratch(n), drows: g.DevScratch(n)}
		o.rowLoss = make([]float32, n)
		g.Record(d, nil)
		return Loss{d}
	}
	o.lse = g.Scratch(logits.Rows())
	o.rowLoss = g.Scratch(logits.Rows())
	o.count, o.size = g.chunks(logits.Rows())
	g.Record(o, nil)
	return Loss{o}
}

func (o *crossEntropyOp) Kind() string { return "cross_entropy" }

func (o *crossEntropyOp) value() float64 { return o.loss }

// countTargets checks the targets against the vocabulary and counts the
// ones not ignored (≥ 0), which the mean loss divides by.
func (o *crossEntropyOp) countTargets() {
	vocab := o.logits.Cols()
	o.valid = 0
	for _, t := range o.targets {
		if int(t) >= vocab {
			panic(fmt.Sprintf("engine: target id %d outside the vocabulary of %d", t, vocab))
		}
		if t >= 0 {
			o.valid++
		}
	}
}

func (o *crossEntropyOp) Forward(g *Graph) {
	o.countTargets()
	o.back = false
	g.Pool.Run(o.count, o)
	var sum float64
	for _, l := range o.rowLoss {
		sum += float64(l)
	}
	o.loss = sum / float64(max(o.valid, 1))
}

func (o *crossEntropyOp) Backward(g *Graph) {
	if o.logits.Grad != nil {
		o.back = true
		g.Pool.Run(o.count, o)
	}
}

func (o *crossEntropyOp) Run(_, i int) {
	v := o.logits.Cols()
	lo := i * o.size
	hi := min(lo+o.size, o.logits.Rows())
	for r := lo; r < hi; r++ {
		x := o.logits.Data[r*v : r*v+v]
		t := o.targets[r]
		if !o.back {
			mx, sum := asm.MaxSumExp(x)
			lse := mx + float32(math.Log(float64(sum)))
			o.lse[r] = lse
			o.rowLoss[r] = 0
			if t >= 0 {
				o.rowLoss[r] = lse - x[t]
			}
			continue
		}
		if t < 0 {
			continue
		}
		c := o.scale / float32(max(o.valid, 1))
		dx := o.logits.Grad[r*v : r*v+v]
		asm.AddScaledExp(dx, x, o.lse[r], c) // c·softmax(x)
		dx[t] -= c
	}
}

// weightedSumOp is the objective Σ y⊙w for fixed weights w: a loss whose
// gradient is w itself. Gradient checks end their graphs with it.
type weightedSumOp struct {
	y    *Tensor
	w    []float32
	loss float64
}

// WeightedSum records the scalar Σᵢ y[i]·w[i] as the graph's loss (the last
// op); its backward seeds y's gradient with w.
func (g *Graph) WeightedSum(y *Tensor, w []float32) Loss {
	if len(w) != y.Size() {
		panic(fmt.Sprintf("engine: WeightedSum of %v with %d weights", y, len(w)))
	}
	o := &weightedSumOp{y: y, w: w}
	if g.dev != nil {
		d := &devWeightedSum{weightedSumOp: o, dw: g.DevScratch(len(w)), host: make([]float32, len(w))}
		g.dev.Upload(d.dw, w)
		g.Record(d, nil)
		return Loss{d}
	}
	g.Record(o, nil)
	return Loss{o}
}

func (o *weightedSumOp) Kind() string { return "weighted_sum" }

func (o *weightedSumOp) Forward(*Graph) {
	o.loss = 0
	for i, v := range o.y.Data {
		o.loss += float64(v) * float64(o.w[i])
	}
}

func (o *weightedSumOp) Backward(*Graph) {
	for i, w := range o.w {
		o.y.Grad[i] += w
	}
}

func (o *weightedSumOp) value() float64 { return o.loss }
