//go:build cuda && mpi

package comm

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/relora-go/relora-go/engine"
)

// The NCCL backend against testdata/fake_nccl.c (built here with the C
// compiler, under the names libcuda.so.1 and libnccl.so.2): the libraries
// load and bind, the id goes from rank 0 to every rank over the boot
// communicator, the collectives reach NCCL in place on the legacy stream
// with the right types, the wait polls the stream, an asynchronous NCCL
// error aborts the communicator with a message naming the rank, a hang
// ends at the timeout, a rank that cannot open its device fails every
// rank. Each run is a child process (the libraries load once per process).

func init() {
	scenarios["ncclfake"] = workNCCLFake
	singleScenarios["ncclfake"] = true
}

func fakeNCCLDir(t *testing.T) string {
	t.Helper()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	dir := t.TempDir()
	so := filepath.Join(dir, "fake.so")
	if out, err := exec.Command(cc, "-Wall", "-shared", "-fPIC", "-o", so, "testdata/fake_nccl.c").CombinedOutput(); err != nil {
		t.Skipf("cannot build the fake NCCL (%s): %v\n%s", cc, err, out)
	}
	for _, n := range []string{"libcuda.so.1", "libnccl.so.2"} {
		if err := os.Symlink("fake.so", filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNCCLFakeOneRank(t *testing.T) {
	dir := fakeNCCLDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestMPIWorker$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), workerEnv+"=ncclfake", "FAKE_NCCL_DIR="+dir,
		"OMPI_COMM_WORLD_SIZE=", "OMPI_COMM_WORLD_RANK=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("%s", out)
}

func TestNCCLFakeTwoRanks(t *testing.T) {
	dir := fakeNCCLDir(t)
	r := mpirun(t, 2, "ncclfake", 2*time.Minute, "FAKE_NCCL_DIR="+dir)
	if r.err != nil {
		t.Fatalf("exit %d (%v) after %v:\n%s", r.code, r.err, r.elapsed, r.out)
	}
	t.Log(r.out)
}

func workNCCLFake(t *testing.T, c Comm, say func(string, ...any)) {
	dir := os.Getenv("FAKE_NCCL_DIR")
	rank, size := c.Rank(), c.Size()
	logPath := filepath.Join(dir, fmt.Sprintf("log.%d", rank))
	os.Setenv("FAKE_NCCL_LOG", logPath)
	os.Setenv(ncclLibDirEnv, dir)
	os.Setenv("FAKE_NCCL_PENDING", "300") // the wait polls, then sleeps
	os.Unsetenv("FAKE_NCCL_FAIL")
	os.Unsetenv(TimeoutEnv)

	if n, err := NCCLDevices(); err != nil || n != 2 {
		t.Fatalf("NCCLDevices: %d, %v", n, err)
	}
	buf := make([]float32, 5)
	b := engine.Buf{Ptr: uintptr(unsafe.Pointer(&buf[0])), N: len(buf)}
	defer runtime.KeepAlive(buf)

	// the ordinary path
	n, err := OpenNCCL(c, 0)
	if err != nil {
		t.Fatal(err)
	}
	say("%v", n)
	if !strings.Contains(n.String(), "NCCL 2.27.3") {
		t.Errorf("String: %s", n)
	}
	if err := n.AllReduceSum(b); err != nil {
		t.Error(err)
	}
	if err := n.Broadcast(b, size-1); err != nil {
		t.Error(err)
	}
	if err := n.AllReduceSum(b.Slice(0, 0)); err != nil {
		t.Error(err)
	}
	if err := n.Broadcast(b, size); err == nil {
		t.Error("broadcast from a root out of range: no error")
	}
	if err := n.Close(); err != nil {
		t.Error(err)
	}

	// an asynchronous error: the communicator is aborted, the rank named
	if n, err = OpenNCCL(c, 0); err != nil {
		t.Fatal(err)
	}
	os.Setenv("FAKE_NCCL_FAIL", "async")
	err = n.AllReduceSum(b)
	want := fmt.Sprintf("comm (nccl): rank %d of %d", rank, size)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "ncclRemoteError") ||
		!strings.Contains(err.Error(), "fake last error") {
		t.Errorf("asynchronous error: %v", err)
	} else {
		say("%v", err)
	}
	if err := n.Broadcast(b, 0); err == nil || !strings.Contains(err.Error(), "an earlier ncclAllReduce failed") {
		t.Errorf("after the abort: %v", err)
	}
	n.Close()

	// a hang ends at the timeout
	os.Setenv("FAKE_NCCL_FAIL", "hang")
	os.Setenv(TimeoutEnv, "1s")
	if n, err = OpenNCCL(c, 0); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	err = n.Broadcast(b, 0)
	if !errors.Is(err, ErrTimeout) || time.Since(t0) > 20*time.Second {
		t.Errorf("hang: %v after %v", err, time.Since(t0))
	} else {
		say("%v", err)
	}
	n.Close()
	os.Unsetenv("FAKE_NCCL_FAIL")
	os.Unsetenv(TimeoutEnv)

	// the last rank cannot open its device: every rank fails
	ord := 0
	if rank == size-1 {
		ord = 7
	}
	if _, err := OpenNCCL(c, ord); err == nil {
		t.Error("OpenNCCL with a missing device: no error")
	} else if rank != size-1 && !strings.Contains(err.Error(), fmt.Sprintf("rank(s) %d could not", size-1)) {
		t.Errorf("OpenNCCL, rank %d's device missing: %v", size-1, err)
	} else {
		say("%v", err)
	}

	// what NCCL saw
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	init := fmt.Sprintf(`^init nranks=%d rank=%d id=(fakeid:\d+)$`, size, rank)
	wantLines := []string{init,
		"^allreduce count=5 dtype=7 op=0 inplace legacy$",
		fmt.Sprintf("^bcast count=20 dtype=1 root=%d inplace legacy$", size-1),
		"^destroy$",
		init, "^allreduce count=5 dtype=7 op=0 inplace legacy$", "^abort$",
		init, "^bcast count=20 dtype=1 root=0 inplace legacy$", "^abort$"}
	if len(lines) != len(wantLines) {
		t.Fatalf("rank %d: NCCL saw\n%s\nwant %d calls", rank, log, len(wantLines))
	}
	for i, w := range wantLines {
		if !regexp.MustCompile(w).MatchString(lines[i]) {
			t.Errorf("rank %d: call %d: %q, want %s", rank, i, lines[i], w)
		}
	}
	id := regexp.MustCompile(init).FindStringSubmatch(lines[0])
	if id == nil {
		t.Fatal("no id")
	}
	if err := CheckSame(c, "NCCL unique id", []byte(id[1])); err != nil {
		t.Error(err)
	}
	if rank == 0 && id[1] != fmt.Sprintf("fakeid:%d", os.Getpid()) {
		t.Errorf("rank 0 made id %s, not its own", id[1])
	}
}
