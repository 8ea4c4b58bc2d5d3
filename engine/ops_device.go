package engine

// The device variants of the ops: a graph built with NewDeviceGraph
// records these instead of the CPU ops. Each wraps the CPU op's struct for
// its shapes and flags and calls the Device method of the same meaning; the
// device kernels are checked against the CPU ops (engine/cuda's tests).

// DevGEMM runs a GEMM on the graph's device and reports it as a kernel of
// the current op (the device counterpart of GEMM).
func (g *Graph) DevGEMM(transA, transB bool, m, n, k int, alpha float32, a Buf, lda int,
	b Buf, ldb int, beta float32, c Buf, ldc int) {
	flops := 2 * int64(m) * int64(n) * int64(k)
	if g.Profiler != nil && g.timer != nil {
		stop := g.timer.Timer()
		g.dev.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		g.KernelTime(gemmName(transA, transB), stop(), flops)
		return
	}
	t0 := g.Now()
	g.dev.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	g.Kernel(gemmName(transA, transB), t0, flops)
}

type devMatmul struct{ *matmulOp }

func (o *devMatmul) Forward(g *Graph) {
	g.DevGEMM(o.transA, o.transB, o.m, o.n, o.k, 1, o.a.Dev, ld(o.a), o.b.Dev, ld(o.b), 0, o.c.Dev, o.n)
}

func (o *devMatmul) Backward(g *Graph) {
	a, b, dc := o.a, o.b, o.c.DevGrad
	if !a.DevGrad.Nil() {
		if !o.transA {
			g.DevGEMM(false, !o.transB, o.m, o.k, o.n, 1, dc, o.n, b.Dev, ld(b), 1, a.DevGrad, ld(a))
		} else {
			g.DevGEMM(o.transB, true, o.k, o.m, o.n, 1, b.Dev, ld(b), dc, o.n, 1, a.DevGrad, ld(a))
		}
	}
	if !b.DevGrad.Nil() {
		if !o.transB {
			g.DevGEMM(!o.transA, false, o.k, o.n, o.m, 1, a.Dev, ld(a), dc, o.n, 1, b.DevGrad, ld(b))
		} else {
			g.DevGEMM(true, o.transA, o.n, o.k, o.m, 1, dc, o.n, a.Dev, ld(a), 1, b.DevGrad, ld(b))
		}
	}
}

type devRMSNorm struct {
	*rmsnormOp
	rstd Buf
}

func (o *devRMSNorm) Forward(g *Graph) {
	g.dev.RMSNorm(o.y.Dev, o.rstd, o.x.Dev, o.w.Dev, o.rows, o.d, o.eps)
}

func (o *devRMSNorm) Backward(g *Graph) {
	g.dev.RMSNormBackward(o.x.DevGrad, o.w.DevGrad, o.y.DevGrad, o.x.Dev, o.w.Dev, o.rstd, o.rows, o.d)
}

type devRoPE struct {
	*ropeOp
	cos, sin Buf
}

func (o *devRoPE) Forward(g *Graph) {
	g.dev.RoPE(o.y.Dev, o.x.Dev, o.cos, o.sin, o.rows, o.seq, o.heads, o.hd)
}

func (o *devRoPE) Backward(g *Graph) {
	if !o.x.DevGrad.Nil() {
		g.dev.RoPEBackward(o.x.DevGrad, o.y.DevGrad, o.cos, o.sin, o.rows, o.seq, o.heads, o.hd)
	}
}

// devAttention runs each head as strided batched GEMMs over the sequences:
// head h of sequence b starts at b·T·d + h·hd in q, k, v and y (a stride of
// T·d across sequences), and the scores are laid out [head, batch, T, T] so
// that one head's blocks are consecutive. That is 2·heads + 1 launches
// forward and 5·heads backward, whatever the batch.
type devAttention struct {
	*attentionOp
	probs  Buf // [heads, batch, T, T]
	dprobs Buf // [batch, T, T], one head at a time
}

