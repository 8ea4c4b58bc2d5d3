package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// Hugging Face LLaMA directories: config.json (transformers' LlamaConfig)
// and model.safetensors, or shards listed in model.safetensors.index.json.

// hfConfig is the part of a LlamaConfig that matters here; fields that
// would change the architecture are read so they can be refused.
type hfConfig struct {
	ModelType    string          `json:"model_type"`
	Hidden       int             `json:"hidden_size"`
	Intermediate int             `json:"intermediate_size"`
	Heads        int             `json:"num_attention_heads"`
	KVHeads      *int            `json:"num_key_value_heads"`
	HeadDim      *int            `json:"head_dim"`
	Layers       int             `json:"num_hidden_layers"`
	Vocab        int             `json:"vocab_size"`
	NormEps      *float64        `json:"rms_norm_eps"`
	InitRange    *float64        `json:"initializer_range"`
	MaxPos       int             `json:"max_position_embeddings"`
	MaxSeq       int             `json:"max_sequence_length"`
	Act          *string         `json:"hidden_act"`
	RopeTheta    *float64        `json:"rope_theta"`
	RopeScaling  json.RawMessage `json:"rope_scaling"`
	AttnBias     bool            `json:"attention_bias"`
	MLPBias      bool            `json:"mlp_bias"`
	Tie          bool            `json:"tie_word_embeddings"`
}

// firstInt reads a token id that may be a number, a list of numbers (the
// first is used) or null.
func firstInt(raw json.RawMessage, def int) int {
	var v int
	if json.Unmarshal(raw, &v) == nil && len(raw) > 0 && string(raw) != "null" {
		return v
	}
	var l []int
	if json.Unmarshal(raw, &l) == nil && len(l) > 0 {
		return l[0]
	}
	return def
}

// ParseHFConfig reads a Hugging Face LlamaConfig. Configurations this
// engine cannot run exactly are refused with the reason: grouped-query
// attention, a head_dim other than hidden/heads, rope_theta other than
// 10000, rope_scaling, biases, an activation other than silu. The second
// result is tie_word_embeddings.
func ParseHFConfig(source string, b []byte) (Config, bool, error) {
	var h hfConfig
	bad := func(format string, a ...any) (Config, bool, error) {
		return Config{}, false, fmt.Errorf("config %s: %s", source, fmt.Sprintf(format, a...))
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return bad("file is empty")
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return bad("not a valid LlamaConfig: %v", err)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(b, &raw)
	for _, f := range []string{"hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers", "vocab_size"} {
		if _, ok := raw[f]; !ok {
			return bad("required field %q is missing", f)
		}
	}
	if h.ModelType != "" && h.ModelType != "llama" {
		return bad("model_type %q is not supported (only \"llama\")", h.ModelType)
	}
	if h.KVHeads != nil && *h.KVHeads != h.Heads {
		return bad("num_key_value_heads %d != num_attention_heads %d: grouped-query attention is not supported", *h.KVHeads, h.Heads)
	}
	if h.Heads > 0 && h.HeadDim != nil && *h.HeadDim != h.Hidden/h.Heads {
		return bad("head_dim %d != hidden_size/num_attention_heads %d is not supported", *h.HeadDim, h.Hidden/h.Heads)
	}
	if h.RopeTheta != nil && *h.RopeTheta != 10000 {
		return bad("rope_theta %g is not supported (only 10000)", *h.RopeTheta)
	}
	if len(h.RopeScaling) > 0 && string(h.RopeScaling) != "null" {
		return bad("rope_scaling %s is not supported", h.RopeScaling)
	}
	if h.AttnBias || h.MLPBias {
		return bad("attention_bias/mlp_bias are not supported")
	}
	c := Config{Hidden: h.Hidden, Intermediate: h.Intermediate, Heads: h.Heads, Layers: h.Layers, Vocab: h.Vocab,
		NormEps: 1e-6, InitRange: 0.02, Act: "silu", MaxSeq: max(h.MaxSeq, h.MaxPos),
		BOS: firstInt(raw["bos_token_id"], 0), EOS: firstInt(raw["eos_token_id"], 1), Pad: firstInt(raw["pad_token_id"], -1)}
	if h.NormEps != nil {
		c.NormEps = *h.NormEps
	}
	if h.InitRange != nil {
		c.InitRange = *h.InitRange
	}
	if h.Act != nil {
		c.Act = *h.Act
	}
	if err := c.Validate(); err != nil {
		return bad("%v", err)
	}
	return c, h.Tie, nil
}

// HFWeights is the tensors of a Hugging Face directory, from one
// model.safetensors or from the shards of model.safetensors.index.json.
type HFWeights struct {
	Dir   string
	files map[string]*Safetensors // tensor name -> its file
}

// OpenHFWeights reads dir/model.safetensors, or every shard that
// dir/model.safetensors.index.json lists.
func OpenHFWeights(dir string) (*HFWeights, error) {
	w := &HFWeights{Dir: dir, files: map[string]*Safetensors{}}
	single := filepath.Join(dir, "model.safetensors")
	index := filepath.Join(dir, "model.safetensors.index.json")
	if _, err := os.Stat(single); err == nil {
		st, err := ReadSafetensors(single)
		if err != nil {
			return nil, err
		}
		for _, n := range st.Names() {
			w.files[n] = st
		}
		return w, nil
	}
	b, err := os.ReadFile(index)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no model.safetensors or model.safetensors.index.json", dir)
		}
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s: not valid JSON: %v", index, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: no \"weight_map\"", index)
	}
	shards := map[string]*Safetensors{}
	names := make([]string, 0, len(idx.WeightMap))
	for n := range idx.WeightMap {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := idx.WeightMap[n]
		if f != filepath.Base(f) {
			return nil, fmt.Errorf("%s: tensor %q: shard %q must be a file name in the directory", index, n, f)
		}
		st, ok := shards[f]
		if !ok {
			if st, err = ReadSafetensors(filepath.Join(dir, f)); err != nil {
				return nil, err
			}
			shards[f] = st
		}
		if !st.Has(n) {
			return nil, fmt.Errorf("%s lists tensor %q in %s, which does not hold it", index, n, f)
		}
		w.files[n] = st
	}
	return w, nil
}

