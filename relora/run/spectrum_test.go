package run

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/relora-go/relora-go/model"
	"github.com/relora-go/relora-go/relora"
)

// sameProjections fails unless the seven projections of every layer of a
// and b are equal bit for bit.
func sameProjections(t *testing.T, what string, a, b *model.Model) {
	t.Helper()
	for l := range a.Blocks {
		for i, slot := range a.Blocks[l].Projections() {
			x := (*slot).(*model.Dense).W.Data
			y := (*b.Blocks[l].Projections()[i]).(*model.Dense).W.Data
			if !slices.Equal(x, y) {
				t.Fatalf("%s: layer %d %s differs", what, l, model.ProjNames[i])
			}
		}
	}
}

// The initialisation analyze rebuilds from the seed is the trainer's own,
// for full-rank, ReLoRA and lora_only runs (whose projections start as
// s·B·A of the first factors).
func TestInitialModelIsTheTrainersStart(t *testing.T) {
	for name, mod := range map[string]func(*Options){
		"full-rank": nil,
		"relora":    func(o *Options) { o.Relora, o.CycleLength, o.LoraR, o.Seed = 25, 25, 8, 7 },
		"lora_only": func(o *Options) { o.LoraOnly, o.LoraR = true, 8 },
	} {
		tr := smallTrainer(t, mod)
		m, err := InitialModel(tr.Opts, tr.Model.Config)
		if err != nil {
			t.Fatal(err)
		}
		want := tr.Model
		if tr.Layers != nil {
			want = relora.Unwrap(tr.Model, nil)
		}
		sameProjections(t, name, m, want)
		for i, n := range m.Tensors() {
			if !slices.Equal(n.T.Data, want.Tensors()[i].T.Data) {
				t.Fatalf("%s: %s differs", name, n.Name)
			}
		}
	}
}

// args.json reads back into the options that wrote it.
func TestReadArgsRoundTrip(t *testing.T) {
	o := DefaultOptions()
	o.Relora, o.LoraR, o.WarmStartSteps, o.Seed, o.LR, o.InitFrom, o.UsePeft = 30, 16, 12, 99, 3e-4, "x/final", true
	path := filepath.Join(t.TempDir(), "args.json")
	os.WriteFile(path, o.ArgsJSON(), 0o644)
	got, err := ReadArgs(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, o)
	}
	os.WriteFile(path, []byte(`{"lora_r": "many"}`), 0o644)
	if _, err := ReadArgs(path); err == nil || !strings.Contains(err.Error(), "--lora_r") {
		t.Fatalf("a bad value: %v", err)
	}
}

// W_start of a run with a warm start is the model at its end: from the
// checkpoint there, else from the frozen W0 of a checkpoint before the
// first merge, else retrained; all three are the same bits.
func TestRunStartOfAWarmStart(t *testing.T) {
	tr := smallTrainer(t, func(o *Options) {
		o.Steps, o.WarmStartSteps, o.Relora, o.CycleLength, o.LoraR, o.SaveEvery = 16, 6, 5, 5, 4, 2
		o.Threads, o.EvalEvery, o.LogEvery = 1, 0, 0
	})
	tr.Out = io.Discard
	if err := tr.Run(); err != nil {
		t.Fatal(err)
	}
	dir := tr.Opts.SaveDir
	final, err := LoadModelDir(filepath.Join(dir, "final"))
	if err != nil {
		t.Fatal(err)
	}
	atEnd, where, err := RunStart(dir, tr.Opts, final, StartOptions{})
	if err != nil || !strings.Contains(where, "model_6") {
		t.Fatalf("with model_6: %q, %v", where, err)
	}
	os.RemoveAll(CheckpointDir(dir, 6))
	w0, where, err := RunStart(dir, tr.Opts, final, StartOptions{})
	if err != nil || !strings.Contains(where, "W0 of checkpoint") || !strings.Contains(where, "model_8") {
		t.Fatalf("without model_6: %q, %v", where, err)
	}
	sameProjections(t, "W0 of model_8", w0, atEnd)
	for _, s := range []int{2, 4, 8, 10, 12, 14, 16} {
		os.RemoveAll(CheckpointDir(dir, s))
	}
	if _, _, err := RunStart(dir, tr.Opts, final, StartOptions{}); err == nil || !strings.Contains(err.Error(), "--replay") {
		t.Fatalf("no checkpoint: %v", err)
	}
	replayed, where, err := RunStart(dir, tr.Opts, final, StartOptions{Replay: true})
	if err != nil || !strings.Contains(where, "retrained") {
		t.Fatalf("replay: %q, %v", where, err)
	}
	sameProjections(t, "the replayed warm start", replayed, atEnd)
}

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{4, 2, 2, 1, 1e-4}, 2, 1e-3)
	if s.RankAbove != 4 || s.StableRank != (16+4+4+1+1e-8)/16 || s.NextToTop != 0.5 {
		t.Fatalf("%+v", s)
	}
	if e := 20 / (25 + 1e-8); s.EnergyTopR != e {
		t.Fatalf("energy %v, want %v", s.EnergyTopR, e)
	}
	if s := Summarize([]float64{0, 0}, 1, 1e-3); s.RankAbove != 0 || s.StableRank != 0 {
		t.Fatalf("zero update: %+v", s)
	}
}
