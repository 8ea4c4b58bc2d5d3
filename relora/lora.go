package relora

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/engine/gemm"
	"github.com/relora-go/relora-go/engine/sched"
	"github.com/relora-go/relora-go/model"
)

// Linear is the ReLoRA layer (docs/METHOD.md §2): W_eff = W0 + s·B·A with W0
// [out, in] frozen (no gradient buffer, no weight-gradient GEMM, no
// optimizer state), A [r, in] and B [out, r] trainable, s = alpha/r, and
// dropout on the low-rank branch's input only. W0 is nil in lora_only mode
// (low-rank training from scratch).
type Linear struct {
	W0, A, B *engine.Tensor
	Scale    float32
	Dropout  float32
	// Rng seeds the dropout masks (one draw per training forward; the
	// mask of element i is engine.DropoutKeep(seed, i, p) on every
	// device); its state is part of a checkpoint.
	Rng *Stream

	// Without dropout the layer runs the forward pass and dX through
	// W_eff = W0 + s·B·A, formed once after every change of W0, A or B
	// (Invalidate): 4·N + 4·r·(in+out) FLOPs per token instead of
	// 4·N + 6·r·(in+out), plus one rank-r product per update.
	eff    []float32  // [out, in]
	effDev engine.Buf // W_eff on a device
	stale  bool

	// wide is the float32 scratch, shared by the layers of a model, that a
	// W0 held in bfloat16 (StoreW0BF16) is widened into before each
	// product that reads it.
	wide *widenScratch
}

// widenScratch is one float32 matrix the size of the largest W0.
type widenScratch struct{ buf []float32 }

// Invalidate marks W_eff out of date (after an optimizer update or a merge).
func (l *Linear) Invalidate() { l.stale = true }

// fused reports whether the layer computes through W_eff. A W0 held in
// bfloat16 never is: a float32 W_eff per layer would bring back the memory
// bf16 storage saves, so such a layer runs the two branches apart.
func (l *Linear) fused() bool { return l.W0 != nil && l.Dropout == 0 && !l.W0.IsBF16() }

// StoreW0BF16 holds every layer's W0 in bfloat16 (--dtype bfloat16 on the
// CPU; docs/ARCHITECTURE.md): rounded to nearest even, the float32 values
// dropped, the memory returned to the system block by block (each block's
// weights have a slab of their own: model.New), so that the conversion
// never holds more than one block's float32 weights beyond the bf16 model.
// The layers then widen W0 into one shared float32 matrix before each
// product, and a merge rounds W0 + s·B·A back to bf16.
func StoreW0BF16(layers []*Linear) {
	s := &widenScratch{}
	n := 0
	for i, l := range layers {
		if l.W0 == nil {
			continue
		}
		l.W0.StoreBF16()
		l.wide, l.eff = s, nil
		n = max(n, l.W0.Size())
		if i%len(model.ProjNames) == len(model.ProjNames)-1 {
			debug.FreeOSMemory() // the block's float32 slab is garbage now
		}
	}
	debug.FreeOSMemory()
	s.buf = make([]float32, n)
}

// w0 returns W0 in float32: its data, or (bf16 storage) the shared scratch
// it has just been widened into, valid until the next widening.
func (l *Linear) w0(g *engine.Graph) []float32 {
	if !l.W0.IsBF16() {
		return l.W0.Data
	}
	var t0 time.Time
	if g != nil {
		t0 = g.Now()
	}
	w := l.wide.buf[:l.W0.Size()]
	engine.WidenBF16(w, l.W0.BF16)
	if g != nil {
		g.Kernel("widen_bf16", t0, 0)
	}
	return w
}

// effective returns W_eff, forming it if it is stale.
func (l *Linear) effective(g *engine.Graph) []float32 {
	if l.stale || l.eff == nil {
		if l.eff == nil {
			l.eff = make([]float32, l.W0.Size())
		}
		out, in, r := l.B.Rows(), l.A.Cols(), l.A.Rows()
		copy(l.eff, l.W0.Data)
		g.GEMM(false, false, out, in, r, l.Scale, l.B.Data, r, l.A.Data, in, 1, l.eff, in)
		l.stale = false
	}
	return l.eff
}

