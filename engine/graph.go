package engine

import (
	"context"
	"runtime/pprof"
	"time"

	"github.com/relora-go/relora-go/engine/sched"
)

// Op is one recorded operation: a forward kernel and the backward kernel
// that accumulates gradients into the inputs that have gradient buffers.
// Ops are recorded once when a graph is built and replayed every step, so
// neither direction allocates.
type Op interface {
	// Kind names the op for profiles ("linear", "rmsnorm", ...).
	Kind() string
	Forward(g *Graph)
	Backward(g *Graph)
}

// Phase tells a profiler which pass an op ran in.
type Phase int

// The phases of a training step.
const (
	PhaseForward Phase = iota
	PhaseBackward
	PhaseOptimizer
)

func (p Phase) String() string {
	return [...]string{"forward", "backward", "optimizer"}[p]
}

// Frame names one level of a profile stack: the kernel (a GEMM layout, an
// op's own loop), the op, the layer scope and the phase.
type Frame struct {
	Kernel, Op, Scope string
	Phase             Phase
}

// Profiler receives the time and floating-point work of every kernel run
// while it is attached. Implementations must not allocate in steady state.
type Profiler interface {
	Record(f Frame, d time.Duration, flops int64)
}

// Flopper is implemented by ops that know their floating-point work.
type Flopper interface {
	Flops(phase Phase) int64
}

type recorded struct {
	op    Op
	scope string
	back  bool            // whether Backward has anything to do
	label context.Context // pprof labels op=<kind> for the pool's workers
}

// Graph is the tape: ops appended in execution order by the builder
// methods (Linear, RMSNorm, ...), run forward in order and backward in
// reverse. Activations and their gradients are carved from one arena.
type Graph struct {
	Pool     *sched.Pool
	Profiler Profiler
	// Training switches on what only training does (dropout); evaluation
	// runs with it off.
	Training bool

	acts  *Arena
	dev   Device      // nil: the CPU
	timer DeviceTimer // the device's own timings, for the profiler (nil: wall time)
	owned []Buf       // device buffers the graph allocated (Release frees them)
	dgrad []Buf       // device activation gradients, zeroed before backward
	dtemp map[string]Buf
	tape  []recorded
	cur   Frame       // the op being run, for Kernel
	kerns int         // kernels the current op reported
	grads [][]float32 // activation gradient buffers, zeroed before backward
	scope string
	memos map[any]any // what ops compute once per graph (memo)
	temps map[string][]float32
	label map[string]context.Context // pprof labels per op kind
}

// NewGraph returns an empty tape whose parallel ops run on pool.
func NewGraph(pool *sched.Pool) *Graph {
	return &Graph{Pool: pool, acts: NewArena(1 << 22), memos: map[any]any{}, temps: map[string][]float32{}, label: map[string]context.Context{}}
}

// NewDeviceGraph returns an empty tape whose ops run on dev: the builder
// methods record device ops, and activations live in the device's memory.
// The parameters an op reads must already be there (ToDevice). A nil dev
// is the CPU (NewGraph).
func NewDeviceGraph(pool *sched.Pool, dev Device) *Graph {
	g := NewGraph(pool)
	g.dev = dev
	g.timer, _ = dev.(DeviceTimer)
	g.dtemp = map[string]Buf{}
	return g
}

// Device is the device the graph runs on (nil: the CPU).
func (g *Graph) Device() Device { return g.dev }

// Release frees the device memory of the graph's activations, scratch and
// temporaries; the graph must not run afterwards. It does nothing on the CPU.
func (g *Graph) Release() {
	if g.dev == nil {
		return
	}
	for _, b := range g.owned {
		g.dev.Free(b)
	}
	for _, b := range g.dtemp {
		g.dev.Free(b)
	}
	g.owned, g.dgrad, g.dtemp = nil, nil, map[string]Buf{}
}

// SetScope names the layer that the ops recorded next belong to (for
// profiles: kernel ← op ← layer ← phase).
func (g *Graph) SetScope(s string) { g.scope = s }

// Record appends an op to the tape. out is the op's output: when it has no
// gradient buffer, nothing upstream needs a gradient and the op's backward
// is skipped. A nil out (a loss) always runs backward.
func (g *Graph) Record(op Op, out *Tensor) {
	label, ok := g.label[op.Kind()]
	if !ok {
		label = pprof.WithLabels(context.Background(), pprof.Labels("op", op.Kind()))
		g.label[op.Kind()] = label
	}
	g.tape = append(g.tape, recorded{op, g.scope, out == nil || out.HasGrad(), label})
}

// Ops is the number of recorded ops.
func (g *Graph) Ops() int { return len(g.tape) }

// ActivationFloats is the number of floats the graph's activations (and
// their gradients) occupy.
func (g *Graph) ActivationFloats() int { return g.acts.Used() }

// NewActivation carves an op output from the graph's arena; it gets a
// gradient buffer when grad is true.
func (g *Graph) NewActivation(name string, grad bool, shape ...int) *Tensor {
	if g.dev != nil {
		t := &Tensor{Name: name, Shape: append([]int(nil), shape...)}
		t.Dev = g.DevScratch(t.Size())
		if grad {
			t.DevGrad = g.DevScratch(t.Size())
			g.dgrad = append(g.dgrad, t.DevGrad)
		}
		return t
	}
	t := g.acts.New(name, grad, shape...)
	if grad {
		g.grads = append(g.grads, t.Grad)
	}
	return t
}

// Scratch carves a buffer that is neither an output nor a gradient (saved
// statistics, per-worker scratch).
func (g *Graph) Scratch(n int) []float32 { return g.acts.Alloc(n) }

