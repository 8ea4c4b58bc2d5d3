package relora

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/relora-go/relora-go/engine/gemm"
	"github.com/relora-go/relora-go/engine/sched"
	"github.com/relora-go/relora-go/model"
)

// Unwrap returns a plain LLaMA with the function of m: every ReLoRA layer
// becomes a dense weight W0 + s·B·A (s·B·A for lora_only), the other
// tensors are copied. m is left as it is. This is what a run's final/
// directory and `relora-cpu export` hold.
func Unwrap(m *model.Model, pool *sched.Pool) *model.Model {
	plain := model.New(m.Config)
	src, dst := m.Tensors(), plain.Tensors()
	byName := map[string]*model.Named{}
	for i := range src {
		byName[src[i].Name] = &src[i]
	}
	for l := range m.Blocks {
		for i, slot := range m.Blocks[l].Projections() {
			lin, ok := (*slot).(*Linear)
			if !ok {
				continue
			}
			w := (*plain.Blocks[l].Projections()[i]).(*model.Dense).W
			if lin.W0 != nil {
				copy(w.Data, lin.W0.Data)
			}
			out, in, r := lin.B.Rows(), lin.A.Cols(), lin.A.Rows()
			beta := float32(1)
			if lin.W0 == nil {
				beta = 0
			}
			gemm.Sgemm(pool, false, false, out, in, r, lin.Scale, lin.B.Data, r, lin.A.Data, in, beta, w.Data, in)
			delete(byName, w.Name) // done: not a copy
		}
	}
	for _, n := range dst {
		if s, ok := byName[n.Name]; ok {
			copy(n.T.Data, s.T.Data)
		}
	}
	return plain
}

// LoadCheckpointModel reads a training checkpoint (model_<N>/) into a plain
// model: the run's options from training_state.json say whether and how
// the projections were wrapped, and the factors are merged (Unwrap).
func LoadCheckpointModel(dir string) (*model.Model, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "training_state.json"))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var st trainingState
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&st); err != nil {
		return nil, fmt.Errorf("checkpoint %s: training_state.json is not valid: %v", dir, err)
	}
	weights, err := model.ReadSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return nil, err
	}
	cfg, err := checkpointConfig(dir, st.Options, weights)
	if err != nil {
		return nil, err
	}
	m := model.New(cfg)
	if st.Wrapped {
		if _, err := Wrap(m, st.Options.LoRA(), NewStream(0, 0).Rand, 0); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %v", dir, err)
		}
	}
	if err := m.LoadWeights(weights); err != nil {
		return nil, err
	}
	return Unwrap(m, nil), nil
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
// run's final/ directory or a Hugging Face LLaMA directory.
func LoadModelDir(dir string) (*model.Model, error) {
	if _, err := os.Stat(filepath.Join(dir, "training_state.json")); err == nil {
		return LoadCheckpointModel(dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
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
