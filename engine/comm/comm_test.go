package comm

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// gen fills a rank's test buffer: signs, mantissas and exponents (2^±12)
// drawn from a hash of (seed, rank, i), so that the order of additions
// shows in the last bits.
func gen(seed uint64, rank, n int) []float32 {
	b := make([]float32, n)
	for i := range b {
		h := (seed+1)*0x9E3779B97F4A7C15 ^ uint64(rank+1)*0xBF58476D1CE4E5B9 ^ uint64(i+1)*0x94D049BB133111EB
		h ^= h >> 31
		h *= 0xD6E8FEB86659FD93
		h ^= h >> 32
		m := float32(h&0xFFFFFF)/float32(1<<24) + 0.5
		e := int(h>>24&0x1F) - 12
		v := float32(math.Ldexp(float64(m), e))
		if h>>40&1 == 1 {
			v = -v
		}
		b[i] = v
	}
	return b
}

func expectedOrdered(seed uint64, size, n int) []float32 {
	parts := make([][]float32, size)
	for r := range parts {
		parts[r] = gen(seed, r, n)
	}
	out := make([]float32, n)
	SumOrdered(out, parts...)
	return out
}

func sameBits(a, b []float32) int {
	if len(a) != len(b) {
		return -2
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

func TestSingle(t *testing.T) {
	c := Single()
	if c.Rank() != 0 || c.Size() != 1 {
		t.Fatalf("rank %d size %d", c.Rank(), c.Size())
	}
	for _, n := range []int{0, 1, 1000003} {
		b := gen(1, 0, n)
		want := append([]float32(nil), b...)
		if err := c.AllReduceSum(b); err != nil {
			t.Fatal(err)
		}
		if err := c.AllReduceSumOrdered(b); err != nil {
			t.Fatal(err)
		}
		if err := c.BroadcastFloat32(b, 0); err != nil {
			t.Fatal(err)
		}
		if i := sameBits(b, want); i != -1 {
			t.Fatalf("n=%d: element %d changed", n, i)
		}
	}
	if err := c.Broadcast([]byte("x"), 1); err == nil {
		t.Error("Broadcast from root 1 of 1: no error")
	}
	recv := make([]byte, 3)
	if err := c.AllGather([]byte("abc"), recv); err != nil || string(recv) != "abc" {
		t.Errorf("AllGather: %q, %v", recv, err)
	}
	if err := c.AllGather([]byte("abc"), make([]byte, 2)); err == nil {
		t.Error("AllGather into a short recv: no error")
	}
	if err := c.Barrier(); err != nil {
		t.Error(err)
	}
	if err := CheckSame(c, "options", []byte("a")); err != nil {
		t.Error(err)
	}
	if err := c.Close(); err != nil {
		t.Error(err)
	}
}

// onLocal runs f on every rank of a NewLocal group, each in its own
// goroutine, and returns the errors by rank.
func onLocal(size int, f func(c Comm) error) []error {
	cs := NewLocal(size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for r, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = f(c)
		}()
	}
	wg.Wait()
	return errs
}

func TestLocalCollectives(t *testing.T) {
	for _, size := range []int{1, 2, 3, 5} {
		for _, n := range []int{0, 1, 2, 3, 7, 1000, 1000003} {
			want := expectedOrdered(uint64(n), size, n)
			errs := onLocal(size, func(c Comm) error {
				b := gen(uint64(n), c.Rank(), n)
				if err := c.AllReduceSumOrdered(b); err != nil {
					return err
				}
				if i := sameBits(b, want); i != -1 {
					return fmt.Errorf("ordered sum: element %d is %v, want %v", i, b[i], want[i])
				}
				b = gen(uint64(n), c.Rank(), n)
				if err := c.AllReduceSum(b); err != nil {
					return err
				}
				if i := sameBits(b, want); i != -1 {
					return fmt.Errorf("sum: element %d", i)
				}
				root := n % size
				f := gen(7, c.Rank(), n)
				if err := c.BroadcastFloat32(f, root); err != nil {
					return err
				}
				if i := sameBits(f, gen(7, root, n)); i != -1 {
					return fmt.Errorf("broadcast from %d: element %d", root, i)
				}
				send := bytes.Repeat([]byte{byte(c.Rank())}, n%5)
				recv := make([]byte, size*len(send))
				if err := c.AllGather(send, recv); err != nil {
					return err
				}
				for r := range size {
					if !bytes.Equal(recv[r*len(send):(r+1)*len(send)], bytes.Repeat([]byte{byte(r)}, len(send))) {
						return fmt.Errorf("all-gather: rank %d's part is %v", r, recv)
					}
				}
				return c.Barrier()
			})
			for r, err := range errs {
				if err != nil {
					t.Errorf("size %d, n %d, rank %d: %v", size, n, r, err)
				}
			}
		}
	}
}

// With three or more ranks the order of additions changes the bits: the
// test data must show it, or the ordered tests would prove nothing.
func TestOrderShows(t *testing.T) {
	const n = 10000
	a, b, c := gen(1, 0, n), gen(1, 1, n), gen(1, 2, n)
	differ := 0
	for i := range a {
		if (a[i]+b[i])+c[i] != a[i]+(b[i]+c[i]) {
			differ++
		}
	}
	if differ < n/20 {
		t.Fatalf("only %d of %d elements depend on the order of addition", differ, n)
	}
	t.Logf("%d of %d elements depend on the order of three additions", differ, n)
}

func TestLocalMismatch(t *testing.T) {
	errs := onLocal(3, func(c Comm) error {
		return c.AllReduceSum(make([]float32, 10+c.Rank()/2))
	})
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "rank 2") {
			t.Errorf("rank %d: %v, want an error naming rank 2", r, err)
		}
	}
	errs = onLocal(2, func(c Comm) error { return c.Broadcast(make([]byte, 4), c.Rank()) })
	for r, err := range errs {
		if err == nil {
			t.Errorf("rank %d: broadcasts with different roots: no error", r)
		}
	}
}

