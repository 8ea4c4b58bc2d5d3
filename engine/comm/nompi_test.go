//go:build !mpi

package comm

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestOpenWithoutMPITag(t *testing.T) {
	t.Setenv("OMPI_COMM_WORLD_SIZE", "2")
	t.Setenv("OMPI_COMM_WORLD_RANK", "1")
	_, err := Open()
	if err == nil || !strings.Contains(err.Error(), "this binary was built without -tags mpi") ||
		!strings.Contains(err.Error(), "rank 1 of 2") {
		t.Fatalf("Open under a 2-rank launch, no mpi tag: %v", err)
	}
	t.Log(err)
	t.Setenv("OMPI_COMM_WORLD_SIZE", "1")
	t.Setenv("OMPI_COMM_WORLD_RANK", "0")
	if c, err := Open(); err != nil || c.Size() != 1 {
		t.Fatalf("Open under a 1-rank launch: %v, %v", c, err)
	}
}

// The same, under a real mpirun: both ranks refuse, the job fails.
func TestMPIRunWithoutTag(t *testing.T) {
	r := mpirun(t, 2, "open", time.Minute)
	if r.err == nil || r.code == -1 || strings.Count(r.out, "this binary was built without -tags mpi") != 2 {
		t.Fatalf("exit %d (%v) after %v, want both ranks refusing:\n%s", r.code, r.err, r.elapsed, r.out)
	}
}

func TestNoMPIWorker(t *testing.T) {
	if os.Getenv(workerEnv) == "" {
		t.Skip("runs under mpirun (TestMPIRunWithoutTag)")
	}
	if _, err := Open(); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	t.Fatal("Open: no error")
}
