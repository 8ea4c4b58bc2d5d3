package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/relora-go/relora-go/relora/run"
)

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
	l, err := run.LoadModel(*ckpt, *tokPath, stderr)
	if err != nil {
		return err
	}
	m := l.Model
	save := run.WriteModelFiles // into an existing directory: our files replaced, the others left
	if _, err := os.Stat(*out); err != nil {
		save = run.SaveModelDir // a new directory: written whole or not at all
	}
	if err := save(*out, m, l.TokenizerJSON); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exported %s (%d layers, d %d, vocab %d, %.2fM parameters; tokenizer: %s) to %s\n",
		l.Dir, m.Config.Layers, m.Config.Hidden, m.Config.Vocab, float64(m.Config.ParamCount())/1e6, l.TokenizerSource, *out)
	return nil
}