func TestLocalAbortAndClose(t *testing.T) {
	errs := onLocal(3, func(c Comm) error {
		if c.Rank() == 1 {
			time.Sleep(20 * time.Millisecond)
			c.Abort(3)
			return nil
		}
		return c.Barrier()
	})
	for _, r := range []int{0, 2} {
		if errs[r] == nil || !strings.Contains(errs[r].Error(), "rank 1 aborted") {
			t.Errorf("rank %d: %v, want rank 1 aborted", r, errs[r])
		}
	}
	errs = onLocal(2, func(c Comm) error {
		if c.Rank() == 0 {
			return c.Close()
		}
		time.Sleep(10 * time.Millisecond)
		return c.AllReduceSum(make([]float32, 3))
	})
	if errs[0] != nil || errs[1] == nil || !strings.Contains(errs[1].Error(), "rank 0 closed") {
		t.Errorf("after rank 0 closed: %v", errs)
	}
}

func TestLocalTimeout(t *testing.T) {
	cs := NewLocal(2)
	SetLocalTimeout(cs[0], 50*time.Millisecond)
	t0 := time.Now()
	err := cs[0].Barrier()
	if !errors.Is(err, ErrTimeout) || time.Since(t0) > 5*time.Second {
		t.Fatalf("%v after %v, want a timeout", err, time.Since(t0))
	}
	t.Log(err)
	if err := cs[1].Barrier(); err == nil {
		t.Error("the other rank's later barrier: no error")
	}
}

func TestCheckSame(t *testing.T) {
	errs := onLocal(4, func(c Comm) error { return CheckSame(c, "options", []byte("lr=1e-3")) })
	for r, err := range errs {
		if err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	}
	errs = onLocal(4, func(c Comm) error {
		o := "lr=1e-3"
		if c.Rank() == 2 {
			o = "lr=2e-3"
		}
		return CheckSame(c, "options", []byte(o))
	})
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "rank(s) 2 have other options") {
			t.Errorf("rank %d: %v", r, err)
		}
	}
	t.Log(errs[2])
}

