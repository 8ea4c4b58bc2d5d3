package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/relora-go/relora-go/engine/linalg"
	"github.com/relora-go/relora-go/engine/sched"
	"github.com/relora-go/relora-go/model"
	"github.com/relora-go/relora-go/relora"
)

// This file is what `relora-cpu analyze` needs from a run: its options,
// the model its low-rank stage began from (W_start), and the singular
// values of the learned update ΔW = W_final − W_start of every projection.

// ReadArgs reads a run's args.json (the options under their flag names,
// as ArgsJSON writes them). Flags the file lacks (an older build's run)
// keep their defaults.
func ReadArgs(path string) (Options, error) {
	o := DefaultOptions()
	b, err := os.ReadFile(path)
	if err != nil {
		return o, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return o, fmt.Errorf("%s: %v", path, err)
	}
	v := reflect.ValueOf(&o).Elem()
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Tag.Get("flag")
		r, ok := raw[name]
		if name == "" || !ok {
			continue
		}
		if err := json.Unmarshal(r, v.Field(i).Addr().Interface()); err != nil {
			return o, fmt.Errorf("%s: --%s: %v", path, name, err)
		}
	}
	return o, nil
}

// RunOptions are the options of the run in runDir: its args.json, or for a
// run without one those of its newest checkpoint.
func RunOptions(runDir string) (Options, error) {
	o, err := ReadArgs(filepath.Join(runDir, "args.json"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return o, err
	}
	if ck := LatestCheckpoint(runDir); ck != "" {
		st, err := readCheckpoint(ck)
		if err != nil {
			return o, fmt.Errorf("checkpoint %s: %v", ck, err)
		}
		return st.Options, nil
	}
	return o, fmt.Errorf("%s has neither args.json nor a checkpoint: the run's options (seed, model, low-rank settings) are unknown; give the start model with --base", runDir)
}

// InitialModel rebuilds, bit for bit, the model a run without a warm start
// or --init_from trained from: NewTrainer's model.New + Init with the
// run's seed, wrapped and unwrapped as NewTrainer wraps it (which changes
// nothing but under --lora_only, where the projection starts as s·B·A of
// the first factors). cfg is the run's model configuration (its final
// model's, whose vocabulary is the tokenizer's).
func InitialModel(o Options, cfg model.Config) (*model.Model, error) {
	m := model.New(cfg)
	m.Init(rand.New(rand.NewPCG(o.Seed, 0x5eed)))
	if !o.LowRank() {
		return m, nil
	}
	if _, err := relora.Wrap(m, o.LoRA(), relora.NewStream(o.Seed, 0xfac7).Rand, o.Seed^0xd209); err != nil {
		return nil, err
	}
	return relora.Unwrap(m, nil), nil
}

// ReplayWarmStart retrains the warm start of a run (its first
// WarmStartSteps full-rank updates) and returns the model at its end, on
// the CPU. With the run's data, thread count and CPU kernel the result is
// the run's own warm-start model bit for bit (training is deterministic
// at a fixed thread count).
func ReplayWarmStart(o Options, out io.Writer) (*model.Model, error) {
	if o.WarmStartSteps == 0 {
		return nil, fmt.Errorf("the run has no warm start to replay")
	}
	o.Device, o.DType = "", ""
	o.ResumeFrom, o.Autoresume, o.SaveEvery = "", false, 0
	corpus, err := LoadCorpus(o)
	if err != nil {
		return nil, fmt.Errorf("replaying the warm start needs the run's data: %w", err)
	}
	t, err := NewTrainer(o, corpus, io.Discard)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	defer t.Pool.Close()
	for t.Update < o.WarmStartSteps {
		if _, err := t.Step(); err != nil {
			return nil, err
		}
		if out != nil && (t.Update%100 == 0 || t.Update == o.WarmStartSteps) {
			fmt.Fprintf(out, "replayed %d of %d warm-start updates\n", t.Update, o.WarmStartSteps)
		}
	}
	return t.Model, nil
}

// checkpointW0 returns a plain model whose projections are the frozen W0 of
// the wrapped checkpoint dir (the other tensors: W0 + s·B·A, as
// LoadCheckpointModel gives them), and the checkpoint's merge count.
func checkpointW0(dir string) (*model.Model, *trainingState, error) {
	st, err := readCheckpoint(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %v", dir, err)
	}
	if !st.Wrapped || st.Options.LoraOnly {
		return nil, st, nil
	}
	weights, err := model.ReadSafetensors(filepath.Join(dir, modelFile))
	if err != nil {
		return nil, nil, err
	}
	cfg, err := checkpointConfig(dir, st.Options, weights)
	if err != nil {
		return nil, nil, err
	}
	m := model.New(cfg)
	layers, err := relora.Wrap(m, st.Options.LoRA(), relora.NewStream(0, 0).Rand, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %v", dir, err)
	}
	if err := m.LoadWeights(weights); err != nil {
		return nil, nil, err
	}
	for _, l := range layers {
		clear(l.B.Data) // the projections become W0
	}
	plain := relora.Unwrap(m, nil)
	if err := model.CheckFinite(dir, plain.Tensors()); err != nil {
		return nil, nil, err
	}
	return plain, st, nil
}

// StartOptions say how RunStart may find a warm-start model that the run
// did not save.
type StartOptions struct {
	Replay bool      // retrain the warm start (ReplayWarmStart)
	Log    io.Writer // progress of a replay
}

// RunStart returns W_start of the run in runDir, the model its low-rank
// stage (or, for a full-rank run, its training) began from, and a line
// saying where it came from. final is the run's trained model (its
// configuration is the run's). In order:
//   - with a warm start: the checkpoint at its end (model_<warm_start_steps>),
//     else the W0 of any checkpoint of the stage before its first merge
//     (W0 is frozen until then), else, with Replay, the warm start retrained;
//   - with --init_from: that model;
//   - otherwise the initialisation, rebuilt from the seed (InitialModel).
func RunStart(runDir string, o Options, final *model.Model, so StartOptions) (*model.Model, string, error) {
	if ws := o.WarmStartSteps; ws > 0 {
		ck := CheckpointDir(runDir, ws)
		if _, err := os.Stat(filepath.Join(ck, stateFile)); err == nil {
			m, err := LoadCheckpointModel(ck)
			if err != nil {
				return nil, "", err
			}
			return m, fmt.Sprintf("the end of the warm start (checkpoint %s)", ck), nil
		}
		steps, _ := listCheckpoints(runDir)
		if i, _ := slices.BinarySearch(steps, ws+1); i < len(steps) { // the first after it: merges only add up
			ck := CheckpointDir(runDir, steps[i])
			m, st, err := checkpointW0(ck)
			if err != nil {
				return nil, "", err
			}
			if m != nil && st.Merges == 0 && st.StageStart == ws {
				return m, fmt.Sprintf("the end of the warm start (update %d: the frozen W0 of checkpoint %s, before any merge)", ws, ck), nil
			}
		}
		if so.Replay {
			m, err := ReplayWarmStart(o, so.Log)
			if err != nil {
				return nil, "", fmt.Errorf("%s: %w", runDir, err)
			}
			return m, fmt.Sprintf("the end of the warm start (update %d, retrained with --threads %d)", ws, o.Threads), nil
		}
		return nil, "", fmt.Errorf("%s: the low-rank stage began from the model at the end of the warm start (update %d), which the run did not save (no %s, no checkpoint before the first merge): give that model with --base DIR, or retrain the warm start with --replay (%d updates on the run's data; bitwise the run's at --threads %d on this CPU)",
			runDir, ws, filepath.Base(ck), ws, o.Threads)
	}
	if o.InitFrom != "" {
		m, err := LoadModelDir(o.InitFrom)
		if err != nil {
			return nil, "", fmt.Errorf("%s: its --init_from: %w", runDir, err)
		}
		return m, fmt.Sprintf("--init_from %s", o.InitFrom), nil
	}
	cfg := final.Config
	m, err := InitialModel(o, cfg)
	if err != nil {
		return nil, "", err
	}
	return m, fmt.Sprintf("the initialisation (seed %d, %s, rebuilt)", o.Seed, o.ModelConfig), nil
}

// Projection is one projection matrix of a model pair.
type Projection struct {
	Name       string // Hugging Face name (model.layers.0.self_attn.q_proj.weight)
	Layer      int
	Kind       string // q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj
	Rows, Cols int
}

// ProjectionKinds are the short names of a block's seven projections.
func ProjectionKinds() []string {
	out := make([]string, len(model.ProjNames))
	for i, n := range model.ProjNames {
		out[i] = n[strings.LastIndexByte(n, '.')+1:]
	}
	return out
}

// UpdateSpectrum is the singular values of ΔW = final − start of one
// projection (in float64: the difference of two float32 is exact), with
// the Frobenius norms of ΔW, of W_start and of W_final.
type UpdateSpectrum struct {
	Projection
	Sigma                  []float64
	Norm, StartNorm, Final float64
}

// UpdateSpectra computes the spectra of every projection of every layer,
// in layer order and the order of model.ProjNames; each is passed to
// progress (when not nil) as it is done. The models must have the same
// shape.
func UpdateSpectra(pool *sched.Pool, start, final *model.Model, progress func(UpdateSpectrum)) ([]UpdateSpectrum, error) {
	if a, b := start.Config, final.Config; a.Hidden != b.Hidden || a.Intermediate != b.Intermediate || a.Layers != b.Layers {
		return nil, fmt.Errorf("the models differ in shape: start d %d, ffn %d, %d layers; final d %d, ffn %d, %d layers",
			a.Hidden, a.Intermediate, a.Layers, b.Hidden, b.Intermediate, b.Layers)
	}
	kinds := ProjectionKinds()
	var out []UpdateSpectrum
	for l := range final.Blocks {
		for i, slot := range final.Blocks[l].Projections() {
			fw, ok1 := (*slot).(*model.Dense)
			sw, ok2 := (*start.Blocks[l].Projections()[i]).(*model.Dense)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("layer %d %s: a wrapped model (unwrap it first)", l, kinds[i])
			}
			rows, cols := fw.W.Rows(), fw.W.Cols()
			d := make([]float64, rows*cols)
			var n, ns, nf float64
			for k, v := range fw.W.Data {
				s := float64(sw.W.Data[k])
				d[k] = float64(v) - s
				n += d[k] * d[k]
				ns += s * s
				nf += float64(v) * float64(v)
			}
			u := UpdateSpectrum{
				Projection: Projection{Name: fmt.Sprintf("model.layers.%d.%s.weight", l, model.ProjNames[i]), Layer: l, Kind: kinds[i], Rows: rows, Cols: cols},
				Sigma:      linalg.SingularValues(pool, rows, cols, d),
				Norm:       math.Sqrt(n), StartNorm: math.Sqrt(ns), Final: math.Sqrt(nf),
			}
			if progress != nil {
				progress(u)
			}
			out = append(out, u)
		}
	}
	return out, nil
}