// effectiveDev is effective on the graph's device.
func (l *Linear) effectiveDev(g *engine.Graph) engine.Buf {
	dev := g.Device()
	if l.stale || l.effDev.Nil() {
		if l.effDev.Nil() {
			l.effDev = dev.Alloc(l.W0.Size())
		}
		out, in, r := l.B.Rows(), l.A.Cols(), l.A.Rows()
		dev.Copy(l.effDev, l.W0.Dev)
		g.DevGEMM(false, false, out, in, r, l.Scale, l.B.Dev, r, l.A.Dev, in, 1, l.effDev, in)
		l.stale = false
	}
	return l.effDev
}

// Apply records y = x·W0ᵀ + s·(dropout(x)·Aᵀ)·Bᵀ.
func (l *Linear) Apply(g *engine.Graph, x *engine.Tensor) *engine.Tensor {
	in, out, r := l.A.Cols(), l.B.Rows(), l.A.Rows()
	if x.Cols() != in {
		panic(fmt.Sprintf("relora: input %v to a LoRA layer of input width %d", x, in))
	}
	n := x.Rows()
	y := g.NewActivation(l.B.Name, true, append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), out)...)
	o := &loraOp{x: x, l: l, y: y, n: n, in: in, out: out, r: r}
	if g.Device() != nil {
		o.uDev = g.DevScratch(n * r)
		g.DevTemp("lora.du", n*r)
		if l.Dropout > 0 {
			o.xdDev = g.DevScratch(n * in)
			g.DevTemp("lora.dxd", n*in)
		}
		g.Record(&loraDevOp{o}, y)
		return y
	}
	o.u = g.Scratch(n * r)
	g.Temp("lora.du", n*r)
	if l.Dropout > 0 {
		o.xd = g.Scratch(n * in)
		g.Temp("lora.dxd", n*in)
	}
	g.Record(o, y)
	return y
}

// Tensors names W0 as the plain weight (so a merged checkpoint is a LLaMA
// checkpoint) and the factors as PEFT does.
func (l *Linear) Tensors() []model.Named {
	var ts []model.Named
	if l.W0 != nil {
		ts = append(ts, model.Named{Name: ".weight", T: l.W0})
	}
	return append(ts, model.Named{Name: ".lora_A.weight", T: l.A}, model.Named{Name: ".lora_B.weight", T: l.B})
}

// ResetFactors redraws A ~ U(−1/√in, 1/√in) (PyTorch's kaiming_uniform with
// a = √5) and sets B = 0, so the layer computes W0 alone.
func (l *Linear) ResetFactors(rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(l.A.Cols()))
	for i := range l.A.Data {
		l.A.Data[i] = float32((2*rng.Float64() - 1) * bound)
	}
	clear(l.B.Data)
}

// Merge folds the factors into W0 (W0 += s·B·A) and restarts them; a W0
// held in bfloat16 gets the float32 sum rounded to bf16. With a
// device the product runs there on the device copies, and the new factors
// (drawn on the host, so that every device draws the same) are uploaded;
// the host W0 is then stale until the next engine.FromDevice.
func (l *Linear) Merge(pool *sched.Pool, dev engine.Device, rng *rand.Rand) {
	if l.W0 == nil {
		panic("relora: Merge of a lora_only layer (it has no W0)")
	}
	out, in, r := l.B.Rows(), l.A.Cols(), l.A.Rows()
	if dev != nil {
		dev.Gemm(false, false, out, in, r, l.Scale, l.B.Dev, r, l.A.Dev, in, 1, l.W0.Dev, in)
		l.ResetFactors(rng)
		dev.Upload(l.A.Dev, l.A.Data)
		dev.Upload(l.B.Dev, l.B.Data)
	} else {
		w := l.w0(nil) // bf16 storage: widened, summed in float32, rounded back
		gemm.Sgemm(pool, false, false, out, in, r, l.Scale, l.B.Data, r, l.A.Data, in, 1, w, in)
		if l.W0.IsBF16() {
			engine.RoundBF16(l.W0.BF16, w)
		}
		l.ResetFactors(rng)
	}
	l.stale = true
}

