package relora

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/relora-go/relora-go/data"
	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/model"
)

// A checkpoint is a directory <save_dir>/model_<update>/ holding
//
//	model.safetensors    every tensor (W0, lora_A, lora_B, embeddings, norms, head)
//	optimizer.safetensors the AdamW moments, <name>.exp_avg and <name>.exp_avg_sq
//	training_state.json  counters, data position, random streams, options, file hashes
//
// It is written into a hidden temporary directory and renamed into place,
// so a crash at any instant leaves the previous checkpoints intact; the
// hashes in training_state.json catch a damaged file on resume.

const checkpointFormat = 1

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
	Files      map[string]string `json:"sha256"`
}

// CheckpointDir is the directory name of the checkpoint after update n.
func CheckpointDir(saveDir string, n int) string {
	return filepath.Join(saveDir, fmt.Sprintf("model_%d", n))
}

func (t *Trainer) streams() map[string]*Stream {
	s := map[string]*Stream{"factors": t.factors, "prune": t.prune}
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
// KeepCheckpoints, removes the oldest ones beyond that count.
func (t *Trainer) SaveCheckpoint() (string, error) {
	if err := t.SyncHost(); err != nil {
		return "", err
	}
	dir := CheckpointDir(t.Opts.SaveDir, t.Update)
	tmp := filepath.Join(t.Opts.SaveDir, fmt.Sprintf(".model_%d.tmp", t.Update))
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	st := trainingState{
		Format: checkpointFormat, Update: t.Update, TokensSeen: t.TokensSeen, StageStart: t.stageStart,
		Wrapped: t.Layers != nil, Merges: t.Merges, Resets: t.Resets, AdamStep: t.opt.Step,
		DataEpoch: t.train.Epoch, DataNext: t.train.Next, Streams: map[string][]byte{}, Options: t.Opts,
		Files: map[string]string{},
	}
	for name, s := range t.streams() {
		st.Streams[name] = s.State()
	}
	files := map[string][]model.Named{"model.safetensors": t.Model.Tensors(), "optimizer.safetensors": t.optimizerTensors()}
	for name, tensors := range files {
		path := filepath.Join(tmp, name)
		if err := model.WriteSafetensors(path, tensors, nil); err != nil {
			return "", fmt.Errorf("checkpoint: %w", err)
		}
		sum, err := fileHash(path)
		if err != nil {
			return "", err
		}
		st.Files[name] = sum
	}
	cfg, err := t.Model.Config.HFConfig()
	if err != nil {
		return "", err
	}
	if err := data.WriteFileAtomic(filepath.Join(tmp, "config.json"), append(cfg, '\n')); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	js, _ := json.MarshalIndent(st, "", "  ")
	if err := data.WriteFileAtomic(filepath.Join(tmp, "training_state.json"), append(js, '\n')); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if _, err := os.Stat(dir); err == nil { // replacing a checkpoint of the same update
		old := dir + ".old"
		os.RemoveAll(old)
		if err := os.Rename(dir, old); err != nil {
			return "", fmt.Errorf("checkpoint: %w", err)
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	syncDir(t.Opts.SaveDir)
	if k := t.Opts.KeepCheckpoints; k > 0 {
		all, _ := listCheckpoints(t.Opts.SaveDir)
		for i := 0; i+k < len(all); i++ {
			os.RemoveAll(CheckpointDir(t.Opts.SaveDir, all[i]))
		}
	}
	return dir, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func fileHash(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
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
		if _, err := os.Stat(filepath.Join(saveDir, e.Name(), "training_state.json")); err == nil {
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
	raw, err := os.ReadFile(filepath.Join(dir, "training_state.json"))
	if err != nil {
		return refuse("%v", err)
	}
	var st trainingState
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&st); err != nil {
		return refuse("training_state.json is not valid: %v", err)
	}
	if st.Format != checkpointFormat {
		return refuse("format %d, this build reads format %d", st.Format, checkpointFormat)
	}
	if err := compatible(st.Options, t.Opts); err != nil {
		return refuse("%v", err)
	}
	for _, name := range []string{"model.safetensors", "optimizer.safetensors"} {
		sum, err := fileHash(filepath.Join(dir, name))
		if err != nil {
			return refuse("%v", err)
		}
		if sum != st.Files[name] {
			return refuse("%s is damaged (its sha256 differs from the one recorded when it was saved)", name)
		}
	}
	if st.Wrapped && t.Layers == nil {
		if err := t.wrap(); err != nil {
			return err
		}
	}
	if !st.Wrapped && t.Layers != nil {
		return refuse("it holds a full-rank model, this run starts low-rank")
	}
	weights, err := model.ReadSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return refuse("%v", err)
	}
	if err := t.Model.LoadWeights(weights); err != nil {
		return refuse("%v", err)
	}
	for _, l := range t.Layers {
		l.Invalidate()
	}
	moments, err := model.ReadSafetensors(filepath.Join(dir, "optimizer.safetensors"))
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
	for name, s := range t.streams() {
		if err := s.Restore(st.Streams[name]); err != nil {
			return refuse("random stream %q: %v", name, err)
		}
	}
	if st.DataNext < 0 || st.DataNext > t.train.Windows() {
		return refuse("data position %d is beyond the %d sequences of the data", st.DataNext, t.train.Windows())
	}
	t.opt.Step = st.AdamStep
	t.Update, t.TokensSeen, t.stageStart = st.Update, st.TokensSeen, st.StageStart
	t.Merges, t.Resets = st.Merges, st.Resets
	t.train.Seek(st.DataEpoch, st.DataNext)
	return t.syncDevice()
}
