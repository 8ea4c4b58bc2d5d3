package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/relora-go/relora-go/data/tokenizer"
	"github.com/relora-go/relora-go/engine/sched"
	"github.com/relora-go/relora-go/model"
	"github.com/relora-go/relora-go/relora/run"
)

// cmdGenerate continues a prompt with a model, one token at a time through
// the key/value cache (model.Decoder), writing the text as it comes.
func cmdGenerate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	ckpt := fs.String("checkpoint", "", "a run directory (its final/), a training checkpoint (model_<N>/), a final/ directory or a Hugging Face LLaMA directory")
	prompt := fs.String("prompt", "", "text to continue (with an end-of-document token the model starts a new document; empty: from scratch)")
	maxNew := fs.Int("max_new_tokens", 100, "tokens to generate at most (stops early at end of document)")
	temp := fs.Float64("temperature", 0.8, "sampling temperature (0: greedy)")
	topK := fs.Int("top_k", 50, "sample from the K most likely tokens (0: all)")
	topP := fs.Float64("top_p", 1, "sample from the smallest set of tokens whose probability reaches P (1: all)")
	seed := fs.Uint64("seed", 1, "sampling seed")
	tokPath := fs.String("tokenizer", "", "tokenizer.json (default: the checkpoint's, see relora-cpu export)")
	threads := fs.Int("threads", 0, "worker threads (0: all cores)")
	showIDs := fs.Bool("show_ids", false, "after the text, print the token ids fed to the model (\"prompt_ids: ...\") and those generated (\"ids: ...\", without the end-of-document token that stops generation)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case *ckpt == "":
		return fmt.Errorf("--checkpoint is required")
	case *maxNew < 1:
		return fmt.Errorf("--max_new_tokens must be positive, got %d", *maxNew)
	case !(*temp >= 0):
		return fmt.Errorf("--temperature must not be negative, got %g", *temp)
	case *topK < 0:
		return fmt.Errorf("--top_k must not be negative, got %d", *topK)
	case !(*topP >= 0 && *topP <= 1):
		return fmt.Errorf("--top_p must be in [0, 1], got %g", *topP)
	case *threads < 0:
		return fmt.Errorf("--threads must not be negative, got %d", *threads)
	}
	l, err := run.LoadModel(*ckpt, *tokPath, stderr)
	if err != nil {
		return err
	}
	s := model.Sampling{Temperature: *temp, TopK: *topK, TopP: *topP}
	return generate(stdout, l, *prompt, *maxNew, s, *seed, *threads, *showIDs)
}

// generate is generate after its flags parsed and the model loaded: the
// prompt's ids (after an end-of-document token, where the tokenizer has
// one), the context check, and the text as it comes.
func generate(stdout io.Writer, l *run.LoadedModel, prompt string, maxNew int, s model.Sampling, seed uint64, threads int, showIDs bool) error {
	m, tok := l.Model, l.Tokenizer
	sep := tokenizer.Separator(tok)
	var ids []int
	if sep >= 0 {
		ids = append(ids, sep)
	}
	ids = append(ids, tok.Encode([]byte(prompt))...)
	if len(ids) == 0 {
		return fmt.Errorf("--prompt is required with a tokenizer that has no end-of-document token")
	}
	if ctx := m.Config.MaxSeq; ctx > 0 && maxNew > ctx-len(ids) {
		return fmt.Errorf("--max_new_tokens %d after a prompt of %d tokens exceeds the model's context of %d tokens (max_sequence_length in %s/config.json): use --max_new_tokens %d or less",
			maxNew, len(ids), ctx, l.Dir, max(ctx-len(ids), 0))
	}
	if maxNew > math.MaxInt32-len(ids) {
		return fmt.Errorf("--max_new_tokens %d is beyond any context length", maxNew)
	}
	dec, err := model.NewDecoder(m, len(ids)+maxNew, sched.New(threads))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	w.WriteString(prompt)
	w.Flush()
	var shown []int
	printed := 0
	gen, err := dec.Generate(ids, maxNew, s, rand.New(rand.NewPCG(seed, 0x6e6)), sep, func(id int) {
		shown = append(shown, id)
		text := tok.Decode(shown) // byte-level: a prefix of the ids decodes to a prefix of the bytes
		w.Write(text[printed:])
		w.Flush()
		printed = len(text)
	})
	if err != nil {
		return err
	}
	w.WriteString("\n")
	if showIDs {
		w.WriteString("prompt_ids:")
		for _, id := range ids {
			fmt.Fprintf(w, " %d", id)
		}
		w.WriteString("\nids:")
		for _, id := range gen {
			fmt.Fprintf(w, " %d", id)
		}
		w.WriteString("\n")
	}
	return w.Flush()
}
