//go:build mpi

package comm

// The MPI backend: MPI_COMM_WORLD of the MPI library the binary is linked
// with (Open MPI through pkg-config's ompi-c).
//
// Threads: Go moves goroutines between OS threads, MPI wants to know
// which thread calls it. One goroutine, locked to its OS thread for the
// life of the process, initializes MPI (MPI_THREAD_FUNNELED), makes every
// call and finalizes it; the methods hand it requests over channels,
// without allocating, one at a time. A timeout (RELORA_COMM_TIMEOUT) ends
// the caller's wait while that thread stays blocked in MPI: the Comm is
// then broken and Abort ends the job by exiting (MPI cannot be called).

/*
#cgo pkg-config: ompi-c
#cgo CFLAGS: -O2 -Wall
#include <stdlib.h>
#include "mpi_shim.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// HaveMPI reports whether this binary was built with the MPI backend.
const HaveMPI = true

// orderedPiece is the most elements one step of AllReduceSumOrdered moves
// (its scratch buffer: 4 MiB, which stays in cache).
const orderedPiece = 1 << 20

const (
	opAllReduce = iota
	opOrdered
	opReduceBcast
	opBcast
	opAllGather
	opBarrier
	opAbort
	opFinalize
)

var opNames = [...]string{"MPI_Allreduce", "MPI_Alltoallv/MPI_Allgatherv (ordered sum)",
	"MPI_Reduce/MPI_Bcast", "MPI_Bcast", "MPI_Allgather", "MPI_Barrier", "MPI_Abort", "MPI_Finalize"}

type mpiReq struct {
	op   int
	p, q unsafe.Pointer
	n    int64
	root int
}

type mpiComm struct {
	m          *C.rc_mpi
	rank, size int
	host, lib  string
	timeout    time.Duration

	mu     sync.Mutex // one call at a time
	req    chan mpiReq
	done   chan C.int // buffered: a call that timed out never blocks the MPI thread
	timer  *time.Timer
	broken string // why no call may be made (timeout, closed)
}

// the world, opened once per process (MPI cannot be initialized twice)
var world struct {
	sync.Mutex
	c   *mpiComm
	err error
}

func openLaunched(l Launch) (Comm, error) {
	c, err := OpenMPI()
	if err != nil {
		return nil, err
	}
	if c.Size() != l.Size || c.Rank() != l.Rank {
		return nil, fmt.Errorf("comm: the launcher started this process as rank %d of %d (%s: %s) but MPI "+
			"(%s) says rank %d of %d: the binary's MPI library is not the launcher's "+
			"(start it with that library's mpirun)", l.Rank, l.Size, l.Launcher, l.Vars,
			c.(*mpiComm).lib, c.Rank(), c.Size())
	}
	return c, nil
}

// OpenMPI initializes MPI (once per process) and returns its world, also
// where no launcher started the process (MPI's singleton: rank 0 of 1).
func OpenMPI() (Comm, error) {
	world.Lock()
	defer world.Unlock()
	if world.c != nil || world.err != nil {
		return world.c, world.err
	}
	timeout, err := timeoutFromEnv()
	if err != nil {
		return nil, err
	}
	c := &mpiComm{timeout: timeout, req: make(chan mpiReq), done: make(chan C.int, 1)}
	ready := make(chan error)
	go c.serve(ready)
	if err := <-ready; err != nil {
		world.err = err
		return nil, err
	}
	c.timer = time.NewTimer(time.Hour)
	c.timer.Stop()
	world.c = c
	return c, nil
}

// serve is the MPI thread.
func (c *mpiComm) serve(ready chan<- error) {
	runtime.LockOSThread() // for good: this thread is MPI's
	var provided C.int
	if r := C.rc_mpi_init(&c.m, orderedPiece, &provided); r != 0 {
		ready <- c.mpiErr("MPI_Init_thread", r)
		return
	}
	c.rank, c.size = int(C.rc_mpi_rank(c.m)), int(C.rc_mpi_size(c.m))
	var buf [256]C.char
	C.rc_mpi_host(&buf[0], C.int(len(buf)))
	c.host = C.GoString(&buf[0])
	C.rc_mpi_library(&buf[0], C.int(len(buf)))
	c.lib = strings.TrimSpace(strings.SplitN(C.GoString(&buf[0]), ",", 2)[0])
	ready <- nil
	for r := range c.req {
		c.done <- c.exec(r)
	}
}

func (c *mpiComm) exec(r mpiReq) C.int {
	switch r.op {
	case opAllReduce:
		return C.rc_mpi_allreduce(c.m, (*C.float)(r.p), C.int64_t(r.n))
	case opOrdered:
		return C.rc_mpi_allreduce_ordered(c.m, (*C.float)(r.p), C.int64_t(r.n))
	case opReduceBcast:
		return C.rc_mpi_reduce_bcast(c.m, (*C.float)(r.p), C.int64_t(r.n))
	case opBcast:
		return C.rc_mpi_bcast(c.m, r.p, C.int64_t(r.n), C.int(r.root))
	case opAllGather:
		return C.rc_mpi_allgather(c.m, r.p, r.q, C.int64_t(r.n))
	case opBarrier:
		return C.rc_mpi_barrier(c.m)
	case opAbort:
		return C.rc_mpi_abort(c.m, C.int(r.root))
	case opFinalize:
		rc := C.rc_mpi_finalize(c.m)
		c.m = nil
		return rc
	}
	panic("comm: unknown MPI request")
}

func (c *mpiComm) mpiErr(op string, code C.int) *Error {
	var buf [512]C.char
	C.rc_mpi_error_string(code, &buf[0], C.int(len(buf)))
	return &Error{Backend: "mpi", Rank: c.rank, Size: c.size, Host: c.host, Op: op,
		Code: int(code), Msg: fmt.Sprintf("%s (MPI error class %d)", C.GoString(&buf[0]), int(C.rc_mpi_error_class(code)))}
}

// call runs one request on the MPI thread and waits for it (at most the
// timeout).
func (c *mpiComm) call(r mpiReq) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != "" {
		return &Error{Backend: "mpi", Rank: c.rank, Size: c.size, Host: c.host, Op: opNames[r.op], Msg: c.broken}
	}
	c.req <- r
	var rc C.int
	if c.timeout > 0 {
		c.timer.Reset(c.timeout)
		select {
		case rc = <-c.done:
			c.timer.Stop()
		case <-c.timer.C:
			c.broken = fmt.Sprintf("an earlier %s did not complete within %v", opNames[r.op], c.timeout)
			return &Error{Backend: "mpi", Rank: c.rank, Size: c.size, Host: c.host, Op: opNames[r.op], Timeout: true,
				Msg: fmt.Sprintf("did not complete within %v (%s=%v): a rank is stuck, or the network is down",
					c.timeout, TimeoutEnv, c.timeout)}
		}
	} else {
		rc = <-c.done
	}
	if rc != 0 {
		return c.mpiErr(opNames[r.op], rc)
	}
	return nil
}

func (c *mpiComm) Rank() int { return c.rank }
func (c *mpiComm) Size() int { return c.size }
func (c *mpiComm) String() string {
	return fmt.Sprintf("MPI rank %d of %d on %s (%s)", c.rank, c.size, c.host, c.lib)
}

func (c *mpiComm) reduce(op int, buf []float32) error {
	if len(buf) == 0 || c.size == 1 {
		return nil
	}
	return c.call(mpiReq{op: op, p: unsafe.Pointer(&buf[0]), n: int64(len(buf))})
}

func (c *mpiComm) AllReduceSum(buf []float32) error        { return c.reduce(opAllReduce, buf) }
func (c *mpiComm) AllReduceSumOrdered(buf []float32) error { return c.reduce(opOrdered, buf) }

// reduceBcast is MPI_Reduce to rank 0 then MPI_Bcast, for the benchmark.
func (c *mpiComm) reduceBcast(buf []float32) error { return c.reduce(opReduceBcast, buf) }

func (c *mpiComm) Broadcast(buf []byte, root int) error {
	if err := checkRoot("mpi", c, "MPI_Bcast", root); err != nil {
		return err
	}
	if len(buf) == 0 || c.size == 1 {
		return nil
	}
	return c.call(mpiReq{op: opBcast, p: unsafe.Pointer(&buf[0]), n: int64(len(buf)), root: root})
}

func (c *mpiComm) BroadcastFloat32(buf []float32, root int) error {
	return c.Broadcast(float32Bytes(buf), root)
}

func (c *mpiComm) AllGather(send, recv []byte) error {
	if len(recv) != c.size*len(send) {
		return &Error{Backend: "mpi", Rank: c.rank, Size: c.size, Host: c.host, Op: "MPI_Allgather",
			Msg: fmt.Sprintf("recv has %d bytes, want %d·%d", len(recv), c.size, len(send))}
	}
	if len(send) == 0 {
		return nil
	}
	return c.call(mpiReq{op: opAllGather, p: unsafe.Pointer(&send[0]), q: unsafe.Pointer(&recv[0]), n: int64(len(send))})
}

func (c *mpiComm) Barrier() error {
	if c.size == 1 {
		return nil
	}
	return c.call(mpiReq{op: opBarrier})
}

// Abort calls MPI_Abort, which has mpirun end every rank; where the MPI
// thread is busy (a call timed out) it exits the process with code, which
// mpirun treats the same way. It never returns.
func (c *mpiComm) Abort(code int) {
	if code == 0 {
		code = 1
	}
	if c.mu.TryLock() && c.broken == "" {
		c.req <- mpiReq{op: opAbort, root: code}
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
		}
	}
	os.Exit(code)
}

// Close finalizes MPI (a collective); the process cannot use MPI again.
func (c *mpiComm) Close() error {
	c.mu.Lock()
	broken := c.broken
	c.mu.Unlock()
	if broken != "" {
		return nil // the MPI thread is stuck: nothing to finalize with
	}
	err := c.call(mpiReq{op: opFinalize})
	c.mu.Lock()
	c.broken = "the communicator is closed"
	c.mu.Unlock()
	return err
}