func TestAllGatherFloat64(t *testing.T) {
	errs := onLocal(3, func(c Comm) error {
		recv := make([]float64, 6)
		if err := AllGatherFloat64(c, []float64{float64(c.Rank()), 0.5}, recv); err != nil {
			return err
		}
		want := []float64{0, 0.5, 1, 0.5, 2, 0.5}
		for i := range want {
			if recv[i] != want[i] {
				return fmt.Errorf("got %v", recv)
			}
		}
		return nil
	})
	for r, err := range errs {
		if err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

func TestShare(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 100} {
		for _, size := range []int{1, 2, 3, 8} {
			next := 0
			for r := range size {
				lo, hi := Share(n, r, size)
				if lo != next || hi < lo || hi-lo > n/size+1 {
					t.Fatalf("Share(%d, %d, %d) = %d, %d", n, r, size, lo, hi)
				}
				next = hi
			}
			if next != n {
				t.Fatalf("Share(%d, ·, %d) covers %d", n, size, next)
			}
		}
	}
}

func TestLaunched(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	if _, ok, err := launchedFrom(env()); ok || err != nil {
		t.Errorf("empty environment: %v %v", ok, err)
	}
	l, ok, err := launchedFrom(env("OMPI_COMM_WORLD_RANK", "1", "OMPI_COMM_WORLD_SIZE", "4",
		"OMPI_COMM_WORLD_LOCAL_RANK", "1", "OMPI_COMM_WORLD_LOCAL_SIZE", "2"))
	if !ok || err != nil || l.Rank != 1 || l.Size != 4 || l.LocalRank != 1 || l.LocalSize != 2 || l.Launcher != "Open MPI" {
		t.Errorf("Open MPI: %+v %v %v", l, ok, err)
	}
	l, ok, err = launchedFrom(env("PMI_RANK", "0", "PMI_SIZE", "2"))
	if !ok || err != nil || l.Size != 2 || l.LocalRank != -1 {
		t.Errorf("PMI: %+v %v %v", l, ok, err)
	}
	for _, bad := range [][]string{{"OMPI_COMM_WORLD_RANK", "2", "OMPI_COMM_WORLD_SIZE", "2"},
		{"OMPI_COMM_WORLD_RANK", "x", "OMPI_COMM_WORLD_SIZE", "2"}, {"PMI_SIZE", "2"}} {
		if _, ok, err := launchedFrom(env(bad...)); !ok || err == nil {
			t.Errorf("%v: ok %v, err %v", bad, ok, err)
		}
	}
}

func TestOpenAlone(t *testing.T) {
	for _, v := range []string{"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMI_SIZE", "PMI_RANK",
		"MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"} {
		t.Setenv(v, "")
	}
	c, err := Open()
	if err != nil || c.Size() != 1 {
		t.Fatalf("Open outside a launcher: %v, %v", c, err)
	}
}

func TestPinGPU(t *testing.T) {
	t.Setenv("CUDA_VISIBLE_DEVICES", "")
	for _, tc := range []struct {
		set   bool
		value string
		local int
		want  string
		err   bool
	}{
		{false, "", 3, "3", false},
		{true, "4,5,6", 1, "5", false},
		{true, "7", 1, "", false},
		{true, "0,1", 2, "", true},
		{false, "", -1, "", false},
	} {
		if tc.set {
			t.Setenv("CUDA_VISIBLE_DEVICES", tc.value)
		} else {
			t.Setenv("CUDA_VISIBLE_DEVICES", "")
			unsetenv(t, "CUDA_VISIBLE_DEVICES")
		}
		got, err := PinGPU(Launch{LocalRank: tc.local})
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%+v: %q, %v", tc, got, err)
		}
	}
}

// unsetenv removes v for the rest of the test (t.Setenv first, so that
// the test restores it).
func unsetenv(t *testing.T, v string) {
	t.Helper()
	if err := os.Unsetenv(v); err != nil {
		t.Fatal(err)
	}
}