// DevScratch is Scratch in the device's memory (zeroed), freed by Release.
func (g *Graph) DevScratch(n int) Buf {
	b := g.dev.Alloc(max(n, 1))
	g.owned = append(g.owned, b)
	return b.Slice(0, n)
}

// DevTemp is Temp in the device's memory: a named buffer of at least n
// elements shared by every op that asks for the same name. Unlike Temp it
// returns the buffer at once; its address changes when a later call grows
// it, so ops call DevTemp again at run time (DevTempBuf).
func (g *Graph) DevTemp(name string, n int) {
	if b, ok := g.dtemp[name]; !ok || b.N < n {
		if ok {
			g.dev.Free(b)
		}
		g.dtemp[name] = g.dev.Alloc(max(n, 1))
	}
}

// DevTempBuf returns the first n elements of a buffer reserved with DevTemp.
func (g *Graph) DevTempBuf(name string, n int) Buf { return g.dtemp[name].Slice(0, n) }

// Temp reserves a buffer of at least n floats under a name, shared by
// every op that asks for the same name: for values an op needs only while
// it runs (never from forward to backward). Ops fetch it with TempBuf at
// run time, after the graph is complete.
func (g *Graph) Temp(name string, n int) {
	if len(g.temps[name]) < n {
		g.temps[name] = make([]float32, n)
	}
}

// TempBuf returns the first n floats of a buffer reserved with Temp.
func (g *Graph) TempBuf(name string, n int) []float32 { return g.temps[name][:n] }

// memo returns the value an op stored under key in this graph, calling
// build to make it the first time: for what every op of a kind and shape
// shares and never changes (RoPE's cos/sin tables). The key's type is the
// op's own, so ops cannot collide; the graph knows nothing of what it holds.
func (g *Graph) memo(key any, build func() any) any {
	if v, ok := g.memos[key]; ok {
		return v
	}
	v := build()
	g.memos[key] = v
	return v
}

// Forward runs every op in recording order.
func (g *Graph) Forward() {
	for _, r := range g.tape {
		g.run(r, PhaseForward)
	}
}

// Backward zeroes the activation gradients and runs every op's backward in
// reverse order. The last op (a loss) seeds the gradient. Parameter
// gradients accumulate across calls until the caller zeroes them.
func (g *Graph) Backward() {
	for _, b := range g.grads {
		clear(b)
	}
	for _, b := range g.dgrad {
		g.dev.Zero(b)
	}
	for i := len(g.tape) - 1; i >= 0; i-- {
		if g.tape[i].back {
			g.run(g.tape[i], PhaseBackward)
		}
	}
}

func (g *Graph) run(r recorded, phase Phase) {
	g.Pool.SetLabels(r.label)
	if g.Profiler == nil {
		if phase == PhaseForward {
			r.op.Forward(g)
		} else {
			r.op.Backward(g)
		}
		return
	}
	g.cur = Frame{Kernel: r.op.Kind(), Op: r.op.Kind(), Scope: r.scope, Phase: phase}
	g.kerns = 0
	start := time.Now()
	var stop func() time.Duration
	if g.timer != nil {
		stop = g.timer.Timer()
	}
	if phase == PhaseForward {
		r.op.Forward(g)
	} else {
		r.op.Backward(g)
	}
	var d time.Duration
	switch {
	case stop != nil:
		d = stop()
	case g.dev != nil:
		g.dev.Sync() // device ops only queue work: wait for it (errors surface at the next Sync)
		d = time.Since(start)
	default:
		d = time.Since(start)
	}
	if g.kerns > 0 {
		return // the op reported its kernels itself
	}
	var flops int64
	if f, ok := r.op.(Flopper); ok {
		flops = f.Flops(phase)
	}
	g.Profiler.Record(g.cur, d, flops)
}

// Flops is the floating-point work of one Forward and one Backward of the
// tape as its ops count it (Flopper: the GEMMs and attention; elementwise
// ops count none), without running anything.
func (g *Graph) Flops() (forward, backward int64) {
	for _, r := range g.tape {
		f, ok := r.op.(Flopper)
		if !ok {
			continue
		}
		forward += f.Flops(PhaseForward)
		if r.back {
			backward += f.Flops(PhaseBackward)
		}
	}
	return forward, backward
}

// Now starts a kernel timing: the current time when a profiler is
// attached, else the zero time (and no clock read).
func (g *Graph) Now() time.Time {
	if g.Profiler == nil {
		return time.Time{}
	}
	return time.Now()
}

// Kernel reports one kernel of the op being run (started at Now), so that
// an op made of several GEMMs shows each one in profiles.
func (g *Graph) Kernel(name string, start time.Time, flops int64) {
	if g.Profiler == nil {
		return
	}
	if g.dev != nil {
		g.dev.Sync()
	}
	g.KernelTime(name, time.Since(start), flops)
}

// KernelTime reports one kernel of the op being run that took d.
func (g *Graph) KernelTime(name string, d time.Duration, flops int64) {
	g.kerns++
	f := g.cur
	f.Kernel = name
	g.Profiler.Record(f, d, flops)
}

// chunks splits n rows into at most 4 pieces per thread.
func (g *Graph) chunks(n int) (count, size int) {
	c := min(n, 4*g.Pool.Threads())
	if c <= 0 {
		return 0, 0
	}
	size = (n + c - 1) / c
	return (n + size - 1) / size, size
}

func needGrad(ts ...*Tensor) bool {
	for _, t := range ts {
		if t.HasGrad() {
			return true
		}
	}
	return false
}
