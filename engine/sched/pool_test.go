package sched

import (
	"sync/atomic"
	"testing"
)

type countTask struct {
	hits   []atomic.Int32
	worker []atomic.Int32
}

func (c *countTask) Run(w, i int) {
	c.hits[i].Add(1)
	c.worker[w].Add(1)
}

func TestRunVisitsEveryIndexOnce(t *testing.T) {
	p := New(4)
	defer p.Close()
	for _, n := range []int{0, 1, 2, 3, 7, 64, 1000} {
		c := &countTask{hits: make([]atomic.Int32, n), worker: make([]atomic.Int32, 4)}
		for rep := 0; rep < 50; rep++ {
			p.Run(n, c)
		}
		for i := range c.hits {
			if h := c.hits[i].Load(); h != 50 {
				t.Fatalf("n=%d: index %d ran %d times in 50 calls", n, i, h)
			}
		}
	}
}

type nestTask struct {
	p     *Pool
	inner *countTask
}

func (n *nestTask) Run(w, i int) { n.p.Run(8, n.inner) }

func TestNestedRunDoesNotDeadlock(t *testing.T) {
	p := New(2)
	defer p.Close()
	inner := &countTask{hits: make([]atomic.Int32, 8), worker: make([]atomic.Int32, 2)}
	p.Run(4, &nestTask{p, inner})
	for i := range inner.hits {
		if inner.hits[i].Load() != 4 {
			t.Fatalf("inner index %d ran %d times, want 4", i, inner.hits[i].Load())
		}
	}
}

type spinTask struct{ sink []float64 }

func (s *spinTask) Run(w, i int) {
	x := 1.0
	for k := 0; k < 20000; k++ {
		x = x*1.0000001 + 1e-9
	}
	s.sink[w] += x
}

func BenchmarkPoolSpin(b *testing.B) {
	for _, th := range []int{1, 2} {
		b.Run(map[int]string{1: "threads=1", 2: "threads=2"}[th], func(b *testing.B) {
			p := New(th)
			defer p.Close()
			s := &spinTask{sink: make([]float64, th)}
			for i := 0; i < b.N; i++ {
				p.Run(64, s)
			}
		})
	}
}