// SpectrumSummary condenses a spectrum σ₁ ≥ σ₂ ≥ … for a rank r and a
// relative threshold τ.
type SpectrumSummary struct {
	// RankAbove counts the σᵢ > τ·σ₁.
	RankAbove int
	// StableRank is ‖ΔW‖²_F / ‖ΔW‖²₂ = Σσᵢ² / σ₁² (no threshold).
	StableRank float64
	// EnergyTopR is Σ_{i≤r} σᵢ² / Σσᵢ², the share of ‖ΔW‖²_F in the top r
	// directions (NaN without r).
	EnergyTopR float64
	// NextToTop is σ_{r+1}/σ₁ (NaN without r or past the last value).
	NextToTop float64
}

// Summarize computes the summary of sigma (largest first).
func Summarize(sigma []float64, r int, tau float64) SpectrumSummary {
	s := SpectrumSummary{EnergyTopR: math.NaN(), NextToTop: math.NaN()}
	if len(sigma) == 0 || sigma[0] == 0 {
		return s
	}
	var total, top float64
	for i, v := range sigma {
		if v > tau*sigma[0] {
			s.RankAbove++
		}
		total += v * v
		if i < r {
			top += v * v
		}
	}
	s.StableRank = total / (sigma[0] * sigma[0])
	if r > 0 {
		s.EnergyTopR = top / total
		if r < len(sigma) {
			s.NextToTop = sigma[r] / sigma[0]
		}
	}
	return s
}
