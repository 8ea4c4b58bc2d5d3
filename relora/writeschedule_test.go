package relora_test

import (
	"bufio"
	"strconv"
	"strings"
	"testing"

	"github.com/relora-go/relora-go/relora"
	"github.com/relora-go/relora-go/relora/run"
)

// TestWriteSchedule checks run.Options.WriteSchedule (relora-cpu schedule)
// against the jagged schedule's golden vector, which lives here.
func TestWriteSchedule(t *testing.T) {
	var sb strings.Builder
	opts := run.DefaultOptions()
	opts.LR, opts.Steps, opts.Scheduler, opts.WarmupSteps = 1e-3, relora.Jagged.Steps, relora.Jagged.Kind, relora.Jagged.Warmup
	opts.CycleLength, opts.RestartWarmup, opts.MinLRRatio = relora.Jagged.Cycle, relora.Jagged.RestartWarmup, relora.Jagged.MinRatio
	if err := opts.WriteSchedule(&sb); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(sb.String()))
	k := 0
	for sc.Scan() {
		k++
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			t.Fatalf("line %d: %q", k, sc.Text())
		}
		if f[0] != strconv.Itoa(k) {
			t.Fatalf("line %d starts with %q", k, f[0])
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		if want := 1e-3 * relora.RefVectorB[k-1]; !relora.Near(v, want, 1e-12) {
			t.Errorf("update %d: lr %v, want %v", k, v, want)
		}
	}
	if k != 100 {
		t.Fatalf("%d lines, want 100", k)
	}
	lines := strings.Split(sb.String(), "\n")
	if lines[0] != "1 0" || lines[25] != "26 0" || lines[10] != "11 0.001" {
		t.Errorf("unexpected lines %q %q %q", lines[0], lines[25], lines[10])
	}
	if lines[11] != "12 0.0009997258722" {
		t.Errorf("line 12 = %q", lines[11])
	}
	bad := opts
	bad.CycleLength = 30
	if err := bad.WriteSchedule(&sb); err == nil {
		t.Error("WriteSchedule accepted an invalid schedule")
	}
}