type loraOp struct {
	x, y          *engine.Tensor
	l             *Linear
	n, in, out, r int
	u             []float32 // [n, r]: x̃·Aᵀ (its gradient lives in the graph's temp "lora.du")
	xd            []float32 // [n, in]: dropout(x) (a temp "lora.dxd" holds its gradient)
	uDev, xdDev   engine.Buf
	seed          uint64 // the dropout mask of the last training forward
	training      bool
}

func (o *loraOp) Kind() string { return "lora_linear" }

func (o *loraOp) Flops(p engine.Phase) int64 {
	n, in, out, r := int64(o.n), int64(o.in), int64(o.out), int64(o.r)
	full := 2 * n * in * out
	if o.l.W0 == nil {
		full = 0
	}
	if o.l.fused() {
		if p == engine.PhaseForward { // y through W_eff, u = x·Aᵀ
			return full + 2*n*r*in
		}
		f := 2*n*r*out*2 + 2*n*r*in // dB, dU, dA
		if o.x.HasGrad() {
			f += full
		}
		return f
	}
	low := 2 * n * r * (in + out)
	if p == engine.PhaseForward {
		return full + low
	}
	f := 2 * n * r * (2*out + in) // dB, dU, dA
	if o.x.HasGrad() {
		f += full + 2*n*r*in
	}
	return f
}

// dropout reports whether this forward drops inputs, drawing the mask's
// seed when it does.
func (o *loraOp) dropout(g *engine.Graph) bool {
	o.training = g.Training
	if o.l.Dropout == 0 || !g.Training {
		return false
	}
	o.seed = o.l.Rng.Uint64()
	return true
}

// dropped reports whether the last forward's branch input was dropout(x).
func (o *loraOp) dropped() bool { return o.l.Dropout > 0 && o.training }

func (o *loraOp) Forward(g *engine.Graph) {
	l := o.l
	drop := o.dropout(g)
	if l.fused() {
		g.GEMM(false, true, o.n, o.out, o.in, 1, o.x.Data, o.in, l.effective(g), o.in, 0, o.y.Data, o.out)
		g.GEMM(false, true, o.n, o.r, o.in, 1, o.x.Data, o.in, l.A.Data, o.in, 0, o.u, o.r)
		return
	}
	beta := float32(0)
	if l.W0 != nil {
		g.GEMM(false, true, o.n, o.out, o.in, 1, o.x.Data, o.in, l.w0(g), o.in, 0, o.y.Data, o.out)
		beta = 1
	}
	xin := o.x.Data
	if drop {
		p, inv := l.Dropout, 1/(1-l.Dropout)
		for i, v := range o.x.Data {
			o.xd[i] = 0
			if engine.DropoutKeep(o.seed, i, p) {
				o.xd[i] = v * inv
			}
		}
		xin = o.xd
	}
	g.GEMM(false, true, o.n, o.r, o.in, 1, xin, o.in, l.A.Data, o.in, 0, o.u, o.r)
	g.GEMM(false, true, o.n, o.out, o.r, l.Scale, o.u, o.r, l.B.Data, o.r, beta, o.y.Data, o.out)
}

func (o *loraOp) Backward(g *engine.Graph) {
	l, dy := o.l, o.y.Grad
	du := g.TempBuf("lora.du", o.n*o.r)
	xin := o.x.Data
	if o.dropped() {
		xin = o.xd
	}
	if l.B.Grad != nil { // dB += s·dYᵀ·U
		g.GEMM(true, false, o.out, o.r, o.n, l.Scale, dy, o.out, o.u, o.r, 1, l.B.Grad, o.r)
	}
	// dU = s·dY·B
	g.GEMM(false, false, o.n, o.r, o.out, l.Scale, dy, o.out, l.B.Data, o.r, 0, du, o.r)
	if l.A.Grad != nil { // dA += dUᵀ·X̃
		g.GEMM(true, false, o.r, o.in, o.n, 1, du, o.r, xin, o.in, 1, l.A.Grad, o.in)
	}
	if o.x.Grad == nil {
		return
	}
	if l.fused() { // dX += dY·W_eff covers both branches
		g.GEMM(false, false, o.n, o.in, o.out, 1, dy, o.out, l.effective(g), o.in, 1, o.x.Grad, o.in)
		return
	}
	if l.W0 != nil { // dX += dY·W0 (never dW0: W0 is frozen)
		g.GEMM(false, false, o.n, o.in, o.out, 1, dy, o.out, l.w0(g), o.in, 1, o.x.Grad, o.in)
	}
	if !o.dropped() { // dX += dU·A
		g.GEMM(false, false, o.n, o.in, o.r, 1, du, o.r, l.A.Data, o.in, 1, o.x.Grad, o.in)
		return
	}
	// dX += mask ⊙ (dU·A)/keep
	dxd := g.TempBuf("lora.dxd", o.n*o.in)
	g.GEMM(false, false, o.n, o.in, o.r, 1, du, o.r, l.A.Data, o.in, 0, dxd, o.in)
	p, inv := l.Dropout, 1/(1-l.Dropout)
	for i, v := range dxd {
		if engine.DropoutKeep(o.seed, i, p) {
			o.x.Grad[i] += v * inv
		}
	}
}

