//go:build cuda && mpi

package comm

// The NCCL backend: all-reduce and broadcast of buffers in GPU memory
// (engine.Buf), one GPU per rank, bootstrapped over a Comm (MPI): rank 0
// makes NCCL's unique id and broadcasts it. NCCL and the CUDA driver are
// dlopened at run time (nccl_shim.c), so the build needs no NVIDIA header
// or library, as with engine/cuda.
//
// libnccl.so.2 is looked for, in order, in the directories of
// $RELORA_NCCL_LIB_DIR and $RELORA_CUDA_LIB_DIR (colon-separated lists),
// $CUDA_HOME/lib64, $CUDA_PATH/lib64, the default loader path,
// /usr/local/cuda/lib64, /usr/lib/<arch>-linux-gnu (Debian's and NVIDIA's
// libnccl2 package), /usr/local/nvidia/lib64, /usr/lib64, and the
// nvidia/nccl/lib directories of Python's site-packages (the nvidia-nccl
// wheels).

/*
#cgo CFLAGS: -O2 -Wall
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "nccl_shim.h"
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/relora-go/relora-go/engine"
)

// ncclLibDirEnv names the directories searched first for libnccl.so.2.
const ncclLibDirEnv = "RELORA_NCCL_LIB_DIR"

// NCCL is a communicator over GPU memory: rank r of Size, on the CUDA
// device OpenNCCL was given. The collectives are in place, run on the
// device's legacy default stream (ordered after the work engine/cuda
// queued before them and before what it queues after), and wait for
// their completion, watching NCCL's asynchronous errors meanwhile: a
// peer that dies or a network that fails ends the wait with an error
// (and the communicator is aborted) instead of a hang. Like Comm, one
// goroutine at a time, every rank calling the same collectives in the
// same order.
//
// NCCL's sum gives the same bits on every rank; its order (ring or
// tree, chosen by size and topology) is NCCL's: there is no ordered
// variant here (with two ranks every order is the rank order).
type NCCL struct {
	rank, size, ordinal int
	host                string
	comm                C.ncclComm_t
	dev                 C.CUdevice
	ctx                 C.CUcontext
	version             string
	timeout             time.Duration
	broken              string
}

var ncclLibs struct {
	sync.Mutex
	ok         bool
	err        error
	cuda, nccl string
	version    string
}

// ncclSearch is where the libraries are looked for ("" is the default
// loader path), and its description for errors.
func ncclSearch() (locs, desc []string) {
	seen := map[string]bool{}
	add := func(d string) bool {
		if d != "" {
			d = filepath.Clean(d)
		}
		if seen[d] {
			return false
		}
		seen[d] = true
		locs = append(locs, d)
		return true
	}
	for _, e := range []string{ncclLibDirEnv, "RELORA_CUDA_LIB_DIR"} {
		if v := os.Getenv(e); v != "" {
			for _, d := range strings.Split(v, ":") {
				if d != "" {
					add(d)
				}
			}
			desc = append(desc, "$"+e)
		}
	}
	for _, e := range []string{"CUDA_HOME", "CUDA_PATH"} {
		if v := os.Getenv(e); v != "" && add(filepath.Join(v, "lib64")) {
			desc = append(desc, "$"+e+"/lib64")
		}
	}
	add("")
	desc = append(desc, "the default loader path")
	triple := "x86_64-linux-gnu"
	if runtime.GOARCH == "arm64" {
		triple = "aarch64-linux-gnu"
	}
	for _, d := range []string{"/usr/local/cuda/lib64", "/usr/lib/" + triple, "/usr/local/nvidia/lib64", "/usr/lib64"} {
		if add(d) {
			desc = append(desc, d)
		}
	}
	var roots []string
	for _, e := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if v := os.Getenv(e); v != "" {
			roots = append(roots, v+"/lib/python3*/site-packages")
		}
	}
	if h, err := os.UserHomeDir(); err == nil {
		roots = append(roots, h+"/.local/lib/python3*/site-packages")
	}
	roots = append(roots, "/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages",
		"/usr/lib/python3/dist-packages", "/opt/*/lib/python3*/site-packages")
	n := 0
	for _, r := range roots {
		m, _ := filepath.Glob(r + "/nvidia/nccl/lib")
		sort.Sort(sort.Reverse(sort.StringSlice(m)))
		for _, d := range m {
			if add(d) {
				n++
			}
		}
	}
	desc = append(desc, fmt.Sprintf("Python site-packages nvidia/nccl/lib (%d found)", n))
	return locs, desc
}

