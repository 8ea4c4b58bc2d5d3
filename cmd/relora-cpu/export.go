package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/relora-go/relora-go/data"
	"github.com/relora-go/relora-go/relora"
)

// findTokenizer resolves the tokenizer of a model directory: the --tokenizer
// flag, else tokenizer.json in the directory or its parent (a run
// directory holds final/ and model_<N>/), else the byte tokenizer for a
// 256-token vocabulary, else the embedded Brown BPE for a 4096-token
// vocabulary (what the default run trains with; a note says so).
func findTokenizer(dir, flagPath string, vocab int, stderr io.Writer) (data.Tokenizer, []byte, string, error) {
	if flagPath != "" {
		tok, b, err := relora.LoadTokenizer(flagPath)
		if err != nil {
			return nil, nil, "", err
		}
		if tok.VocabSize() != vocab {
			return nil, nil, "", fmt.Errorf("tokenizer %s has %d tokens, the model %d", flagPath, tok.VocabSize(), vocab)
		}
		return tok, b, flagPath, nil
	}
	if p := relora.TokenizerNextTo(dir); p != "" {
		b, err := os.ReadFile(p)
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
	if tok, b, err := relora.LoadTokenizer(relora.EmbeddedTokenizer); err == nil && tok.VocabSize() == vocab {
		fmt.Fprintf(stderr, "note: no tokenizer.json in %s or its parent; using the embedded Brown BPE (%d tokens)\n", dir, vocab)
		return tok, b, "embedded Brown BPE", nil
	}
	return nil, nil, "", fmt.Errorf("no tokenizer.json in %s or its parent for a model of %d tokens: give --tokenizer", dir, vocab)
}

// modelDirOf resolves --checkpoint: a run directory (no config.json or
// training_state.json of its own) stands for its final/, or, for a run
// that has not finished, its newest checkpoint; a note says which.
func modelDirOf(dir string, stderr io.Writer) string {
	for _, f := range []string{"config.json", "training_state.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return dir
		}
	}
	final := filepath.Join(dir, "final")
	if _, err := os.Stat(filepath.Join(final, "config.json")); err == nil {
		fmt.Fprintf(stderr, "note: %s is a run directory: using its final model %s\n", dir, final)
		return final
	}
	if ck := relora.LatestCheckpoint(dir); ck != "" {
		fmt.Fprintf(stderr, "note: %s is a run directory without final/: using its newest checkpoint %s\n", dir, ck)
		return ck
	}
	return dir
}

func cmdExport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	ckpt := fs.String("checkpoint", "", "a run directory (its final/), a training checkpoint (model_<N>/), a final/ directory or a Hugging Face LLaMA directory")
	out := fs.String("out", "", "output directory: model.safetensors, config.json and generation_config.json (Hugging Face LLaMA), and tokenizer.json and tokenizer_config.json when the tokenizer is known")
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
	*ckpt = modelDirOf(*ckpt, stderr)
	m, err := relora.LoadModelDir(*ckpt)
	if err != nil {
		return err
	}
	_, tokJSON, tokSrc, err := findTokenizer(*ckpt, *tokPath, m.Config.Vocab, stderr)
	if err != nil {
		return err
	}
	save := relora.WriteModelFiles // into an existing directory: our files replaced, the others left
	if _, err := os.Stat(*out); err != nil {
		save = relora.SaveModelDir // a new directory: written whole or not at all
	}
	if err := save(*out, m, tokJSON); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exported %s (%d layers, d %d, vocab %d, %.2fM parameters; tokenizer: %s) to %s\n",
		*ckpt, m.Config.Layers, m.Config.Hidden, m.Config.Vocab, float64(m.Config.ParamCount())/1e6, tokSrc, *out)
	return nil
}
