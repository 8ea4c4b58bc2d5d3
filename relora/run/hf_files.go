package run

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/relora-go/relora-go/data/tokenizer"
	"github.com/relora-go/relora-go/model"
)

// Files that make a model directory load and generate in Hugging Face
// transformers as it does here.
const (
	GenerationConfigFile = "generation_config.json"
	TokenizerConfigFile  = "tokenizer_config.json"
)

// hfDir is what WriteModelFiles writes beside model.safetensors.
type hfDir struct {
	// special is the token the model was trained with between documents
	// (tokenizer.Separator: <|endoftext|> for the BPEs trained here), written as
	// bos_token_id and eos_token_id; -1 (null) for the byte tokenizer,
	// which has none.
	special int
	files   []hfFile // written in this order
}

type hfFile struct {
	name string
	body []byte
}

// hfFiles derives the Hugging Face files of a model directory from its
// tokenizer (tokJSON nil: the byte tokenizer). relora-cpu generate feeds
// the model the separator token, then the prompt, and stops when the model
// emits the separator again; the files say the same to transformers:
//
//   - config.json and generation_config.json: bos_token_id = eos_token_id
//     = pad_token_id = the separator (GPT-2's convention, where one token
//     both ends a document and starts the next);
//   - tokenizer.json: a TemplateProcessing post-processor that puts the
//     separator before every encoded text (the tokenizer's own
//     post-processor, if any, is replaced; relora-go ignores this field);
//   - tokenizer_config.json: PreTrainedTokenizerFast (which runs
//     tokenizer.json as it is), the special tokens by name, add_bos_token,
//     and model_max_length.
//
// So AutoTokenizer + LlamaForCausalLM.generate(do_sample=False) on the
// directory produce relora-cpu generate --temperature 0's tokens
// (cmd/relora-cpu's TestHFGenerateMatches checks it against a PyTorch
// re-implementation of transformers' greedy decoding).
func hfFiles(cfg model.Config, tokJSON []byte) (hfDir, error) {
	d := hfDir{special: -1}
	var content string
	if tokJSON != nil {
		tok, err := tokenizer.ParseTokenizerJSON(tokJSON)
		if err != nil {
			return d, fmt.Errorf("tokenizer: %v", err)
		}
		d.special = tokenizer.Separator(tok)
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(tokJSON, &raw); err != nil {
			return d, fmt.Errorf("tokenizer: %v", err)
		}
		if d.special >= 0 {
			var added []struct {
				ID      int    `json:"id"`
				Content string `json:"content"`
			}
			json.Unmarshal(raw["added_tokens"], &added)
			for _, a := range added {
				if a.ID == d.special {
					content = a.Content
				}
			}
			if content == "" {
				content = string(tok.Decode([]int{d.special}))
			}
			tmpl := map[string]any{
				"type": "TemplateProcessing",
				"single": []any{
					map[string]any{"SpecialToken": map[string]any{"id": content, "type_id": 0}},
					map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				},
				"pair": []any{
					map[string]any{"SpecialToken": map[string]any{"id": content, "type_id": 0}},
					map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
					map[string]any{"SpecialToken": map[string]any{"id": content, "type_id": 1}},
					map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}},
				},
				"special_tokens": map[string]any{content: map[string]any{"id": content, "ids": []int{d.special}, "tokens": []string{content}}},
			}
			raw["post_processor"] = mustJSON(tmpl, false)
		}
		d.files = append(d.files, hfFile{tokenizer.FileName, mustJSON(raw, false)})
		tc := map[string]any{
			"tokenizer_class":              "PreTrainedTokenizerFast",
			"model_max_length":             max(cfg.MaxSeq, 2048), // config.json's max_position_embeddings
			"clean_up_tokenization_spaces": false,
			"add_bos_token":                d.special >= 0,
			"add_eos_token":                false,
		}
		if d.special >= 0 {
			tc["bos_token"], tc["eos_token"], tc["pad_token"] = content, content, content
		}
		d.files = append(d.files, hfFile{TokenizerConfigFile, mustJSON(tc, true)})
	}
	var id any // null without a separator
	if d.special >= 0 {
		id = d.special
	}
	gen := map[string]any{"bos_token_id": id, "eos_token_id": id, "pad_token_id": id, "do_sample": false}
	d.files = append(d.files, hfFile{GenerationConfigFile, mustJSON(gen, true)})
	return d, nil
}

// mustJSON encodes v (maps in key order) without HTML escaping, indented or
// compact, with a final newline.
func mustJSON(v any, indent bool) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		panic(err) // only maps, slices, strings and numbers
	}
	return b.Bytes()
}
