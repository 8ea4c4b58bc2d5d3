package comm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// Comm is a group of ranks (processes) that run the same program and call
// the same collectives in the same order with the same lengths and roots.
// Every method is a collective except Rank, Size, String and Abort: all
// ranks must call it, or it does not return (a launcher takes a dead
// rank's job down; a timeout, where one is set, ends a wait for a live one
// that never arrives). A Comm is used by one goroutine at a time.
//
// An error is an *Error naming the rank that saw it. After an error the
// group is in an unknown state: the caller reports it and ends the job
// with Abort (Close would wait for ranks that may never arrive).
type Comm interface {
	// Rank is this process's index in the group, 0 ≤ Rank < Size.
	Rank() int
	// Size is the number of ranks.
	Size() int

	// AllReduceSum replaces buf, on every rank, by the element-wise sum
	// of every rank's buf, with the same bits on every rank. The order
	// of the additions is the backend's (MPI's algorithm of the moment;
	// it may depend on the size and the number of ranks) and so are the
	// last bits of the result; use AllReduceSumOrdered where they must
	// not depend on it.
	AllReduceSum(buf []float32) error
	// AllReduceSumOrdered is AllReduceSum with the additions in rank
	// order: element i becomes (((b₀[i] + b₁[i]) + b₂[i]) + …) + bₙ₋₁[i],
	// the bits one process gets adding the ranks' buffers one after
	// another, whatever the number of ranks, the size or the network.
	AllReduceSumOrdered(buf []float32) error
	// Broadcast copies root's buf into every rank's buf.
	Broadcast(buf []byte, root int) error
	// BroadcastFloat32 is Broadcast of float32s.
	BroadcastFloat32(buf []float32, root int) error
	// AllGather puts every rank's send (the same length on every rank)
	// into every rank's recv, rank r's at recv[r·len(send):]; recv has
	// Size·len(send) bytes.
	AllGather(send, recv []byte) error
	// Barrier returns once every rank has entered it.
	Barrier() error

	// Abort ends the whole job at once with the exit status code (MPI:
	// MPI_Abort, which takes every rank down; the single backend exits
	// the process). It does not return, except on the in-process Local
	// backend, where it fails the group's later collectives instead.
	Abort(code int)
	// Close ends this rank's use of the group (MPI_Finalize). It is a
	// collective for MPI: call it on every rank, after the last
	// collective, on the way out of a successful run.
	Close() error

	// String describes the rank: backend, rank, size, host and library.
	String() string
}

// Error is a failed collective, named by the rank that saw it.
type Error struct {
	Backend string // "mpi", "nccl", "local", "single"
	Rank    int
	Size    int
	Host    string // where the rank runs, when known
	Op      string // the call that failed, e.g. "MPI_Allreduce"
	Code    int    // the library's error code (0 when none)
	Msg     string // what went wrong
	Timeout bool   // the call did not complete within the timeout
}

func (e *Error) Error() string {
	where := fmt.Sprintf("rank %d of %d", e.Rank, e.Size)
	if e.Host != "" {
		where += " on " + e.Host
	}
	return fmt.Sprintf("comm (%s): %s: %s: %s", e.Backend, where, e.Op, e.Msg)
}

// ErrTimeout is what errors.Is finds in an *Error whose call did not
// complete within the timeout.
var ErrTimeout = errors.New("comm: timed out")

// Is makes errors.Is(err, ErrTimeout) report a timeout.
func (e *Error) Is(target error) bool { return target == ErrTimeout && e.Timeout }

// TimeoutEnv names the environment variable Open reads for the longest
// wait of one collective ("30m", "90s"; unset or 0: no limit). A rank
// whose collective waits longer (a peer alive but stuck) gets an error
// with Timeout set, and should then Abort the job.
const TimeoutEnv = "RELORA_COMM_TIMEOUT"

func timeoutFromEnv() (time.Duration, error) {
	v := os.Getenv(TimeoutEnv)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("comm: $%s=%q: want a duration such as 30m or 90s", TimeoutEnv, v)
	}
	return d, nil
}

// ---- the launcher's environment ----

// Launch is what the launcher (mpirun, mpiexec) put in the environment
// of a rank it started.
type Launch struct {
	Launcher  string // "Open MPI", "PMI (MPICH, Intel MPI)", "MVAPICH"
	Rank      int
	Size      int
	LocalRank int    // the rank among those on this machine; -1 when not known
	LocalSize int    // the ranks on this machine; -1 when not known
	Vars      string // the variables read, for messages ("OMPI_COMM_WORLD_RANK=1 ...")
}

