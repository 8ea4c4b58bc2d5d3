package run

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/relora-go/relora-go/data"
	"github.com/relora-go/relora-go/data/tokenizer"
	"github.com/relora-go/relora-go/engine/atomicfile"
	"github.com/relora-go/relora-go/model"
	"github.com/relora-go/relora-go/relora"
)

// ResolveModelDir resolves a --checkpoint: a run directory (no
// config.json or training_state.json of its own) stands for its final/,
// or, for a run that has not finished, its newest checkpoint; a note on
// notes says which. Any other directory is itself.
func ResolveModelDir(dir string, notes io.Writer) string {
	for _, f := range []string{configFile, stateFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return dir
		}
	}
	final := filepath.Join(dir, "final")
	if _, err := os.Stat(filepath.Join(final, configFile)); err == nil {
		fmt.Fprintf(notes, "note: %s is a run directory: using its final model %s\n", dir, final)
		return final
	}
	if ck := LatestCheckpoint(dir); ck != "" {
		fmt.Fprintf(notes, "note: %s is a run directory without final/: using its newest checkpoint %s\n", dir, ck)
		return ck
	}
	return dir
}

// LoadedModel is a plain model read from a directory, with its tokenizer.
type LoadedModel struct {
	Dir   string // the model directory (ResolveModelDir's)
	Model *model.Model
	// Tokenizer is the model's tokenizer, TokenizerJSON its tokenizer.json
	// (nil for the byte tokenizer) and TokenizerSource where it came from
	// (tokenizer.ForModel).
	Tokenizer       tokenizer.Tokenizer
	TokenizerJSON   []byte
	TokenizerSource string
}

// LoadModel is what eval, generate and export read: the model of dir (a
// run directory, a checkpoint, a final/ or a Hugging Face directory; see
// ResolveModelDir and LoadModelDir) and its tokenizer, tokName (the
// --tokenizer flag) if given, else the one beside the model
// (tokenizer.ForModel). Notes go to notes.
func LoadModel(dir, tokName string, notes io.Writer) (*LoadedModel, error) {
	l := &LoadedModel{Dir: ResolveModelDir(dir, notes)}
	var err error
	if l.Model, err = LoadModelDir(l.Dir); err != nil {
		return nil, err
	}
	l.Tokenizer, l.TokenizerJSON, l.TokenizerSource, err = tokenizer.ForModel(l.Dir, tokName, l.Model.Config.Vocab, notes)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// LoadCheckpointModel reads a training checkpoint (model_<N>/) into a plain
// model: the run's options from training_state.json say whether and how
// the projections were wrapped, and the factors are merged (Unwrap). The
// files are checked against their hashes first.
func LoadCheckpointModel(dir string) (*model.Model, error) {
	st, err := readCheckpoint(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %v: use another checkpoint", dir, err)
	}
	weights, err := model.ReadSafetensors(filepath.Join(dir, modelFile))
	if err != nil {
		return nil, err
	}
	cfg, err := checkpointConfig(dir, st.Options, weights)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckMemory("loading "+dir, 3, 0); err != nil { // file, wrapped model, plain model
		return nil, err
	}
	m := model.New(cfg)
	if st.Wrapped {
		if _, err := relora.Wrap(m, st.Options.LoRA(), relora.NewStream(0, 0).Rand, 0); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %v", dir, err)
		}
	}
	if err := m.LoadWeights(weights); err != nil {
		return nil, err
	}
	return relora.Unwrap(m, nil), nil
}