func (o *devAttention) Forward(g *Graph) {
	T, d, hd, B := o.seq, o.d, o.hd, o.batch
	for h := 0; h < o.heads; h++ {
		g.dev.GemmBatched(false, true, T, T, hd, o.scale, o.head(o.q.Dev, h), d, T*d, o.head(o.k.Dev, h), d, T*d,
			0, o.probsOf(h), T, T*T, B)
	}
	g.dev.CausalSoftmax(o.probs, o.heads*B, T)
	for h := 0; h < o.heads; h++ {
		g.dev.GemmBatched(false, false, T, hd, T, 1, o.probsOf(h), T, T*T, o.head(o.v.Dev, h), d, T*d,
			0, o.head(o.y.Dev, h), d, T*d, B)
	}
}

// head is x from head h's first column on ([batch·seq, heads·hd] rows).
func (o *devAttention) head(x Buf, h int) Buf { return x.Slice(h*o.hd, x.N) }

// probsOf is head h's [batch, T, T] scores.
func (o *devAttention) probsOf(h int) Buf {
	n := o.batch * o.seq * o.seq
	return o.probs.Slice(h*n, (h+1)*n)
}

func (o *devAttention) Backward(g *Graph) {
	T, d, hd, B := o.seq, o.d, o.hd, o.batch
	for h := 0; h < o.heads; h++ {
		p, dy := o.probsOf(h), o.head(o.y.DevGrad, h)
		if !o.v.DevGrad.Nil() { // dV += Pᵀ·dY
			g.dev.GemmBatched(true, false, T, hd, T, 1, p, T, T*T, dy, d, T*d, 1, o.head(o.v.DevGrad, h), d, T*d, B)
		}
		if o.q.DevGrad.Nil() && o.k.DevGrad.Nil() {
			continue
		}
		// dP = dY·Vᵀ, then dS = P ⊙ (dP − rowsum(dP ⊙ P))
		g.dev.GemmBatched(false, true, T, T, hd, 1, dy, d, T*d, o.head(o.v.Dev, h), d, T*d, 0, o.dprobs, T, T*T, B)
		g.dev.CausalSoftmaxBackward(o.dprobs, p, B, T)
		if !o.q.DevGrad.Nil() { // dQ += scale·dS·K
			g.dev.GemmBatched(false, false, T, hd, T, o.scale, o.dprobs, T, T*T, o.head(o.k.Dev, h), d, T*d,
				1, o.head(o.q.DevGrad, h), d, T*d, B)
		}
		if !o.k.DevGrad.Nil() { // dK += scale·dSᵀ·Q
			g.dev.GemmBatched(true, false, T, hd, T, o.scale, o.dprobs, T, T*T, o.head(o.q.Dev, h), d, T*d,
				1, o.head(o.k.DevGrad, h), d, T*d, B)
		}
	}
}

type devBinary struct{ binaryOp }

func (o *devBinary) Forward(g *Graph) {
	if o.mul {
		g.dev.Mul(o.y.Dev, o.a.Dev, o.b.Dev, o.y.Size())
	} else {
		g.dev.Add(o.y.Dev, o.a.Dev, o.b.Dev, o.y.Size())
	}
}

func (o *devBinary) Backward(g *Graph) {
	n, dy := o.y.Size(), o.y.DevGrad
	for _, in := range [2]struct{ t, other *Tensor }{{o.a, o.b}, {o.b, o.a}} {
		if in.t.DevGrad.Nil() {
			continue
		}
		if o.mul {
			g.dev.MulAccumulate(in.t.DevGrad, dy, in.other.Dev, n)
		} else {
			g.dev.Accumulate(in.t.DevGrad, dy, 1, n)
		}
	}
}

type devSwiGLU struct{ swigluOp }

func (o *devSwiGLU) Forward(g *Graph) { g.dev.SwiGLU(o.y.Dev, o.gate.Dev, o.up.Dev, o.y.Size()) }

func (o *devSwiGLU) Backward(g *Graph) {
	g.dev.SwiGLUBackward(o.gate.DevGrad, o.up.DevGrad, o.y.DevGrad, o.gate.Dev, o.up.Dev, o.y.Size())
}

