//go:build mpi

package comm

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ---- the launches ----

func TestMPICollectives(t *testing.T) {
	for _, tc := range []struct {
		np  int
		env []string
	}{
		{2, nil},
		{3, []string{TimeoutEnv + "=2m"}}, // three ranks; the timer path
		{4, nil},                          // four: Open MPI's order is no longer the rank order
	} {
		t.Run(fmt.Sprintf("np=%d", tc.np), func(t *testing.T) {
			env := append(tc.env, "RELORA_COMM_DIR="+t.TempDir())
			r := mpirun(t, tc.np, "collectives", 3*time.Minute, env...)
			if r.err != nil {
				t.Fatalf("exit %d (%v) after %v:\n%s", r.code, r.err, r.elapsed, r.out)
			}
			for _, l := range strings.Split(r.out, "\n") {
				if strings.Contains(l, "[rank 0]") {
					t.Log(strings.TrimSpace(l))
				}
			}
		})
	}
}

// killedRE is mpirun's report of a rank that died of a signal.
var killedRE = regexp.MustCompile(`process rank (\d+) with PID \d+ on node \S+ exited on signal 9`)

// A rank killed with SIGKILL in the middle of all-reduces: mpirun ends the
// job, non-zero, within seconds, naming the rank.
func TestMPIKill(t *testing.T) {
	for _, np := range []int{2, 3} {
		t.Run(fmt.Sprintf("np=%d", np), func(t *testing.T) {
			r := mpirun(t, np, "kill", 2*time.Minute)
			killAt := workerTime(t, r.out, "KILL")
			if r.err == nil || r.code == -1 {
				t.Fatalf("exit %d (%v) after %v, want mpirun to end the job:\n%s", r.code, r.err, r.elapsed, r.out)
			}
			m := killedRE.FindStringSubmatch(r.out)
			if m == nil || m[1] != strconv.Itoa(np-1) {
				t.Fatalf("no report naming rank %d:\n%s", np-1, r.out)
			}
			after := r.start.Add(r.elapsed).Sub(killAt)
			t.Logf("exit %d, %v after the kill: %s", r.code, after.Round(time.Millisecond), m[0])
			if after > 15*time.Second {
				t.Errorf("the job took %v to end after the kill", after)
			}
		})
	}
}

// A rank that fails reports it, naming itself, and calls Abort: the job
// ends at once, with the code, while the others wait in a collective.
// Then the same through Fail, with exit status 1.
func TestMPIAbort(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		code     int
		msg      string
	}{
		{"abort", 3, "comm (mpi): rank 1 of 2: test: a simulated failure"},
		{"fail", 1, "rank 1 of 2: a simulated failure"},
	} {
		r := mpirun(t, 2, tc.scenario, time.Minute)
		if r.code != tc.code || !strings.Contains(r.out, tc.msg) {
			t.Fatalf("%s: exit %d (%v) after %v, want %d and %q:\n%s", tc.scenario, r.code, r.err, r.elapsed, tc.code, tc.msg, r.out)
		}
		// mpirun's own report, which Open MPI 4.1.4 loses now and then
		t.Logf("%s: exit %d after %v; mpirun's MPI_ABORT report present: %v", tc.scenario, r.code,
			r.elapsed.Round(time.Millisecond), strings.Contains(r.out, "MPI_ABORT was invoked on rank 1"))
	}
}

// A rank that exits non-zero without Abort or Close takes the job down
// too (Open MPI's default, orte_abort_on_non_zero_status).
func TestMPIExit(t *testing.T) {
	r := mpirun(t, 2, "exit", time.Minute)
	if r.err == nil || r.code == -1 || !strings.Contains(r.out, "Exit code:    2") {
		t.Fatalf("exit %d (%v) after %v:\n%s", r.code, r.err, r.elapsed, r.out)
	}
	t.Logf("exit %d after %v", r.code, r.elapsed.Round(time.Millisecond))
}

// A rank that stays alive but never arrives: with a timeout, the waiting
// rank gets an error naming itself and the call, and Abort ends the job.
func TestMPITimeout(t *testing.T) {
	r := mpirun(t, 2, "timeout", time.Minute, TimeoutEnv+"=2s")
	if r.code != 4 || !regexp.MustCompile(`comm \(mpi\): rank 0 of 2 on \S+: MPI_Barrier: did not complete within 2s`).MatchString(r.out) {
		t.Fatalf("exit %d (%v) after %v, want 4 and the timeout named:\n%s", r.code, r.err, r.elapsed, r.out)
	}
	if r.elapsed > 30*time.Second {
		t.Errorf("took %v", r.elapsed)
	}
	t.Logf("exit %d after %v", r.code, r.elapsed.Round(time.Millisecond))
}

