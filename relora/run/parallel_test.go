package run

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/relora-go/relora-go/engine/comm"
	"github.com/relora-go/relora-go/relora"
)

func parallelOptions(dir string, mod func(*Options)) Options {
	o := DefaultOptions()
	o.Steps, o.MaxLength, o.BatchSize, o.TotalBatchSize = 8, 32, 4, 8
	o.EvalBatches, o.LogEvery, o.Threads = 2, 1, 1
	o.Tokenizer = "bytes"
	o.SaveDir = dir
	if mod != nil {
		mod(&o)
	}
	return o
}

// updateLines reads the update records of a run's metrics.jsonl.
func updateLines(t *testing.T, dir string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if _, ok := m["loss"]; ok {
			out = append(out, m)
		}
	}
	return out
}

// runRanks runs o on n in-process ranks (NewLocal) and returns each rank's
// trainer after Run and its error.
func runRanks(t *testing.T, n int, opts func(rank int) Options) ([]*Trainer, []error) {
	t.Helper()
	cs := comm.NewLocal(n)
	trs, errs := make([]*Trainer, n), make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() {
			o := opts(r)
			c, err := LoadCorpus(o)
			if err != nil {
				errs[r] = err
				cs[r].Abort(1)
				return
			}
			tr, err := NewTrainerComm(o, c, io.Discard, cs[r])
			if err != nil {
				errs[r] = err
				cs[r].Abort(1)
				return
			}
			trs[r] = tr
			if errs[r] = tr.Run(); errs[r] != nil {
				cs[r].Abort(1)
			}
		})
	}
	wg.Wait()
	return trs, errs
}

// oneAndRanks runs o in one process and on n in-process ranks (o with
// SaveDir rankDir); it fails the test on any rank's error.
func oneAndRanks(t *testing.T, o Options, n int, rankDir string) (one *Trainer, ranks []*Trainer) {
	t.Helper()
	one = trainerFor(t, o)
	if err := one.Run(); err != nil {
		t.Fatal(err)
	}
	ro := o
	ro.SaveDir = rankDir
	ranks, errs := runRanks(t, n, func(int) Options { return ro })
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	return one, ranks
}