// the variables of each launcher: rank, size, local rank, local size
var launchers = []struct {
	name                    string
	rank, size, lrank, lsiz string
}{
	{"Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"},
	{"PMI (MPICH, Intel MPI)", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
	{"MVAPICH", "MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_SIZE"},
}

// Launched reports whether an MPI launcher started this process, and as
// which rank: Open MPI's OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,LOCAL_SIZE},
// the PMI_{RANK,SIZE} of MPICH's and Intel MPI's mpiexec, MVAPICH's
// MV2_COMM_WORLD_*. Malformed values are an error.
func Launched() (Launch, bool, error) { return launchedFrom(os.Getenv) }

func launchedFrom(getenv func(string) string) (Launch, bool, error) {
	for _, l := range launchers {
		rs, ss := getenv(l.rank), getenv(l.size)
		if rs == "" && ss == "" {
			continue
		}
		vars := fmt.Sprintf("%s=%s %s=%s", l.rank, rs, l.size, ss)
		r, err1 := strconv.Atoi(rs)
		s, err2 := strconv.Atoi(ss)
		if err1 != nil || err2 != nil || s < 1 || r < 0 || r >= s {
			return Launch{}, true, fmt.Errorf("comm: the %s launcher's environment is malformed (%s)", l.name, vars)
		}
		la := Launch{Launcher: l.name, Rank: r, Size: s, LocalRank: -1, LocalSize: -1, Vars: vars}
		if v, err := strconv.Atoi(getenv(l.lrank)); err == nil && v >= 0 {
			la.LocalRank = v
		}
		if v, err := strconv.Atoi(getenv(l.lsiz)); err == nil && v >= 1 {
			la.LocalSize = v
		}
		return la, true, nil
	}
	return Launch{}, false, nil
}

// Open returns the communicator this process was started with: MPI's
// world when a launcher started it (and the binary was built with
// -tags mpi), else Single(). A binary built without the tag and started
// as one of several ranks refuses to run: each rank would train alone.
func Open() (Comm, error) {
	l, ok, err := Launched()
	if err != nil {
		return nil, err
	}
	if !ok {
		return Single(), nil
	}
	return openLaunched(l)
}

// notBuiltErr is Open's error where the binary has no MPI backend.
func notBuiltErr(l Launch) error {
	return fmt.Errorf("comm: started by an MPI launcher (%s: rank %d of %d; %s), but this binary "+
		"was built without -tags mpi, so every rank would train alone: rebuild it with "+
		"`go build -tags mpi` (needs Open MPI's headers: apt-get install libopenmpi-dev)",
		l.Launcher, l.Rank, l.Size, l.Vars)
}

// PinGPU makes the CUDA device of this rank the only one it sees, before
// anything opens CUDA (engine/cuda uses device 0): CUDA_VISIBLE_DEVICES
// becomes the local rank, or the local rank's entry of the list it held.
// It returns the value set ("" when it changed nothing: an unknown local
// rank, or a single entry the launcher already chose).
func PinGPU(l Launch) (string, error) {
	if l.LocalRank < 0 {
		return "", nil
	}
	v, set := os.LookupEnv("CUDA_VISIBLE_DEVICES")
	pick := strconv.Itoa(l.LocalRank)
	if set {
		list := strings.Split(v, ",")
		if len(list) == 1 {
			return "", nil
		}
		if l.LocalRank >= len(list) {
			return "", fmt.Errorf("comm: local rank %d but CUDA_VISIBLE_DEVICES=%s lists %d devices", l.LocalRank, v, len(list))
		}
		pick = strings.TrimSpace(list[l.LocalRank])
	}
	return pick, os.Setenv("CUDA_VISIBLE_DEVICES", pick)
}

// ---- helpers over any Comm ----

// CheckSame returns an error, on every rank alike, unless data is the
// same on every rank (by SHA-256): the check that every rank was started
// with the same options. what names the data in the message.
func CheckSame(c Comm, what string, data []byte) error {
	h := sha256.Sum256(data)
	all := make([]byte, c.Size()*len(h))
	if err := c.AllGather(h[:], all); err != nil {
		return err
	}
	var differ []string
	for r := 1; r < c.Size(); r++ {
		if !bytes.Equal(all[r*len(h):(r+1)*len(h)], all[:len(h)]) {
			differ = append(differ, strconv.Itoa(r))
		}
	}
	if differ == nil {
		return nil
	}
	mine := ""
	if c.Rank() != 0 {
		mine = fmt.Sprintf("; this rank's (%d) is %s", c.Rank(), hex.EncodeToString(h[:6]))
	}
	return fmt.Errorf("comm: %s differs between ranks: rank(s) %s have other %s than rank 0 (sha256 %s…%s)",
		what, strings.Join(differ, ", "), what, hex.EncodeToString(all[:6]), mine)
}

// Fail reports err on standard error, naming the rank (an *Error names
// it already), and ends the whole job with Abort(1). Open MPI's mpirun
// prints its own "MPI_ABORT was invoked on rank N" too, but not always
// (4.1.4 loses it now and then), so this line is the one to rely on.
func Fail(c Comm, err error) {
	var e *Error
	if errors.As(err, &e) {
		fmt.Fprintln(os.Stderr, err)
	} else {
		fmt.Fprintf(os.Stderr, "rank %d of %d: %v\n", c.Rank(), c.Size(), err)
	}
	c.Abort(1)
}

// AllGatherFloat64 puts every rank's send into every rank's recv (rank r's
// at recv[r·len(send):]), so that each rank can combine them in one fixed
// order: the exact float64 sum of per-rank losses and token counts.
func AllGatherFloat64(c Comm, send, recv []float64) error {
	if len(recv) != c.Size()*len(send) {
		return fmt.Errorf("comm: AllGatherFloat64: recv has %d elements, want %d·%d", len(recv), c.Size(), len(send))
	}
	return c.AllGather(float64Bytes(send), float64Bytes(recv))
}

func float32Bytes(s []float32) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 4*len(s))
}

