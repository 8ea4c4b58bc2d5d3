package comm

import (
	"fmt"
	"sync"
	"time"
)

// NewLocal returns size communicators joined in this process, one per
// rank, for goroutines standing in for processes (tests of code written
// against Comm, with no MPI). Each is used by its own goroutine. The
// reductions give the bits of AllReduceSumOrdered (AllReduceSum too).
// Lengths and roots are checked across ranks: a mismatch fails the
// collective on every rank. Close or Abort by one rank fails the others'
// later (and pending) collectives instead of blocking them.
func NewLocal(size int) []Comm {
	if size < 1 {
		panic(fmt.Sprintf("comm: NewLocal(%d)", size))
	}
	g := &localGroup{size: size, slots: make([]localSlot, size)}
	g.cond = sync.NewCond(&g.mu)
	cs := make([]Comm, size)
	for r := range cs {
		cs[r] = &localComm{g: g, rank: r}
	}
	return cs
}

// SetLocalTimeout sets the longest wait of one collective of a NewLocal
// group (0: none), for tests of the timeout path.
func SetLocalTimeout(c Comm, d time.Duration) {
	l := c.(*localComm)
	l.g.mu.Lock()
	l.g.timeout = d
	l.g.mu.Unlock()
}

type localGroup struct {
	size    int
	mu      sync.Mutex
	cond    *sync.Cond
	arrived int
	gen     int
	dead    string // why the group is unusable ("rank 1 closed")
	timeout time.Duration
	slots   []localSlot
}

// localSlot is what a rank posts for a collective.
type localSlot struct {
	op   string
	f32  []float32
	b    []byte // Broadcast buf, AllGather send
	recv []byte // AllGather recv
	n    int    // the length that must agree
	root int
}

type localComm struct {
	g      *localGroup
	rank   int
	closed bool
}

func (c *localComm) Rank() int      { return c.rank }
func (c *localComm) Size() int      { return c.g.size }
func (c *localComm) String() string { return fmt.Sprintf("local rank %d of %d", c.rank, c.g.size) }

func (c *localComm) err(op, msg string) error {
	return &Error{Backend: "local", Rank: c.rank, Size: c.g.size, Op: op, Msg: msg}
}

// barrier waits for every rank; post runs (under the lock) on arrival.
func (c *localComm) barrier(op string, post func(*localSlot)) error {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.closed {
		return c.err(op, "this rank's communicator is closed")
	}
	if g.dead != "" {
		return c.err(op, g.dead)
	}
	if post != nil {
		g.slots[c.rank] = localSlot{}
		post(&g.slots[c.rank])
	}
	g.arrived++
	if g.arrived == g.size {
		g.arrived = 0
		g.gen++
		g.cond.Broadcast()
		return nil
	}
	gen := g.gen
	var timer *time.Timer
	timedOut := false
	if g.timeout > 0 {
		timer = time.AfterFunc(g.timeout, func() {
			g.mu.Lock()
			if g.gen == gen {
				timedOut = true
				g.cond.Broadcast()
			}
			g.mu.Unlock()
		})
		defer timer.Stop()
	}
	for g.gen == gen && g.dead == "" && !timedOut {
		g.cond.Wait()
	}
	switch {
	case g.gen != gen:
		return nil
	case timedOut:
		g.dead = fmt.Sprintf("rank %d timed out in %s", c.rank, op)
		g.cond.Broadcast()
		e := c.err(op, fmt.Sprintf("not every rank arrived within %v", g.timeout)).(*Error)
		e.Timeout = true
		return e
	default:
		return c.err(op, g.dead)
	}
}

// agree checks, after the first barrier, that every rank posted the same
// op, length and root; every rank sees the same answer.
func (c *localComm) agree(op string) error {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	s0 := g.slots[0]
	for r, s := range g.slots {
		if s.op != s0.op || s.n != s0.n || s.root != s0.root {
			return c.err(op, fmt.Sprintf("rank 0 called %s(n=%d, root=%d) but rank %d %s(n=%d, root=%d)",
				s0.op, s0.n, s0.root, r, s.op, s.n, s.root))
		}
	}
	return nil
}

// collective posts, agrees, runs work between two barriers.
func (c *localComm) collective(op string, post func(*localSlot), work func()) error {
	if err := c.barrier(op, post); err != nil {
		return err
	}
	if err := c.agree(op); err != nil {
		// everyone fails alike; the second barrier keeps the slots
		// unchanged until all have read them
		c.barrier(op, nil)
		return err
	}
	work()
	return c.barrier(op, nil)
}

func (c *localComm) AllReduceSum(buf []float32) error { return c.reduce("AllReduceSum", buf) }
func (c *localComm) AllReduceSumOrdered(buf []float32) error {
	return c.reduce("AllReduceSumOrdered", buf)
}

// reduce: rank r adds its chunk of every rank's buffer in rank order and
// writes the sum into every rank's buffer (only rank r touches chunk r).
func (c *localComm) reduce(op string, buf []float32) error {
	return c.collective(op, func(s *localSlot) { s.op, s.f32, s.n = op, buf, len(buf) }, func() {
		lo, hi := chunk(len(buf), c.rank, c.g.size)
		slots := c.g.slots
		for i := lo; i < hi; i++ {
			s := slots[0].f32[i]
			for k := 1; k < len(slots); k++ {
				s += slots[k].f32[i]
			}
			for k := range slots {
				slots[k].f32[i] = s
			}
		}
	})
}

func (c *localComm) Broadcast(buf []byte, root int) error {
	if err := checkRoot("local", c, "Broadcast", root); err != nil {
		return err
	}
	return c.collective("Broadcast", func(s *localSlot) { s.op, s.b, s.n, s.root = "Broadcast", buf, len(buf), root }, func() {
		if c.rank != root {
			copy(buf, c.g.slots[root].b)
		}
	})
}

func (c *localComm) BroadcastFloat32(buf []float32, root int) error {
	return c.Broadcast(float32Bytes(buf), root)
}

func (c *localComm) AllGather(send, recv []byte) error {
	if len(recv) != c.g.size*len(send) {
		return c.err("AllGather", fmt.Sprintf("recv has %d bytes, want %d·%d", len(recv), c.g.size, len(send)))
	}
	return c.collective("AllGather", func(s *localSlot) { s.op, s.b, s.recv, s.n = "AllGather", send, recv, len(send) }, func() {
		for r, s := range c.g.slots {
			copy(recv[r*len(send):], s.b)
		}
	})
}

func (c *localComm) Barrier() error { return c.barrier("Barrier", nil) }

func (c *localComm) kill(why string) {
	g := c.g
	g.mu.Lock()
	if g.dead == "" {
		g.dead = why
	}
	c.closed = true
	g.cond.Broadcast()
	g.mu.Unlock()
}

func (c *localComm) Abort(code int) { c.kill(fmt.Sprintf("rank %d aborted (code %d)", c.rank, code)) }

func (c *localComm) Close() error {
	if !c.closed {
		c.kill(fmt.Sprintf("rank %d closed its communicator", c.rank))
	}
	return nil
}