// Two ranks of batch 4 train as one process of batch 8 accumulated over two
// micro-batches: the same loss every update and the same final weights, to
// the bit, full-rank and ReLoRA (a warm start, merges and optimizer resets
// inside the run).
func TestTwoRanksEqualOneProcess(t *testing.T) {
	for name, mod := range map[string]func(*Options){
		"full-rank": nil,
		"relora": func(o *Options) {
			o.Relora, o.CycleLength, o.LoraR, o.WarmStartSteps = 3, 3, 8, 2
		},
	} {
		t.Run(name, func(t *testing.T) {
			oneDir, twoDir := t.TempDir(), t.TempDir()
			o := parallelOptions(oneDir, mod)
			one, trs := oneAndRanks(t, o, 2, twoDir)
			if mod != nil && (trs[0].Merges == 0 || trs[0].Resets == 0) {
				t.Fatalf("no merge (%d) or reset (%d) inside the run", trs[0].Merges, trs[0].Resets)
			}
			want, got := updateLines(t, oneDir), updateLines(t, twoDir)
			if len(got) != o.Steps || len(want) != o.Steps {
				t.Fatalf("%d and %d update lines, want %d", len(want), len(got), o.Steps)
			}
			// the first forward passes are the same to the bit: the same
			// windows, weights and dropout masks
			if got[0]["loss"] != want[0]["loss"] {
				t.Errorf("update 1: loss %v on 2 ranks, %v alone", got[0]["loss"], want[0]["loss"])
			}
			for i := range want {
				for _, k := range []string{"loss", "grad_norm"} {
					g, w := got[i][k].(float64), want[i][k].(float64)
					if math.Abs(g-w) > 1e-6*math.Abs(w) {
						t.Errorf("update %d: %s %v on 2 ranks, %v alone", i+1, k, g, w)
					}
				}
				if got[i]["tokens_seen"] != want[i]["tokens_seen"] {
					t.Errorf("update %d: tokens_seen %v on 2 ranks, %v alone", i+1, got[i]["tokens_seen"], want[i]["tokens_seen"])
				}
				if _, ok := want[i]["allreduce_bytes"]; ok {
					t.Errorf("update %d: allreduce_bytes logged by a single process", i+1)
				}
				if b, _ := got[i]["allreduce_bytes"].(float64); b <= 0 {
					t.Errorf("update %d: allreduce_bytes %v, want > 0", i+1, got[i]["allreduce_bytes"])
				}
			}
			// the bytes are the trainable set's: ReLoRA's are fewer than
			// full-rank's once wrapped
			full := 4 * int64(one.Model.Config.ParamCount())
			last := int64(got[len(got)-1]["allreduce_bytes"].(float64))
			if mod == nil && last != full {
				t.Errorf("full-rank all-reduces %d bytes, want every parameter's gradient (%d)", last, full)
			}
			if mod != nil && (last >= full || int64(got[0]["allreduce_bytes"].(float64)) != full) {
				t.Errorf("ReLoRA all-reduces %d bytes in the warm start and %d after it; full-rank is %d", int64(got[0]["allreduce_bytes"].(float64)), last, full)
			}
			if d := maxRelDiff(one, trs[1]); d > 1e-6 {
				t.Errorf("final weights (W0 + s·B·A) differ from the single process's by %.3g relative (largest |Δ| over the tensor's largest |w|), want ≤ 1e-6", d)
			} else {
				t.Logf("final weights: largest difference %.3g relative to the tensor's largest weight", d)
			}
			for r, tr := range trs {
				if !bytes.Equal(tr.WeightsHash(), trs[0].WeightsHash()) {
					t.Errorf("rank %d: final weights differ from rank 0's", r)
				}
				if tr.train.Epoch != one.train.Epoch || tr.train.Next != one.train.Next {
					t.Errorf("rank %d: data position %d/%d, single process %d/%d", r, tr.train.Epoch, tr.train.Next, one.train.Epoch, one.train.Next)
				}
			}
			// rank 0 alone wrote: one metrics.jsonl, the final model
			if _, err := os.Stat(filepath.Join(twoDir, "final", "config.json")); err != nil {
				t.Error(err)
			}
		})
	}
}

// Four micro-batches over two ranks (two each): micro-batch i on rank
// i mod 2. The losses are gathered and summed in micro-batch order, so they
// match the single process to the bit; the gradients are each rank's local
// accumulation summed in rank order, ((g0+g2)+(g1+g3)) against the single
// process's (((g0+g1)+g2)+g3), so the weights agree to float32 rounding.
func TestTwoRanksTwoMicroBatchesEach(t *testing.T) {
	oneDir, twoDir := t.TempDir(), t.TempDir()
	mod := func(o *Options) { o.TotalBatchSize, o.Steps = 16, 4 }
	one, trs := oneAndRanks(t, parallelOptions(oneDir, mod), 2, twoDir)
	want, got := updateLines(t, oneDir), updateLines(t, twoDir)
	if got[0]["loss"] != want[0]["loss"] {
		t.Errorf("first update: loss %v on 2 ranks, %v alone", got[0]["loss"], want[0]["loss"])
	}
	for i := range want {
		w, g := want[i]["loss"].(float64), got[i]["loss"].(float64)
		if d := (g - w) / w; d > 1e-6 || d < -1e-6 {
			t.Errorf("update %d: loss %v on 2 ranks, %v alone", i+1, g, w)
		}
	}
	if d := maxRelDiff(one, trs[1]); d > 1e-6 {
		t.Errorf("final weights differ from the single process's by %.3g relative, want ≤ 1e-6", d)
	}
	if !bytes.Equal(trs[0].WeightsHash(), trs[1].WeightsHash()) {
		t.Error("the two ranks' weights differ")
	}
}

