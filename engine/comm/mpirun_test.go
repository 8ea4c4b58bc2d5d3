package comm

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// The MPI tests re-run this test binary under mpirun: each rank runs
// TestMPIWorker (or TestNoMPIWorker), which does what $RELORA_COMM_WORKER
// names and skips when it is unset.
const workerEnv = "RELORA_COMM_WORKER"

// mpirunResult is one launch under mpirun.
type mpirunResult struct {
	out     string
	err     error // nil: exit status 0
	code    int   // exit status (-1: killed by the test's own deadline)
	elapsed time.Duration
	start   time.Time
}

// mpirun runs np ranks of this test binary's worker for scenario under
// mpirun, for at most limit, with env (NAME=value) added to every rank's.
// It skips the test where mpirun is not installed.
func mpirun(t testing.TB, np int, scenario string, limit time.Duration, env ...string) mpirunResult {
	t.Helper()
	path, err := exec.LookPath("mpirun")
	if err != nil {
		t.Skip("mpirun not found: install Open MPI (apt-get install -y openmpi-bin libopenmpi-dev) to run the MPI tests")
	}
	args := []string{"--allow-run-as-root", "--oversubscribe", "-np", strconv.Itoa(np),
		"-x", workerEnv}
	env = append(env, workerEnv+"="+scenario)
	for _, kv := range env[:len(env)-1] {
		for i := range kv {
			if kv[i] == '=' {
				args = append(args, "-x", kv[:i])
				break
			}
		}
	}
	worker := "^TestMPIWorker$"
	if !HaveMPI {
		worker = "^TestNoMPIWorker$"
	}
	args = append(args, os.Args[0], "-test.run="+worker, "-test.count=1", "-test.v",
		"-test.timeout="+(limit+30*time.Second).String())
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	r := mpirunResult{out: string(out), err: err, elapsed: time.Since(start), start: start}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		r.code = -1
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("mpirun: %v\n%s", err, out)
	}
	return r
}
