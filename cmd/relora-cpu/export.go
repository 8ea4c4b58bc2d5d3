package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	relorago "github.com/relora-go/relora-go"
	"github.com/relora-go/relora-go/data"
	"github.com/relora-go/relora-go/model"
	"github.com/relora-go/relora-go/relora"
)

// loadModelDir loads a plain model from a training checkpoint
// (model_<N>/ with training_state.json; its ReLoRA factors are merged), a
// run's final/ directory or a Hugging Face LLaMA directory.
func loadModelDir(dir string) (*model.Model, error) {
	if _, err := os.Stat(filepath.Join(dir, "training_state.json")); err == nil {
		return loadCheckpointModel(dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return model.LoadHF(dir)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("--checkpoint %s: not a directory", dir)
	}
	return nil, fmt.Errorf("--checkpoint %s: neither a training checkpoint (training_state.json) nor a model directory (config.json)", dir)
}

// checkpointOptions is the part of training_state.json that export needs.
type checkpointOptions struct {
	Options struct {
		ModelConfig string  `json:"ModelConfig"`
		LoraR       int     `json:"LoraR"`
		LoraAlpha   float64 `json:"LoraAlpha"`
		LoraOnly    bool    `json:"LoraOnly"`
	} `json:"options"`
}

// loadCheckpointModel reads a training checkpoint's model.safetensors into
// a plain model: each wrapped projection becomes W = W0 + (alpha/r)·B·A,
// or (alpha/r)·B·A for a lora_only run (no W0), with r and alpha from the
// run's options. The configuration is config.json in the checkpoint if
// there is one, else the run's --model_config with the vocabulary size of
// the stored embedding.
func loadCheckpointModel(dir string) (*model.Model, error) {
	statePath := filepath.Join(dir, "training_state.json")
	b, err := os.ReadFile(statePath)
	if err != nil {
		return nil, err
	}
	var st checkpointOptions
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: not valid JSON: %v", statePath, err)
	}
	o := st.Options
	weights, err := model.ReadSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return nil, err
	}
	var cfg model.Config
	if cb, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
		if cfg, _, err = model.ParseHFConfig(filepath.Join(dir, "config.json"), cb); err != nil {
			return nil, err
		}
	} else {
		if o.ModelConfig == "" {
			return nil, fmt.Errorf("%s: the options name no model_config", statePath)
		}
		if cfg, err = model.LoadConfig(o.ModelConfig); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %v", dir, err)
		}
		shape := weights.Shape("model.embed_tokens.weight")
		if len(shape) != 2 || shape[1] != cfg.Hidden {
			return nil, fmt.Errorf("%s: tensor \"model.embed_tokens.weight\" has shape %v, model_config %s needs [vocab %d]", weights.Path, shape, o.ModelConfig, cfg.Hidden)
		}
		cfg.Vocab = shape[0]
	}
	m := model.New(cfg)
	for _, n := range m.Tensors() {
		name := n.Name
		base, isProj := strings.CutSuffix(name, ".weight")
		if isProj && weights.Has(base+".lora_A.weight") {
			if err := mergedWeight(weights, base, n.T.Shape, o.LoraR, o.LoraAlpha, n.T.Data); err != nil {
				return nil, err
			}
			continue
		}
		if !weights.Has(name) {
			return nil, fmt.Errorf("%s: tensor %q is missing", weights.Path, name)
		}
		if sh := weights.Shape(name); !sameShape(sh, n.T.Shape) {
			return nil, fmt.Errorf("%s: tensor %q has shape %v, the model needs %v", weights.Path, name, sh, n.T.Shape)
		}
		v, _, err := weights.Float32(name)
		if err != nil {
			return nil, err
		}
		copy(n.T.Data, v)
	}
	return m, nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// mergedWeight writes W0 + (alpha/r)·B·A (W0 = 0 when the file has no