func TestRanksRefuseMismatchedOptions(t *testing.T) {
	dir := t.TempDir()
	_, errs := runRanks(t, 2, func(r int) Options {
		return parallelOptions(dir, func(o *Options) { o.LR = 1e-3 * float64(r+1) })
	})
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "options differs between ranks") || !strings.Contains(err.Error(), "rank(s) 1") {
			t.Errorf("rank %d: error %v, want one naming rank 1's options", r, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "metrics.jsonl")); err == nil {
		t.Error("a refused start wrote metrics.jsonl")
	}
}

func TestRanksRefuseABatchThatDoesNotDivide(t *testing.T) {
	dir := t.TempDir()
	for _, total := range []int{0, 4, 12} {
		_, errs := runRanks(t, 2, func(int) Options {
			return parallelOptions(dir, func(o *Options) { o.TotalBatchSize = total })
		})
		for r, err := range errs {
			if err == nil || !strings.Contains(err.Error(), "--total_batch_size") || !strings.Contains(err.Error(), "--batch_size 4") ||
				!strings.Contains(err.Error(), "2 ranks") {
				t.Errorf("total %d, rank %d: error %v", total, r, err)
			}
		}
	}
}

// A stop request on one rank stops both after the same update, rank 0
// with a checkpoint; --autoresume on both then finishes with the weights
// of an uninterrupted run, to the bit.
func TestRanksStopTogetherAndAutoresume(t *testing.T) {
	dir, whole := t.TempDir(), t.TempDir()
	mod := func(o *Options) { o.Relora, o.CycleLength, o.LoraR, o.Steps = 3, 3, 8, 9 }
	ref, errs := runRanks(t, 2, func(int) Options { return parallelOptions(whole, mod) })
	for r, err := range errs {
		if err != nil {
			t.Fatalf("uninterrupted rank %d: %v", r, err)
		}
	}

	cs := comm.NewLocal(2)
	stop := make(chan struct{})
	close(stop)
	errs = make([]error, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() {
			o := parallelOptions(dir, mod)
			c, _ := LoadCorpus(o)
			tr, err := NewTrainerComm(o, c, io.Discard, cs[r])
			if err != nil {
				errs[r] = err
				return
			}
			if r == 1 {
				tr.Stop = stop // only rank 1 is asked
			}
			errs[r] = tr.Run()
		})
	}
	wg.Wait()
	for r, err := range errs {
		var st *Stopped
		if !asStopped(err, &st) || st.Update != 1 {
			t.Fatalf("rank %d: %v, want a stop after update 1", r, err)
		}
	}
	if LatestCheckpoint(dir) == "" {
		t.Fatal("no checkpoint after the stop")
	}
	trs, errs := runRanks(t, 2, func(int) Options {
		return parallelOptions(dir, func(o *Options) { mod(o); o.Autoresume = true })
	})
	for r, err := range errs {
		if err != nil {
			t.Fatalf("resumed rank %d: %v", r, err)
		}
		if !bytes.Equal(trs[r].WeightsHash(), ref[0].WeightsHash()) {
			t.Errorf("resumed rank %d: final weights differ from the uninterrupted run's", r)
		}
	}
}

// maxRelDiff is the largest difference between the weights of a's and b's
// models as final/ saves them (the factors merged in: W0 + s·B·A), each
// relative to the largest magnitude in its tensor. (A factor B restarted
// at zero a few updates ago is itself ~1e-4 and Adam's first steps, g/√v,
// amplify the last bits of its near-zero gradients: compared alone its
// differences are ~1e-5 of its size, ~1e-9 absolute.)
func maxRelDiff(a, b *Trainer) float64 {
	ta, tb := relora.Unwrap(a.Model, a.Pool).Tensors(), relora.Unwrap(b.Model, b.Pool).Tensors()
	worst := 0.0
	for i := range ta {
		scale := 0.0
		for _, v := range ta[i].T.Data {
			scale = max(scale, math.Abs(float64(v)))
		}
		for j, v := range ta[i].T.Data {
			worst = max(worst, math.Abs(float64(v-tb[i].T.Data[j]))/max(scale, 1e-30))
		}
	}
	return worst
}

func asStopped(err error, st **Stopped) bool {
	s, ok := err.(*Stopped)
	if ok {
		*st = s
	}
	return ok && fmt.Sprint(s) != ""
}