// Has reports whether the weights hold a tensor.
func (w *HFWeights) Has(name string) bool { return w.files[name] != nil }

// Names lists the tensors, sorted.
func (w *HFWeights) Names() []string {
	out := make([]string, 0, len(w.files))
	for n := range w.files {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Tensor returns a tensor as float32 after checking its shape (nil: any).
func (w *HFWeights) Tensor(name string, shape []int) ([]float32, []int, error) {
	st := w.files[name]
	if st == nil {
		return nil, nil, fmt.Errorf("%s: tensor %q is missing", w.Dir, name)
	}
	if shape != nil && !slices.Equal(st.Shape(name), shape) {
		return nil, nil, fmt.Errorf("%s: tensor %q has shape %v, the model needs %v", st.Path, name, st.Shape(name), shape)
	}
	return st.Float32(name)
}

// LoadHF reads a Hugging Face LLaMA directory into a plain model. With
// tie_word_embeddings and no lm_head.weight the head is a copy of the
// embedding.
func LoadHF(dir string) (*Model, error) {
	cfgPath := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("model directory: %w", err)
	}
	cfg, tie, err := ParseHFConfig(cfgPath, b)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckMemory("loading "+dir, 2, 0); err != nil { // the file's bytes and the model
		return nil, err
	}
	w, err := OpenHFWeights(dir)
	if err != nil {
		return nil, err
	}
	m := New(cfg)
	for _, n := range m.Tensors() {
		name := n.Name
		if name == "lm_head.weight" && !w.Has(name) && tie {
			name = "model.embed_tokens.weight"
		}
		data, _, err := w.Tensor(name, n.T.Shape)
		if err != nil {
			if name == "lm_head.weight" && !w.Has(name) {
				err = fmt.Errorf("%s: tensor \"lm_head.weight\" is missing and tie_word_embeddings is false", dir)
			}
			return nil, err
		}
		copy(n.T.Data, data)
	}
	return m, nil
}
