package model

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/engine/atomicfile"
)

// Save writes model.safetensors (Hugging Face names) and config.json into
// dir, creating it. Wrapped projections save their factors too; export a
// merged model for tools that expect a plain LLaMA.
func (m *Model) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg, err := m.Config.HFConfig()
	if err != nil {
		return err
	}
	if err := WriteSafetensors(filepath.Join(dir, "model.safetensors"), m.Tensors(), map[string]string{"format": "pt"}); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "config.json"), append(cfg, '\n'))
}

// LoadWeights fills the model's tensors from a safetensors file. Every
// tensor of the model must be present with the same shape; the error names
// the first one that is not.
func (m *Model) LoadWeights(st *Safetensors) error {
	for _, n := range m.Tensors() {
		if !st.Has(n.Name) {
			return fmt.Errorf("%s: tensor %q is missing", st.Path, n.Name)
		}
		if !slices.Equal(st.Shape(n.Name), n.T.Shape) {
			return fmt.Errorf("%s: tensor %q has shape %v, the model needs %v", st.Path, n.Name, st.Shape(n.Name), n.T.Shape)
		}
		data, _, err := st.Float32(n.Name)
		if err != nil {
			return err
		}
		if n.T.IsBF16() { // a bf16 W0 (relora, --dtype bfloat16): rounded
			engine.RoundBF16(n.T.BF16, data)
		} else {
			copy(n.T.Data, data)
		}
	}
	return nil
}