// loraDevOp is the layer on a device: the same products as loraOp on the
// tensors' device storage, and the same dropout masks.
type loraDevOp struct{ *loraOp }

func (o *loraDevOp) Forward(g *engine.Graph) {
	l, dev := o.l, g.Device()
	drop := o.dropout(g)
	x := o.x.Dev
	if l.fused() {
		g.DevGEMM(false, true, o.n, o.out, o.in, 1, x, o.in, l.effectiveDev(g), o.in, 0, o.y.Dev, o.out)
		g.DevGEMM(false, true, o.n, o.r, o.in, 1, x, o.in, l.A.Dev, o.in, 0, o.uDev, o.r)
		return
	}
	beta := float32(0)
	if l.W0 != nil {
		g.DevGEMM(false, true, o.n, o.out, o.in, 1, x, o.in, l.W0.Dev, o.in, 0, o.y.Dev, o.out)
		beta = 1
	}
	xin := x
	if drop {
		dev.Dropout(o.xdDev, x, l.Dropout, o.seed)
		xin = o.xdDev
	}
	g.DevGEMM(false, true, o.n, o.r, o.in, 1, xin, o.in, l.A.Dev, o.in, 0, o.uDev, o.r)
	g.DevGEMM(false, true, o.n, o.out, o.r, l.Scale, o.uDev, o.r, l.B.Dev, o.r, beta, o.y.Dev, o.out)
}

func (o *loraDevOp) Backward(g *engine.Graph) {
	l, dy, dev := o.l, o.y.DevGrad, g.Device()
	du := g.DevTempBuf("lora.du", o.n*o.r)
	xin := o.x.Dev
	if o.dropped() {
		xin = o.xdDev
	}
	if !l.B.DevGrad.Nil() {
		g.DevGEMM(true, false, o.out, o.r, o.n, l.Scale, dy, o.out, o.uDev, o.r, 1, l.B.DevGrad, o.r)
	}
	g.DevGEMM(false, false, o.n, o.r, o.out, l.Scale, dy, o.out, l.B.Dev, o.r, 0, du, o.r)
	if !l.A.DevGrad.Nil() {
		g.DevGEMM(true, false, o.r, o.in, o.n, 1, du, o.r, xin, o.in, 1, l.A.DevGrad, o.in)
	}
	dx := o.x.DevGrad
	if dx.Nil() {
		return
	}
	if l.fused() {
		g.DevGEMM(false, false, o.n, o.in, o.out, 1, dy, o.out, l.effectiveDev(g), o.in, 1, dx, o.in)
		return
	}
	if l.W0 != nil {
		g.DevGEMM(false, false, o.n, o.in, o.out, 1, dy, o.out, l.W0.Dev, o.in, 1, dx, o.in)
	}
	if !o.dropped() {
		g.DevGEMM(false, false, o.n, o.in, o.r, 1, du, o.r, l.A.Dev, o.in, 1, dx, o.in)
		return
	}
	dxd := g.DevTempBuf("lora.dxd", o.n*o.in)
	g.DevGEMM(false, false, o.n, o.in, o.r, 1, du, o.r, l.A.Dev, o.in, 0, dxd, o.in)
	dev.DropoutBackward(dx, dxd, l.Dropout, o.seed)
}