type devEmbedding struct {
	embeddingOp
	dids Buf
	// the rows grouped by id for the backward pass (GroupRows)
	order, starts, next []int32
	dorder, dstarts     Buf
}

func (o *devEmbedding) Forward(g *Graph) {
	o.checkIDs()
	g.dev.UploadInt32(o.dids, o.ids)
	g.dev.Embedding(o.y.Dev, o.table.Dev, o.dids, len(o.ids), o.table.Cols())
}

func (o *devEmbedding) Backward(g *Graph) {
	if o.table.DevGrad.Nil() {
		return
	}
	groups := GroupRows(o.ids, o.order, o.starts, o.next)
	g.dev.UploadInt32(o.dorder, o.order)
	g.dev.UploadInt32(o.dstarts.Slice(0, groups+1), o.starts[:groups+1])
	g.dev.EmbeddingBackward(o.table.DevGrad, o.y.DevGrad, o.dids, o.dorder, o.dstarts, groups, o.table.Cols())
}

// devCrossEntropy computes the per-row losses on the device and sums them
// on the host in row order, as the CPU op does.
type devCrossEntropy struct {
	*crossEntropyOp
	dtargets, dlse, drows Buf
}

func (o *devCrossEntropy) Forward(g *Graph) {
	o.countTargets()
	g.dev.UploadInt32(o.dtargets, o.targets)
	g.dev.CrossEntropy(o.drows, o.dlse, o.logits.Dev, o.dtargets, o.logits.Rows(), o.logits.Cols())
	g.dev.Download(o.rowLoss, o.drows)
	var sum float64
	for _, l := range o.rowLoss {
		sum += float64(l)
	}
	o.loss = sum / float64(max(o.valid, 1))
}

func (o *devCrossEntropy) Backward(g *Graph) {
	if !o.logits.DevGrad.Nil() {
		g.dev.CrossEntropyBackward(o.logits.DevGrad, o.logits.Dev, o.dlse, o.dtargets,
			o.logits.Rows(), o.logits.Cols(), o.scale/float32(max(o.valid, 1)))
	}
}

type devWeightedSum struct {
	*weightedSumOp
	dw   Buf
	host []float32
}

func (o *devWeightedSum) Forward(g *Graph) {
	g.dev.Download(o.host, o.y.Dev)
	o.loss = 0
	for i, v := range o.host {
		o.loss += float64(v) * float64(o.w[i])
	}
}

func (o *devWeightedSum) Backward(g *Graph) {
	g.dev.Upload(o.dw, o.w)
	g.dev.Accumulate(o.y.DevGrad, o.dw, 1, len(o.w))
}

// ToDevice gives each tensor storage on dev (Dev, and DevGrad when it has a
// host gradient buffer, zeroed) and uploads its data. Tensors already there
// are uploaded again into the same storage.
func ToDevice(dev Device, ts []*Tensor) {
	for _, t := range ts {
		if t.Dev.Nil() {
			t.Dev = dev.Alloc(t.Size())
		}
		dev.Upload(t.Dev, t.Data)
		switch {
		case t.Grad != nil && t.DevGrad.Nil():
			t.DevGrad = dev.Alloc(t.Size())
		case t.Grad != nil:
			dev.Zero(t.DevGrad)
		case !t.DevGrad.Nil(): // frozen since: drop the device gradient
			dev.Free(t.DevGrad)
			t.DevGrad = Buf{}
		}
	}
}

// FromDevice downloads each tensor's device data into its host Data.
func FromDevice(dev Device, ts []*Tensor) {
	for _, t := range ts {
		if !t.Dev.Nil() {
			dev.Download(t.Data, t.Dev)
		}
	}
}

// FreeDevice releases the tensors' device storage.
func FreeDevice(dev Device, ts []*Tensor) {
	for _, t := range ts {
		if !t.Dev.Nil() {
			dev.Free(t.Dev)
		}
		if !t.DevGrad.Nil() {
			dev.Free(t.DevGrad)
		}
		t.Dev, t.DevGrad = Buf{}, Buf{}
	}
}
