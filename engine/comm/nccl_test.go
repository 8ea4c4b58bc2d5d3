//go:build cuda && mpi

package comm

import (
	"testing"
	"time"

	"github.com/relora-go/relora-go/engine"
	_ "github.com/relora-go/relora-go/engine/cuda" // the "cuda" device
)

func init() {
	scenarios["nccl"] = workNCCL
	gpuScenarios["nccl"] = true
}

// gpus is the number of CUDA devices, or a skip.
func gpus(t *testing.T, need int) {
	t.Helper()
	n, err := NCCLDevices()
	if err != nil {
		t.Skipf("NCCL tests need NVIDIA's driver and NCCL: %v", err)
	}
	if n < need {
		t.Skipf("NCCL test needs %d GPUs, this machine has %d", need, n)
	}
}

// One rank on one GPU: the libraries load, the bootstrap works, the
// collectives are the identity.
func TestNCCLOneRank(t *testing.T) {
	gpus(t, 1)
	checkNCCL(t, Single(), func(string, ...any) {})
}

// Two ranks, one GPU each, under mpirun.
func TestNCCLTwoRanks(t *testing.T) {
	gpus(t, 2)
	r := mpirun(t, 2, "nccl", 3*time.Minute)
	if r.err != nil {
		t.Fatalf("exit %d (%v) after %v:\n%s", r.code, r.err, r.elapsed, r.out)
	}
	t.Log(r.out)
}

func workNCCL(t *testing.T, c Comm, say func(string, ...any)) { checkNCCL(t, c, say) }

func checkNCCL(t *testing.T, c Comm, say func(string, ...any)) {
	dev, err := engine.OpenDevice("cuda", "float32")
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	n, err := OpenNCCL(c, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	say("%v; %s", n, dev.Name())
	rank, size := c.Rank(), c.Size()
	for _, k := range []int{0, 1, 3, 1000003} {
		want := expectedOrdered(uint64(k), size, k)
		b := dev.Alloc(max(k, 1)).Slice(0, k)
		dev.Upload(b, gen(uint64(k), rank, k))
		if err := n.AllReduceSum(b); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, k)
		dev.Download(got, b)
		if err := dev.Sync(); err != nil {
			t.Fatal(err)
		}
		if size <= 2 { // any order is the rank order
			if i := sameBits(got, want); i != -1 {
				t.Errorf("rank %d, n %d: element %d is %v, want %v", rank, k, i, got[i], want[i])
			}
		}
		root := size - 1
		dev.Upload(b, gen(9, rank, k))
		if err := n.Broadcast(b, root); err != nil {
			t.Fatal(err)
		}
		dev.Download(got, b)
		if err := dev.Sync(); err != nil {
			t.Fatal(err)
		}
		if i := sameBits(got, gen(9, root, k)); i != -1 {
			t.Errorf("rank %d, n %d: broadcast: element %d", rank, k, i)
		}
		say("n=%d ok", k)
	}
	if err := n.Broadcast(engine.Buf{}, size); err == nil {
		t.Error("broadcast from a root out of range: no error")
	}
}