func float64Bytes(s []float64) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 8*len(s))
}

// Share is rank's part [lo, hi) of n items split over size ranks as
// evenly as can be (the first n mod size ranks get one more).
func Share(n, rank, size int) (lo, hi int) {
	q, r := n/size, n%size
	lo = rank*q + min(rank, r)
	hi = lo + q
	if rank < r {
		hi++
	}
	return lo, hi
}

// chunk is the part [lo, hi) of n elements rank owns in the ordered
// reduction (the same split as the C side's).
func chunk(n, rank, size int) (lo, hi int) {
	return int(int64(n) * int64(rank) / int64(size)), int(int64(n) * int64(rank+1) / int64(size))
}

// SumOrdered is the reference of AllReduceSumOrdered: dst[i] =
// (((parts[0][i] + parts[1][i]) + parts[2][i]) + …), in float32.
func SumOrdered(dst []float32, parts ...[]float32) {
	if len(parts) == 0 {
		clear(dst)
		return
	}
	copy(dst, parts[0])
	for _, p := range parts[1:] {
		for i := range dst {
			dst[i] += p[i]
		}
	}
}

func checkRoot(backend string, c Comm, op string, root int) error {
	if root < 0 || root >= c.Size() {
		return &Error{Backend: backend, Rank: c.Rank(), Size: c.Size(), Op: op,
			Msg: fmt.Sprintf("root %d is not a rank of %d", root, c.Size())}
	}
	return nil
}

// ---- the single process ----

type single struct{ closed bool }

// Single is the communicator of a process that trains alone: rank 0 of
// 1, every collective the identity (AllGather a copy).
func Single() Comm { return &single{} }

func (*single) Rank() int                           { return 0 }
func (*single) Size() int                           { return 1 }
func (*single) String() string                      { return "single process (rank 0 of 1)" }
func (*single) AllReduceSum([]float32) error        { return nil }
func (*single) AllReduceSumOrdered([]float32) error { return nil }
func (*single) Barrier() error                      { return nil }
func (*single) Close() error                        { return nil }
func (s *single) Broadcast(_ []byte, root int) error {
	return checkRoot("single", s, "Broadcast", root)
}
func (s *single) BroadcastFloat32(_ []float32, root int) error {
	return checkRoot("single", s, "Broadcast", root)
}
func (s *single) AllGather(send, recv []byte) error {
	if len(recv) != len(send) {
		return &Error{Backend: "single", Size: 1, Op: "AllGather",
			Msg: fmt.Sprintf("recv has %d bytes, want 1·%d", len(recv), len(send))}
	}
	copy(recv, send)
	return nil
}
func (*single) Abort(code int) { os.Exit(code) }