// base weight: lora_only) into dst [out, in], accumulating in float64.
func mergedWeight(st *model.Safetensors, base string, shape []int, r int, alpha float64, dst []float32) error {
	out, in := shape[0], shape[1]
	A, ash, err := st.Float32(base + ".lora_A.weight")
	if err != nil {
		return err
	}
	B, bsh, err := st.Float32(base + ".lora_B.weight")
	if err != nil {
		return fmt.Errorf("%s: %q has lora_A but no lora_B", st.Path, base)
	}
	if r <= 0 {
		return fmt.Errorf("%s: the run's lora_r is %d", st.Path, r)
	}
	if !sameShape(ash, []int{r, in}) || !sameShape(bsh, []int{out, r}) {
		return fmt.Errorf("%s: %s factors have shapes A %v, B %v; lora_r %d and the model need A [%d %d], B [%d %d]",
			st.Path, base, ash, bsh, r, r, in, out, r)
	}
	clear(dst)
	if st.Has(base + ".weight") {
		if sh := st.Shape(base + ".weight"); !sameShape(sh, shape) {
			return fmt.Errorf("%s: tensor %q has shape %v, the model needs %v", st.Path, base+".weight", sh, shape)
		}
		w0, _, err := st.Float32(base + ".weight")
		if err != nil {
			return err
		}
		copy(dst, w0)
	}
	s := alpha / float64(r)
	for i := 0; i < out; i++ {
		for j := 0; j < in; j++ {
			var acc float64
			for k := 0; k < r; k++ {
				acc += float64(B[i*r+k]) * float64(A[k*in+j])
			}
			dst[i*in+j] = float32(float64(dst[i*in+j]) + s*acc)
		}
	}
	return nil
}

// findTokenizer resolves the tokenizer of a model directory: the --tokenizer
// flag, else tokenizer.json in the directory or its parent (a run
// directory holds final/ and model_<N>/), else the byte tokenizer for a
// 256-token vocabulary, else the embedded Brown BPE for a 4096-token
// vocabulary (what the default run trains with; a note says so).
func findTokenizer(dir, flagPath string, vocab int, stderr io.Writer) (data.Tokenizer, []byte, string, error) {
	if flagPath != "" {
		tok, b, err := loadTokenizer(flagPath)
		if err != nil {
			return nil, nil, "", err
		}
		if tok.VocabSize() != vocab {
			return nil, nil, "", fmt.Errorf("tokenizer %s has %d tokens, the model %d", flagPath, tok.VocabSize(), vocab)
		}
		return tok, b, flagPath, nil
	}
	for _, p := range []string{filepath.Join(dir, relora.TokenizerFile), filepath.Join(filepath.Dir(filepath.Clean(dir)), relora.TokenizerFile)} {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, "", err
		}
		tok, err := data.ParseTokenizerJSON(b)
		if err != nil {
			return nil, nil, "", fmt.Errorf("tokenizer %s: %v", p, err)
		}
		if tok.VocabSize() != vocab {
			return nil, nil, "", fmt.Errorf("tokenizer %s has %d tokens, the model %d: give --tokenizer", p, tok.VocabSize(), vocab)
		}
		return tok, b, p, nil
	}
	if vocab == 256 {
		return data.ByteTokenizer{}, nil, "bytes", nil
	}
	if tok, err := data.ParseTokenizerJSON(relorago.DefaultTokenizer); err == nil && tok.VocabSize() == vocab {
		fmt.Fprintf(stderr, "note: no tokenizer.json in %s or its parent; using the embedded Brown BPE (%d tokens)\n", dir, vocab)
		return tok, relorago.DefaultTokenizer, "embedded Brown BPE", nil
	}
	return nil, nil, "", fmt.Errorf("no tokenizer.json in %s or its parent for a model of %d tokens: give --tokenizer", dir, vocab)
}

func cmdExport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	ckpt := fs.String("checkpoint", "", "a training checkpoint (model_<N>/), a final/ directory or a Hugging Face LLaMA directory")
	out := fs.String("out", "", "output directory: model.safetensors + config.json (Hugging Face LLaMA), and tokenizer.json when known")
	tokPath := fs.String("tokenizer", "", "tokenizer.json to copy into --out (default: the checkpoint's)")
	force := fs.Bool("force", false, "replace an existing model in --out")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *ckpt == "" || *out == "" {
		return fmt.Errorf("--checkpoint and --out are required")
	}
	if _, err := os.Stat(filepath.Join(*out, "model.safetensors")); err == nil && !*force {
		return fmt.Errorf("%s already holds a model.safetensors: choose another --out or add --force", *out)
	}
	m, err := loadModelDir(*ckpt)
	if err != nil {
		return err
	}
	_, tokJSON, tokSrc, err := findTokenizer(*ckpt, *tokPath, m.Config.Vocab, stderr)
	if err != nil {
		return err
	}
	if err := m.Save(*out); err != nil {
		return err
	}
	if tokJSON != nil {
		if err := model.WriteFileAtomic(filepath.Join(*out, relora.TokenizerFile), tokJSON); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "exported %s (%d layers, d %d, vocab %d, %.2fM parameters; tokenizer: %s) to %s\n",
		*ckpt, m.Config.Layers, m.Config.Hidden, m.Config.Vocab, float64(m.Config.ParamCount())/1e6, tokSrc, *out)
	return nil
}