// ncclOpen dlopens the first name found, location by location.
func ncclOpen(name string, locs, desc []string) (unsafe.Pointer, error) {
	var failed []string
	for _, loc := range locs {
		p := name
		if loc != "" {
			p = filepath.Join(loc, name)
			if st, err := os.Stat(p); err != nil || st.IsDir() {
				continue
			}
		}
		cp := C.CString(p)
		var msg [512]C.char
		h := C.rc_dlopen(cp, &msg[0], C.size_t(len(msg)))
		C.free(unsafe.Pointer(cp))
		if h != nil {
			return h, nil
		}
		m := C.GoString(&msg[0])
		if loc == "" && strings.Contains(m, "No such file") {
			continue
		}
		failed = append(failed, m)
	}
	what := name + " not found"
	if len(failed) > 0 {
		what = name + " did not load: " + strings.Join(failed, "; ")
	}
	return nil, fmt.Errorf("%s; looked in %s; set %s to the directory that holds it",
		what, strings.Join(desc, ", "), ncclLibDirEnv)
}

// ncclLoad loads and binds libcuda (cuInit) and libnccl, once.
func ncclLoad() error {
	ncclLibs.Lock()
	defer ncclLibs.Unlock()
	if ncclLibs.ok || ncclLibs.err != nil {
		return ncclLibs.err
	}
	ncclLibs.err = func() error {
		locs, desc := ncclSearch()
		h, err := ncclOpen("libcuda.so.1", locs, desc)
		if err != nil {
			return fmt.Errorf("nccl: %v (no NVIDIA driver?)", err)
		}
		if miss := C.rc_bind(C.RC_LIB_CUDA, h); miss != nil {
			return fmt.Errorf("nccl: libcuda.so.1 has no %s", C.GoString(miss))
		}
		if r := C.rc_cu_init(); r != C.CUDA_SUCCESS {
			return fmt.Errorf("nccl: cuInit: %s", cuName(r))
		}
		h, err = ncclOpen("libnccl.so.2", locs, desc)
		if err != nil {
			return fmt.Errorf("nccl: %v", err)
		}
		if miss := C.rc_bind(C.RC_LIB_NCCL, h); miss != nil {
			return fmt.Errorf("nccl: libnccl.so.2 has no %s (NCCL too old?)", C.GoString(miss))
		}
		var v C.int
		if r := C.rc_nccl_version(&v); r != C.ncclSuccess {
			return fmt.Errorf("nccl: ncclGetVersion: %s", ncclName(r))
		}
		ncclLibs.version = ncclVersion(int(v))
		ncclLibs.cuda = C.GoString(C.rc_lib_path(C.RC_LIB_CUDA))
		ncclLibs.nccl = C.GoString(C.rc_lib_path(C.RC_LIB_NCCL))
		return nil
	}()
	ncclLibs.ok = ncclLibs.err == nil
	return ncclLibs.err
}

// ncclVersion formats ncclGetVersion's code (X·10000+Y·100+Z since 2.9,
// X·1000+Y·100+Z before).
func ncclVersion(v int) string {
	if v >= 10000 {
		return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
	}
	return fmt.Sprintf("%d.%d.%d", v/1000, v/100%10, v%100)
}

func cuName(r C.CUresult) string {
	if s := C.rc_cu_error_name(r); s != nil {
		return C.GoString(s)
	}
	return fmt.Sprintf("CUDA error %d", int(r))
}

