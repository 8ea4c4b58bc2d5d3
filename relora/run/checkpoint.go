package run

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/relora-go/relora-go/data"
	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/engine/atomicfile"
	"github.com/relora-go/relora-go/model"
	"github.com/relora-go/relora-go/relora"
)

// A checkpoint is a directory <save_dir>/model_<update>/ holding
//
//	model.safetensors     every tensor (W0, lora_A, lora_B, embeddings, norms, head)
//	optimizer.safetensors the AdamW moments, <name>.exp_avg and <name>.exp_avg_sq
//	config.json           the model's Hugging Face configuration
//	training_state.json   counters, data position, random streams, options
//	SHA256SUMS            the sha256 of each of the four (sha256sum -c reads it)
//
// It is written into a hidden temporary directory and renamed into place,
// so a crash at any instant leaves the previous checkpoints intact. Every
// reader (resume, eval, export, generate, --init_from) checks the hashes
// first: a damaged or edited file, training_state.json included, is
// refused with its name. Format 1 (earlier builds) had no SHA256SUMS, only
// the hashes of the two safetensors files inside training_state.json.
//
// A run saves the checkpoint of update N after everything it logs for N
// (the update, its events, its evaluation), so a resumed run's
// metrics.jsonl continues exactly where the checkpoint's ends.

const checkpointFormat = 2

// The files of a checkpoint.
const (
	modelFile     = "model.safetensors"
	optimizerFile = "optimizer.safetensors"
	configFile    = "config.json"
	stateFile     = "training_state.json"
)

type trainingState struct {
	Format     int               `json:"format"`
	Update     int               `json:"update_step"`
	TokensSeen int64             `json:"tokens_seen"`
	StageStart int               `json:"stage_start"`
	Wrapped    bool              `json:"wrapped"`
	Merges     int               `json:"n_lora_restarts"`
	Resets     int               `json:"n_optimizer_resets"`
	AdamStep   int               `json:"adam_step"`
	DataEpoch  int               `json:"data_epoch"`
	DataNext   int               `json:"data_next"`
	Streams    map[string][]byte `json:"random_streams"`
	Options    Options           `json:"options"`
	ResetStep  *StepStats        `json:"reset_step_before,omitempty"` // saved between an optimizer reset and the next update
	Files      map[string]string `json:"sha256,omitempty"`            // format 1 only (SHA256SUMS replaces it)
}

// CheckpointDir is the directory name of the checkpoint after update n.
func CheckpointDir(saveDir string, n int) string {
	return filepath.Join(saveDir, fmt.Sprintf("model_%d", n))
}

func (t *Trainer) streams() map[string]*relora.Stream {
	s := map[string]*relora.Stream{"factors": t.factors, "prune": t.prune}
	for i, l := range t.Layers {
		s[fmt.Sprintf("dropout.%d", i)] = l.Rng
	}
	return s
}

func (t *Trainer) optimizerTensors() []model.Named {
	var out []model.Named
	for i, p := range t.opt.Params() {
		m, v := t.opt.Moments(i)
		out = append(out,
			model.Named{Name: p.Name + ".exp_avg", T: &engine.Tensor{Shape: p.Shape, Data: m}},
			model.Named{Name: p.Name + ".exp_avg_sq", T: &engine.Tensor{Shape: p.Shape, Data: v}})
	}
	return out
}

// SaveCheckpoint writes the checkpoint of the current update and, with
// KeepCheckpoints, removes the oldest ones beyond that count. Weights or
// moments that are not all finite are refused (ErrNonFinite) before
// anything is written; a failed write leaves no partial directory.
func (t *Trainer) SaveCheckpoint() (dir string, err error) {
	if err := t.SyncHost(); err != nil {
		return "", err
	}
	if err := t.checkFinite(); err != nil {
		return "", err
	}
	dir = CheckpointDir(t.Opts.SaveDir, t.Update)
	tmp := filepath.Join(t.Opts.SaveDir, fmt.Sprintf(".model_%d.tmp", t.Update))
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	st := trainingState{
		Format: checkpointFormat, Update: t.Update, TokensSeen: t.TokensSeen, StageStart: t.stageStart,
		Wrapped: t.Layers != nil, Merges: t.Merges, Resets: t.Resets, AdamStep: t.opt.Step,
		DataEpoch: t.train.Epoch, DataNext: t.train.Next, Streams: map[string][]byte{}, Options: t.Opts,
		ResetStep: t.resetBefore,
	}
	for name, s := range t.streams() {
		st.Streams[name] = s.State()
	}
	if err := model.WriteSafetensors(filepath.Join(tmp, modelFile), t.Model.Tensors(), nil); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if err := model.WriteSafetensors(filepath.Join(tmp, optimizerFile), t.optimizerTensors(), nil); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	cfg, err := t.Model.Config.HFConfig()
	if err != nil {
		return "", err
	}
	if err := atomicfile.WriteFile(filepath.Join(tmp, configFile), append(cfg, '\n')); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(tmp, stateFile), append(js, '\n')); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if err := data.WriteManifest(tmp, []string{modelFile, optimizerFile, configFile, stateFile}); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if err := atomicfile.ReplaceDir(tmp, dir); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if k := t.Opts.KeepCheckpoints; k > 0 {
		all, _ := listCheckpoints(t.Opts.SaveDir)
		for i := 0; i+k < len(all); i++ {
			os.RemoveAll(CheckpointDir(t.Opts.SaveDir, all[i]))
		}
	}
	return dir, nil
}

