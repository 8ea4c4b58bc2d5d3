package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/relora/run"
)

// cmdEval reports a model's mean next-token loss and perplexity on data,
// over consecutive non-overlapping windows of max_length+1 tokens (as the
// trainer's evaluation).
func cmdEval(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	ckpt := fs.String("checkpoint", "", "a run directory (its final/), a training checkpoint (model_<N>/), a final/ directory or a Hugging Face LLaMA directory")
	dataPath := fs.String("data", "", "evaluation data: a token shard (.bin), a prepared directory (its val.bin) or text (.txt, .txt.gz, .jsonl, ...) (default: the embedded Brown val, as train's default)")
	maxLen := fs.Int("max_length", 128, "sequence length")
	batch := fs.Int("batch_size", 8, "sequences per forward pass")
	maxBatches := fs.Int("max_batches", 0, "evaluate only the first N batches (0: all)")
	tokPath := fs.String("tokenizer", "", "tokenizer.json (default: the checkpoint's)")
	threads := fs.Int("threads", 0, "worker threads (0: all cores)")
	var devName, dtype string
	deviceFlag(fs, &devName, &dtype)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case *ckpt == "":
		return fmt.Errorf("--checkpoint is required: the model to evaluate")
	case *maxLen < 1 || *batch < 1:
		return fmt.Errorf("--max_length and --batch_size must be positive")
	case *maxBatches < 0 || *threads < 0:
		return fmt.Errorf("--max_batches and --threads must not be negative")
	}
	l, err := run.LoadModel(*ckpt, *tokPath, stderr)
	if err != nil {
		return err
	}
	return eval(stdout, l, *dataPath, *maxLen, *batch, *maxBatches, *threads, devName, dtype)
}

// eval is eval after its flags parsed and the model loaded: the sizes
// checked, the data tokenized, the loss and its line.
func eval(stdout io.Writer, l *run.LoadedModel, dataPath string, seq, batch, maxBatches, threads int, devName, dtype string) error {
	m, tok := l.Model, l.Tokenizer
	if ctx := m.Config.MaxSeq; ctx > 0 && seq > ctx {
		return fmt.Errorf("--max_length %d exceeds the model's context of %d tokens (max_sequence_length in %s/config.json): use --max_length %d or less", seq, ctx, l.Dir, ctx)
	}
	graph := m.Config.GraphBytes(batch, seq, 0)
	if devName != "" && devName != "cpu" {
		graph = 0 // the activations live on the device
	}
	if err := m.Config.CheckMemory(fmt.Sprintf("evaluating batches of %d × %d tokens", batch, seq), 1, graph); err != nil {
		return err
	}
	var toks []int32
	var src string
	var err error
	if dataPath == "" {
		toks, src, err = run.EmbeddedVal(tok, threads)
	} else {
		toks, src, err = run.ReadTokens(dataPath, tok, threads)
	}
	if err != nil {
		return err
	}
	windows := len(toks) / (seq + 1)
	if windows == 0 {
		return fmt.Errorf("%s has %d tokens, fewer than one sequence of --max_length %d needs (%d)", src, len(toks), seq, seq+1)
	}
	if maxBatches > 0 {
		windows = min(windows, maxBatches*batch)
	}
	dev, err := engine.OpenDevice(devName, dtype)
	if err != nil {
		return err
	}
	if dev != nil {
		defer dev.Close()
	}
	start := time.Now()
	loss, n, err := run.EvalModel(m, toks, seq, batch, windows, threads, dev)
	if err != nil {
		return err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return fmt.Errorf("eval %s on %s: the loss is %v: the model's outputs overflow (a damaged or diverged model)", l.Dir, src, loss)
	}
	fmt.Fprintf(stdout, "eval %s on %s: %d tokens in %d sequences of %d: loss %.4f nats/token, perplexity %.3f (%.1f s)\n",
		l.Dir, src, n, windows, seq, loss, math.Exp(loss), time.Since(start).Seconds())
	return nil
}
