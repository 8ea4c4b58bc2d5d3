package model

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/relora-go/relora-go/engine"
)

//go:embed configs/*.json
var configFS embed.FS

// Config is a LLaMA configuration in the reference's llama_*.json format
// (Hugging Face LlamaConfig field names).
type Config struct {
	Hidden       int     `json:"hidden_size"`
	Intermediate int     `json:"intermediate_size"`
	Heads        int     `json:"num_attention_heads"`
	Layers       int     `json:"num_hidden_layers"`
	Vocab        int     `json:"vocab_size"`
	NormEps      float64 `json:"rms_norm_eps"`
	InitRange    float64 `json:"initializer_range"`
	MaxSeq       int     `json:"max_sequence_length"`
	BOS          int     `json:"bos_token_id"`
	EOS          int     `json:"eos_token_id"`
	Pad          int     `json:"pad_token_id"`
	Act          string  `json:"hidden_act"`
}

// ConfigNames lists the built-in configurations (llama_9m ... llama_7b).
func ConfigNames() []string {
	ents, _ := configFS.ReadDir("configs")
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Slice(names, func(i, j int) bool { return paramsOf(names[i]) < paramsOf(names[j]) })
	return names
}

func paramsOf(name string) float64 {
	c, err := LoadConfig(name)
	if err != nil {
		return 0
	}
	return float64(c.ParamCount())
}