var ncclNames = map[int]string{1: "ncclUnhandledCudaError", 2: "ncclSystemError", 3: "ncclInternalError",
	4: "ncclInvalidArgument", 5: "ncclInvalidUsage", 6: "ncclRemoteError", 7: "ncclInProgress"}

func ncclName(r C.ncclResult_t) string {
	s := ncclNames[int(r)]
	if s == "" {
		s = fmt.Sprintf("NCCL error %d", int(r))
	}
	if m := C.rc_nccl_error_string(r); m != nil {
		s += " (" + C.GoString(m) + ")"
	}
	return s
}

// NCCLDevices returns the number of CUDA devices this process sees, or an
// error where NCCL or the driver cannot be loaded.
func NCCLDevices() (int, error) {
	if err := ncclLoad(); err != nil {
		return 0, err
	}
	var n C.int
	if r := C.rc_cu_device_count(&n); r != C.CUDA_SUCCESS {
		return 0, fmt.Errorf("nccl: cuDeviceGetCount: %s", cuName(r))
	}
	return int(n), nil
}

// OpenNCCL creates the NCCL communicator of boot's ranks (every rank calls
// it), this rank on CUDA device ordinal (0 when PinGPU left each rank
// one device; engine/cuda uses device 0). A rank that cannot load NCCL or
// open its device makes every rank return an error naming it.
func OpenNCCL(boot Comm, ordinal int) (*NCCL, error) {
	n := &NCCL{rank: boot.Rank(), size: boot.Size(), ordinal: ordinal}
	n.host, _ = os.Hostname()
	var err error
	if n.timeout, err = timeoutFromEnv(); err != nil {
		return nil, err
	}
	opened := false
	defer func() {
		if !opened && n.ctx != nil {
			C.rc_cu_primary_release(n.dev)
		}
	}()
	// every rank loads and opens its device, then all learn who failed
	local := ncclLoad()
	if local == nil {
		if r := C.rc_cu_primary_ctx(C.int(ordinal), &n.dev, &n.ctx); r != C.CUDA_SUCCESS {
			local = fmt.Errorf("nccl: CUDA device %d: %s", ordinal, cuName(r))
		}
	}
	ok := []byte{1}
	if local != nil {
		ok[0] = 0
	}
	all := make([]byte, n.size)
	if err := boot.AllGather(ok, all); err != nil {
		return nil, err
	}
	var bad []string
	for r, v := range all {
		if v == 0 {
			bad = append(bad, fmt.Sprint(r))
		}
	}
	if local != nil {
		return nil, n.err("OpenNCCL", local.Error())
	}
	if bad != nil {
		return nil, n.err("OpenNCCL", "rank(s) "+strings.Join(bad, ", ")+" could not load NCCL or open their CUDA device")
	}
	// rank 0's unique id, and whether it got one, to every rank
	id := make([]byte, C.RC_NCCL_UNIQUE_ID_BYTES+1)
	var idErr error
	if n.rank == 0 {
		var u C.ncclUniqueId
		if r := C.rc_nccl_unique_id(&u); r != C.ncclSuccess {
			idErr = fmt.Errorf("ncclGetUniqueId: %s", ncclName(r))
		} else {
			copy(id, C.GoBytes(unsafe.Pointer(&u), C.RC_NCCL_UNIQUE_ID_BYTES))
			id[len(id)-1] = 1
		}
	}
	if err := boot.Broadcast(id, 0); err != nil {
		return nil, err
	}
	if id[len(id)-1] != 1 {
		if idErr != nil {
			return nil, n.err("OpenNCCL", idErr.Error())
		}
		return nil, n.err("OpenNCCL", "rank 0 could not make NCCL's unique id")
	}
	if r := C.rc_nccl_init_rank(n.ctx, &n.comm, C.int(n.size), unsafe.Pointer(&id[0]), C.int(n.rank)); r != C.ncclSuccess {
		return nil, n.ncclErr("ncclCommInitRank", r)
	}
	n.version = ncclLibs.version
	opened = true
	return n, nil
}

