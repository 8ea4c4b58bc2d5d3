package tokenizer

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	relorago "github.com/relora-go/relora-go"
)

// FileName is a tokenizer's file in a model, run or prepared directory.
const FileName = "tokenizer.json"

// Load reads a tokenizer by the name --tokenizer takes: "bytes"
// (whose JSON is nil), Embedded, or the path of a tokenizer.json.
func Load(name string) (Tokenizer, []byte, error) {
	b := relorago.DefaultTokenizer
	switch name {
	case "bytes":
		return ByteTokenizer{}, nil, nil
	case Embedded:
	default:
		var err error
		if b, err = os.ReadFile(name); err != nil {
			return nil, nil, fmt.Errorf("--tokenizer: %w", err)
		}
	}
	tok, err := ParseTokenizerJSON(b)
	if err != nil {
		return nil, nil, fmt.Errorf("tokenizer %s: %v", name, err)
	}
	return tok, b, nil
}

// NextTo is the tokenizer.json that belongs to a model directory:
// in it (a run's final/, an exported or Hugging Face model) or in its
// parent (a run directory holds model_<N>/), or "" if there is none.
func NextTo(dir string) string {
	for _, p := range []string{filepath.Join(dir, FileName), filepath.Join(filepath.Dir(filepath.Clean(dir)), FileName)} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Embedded names the embedded Brown BPE (4096 tokens) where a
// tokenizer file is expected.
const Embedded = "embedded"

// ForModel resolves the tokenizer of a model directory with a vocabulary of
// vocab tokens: name (the --tokenizer flag: see Load) if given, else
// tokenizer.json in the directory or its parent (a run directory holds
// final/ and model_<N>/), else the byte tokenizer for a 256-token
// vocabulary, else the embedded Brown BPE for a 4096-token vocabulary (what
// the default run trains with; a note on notes says so). It returns the
// tokenizer, its tokenizer.json (nil for the byte tokenizer) and where it
// came from.
func ForModel(dir, name string, vocab int, notes io.Writer) (Tokenizer, []byte, string, error) {
	if name != "" {
		tok, b, err := Load(name)
		if err != nil {
			return nil, nil, "", err
		}
		if tok.VocabSize() != vocab {
			return nil, nil, "", fmt.Errorf("tokenizer %s has %d tokens, the model %d", name, tok.VocabSize(), vocab)
		}
		return tok, b, name, nil
	}
	if p := NextTo(dir); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, "", err
		}
		tok, err := ParseTokenizerJSON(b)
		if err != nil {
			return nil, nil, "", fmt.Errorf("tokenizer %s: %v", p, err)
		}
		if tok.VocabSize() != vocab {
			return nil, nil, "", fmt.Errorf("tokenizer %s has %d tokens, the model %d: give --tokenizer", p, tok.VocabSize(), vocab)
		}
		return tok, b, p, nil
	}
	if vocab == 256 {
		return ByteTokenizer{}, nil, "bytes", nil
	}
	if tok, b, err := Load(Embedded); err == nil && tok.VocabSize() == vocab {
		fmt.Fprintf(notes, "note: no tokenizer.json in %s or its parent; using the embedded Brown BPE (%d tokens)\n", dir, vocab)
		return tok, b, "embedded Brown BPE", nil
	}
	return nil, nil, "", fmt.Errorf("no tokenizer.json in %s or its parent for a model of %d tokens: give --tokenizer", dir, vocab)
}
