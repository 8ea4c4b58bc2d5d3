package prof

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/relora-go/relora-go/engine"
)

func TestPprofStacksAndValues(t *testing.T) {
	k := New()
	fwd := engine.Frame{Kernel: "sgemm_nt", Op: "matmul", Scope: "model.layers.0.mlp", Phase: engine.PhaseForward}
	bwd := engine.Frame{Kernel: "sgemm_tn", Op: "matmul", Scope: "model.layers.0.mlp", Phase: engine.PhaseBackward}
	k.Record(fwd, 3*time.Millisecond, 300)
	k.Record(fwd, 1*time.Millisecond, 100)
	k.Record(bwd, 5*time.Millisecond, 700)
	var buf bytes.Buffer
	if err := k.WritePprof(&buf); err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sample) != 2 || len(p.SampleType) != 3 || p.SampleType[1].Type != "time" {
		t.Fatalf("%d samples, types %v", len(p.Sample), p.SampleType)
	}
	found := 0
	for _, s := range p.Sample {
		var stack []string
		for _, l := range s.Location {
			stack = append(stack, l.Line[0].Function.Name)
		}
		switch stack[0] {
		case "kernel sgemm_nt":
			found++
			if s.Value[0] != 2 || s.Value[1] != int64(4*time.Millisecond) || s.Value[2] != 400 {
				t.Errorf("forward sample values %v, want [2 4ms 400]", s.Value)
			}
			if stack[1] != "op matmul" || stack[2] != "layer model.layers.0.mlp" || stack[3] != "phase forward" {
				t.Errorf("stack %v", stack)
			}
		case "kernel sgemm_tn":
			found++
			if stack[3] != "phase backward" || s.Value[2] != 700 {
				t.Errorf("backward sample %v %v", stack, s.Value)
			}
		}
	}
	if found != 2 {
		t.Fatal("missing kernels in the profile")
	}
	rows := k.ByKernel()
	if rows[0].Kernel != "sgemm_tn" || rows[1].Calls != 2 || rows[1].GFLOPS() != 400/0.004/1e9 {
		t.Fatalf("table rows %+v", rows)
	}
}