func (n *NCCL) err(op, msg string) *Error {
	return &Error{Backend: "nccl", Rank: n.rank, Size: n.size, Host: n.host, Op: op, Msg: msg}
}

func (n *NCCL) ncclErr(op string, r C.ncclResult_t) *Error {
	msg := ncclName(r)
	if n.comm != nil {
		if s := C.rc_nccl_last_error(n.comm); s != nil && C.GoString(s) != "" {
			msg += ": " + C.GoString(s)
		}
	}
	e := n.err(op, msg)
	e.Code = int(r)
	return e
}

func (n *NCCL) Rank() int { return n.rank }
func (n *NCCL) Size() int { return n.size }
func (n *NCCL) String() string {
	return fmt.Sprintf("NCCL %s rank %d of %d on %s, CUDA device %d", n.version, n.rank, n.size, n.host, n.ordinal)
}

// AllReduceSum sums b's float32 elements over the ranks, in place.
func (n *NCCL) AllReduceSum(b engine.Buf) error {
	return n.run("ncclAllReduce", b, func() C.ncclResult_t {
		return C.rc_nccl_allreduce_f32(n.ctx, n.comm, C.uintptr_t(b.Ptr), C.size_t(b.N))
	})
}

// Broadcast copies root's b (b.N 4-byte elements) into every rank's b.
func (n *NCCL) Broadcast(b engine.Buf, root int) error {
	if root < 0 || root >= n.size {
		return n.err("ncclBroadcast", fmt.Sprintf("root %d is not a rank of %d", root, n.size))
	}
	return n.run("ncclBroadcast", b, func() C.ncclResult_t {
		return C.rc_nccl_bcast_bytes(n.ctx, n.comm, C.uintptr_t(b.Ptr), C.size_t(4*b.N), C.int(root))
	})
}

// run enqueues a collective and waits for the stream, polling NCCL's
// asynchronous error; an error or the timeout aborts the communicator.
func (n *NCCL) run(op string, b engine.Buf, enqueue func() C.ncclResult_t) error {
	if n.broken != "" {
		return n.err(op, n.broken)
	}
	if b.N == 0 {
		return nil
	}
	if b.Nil() {
		return n.err(op, "nil device buffer")
	}
	if r := enqueue(); r != C.ncclSuccess {
		return n.fail(n.ncclErr(op, r))
	}
	start := time.Now()
	for spin := 0; ; spin++ {
		r := C.rc_cu_stream_query(n.ctx)
		if r == C.CUDA_SUCCESS {
			return nil
		}
		if r != C.CUDA_ERROR_NOT_READY {
			return n.fail(n.err(op, "waiting for the stream: "+cuName(r)))
		}
		var ae C.ncclResult_t
		if C.rc_nccl_async_error(n.comm, &ae) == C.ncclSuccess && ae != C.ncclSuccess && ae != C.ncclInProgress {
			return n.fail(n.ncclErr(op, ae))
		}
		if n.timeout > 0 && time.Since(start) > n.timeout {
			e := n.err(op, fmt.Sprintf("did not complete within %v (%s): a rank is stuck, or the network is down", n.timeout, TimeoutEnv))
			e.Timeout = true
			return n.fail(e)
		}
		if spin > 100 {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// fail aborts the communicator (its kernels stop; nothing more runs).
func (n *NCCL) fail(e *Error) error {
	n.broken = "an earlier " + e.Op + " failed"
	C.rc_nccl_abort(n.ctx, n.comm)
	n.comm = nil
	return e
}

// Close destroys the communicator (after the last collective on every
// rank) and releases the device's primary context.
func (n *NCCL) Close() error {
	var err error
	if n.comm != nil {
		if r := C.rc_nccl_destroy(n.ctx, n.comm); r != C.ncclSuccess {
			err = n.ncclErr("ncclCommDestroy", r)
		}
		n.comm = nil
	}
	if n.ctx != nil {
		C.rc_cu_primary_release(n.dev)
		n.ctx = nil
	}
	if n.broken == "" {
		n.broken = "the communicator is closed"
	}
	return err
}