// checkpointConfig is the checkpoint's config.json, or for checkpoints
// without one the run's --model_config with the stored vocabulary size.
func checkpointConfig(dir string, o Options, weights *model.Safetensors) (model.Config, error) {
	path := filepath.Join(dir, "config.json")
	if b, err := os.ReadFile(path); err == nil {
		cfg, _, err := model.ParseHFConfig(path, b)
		return cfg, err
	}
	cfg, err := model.LoadConfig(o.ModelConfig)
	if err != nil {
		return cfg, fmt.Errorf("checkpoint %s: %v", dir, err)
	}
	shape := weights.Shape("model.embed_tokens.weight")
	if len(shape) != 2 || shape[1] != cfg.Hidden {
		return cfg, fmt.Errorf("%s: tensor \"model.embed_tokens.weight\" has shape %v, model_config %s needs [vocab %d]",
			weights.Path, shape, o.ModelConfig, cfg.Hidden)
	}
	cfg.Vocab = shape[0]
	return cfg, nil
}

// LoadModelDir loads a plain model from a training checkpoint
// (model_<N>/ with training_state.json; its ReLoRA factors are merged), a
// run's final/ directory or a Hugging Face LLaMA directory. The files a
// SHA256SUMS lists are checked against it, and a model with a NaN or an
// infinite weight is refused.
func LoadModelDir(dir string) (*model.Model, error) {
	m, err := loadModelDir(dir)
	if err != nil {
		return nil, err
	}
	if err := model.CheckFinite(dir, m.Tensors()); err != nil {
		return nil, fmt.Errorf("%v: the model is damaged or diverged in training; use another checkpoint", err)
	}
	return m, nil
}

func loadModelDir(dir string) (*model.Model, error) {
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err == nil {
		return LoadCheckpointModel(dir)
	}
	if _, err := os.Stat(filepath.Join(dir, configFile)); err == nil {
		if _, err := data.VerifyManifest(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%v: use another copy (or, if you changed it on purpose, remove %s)", err, filepath.Join(dir, data.ManifestFile))
		}
		if w, err := model.OpenHFWeights(dir); err == nil {
			for _, name := range w.Names() {
				if strings.Contains(name, ".lora_") {
					return nil, fmt.Errorf("%s holds low-rank factors (%s) but no training_state.json: give the checkpoint directory (model_<N>/) or a plain model (relora-cpu export)", dir, name)
				}
			}
		}
		return model.LoadHF(dir)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	return nil, fmt.Errorf("%s: neither a training checkpoint (training_state.json) nor a model directory (config.json)", dir)
}

// SaveModelDir writes a plain model as the directory dir, whole:
// model.safetensors, config.json, tokenizer.json (unless tokJSON is nil)
// and their SHA256SUMS go into a temporary directory beside it that is
// renamed over dir, so a crash or a full disk leaves the old dir (or
// none), never a partial one. A run's final/ is written so.
func SaveModelDir(dir string, m *model.Model, tokJSON []byte) (err error) {
	tmp := filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := WriteModelFiles(tmp, m, tokJSON); err != nil {
		return fmt.Errorf("saving %s: %w", dir, err)
	}
	if err := atomicfile.ReplaceDir(tmp, dir); err != nil {
		return fmt.Errorf("saving %s: %w", dir, err)
	}
	return nil
}

// WriteModelFiles writes model.safetensors, config.json,
// generation_config.json, tokenizer.json and tokenizer_config.json (unless
// tokJSON is nil: the byte tokenizer) and SHA256SUMS into dir (created if
// needed), each file atomically, leaving other files in dir alone. The
// special-token ids and the tokenizer's post-processor are set so that
// Hugging Face transformers generates as relora-cpu generate does
// (hfFiles).
func WriteModelFiles(dir string, m *model.Model, tokJSON []byte) error {
	hf, err := hfFiles(m.Config, tokJSON)
	if err != nil {
		return err
	}
	withIDs := *m
	withIDs.Config.BOS, withIDs.Config.EOS = hf.special, hf.special
	if err := withIDs.Save(dir); err != nil {
		return err
	}
	files := []string{modelFile, configFile}
	for _, f := range hf.files {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), f.body); err != nil {
			return err
		}
		files = append(files, f.name)
	}
	return data.WriteManifest(dir, files)
}