// checkFinite refuses weights or optimizer moments that hold a NaN or an
// infinity: a checkpoint of them could only fail again on resume. It
// costs one pass over the weights and moments per checkpoint; the update
// itself checks only the loss and the gradient norm.
func (t *Trainer) checkFinite() error {
	err := model.CheckFinite(fmt.Sprintf("the weights after update %d", t.Update), t.Model.Tensors())
	if err == nil {
		err = model.CheckFinite(fmt.Sprintf("the AdamW moments after update %d", t.Update), t.optimizerTensors())
	}
	if err != nil {
		return fmt.Errorf("%w: %v; nothing saved (%s)", ErrNonFinite, err, t.nonFiniteHint())
	}
	return nil
}

// listCheckpoints returns the update numbers of the complete checkpoints
// in saveDir (those with a training_state.json), ascending.
func listCheckpoints(saveDir string) ([]int, error) {
	ents, err := os.ReadDir(saveDir)
	if err != nil {
		return nil, err
	}
	var steps []int
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), "model_")
		if !ok || !e.IsDir() {
			continue
		}
		step, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(saveDir, e.Name(), stateFile)); err == nil {
			steps = append(steps, step)
		}
	}
	sort.Ints(steps)
	return steps, nil
}

// LatestCheckpoint is the newest complete checkpoint in saveDir, or "".
func LatestCheckpoint(saveDir string) string {
	steps, err := listCheckpoints(saveDir)
	if err != nil || len(steps) == 0 {
		return ""
	}
	return CheckpointDir(saveDir, steps[len(steps)-1])
}

// ErrCheckpoint marks a checkpoint that cannot be used.
var ErrCheckpoint = errors.New("checkpoint refused")