// LoadConfig reads a built-in configuration by name ("llama_60m", also
// "60m") or a JSON file by path.
func LoadConfig(nameOrPath string) (Config, error) {
	name := strings.TrimSuffix(nameOrPath, ".json")
	if !strings.HasPrefix(name, "llama_") {
		name = "llama_" + name
	}
	if b, err := configFS.ReadFile("configs/" + name + ".json"); err == nil && !strings.ContainsAny(nameOrPath, `/\`) {
		return ParseConfig(nameOrPath, b)
	}
	b, err := os.ReadFile(nameOrPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Config{}, fmt.Errorf("model config %q: no such file and not a built-in name (built-in: %s)",
				nameOrPath, strings.Join(ConfigNames(), ", "))
		}
		return Config{}, fmt.Errorf("model config: %w", err)
	}
	return ParseConfig(nameOrPath, b)
}

// ParseConfig decodes and validates a JSON configuration; source names it
// in errors.
func ParseConfig(source string, b []byte) (Config, error) {
	c := Config{NormEps: 1e-6, InitRange: 0.02, Act: "silu", Pad: -1, EOS: 1}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&c); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line := 1 + bytes.Count(b[:se.Offset], []byte("\n"))
			return Config{}, fmt.Errorf("model config %s: malformed JSON at line %d: %v", source, line, err)
		case errors.As(err, &te):
			return Config{}, fmt.Errorf("model config %s: field %q must be a %v, not a JSON %s", source, te.Field, te.Type, te.Value)
		case errors.Is(err, io.EOF):
			return Config{}, fmt.Errorf("model config %s: file is empty", source)
		}
		return Config{}, fmt.Errorf("model config %s: %v", source, err)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(b, &raw)
	for _, f := range []string{"hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers", "vocab_size"} {
		if _, ok := raw[f]; !ok {
			return Config{}, fmt.Errorf("model config %s: required field %q is missing", source, f)
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("model config %s: %v", source, err)
	}
	return c, nil
}

// Validate checks that the sizes describe a buildable model.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"hidden_size", c.Hidden}, {"intermediate_size", c.Intermediate}, {"num_attention_heads", c.Heads},
		{"num_hidden_layers", c.Layers}, {"vocab_size", c.Vocab}} {
		if f.v <= 0 {
			return fmt.Errorf("field %q must be positive, got %d", f.name, f.v)
		}
	}
	if c.Hidden%c.Heads != 0 || (c.Hidden/c.Heads)%2 != 0 {
		return fmt.Errorf("hidden_size %d must be divisible by num_attention_heads %d into an even head size", c.Hidden, c.Heads)
	}
	if c.Act != "silu" {
		return fmt.Errorf("hidden_act %q is not supported (only \"silu\")", c.Act)
	}
	if !(c.NormEps > 0) {
		return fmt.Errorf("rms_norm_eps must be positive, got %g", c.NormEps)
	}
	if p := c.params(); p > engine.MaxAlloc/4 {
		return fmt.Errorf("hidden_size %d, intermediate_size %d, num_hidden_layers %d and vocab_size %d make %.3g parameters, %s of weights: more than a process can address",
			c.Hidden, c.Intermediate, c.Layers, c.Vocab, p, engine.Bytes(4*p))
	}
	return nil
}

// params is ParamCount in floating point (no overflow for any sizes).
func (c Config) params() float64 {
	d, f := float64(c.Hidden), float64(c.Intermediate)
	return float64(c.Layers)*(4*d*d+3*d*f+2*d) + 2*float64(c.Vocab)*d + d
}

// WeightBytes is the memory of the model's float32 weights.
func (c Config) WeightBytes() float64 { return 4 * c.params() }

// GraphBytes estimates the memory of a recorded training graph for batch
// sequences of seq tokens: the activations every op keeps for backward
// and their gradients, attention probabilities, logits (about; what
// CheckMemory needs to tell a size that fits from one that cannot). rank
// is the rank of low-rank factors (0: none).
func (c Config) GraphBytes(batch, seq, rank int) float64 {
	t, d, f := float64(batch)*float64(seq), float64(c.Hidden), float64(c.Intermediate)
	layer := 12*t*d + 3*t*f + 7*t*float64(rank) + float64(batch)*float64(c.Heads)*float64(seq)*float64(seq)
	return 4 * 2 * (float64(c.Layers)*layer + 2*t*d + 2*t*float64(c.Vocab))
}

// CheckMemory refuses a configuration whose weights (times copies: 1 to
// load a model, more to train one) plus extra bytes cannot fit in the
// memory left to this process; what names the job in the error.
func (c Config) CheckMemory(what string, copies int, extra float64) error {
	return engine.CheckMemory(fmt.Sprintf("%s (%.3g parameters)", what, c.params()), float64(copies)*c.WeightBytes()+extra)
}

// HeadDim is hidden_size / num_attention_heads.
func (c Config) HeadDim() int { return c.Hidden / c.Heads }

// ParamCount is the number of parameters of the plain (unwrapped) model.
func (c Config) ParamCount() int64 {
	d, f := int64(c.Hidden), int64(c.Intermediate)
	block := 4*d*d + 3*d*f + 2*d
	return int64(c.Layers)*block + 2*int64(c.Vocab)*d + d
}

// tokenID is a special token's id in config.json: null when there is none
// (negative).
func tokenID(id int) any {
	if id < 0 {
		return nil
	}
	return id
}

// HFConfig is the config.json that transformers' LlamaForCausalLM reads.
func (c Config) HFConfig() ([]byte, error) {
	m := map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"hidden_size":             c.Hidden,
		"intermediate_size":       c.Intermediate,
		"num_attention_heads":     c.Heads,
		"num_key_value_heads":     c.Heads,
		"num_hidden_layers":       c.Layers,
		"vocab_size":              c.Vocab,
		"rms_norm_eps":            c.NormEps,
		"initializer_range":       c.InitRange,
		"hidden_act":              c.Act,
		"max_position_embeddings": max(c.MaxSeq, 2048),
		"rope_theta":              10000.0,
		"tie_word_embeddings":     false,
		"attention_bias":          false,
		"mlp_bias":                false,
		"bos_token_id":            tokenID(c.BOS),
		"eos_token_id":            tokenID(c.EOS),
		"torch_dtype":             "float32",
	}
	return json.MarshalIndent(m, "", "  ")
}
