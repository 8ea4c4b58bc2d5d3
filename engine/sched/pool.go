package sched

import (
	"context"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
)

// Task is a unit of parallel work. Run is called once for every index i in
// [0, n) of a Pool.Run call, from worker w (0 <= w < Pool.Threads()). The
// caller decides the granularity: an index is typically a chunk of rows or a
// tile, not a single element. Worker ids let a task use per-worker scratch.
type Task interface {
	Run(w, i int)
}

// Pool is a fixed set of worker goroutines. The zero value is not usable;
// use New. A nil *Pool is valid and runs everything on the caller.
type Pool struct {
	threads int
	wake    []chan struct{}
	mu      sync.Mutex // serialises Run calls from different goroutines

	task    Task
	n       int64
	next    atomic.Int64
	pending atomic.Int64
	done    chan struct{}
	ctx     context.Context // pprof labels for the workers (SetLabels)
}

// SetLabels makes the pool's workers and the calling goroutine carry the
// pprof labels of ctx for the Runs that follow, so that a CPU profile
// attributes their time (the engine labels each op: op=<kind>). Pass a
// context made once and reused: SetLabels itself does not allocate.
func (p *Pool) SetLabels(ctx context.Context) {
	if p == nil || p.ctx == ctx {
		return
	}
	p.ctx = ctx
	pprof.SetGoroutineLabels(ctx)
}

// New starts a pool with the given number of threads (the caller counts as
// one; threads-1 goroutines are started). threads <= 0 means GOMAXPROCS.
func New(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	p := &Pool{threads: threads, done: make(chan struct{}, 1)}
	p.wake = make([]chan struct{}, threads)
	for w := 1; w < threads; w++ {
		p.wake[w] = make(chan struct{}, 1)
		go p.worker(w)
	}
	return p
}

// Threads is the number of workers, the caller included; 1 for a nil pool.
func (p *Pool) Threads() int {
	if p == nil {
		return 1
	}
	return p.threads
}

// Close stops the worker goroutines. The pool must not be used afterwards.
func (p *Pool) Close() {
	if p == nil {
		return
	}
	for w := 1; w < p.threads; w++ {
		close(p.wake[w])
	}
}

func (p *Pool) worker(w int) {
	var labelled context.Context
	for range p.wake[w] {
		if p.ctx != labelled && p.ctx != nil {
			labelled = p.ctx
			pprof.SetGoroutineLabels(labelled)
		}
		p.drain(w)
		if p.pending.Add(-1) == 0 {
			p.done <- struct{}{}
		}
	}
}

// drain takes indices until none are left.
func (p *Pool) drain(w int) {
	for {
		i := p.next.Add(1) - 1
		if i >= p.n {
			return
		}
		p.task.Run(w, int(i))
	}
}

// Run calls t.Run(w, i) for every i in [0, n) and returns when all calls
// have returned. Indices are handed out dynamically, so uneven work
// balances. Every worker woken for a call has finished with it before Run
// returns, so no state leaks between calls. If the pool is busy (a Run from
// inside a task, or from a second goroutine), the call runs serially on the
// caller instead of waiting: nesting is safe and never deadlocks.
func (p *Pool) Run(n int, t Task) {
	if n <= 0 {
		return
	}
	if p == nil || p.threads == 1 || n == 1 || !p.mu.TryLock() {
		for i := 0; i < n; i++ {
			t.Run(0, i)
		}
		return
	}
	defer p.mu.Unlock()
	p.task, p.n = t, int64(n)
	p.next.Store(0)
	workers := min(p.threads, n)
	p.pending.Store(int64(workers - 1))
	for w := 1; w < workers; w++ {
		p.wake[w] <- struct{}{}
	}
	p.drain(0)
	<-p.done
	p.task = nil
}