// readCheckpoint checks a checkpoint's files against their recorded hashes
// and returns its parsed training state. Every error names the file.
func readCheckpoint(dir string) (*trainingState, error) {
	sums, err := data.VerifyManifest(dir)
	switch {
	case err == nil:
		for _, name := range []string{stateFile, modelFile, optimizerFile} {
			if _, ok := sums[name]; !ok {
				return nil, fmt.Errorf("%s does not list %s (the file is damaged)", filepath.Join(dir, data.ManifestFile), name)
			}
		}
	case errors.Is(err, os.ErrNotExist): // format 1, or not a checkpoint: the state says
	default:
		return nil, err
	}
	path := filepath.Join(dir, stateFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st, err := parseTrainingState(path, raw)
	if err != nil {
		return nil, err
	}
	if sums != nil {
		return st, nil
	}
	if st.Format != 1 {
		return nil, fmt.Errorf("%s is missing: a checkpoint of format %d records the sha256 of its files there (the checkpoint is incomplete or damaged)",
			filepath.Join(dir, data.ManifestFile), st.Format)
	}
	for _, name := range []string{modelFile, optimizerFile} { // format 1: the hashes in the state
		sum, err := data.FileSHA256(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if sum != st.Files[name] {
			return nil, fmt.Errorf("%s is damaged (its sha256 differs from the one %s recorded when it was saved)", filepath.Join(dir, name), stateFile)
		}
	}
	return st, nil
}

// parseTrainingState decodes and checks a training_state.json; path names
// it in errors, with the field at fault.
func parseTrainingState(path string, raw []byte) (*trainingState, error) {
	var st trainingState
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("%s is not a valid training state: %v", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s is not a valid training state: data after its JSON object", path)
	}
	if len(st.Files) == 0 {
		st.Files = nil // as omitempty writes it
	}
	if st.Options.ResetMask == "" {
		st.Options.ResetMask = relora.MaskIndependent // made before --optimizer_reset_mask, which it ran as
	}
	if st.Format != 1 && st.Format != checkpointFormat {
		return nil, fmt.Errorf("%s: field \"format\" is %d, this build reads formats 1 and %d (continue the run with the build that wrote it)", path, st.Format, checkpointFormat)
	}
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("%s: field %q %s (the file is damaged or was edited)", path, field, fmt.Sprintf(format, a...))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"update_step", int64(st.Update)}, {"tokens_seen", st.TokensSeen}, {"stage_start", int64(st.StageStart)},
		{"n_lora_restarts", int64(st.Merges)}, {"n_optimizer_resets", int64(st.Resets)}, {"adam_step", int64(st.AdamStep)},
		{"data_epoch", int64(st.DataEpoch)}, {"data_next", int64(st.DataNext)}} {
		if f.v < 0 {
			return nil, bad(f.name, "is %d, it cannot be negative", f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"stage_start", st.StageStart}, {"adam_step", st.AdamStep}, {"n_lora_restarts", st.Merges}, {"n_optimizer_resets", st.Resets}} {
		if f.v > st.Update {
			return nil, bad(f.name, "is %d, more than the update_step %d", f.v, st.Update)
		}
	}
	// The options are not validated here: a resume compares them with its
	// own (validated) ones, and eval or export need only the factors'
	// shape, which Wrap checks; earlier builds accepted some that this one
	// refuses to start a run with.
	if st.Update > st.Options.Steps {
		return nil, bad("update_step", "is %d, beyond the run's %d updates", st.Update, st.Options.Steps)
	}
	if st.Wrapped && !st.Options.LowRank() {
		return nil, bad("wrapped", "is true for a full-rank run")
	}
	if r := st.ResetStep; r != nil && !(r.Max >= 0 && r.Median >= 0) {
		return nil, bad("reset_step_before", "holds a negative step size")
	}
	for name, b := range st.Streams {
		if err := relora.NewStream(0, 0).Restore(b); err != nil {
			return nil, bad("random_streams", "holds an invalid stream %q: %v", name, err)
		}
	}
	return &st, nil
}

// compatible reports the first option that differs in a way that would
// make the continued run not the run the checkpoint belongs to.
func compatible(saved, now Options) error {
	sv, nv := reflect.ValueOf(saved), reflect.ValueOf(now)
	ty := sv.Type()
	for i := 0; i < ty.NumField(); i++ {
		f := ty.Field(i)
		if f.Tag.Get("run") == "true" {
			continue
		}
		a, b := sv.Field(i).Interface(), nv.Field(i).Interface()
		if a != b {
			return fmt.Errorf("it was made with --%s %v, this run has --%s %v", f.Tag.Get("flag"), a, f.Tag.Get("flag"), b)
		}
	}
	return nil
}

// LoadCheckpoint restores the trainer to the state saved in dir. The
// trainer must have been built with the same options (run control aside).
func (t *Trainer) LoadCheckpoint(dir string) error {
	refuse := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrCheckpoint, dir, fmt.Sprintf(format, a...))
	}
	st, err := readCheckpoint(dir)
	if err != nil {
		return fmt.Errorf("%w: %v: resume from another checkpoint (--resume_from), or remove this one for --autoresume to take the one before", ErrCheckpoint, err)
	}
	if err := compatible(st.Options, t.Opts); err != nil {
		return refuse("%v", err)
	}
	if st.Wrapped && t.Layers == nil {
		if err := t.wrap(); err != nil {
			return err
		}
	}
	if !st.Wrapped && t.Layers != nil {
		return refuse("it holds a full-rank model, this run starts low-rank")
	}
	weights, err := model.ReadSafetensors(filepath.Join(dir, modelFile))
	if err != nil {
		return refuse("%v", err)
	}
	if err := t.Model.LoadWeights(weights); err != nil {
		return refuse("%v", err)
	}
	if err := model.CheckFinite(weights.Path, t.Model.Tensors()); err != nil {
		return refuse("%v: resume from an earlier checkpoint", err)
	}
	for _, l := range t.Layers {
		l.Invalidate()
	}
	moments, err := model.ReadSafetensors(filepath.Join(dir, optimizerFile))
	if err != nil {
		return refuse("%v", err)
	}
	for _, n := range t.optimizerTensors() {
		data, shape, err := moments.Float32(n.Name)
		if err != nil || len(data) != len(n.T.Data) {
			return refuse("optimizer state %q is missing or has shape %v", n.Name, shape)
		}
		copy(n.T.Data, data)
	}
	if err := model.CheckFinite(moments.Path, t.optimizerTensors()); err != nil {
		return refuse("%v: resume from an earlier checkpoint", err)
	}
	for name, s := range t.streams() {
		if err := s.Restore(st.Streams[name]); err != nil {
			return refuse("random stream %q: %v", name, err)
		}
	}
	if st.DataNext > t.train.Windows() {
		return refuse("data position %d is beyond the %d sequences of the data", st.DataNext, t.train.Windows())
	}
	t.opt.Step = st.AdamStep
	t.Update, t.TokensSeen, t.stageStart = st.Update, st.TokensSeen, st.StageStart
	t.Merges, t.Resets = st.Merges, st.Resets
	t.resetBefore = st.ResetStep
	t.train.Seek(st.DataEpoch, st.DataNext)
	return t.syncDevice()
}
