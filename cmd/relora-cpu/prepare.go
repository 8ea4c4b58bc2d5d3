package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/relora-go/relora-go/data"
)

func cmdPrepare(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prepare", flag.ContinueOnError)
	var paths listFlag
	fs.Var(&paths, "data", "corpus files, directories or globs (.txt, .txt.gz, .jsonl, .jsonl.gz, .json, .json.gz); repeat or separate with commas; paths after the flags are added")
	tokPath := fs.String("tokenizer", "", "tokenizer to encode with: a tokenizer.json, \"embedded\" (the Brown BPE, 4096 tokens) or \"bytes\" (default: bytes, as train encodes --data text, unless --train_tokenizer)")
	trainTok := fs.Int("train_tokenizer", 0, "train a byte-level BPE of this vocabulary size on the data instead of --tokenizer")
	out := fs.String("out", "", "output directory for train.bin, val.bin and tokenizer.json")
	valFrac := fs.Float64("val_fraction", 0.05, "fraction of documents held out for val.bin, spread evenly through the corpus (train holds out 5% too when its data has no val.bin)")
	threads := fs.Int("threads", 0, "tokenizer threads (0: all cores)")
	force := fs.Bool("force", false, "replace existing shard files in --out")
	quiet := fs.Bool("quiet", false, "no progress line on stderr")
	rest, err := parseFlagsPaths(fs, args, stdout)
	if err != nil {
		return err
	}
	paths = append(paths, rest...)
	switch {
	case len(paths) == 0:
		return fmt.Errorf("--data is required: the corpus files to tokenize")
	case *out == "":
		return fmt.Errorf("--out is required: the directory for train.bin, val.bin and tokenizer.json")
	case *tokPath != "" && *trainTok != 0:
		return fmt.Errorf("give one of --tokenizer FILE and --train_tokenizer VOCAB_SIZE, not both")
	case *trainTok < 0:
		return fmt.Errorf("--train_tokenizer must be positive, got %d", *trainTok)
	case !(*valFrac >= 0 && *valFrac < 1):
		return fmt.Errorf("--val_fraction must be in [0, 1), got %g", *valFrac)
	case *threads < 0:
		return fmt.Errorf("--threads must not be negative, got %d", *threads)
	}
	progress := io.Writer(stderr)
	if *quiet {
		progress = nil
	}
	r, err := data.Prepare(data.PrepareOptions{Paths: paths, Out: *out, Tokenizer: *tokPath, TrainVocab: *trainTok,
		ValFraction: *valFrac, Threads: *threads, Force: *force, Progress: progress, Notes: stderr})
	if err != nil {
		return err
	}
	printPrepared(stdout, stderr, r, *valFrac)
	return nil
}

// printPrepared prints prepare's summary, and a note when val.bin is empty
// or shorter than one sequence of train's default --max_length.
func printPrepared(stdout, stderr io.Writer, r *data.Prepared, valFrac float64) {
	el := r.Elapsed.Seconds()
	fmt.Fprintf(stdout, "%d documents, %.1f MB of text -> %s: %d tokens; %s: %d tokens (%d documents); vocab %d\n",
		r.Docs, float64(r.Bytes)/1e6, r.TrainPath, r.TrainTokens, r.ValPath, r.ValTokens, r.ValDocs, r.Vocab)
	fmt.Fprintf(stdout, "%.2f s, %.2f MB/s, %.0f tokens/s, %.2f bytes/token\n",
		el, float64(r.Bytes)/1e6/el, float64(r.Tokens)/el, float64(r.Bytes)/float64(max(r.Tokens, 1)))
	const oneSeq = 128 + 1 // train's default --max_length, plus the last target
	switch {
	case r.ValDocs == 0 && valFrac > 0:
		fmt.Fprintf(stderr, "note: %d documents are too few for --val_fraction %g: val.bin is empty (training holds out the last 5%% of train.bin)\n", r.Docs, valFrac)
	case r.ValTokens > 0 && r.ValTokens < oneSeq:
		fmt.Fprintf(stderr, "warning: %s has %d tokens, less than one sequence of train's default --max_length 128 (%d tokens): train and eval on it will refuse it; use a larger --val_fraction\n", r.ValPath, r.ValTokens, oneSeq)
	}
}