// workerTime reads the time a worker printed after tag ("KILL 1700000000123456789").
func workerTime(t *testing.T, out, tag string) time.Time {
	t.Helper()
	m := regexp.MustCompile(tag + ` (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the worker printed no %s line:\n%s", tag, out)
	}
	ns, _ := strconv.ParseInt(m[1], 10, 64)
	return time.Unix(0, ns)
}

// BenchmarkMPIAllReduce times the all-reduces at 2 ranks on this machine,
// one mpirun per size and variant: native (MPI_Allreduce), ordered
// (AllReduceSumOrdered), reduce_bcast (MPI_Reduce to rank 0 + MPI_Bcast).
// ns/op is the median call (the workers' own timing, without mpirun's
// start), GB/s the buffer's bytes over it, best-GB/s over the fastest
// call. Run it with -benchtime 1x: each sub-benchmark is one launch.
func BenchmarkMPIAllReduce(b *testing.B) {
	for _, variant := range []string{"native", "ordered", "reduce_bcast"} {
		for _, mb := range []int{1, 4, 16, 64} {
			b.Run(fmt.Sprintf("%s/%dMB", variant, mb), func(b *testing.B) {
				r := mpirun(b, 2, "bench", 5*time.Minute, "RELORA_COMM_BENCH="+variant+":"+strconv.Itoa(mb<<20))
				if r.err != nil {
					b.Fatalf("exit %d (%v):\n%s", r.code, r.err, r.out)
				}
				m := regexp.MustCompile(`BENCH ns/op=(\d+) min=(\d+)`).FindStringSubmatch(r.out)
				if m == nil {
					b.Fatalf("no result:\n%s", r.out)
				}
				med, _ := strconv.ParseFloat(m[1], 64)
				best, _ := strconv.ParseFloat(m[2], 64)
				b.ReportMetric(med, "ns/op")
				b.ReportMetric(float64(mb<<20)/med, "GB/s")
				b.ReportMetric(float64(mb<<20)/best, "best-GB/s")
			})
		}
	}
}

// ---- the ranks ----

// scenarios are the workers other files add (nccl_test.go), gpuScenarios
// those that need PinGPU first, singleScenarios those that also run as a
// single process, without mpirun.
var (
	scenarios       = map[string]func(t *testing.T, c Comm, say func(string, ...any)){}
	gpuScenarios    = map[string]bool{}
	singleScenarios = map[string]bool{}
)

func TestMPIWorker(t *testing.T) {
	scenario := os.Getenv(workerEnv)
	if scenario == "" {
		t.Skip("runs under mpirun (TestMPICollectives, TestMPIKill, ...)")
	}
	if l, ok, _ := Launched(); ok && gpuScenarios[scenario] {
		if _, err := PinGPU(l); err != nil { // before anything opens CUDA
			t.Fatal(err)
		}
	}
	c, err := Open()
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	if _, ok := c.(*mpiComm); !ok && !singleScenarios[scenario] {
		t.Fatalf("Open under mpirun gave %v", c)
	}
	say := func(format string, a ...any) {
		fmt.Printf("[rank %d] %s\n", c.Rank(), fmt.Sprintf(format, a...))
	}
	switch scenario {
	case "collectives":
		say("%v", c)
		workCollectives(t, c, say)
	case "kill":
		buf := make([]float32, 1<<18)
		for i := 0; i < 1<<30; i++ {
			if c.Rank() == c.Size()-1 && i == 50 {
				fmt.Printf("KILL %d\n", time.Now().UnixNano())
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
			if err := c.AllReduceSum(buf); err != nil {
				say("%v", err) // what a survivor saw, if it sees anything before mpirun kills it
				c.Abort(1)
			}
		}
	case "abort":
		if c.Rank() == 1 {
			time.Sleep(200 * time.Millisecond)
			fmt.Println(&Error{Backend: "mpi", Rank: c.Rank(), Size: c.Size(), Op: "test", Msg: "a simulated failure"})
			c.Abort(3)
		}
		c.Barrier()
		t.Fatal("the barrier returned")
	case "fail":
		if c.Rank() == 1 {
			time.Sleep(200 * time.Millisecond)
			Fail(c, errors.New("a simulated failure"))
		}
		c.Barrier()
		t.Fatal("the barrier returned")
	case "exit":
		if c.Rank() == 1 {
			time.Sleep(200 * time.Millisecond)
			os.Exit(2)
		}
		c.Barrier()
		t.Fatal("the barrier returned")
	case "timeout":
		if c.Rank() == 1 {
			time.Sleep(5 * time.Minute) // alive, never arriving
		}
		err := c.Barrier()
		fmt.Println(err)
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("want a timeout: %v", err)
		}
		c.Abort(4)
	case "bench":
		workBench(t, c, say)
	default:
		f := scenarios[scenario]
		if f == nil {
			t.Fatalf("unknown scenario %q", scenario)
		}
		f(t, c, say)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func workCollectives(t *testing.T, c Comm, say func(string, ...any)) {
	rank, size := c.Rank(), c.Size()
	check := func(what string, err error) {
		if err != nil {
			t.Errorf("rank %d: %s: %v", rank, what, err)
		}
	}
	// bits hashes buf on every rank and reports whether all hashes agree
	bits := func(buf []float32) bool {
		h := sha256.Sum256(float32Bytes(buf))
		all := make([]byte, size*len(h))
		check("AllGather", c.AllGather(h[:], all))
		for r := 1; r < size; r++ {
			if !bytes.Equal(all[r*len(h):(r+1)*len(h)], all[:len(h)]) {
				return false
			}
		}
		return true
	}
	// 2<<20+5: three pieces of the ordered reduction, the last one ragged
	for _, n := range []int{0, 1, 2, 3, 7, 1000, 1000003, 2<<20 + 5} {
		parts := make([][]float32, size)
		for r := range parts {
			parts[r] = gen(uint64(n), r, n)
		}
		want := make([]float32, n)
		SumOrdered(want, parts...)

		b := append([]float32(nil), parts[rank]...)
		check("AllReduceSumOrdered", c.AllReduceSumOrdered(b))
		if i := sameBits(b, want); i != -1 {
			t.Errorf("rank %d, n %d: ordered sum: element %d is %v, want %v", rank, n, i, b[i], want[i])
		}

		b = append(b[:0], parts[rank]...)
		check("AllReduceSum", c.AllReduceSum(b))
		if !bits(b) {
			t.Errorf("rank %d, n %d: MPI_Allreduce gave different bits on different ranks", rank, n)
		}
		differ := 0
		for i := range b {
			var mag float64
			for r := range size {
				mag += math.Abs(float64(parts[r][i]))
			}
			if d := math.Abs(float64(b[i]) - float64(want[i])); d > 1e-6*mag {
				t.Errorf("rank %d, n %d: element %d: %v, want %v", rank, n, i, b[i], want[i])
				break
			}
			if b[i] != want[i] {
				differ++
			}
		}
		if n > 0 && rank == 0 {
			say("n=%d: MPI_Allreduce: same bits on all ranks; %d of %d elements differ from the rank-order sum", n, differ, n)
		}

		root := n % size
		f := gen(7, rank, n)
		check("BroadcastFloat32", c.BroadcastFloat32(f, root))
		if i := sameBits(f, gen(7, root, n)); i != -1 {
			t.Errorf("rank %d, n %d: broadcast from %d: element %d", rank, n, root, i)
		}
		p := bytes.Repeat([]byte{byte(rank + 1)}, n)
		check("Broadcast", c.Broadcast(p, size-1))
		if !bytes.Equal(p, bytes.Repeat([]byte{byte(size)}, n)) {
			t.Errorf("rank %d, n %d: byte broadcast from %d", rank, n, size-1)
		}
	}
	if err := c.Broadcast(make([]byte, 1), size); err == nil {
		t.Errorf("rank %d: broadcast from root %d of %d: no error", rank, size, size)
	}

	// all-gather
	send := []byte(fmt.Sprintf("rank%03d", rank))
	recv := make([]byte, size*len(send))
	check("AllGather", c.AllGather(send, recv))
	for r := range size {
		if got := string(recv[r*len(send) : (r+1)*len(send)]); got != fmt.Sprintf("rank%03d", r) {
			t.Errorf("rank %d: all-gather part %d is %q", rank, r, got)
		}
	}

	// barrier: rank 0 writes a file late, the others look for it after
	dir := os.Getenv("RELORA_COMM_DIR")
	for round := range 3 {
		name := filepath.Join(dir, fmt.Sprintf("round%d", round))
		t0 := time.Now()
		if rank == 0 {
			time.Sleep(300 * time.Millisecond)
			check("write", os.WriteFile(name, nil, 0o644))
		}
		check("Barrier", c.Barrier())
		if _, err := os.Stat(name); err != nil {
			t.Errorf("rank %d: after the barrier: %v", rank, err)
		}
		if rank != 0 && time.Since(t0) < 250*time.Millisecond {
			t.Errorf("rank %d: the barrier returned after %v, before rank 0 arrived", rank, time.Since(t0))
		}
	}

	// the options check
	check("CheckSame", CheckSame(c, "options", []byte("same")))
	o := "same"
	if rank == size-1 {
		o = "other"
	}
	if err := CheckSame(c, "options", []byte(o)); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("rank(s) %d", size-1)) {
		t.Errorf("rank %d: CheckSame with rank %d's options different: %v", rank, size-1, err)
	} else if rank == 0 {
		say("CheckSame: %v", err)
	}

	// float64 gather
	g := make([]float64, 2*size)
	check("AllGatherFloat64", AllGatherFloat64(c, []float64{float64(rank), 1.5}, g))
	for r := range size {
		if g[2*r] != float64(r) || g[2*r+1] != 1.5 {
			t.Errorf("rank %d: AllGatherFloat64: %v", rank, g)
		}
	}

	// no allocation per call (the trainer's update is allocation-free);
	// the same calls in the same order on every rank
	buf := gen(1, rank, 1000)
	for _, op := range []struct {
		name string
		f    func() error
	}{
		{"AllReduceSum", func() error { return c.AllReduceSum(buf) }},
		{"AllReduceSumOrdered", func() error { return c.AllReduceSumOrdered(buf) }},
		{"Barrier", c.Barrier},
	} {
		var err error
		if a := testing.AllocsPerRun(20, func() {
			if e := op.f(); e != nil {
				err = e
			}
		}); a != 0 {
			t.Errorf("rank %d: %s allocates %v times per call", rank, op.name, a)
		}
		check(op.name, err)
	}
}

// workBench times one variant and size (RELORA_COMM_BENCH=variant:bytes):
// each call alone, between a barrier before and the end of the call on
// rank 0 (which cannot end before every rank's data has arrived), until
// 3 s or 400 calls; rank 0 decides when to stop and broadcasts it, so
// that every rank makes the same calls. It prints the median and the
// fastest call: on a loaded machine the median moves, the minimum is what
// the memory system and MPI can do.
func workBench(t *testing.T, c Comm, say func(string, ...any)) {
	spec := strings.SplitN(os.Getenv("RELORA_COMM_BENCH"), ":", 2)
	bytesN, _ := strconv.Atoi(spec[1])
	m := c.(*mpiComm)
	f := map[string]func([]float32) error{"native": m.AllReduceSum, "ordered": m.AllReduceSumOrdered,
		"reduce_bcast": m.reduceBcast}[spec[0]]
	if f == nil {
		t.Fatalf("unknown variant %q", spec[0])
	}
	buf := gen(1, c.Rank(), bytesN/4)
	for i := range buf {
		buf[i] *= 1e-3 // bounded over many sums
	}
	for range 3 {
		if err := f(buf); err != nil {
			t.Fatal(err)
		}
	}
	var times []time.Duration
	flag := make([]byte, 1)
	start := time.Now()
	for {
		if err := c.Barrier(); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if err := f(buf); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Since(t0))
		flag[0] = 0
		if len(times) >= 400 || (len(times) >= 5 && time.Since(start) > 3*time.Second) {
			flag[0] = 1
		}
		if err := c.Broadcast(flag, 0); err != nil {
			t.Fatal(err)
		}
		if flag[0] == 1 {
			break
		}
	}
	if c.Rank() == 0 {
		slices.Sort(times)
		fmt.Printf("BENCH ns/op=%d min=%d n=%d\n", times[len(times)/2].Nanoseconds(), times[0].Nanoseconds(), len(times))
	}
}
