package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/relora-go/relora-go/data"
	"github.com/relora-go/relora-go/relora"
)

// pathList is a flag that may be repeated; each value may also hold
// several comma-separated paths.
type pathList []string

func (p *pathList) String() string { return strings.Join(*p, ",") }

func (p *pathList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s != "" {
			*p = append(*p, s)
		}
	}
	return nil
}

func cmdPrepare(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prepare", flag.ContinueOnError)
	var paths pathList
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
	files, err := data.ExpandPaths(paths...)
	if err != nil {
		return err
	}
	trainPath := filepath.Join(*out, relora.TrainShard)
	valPath := filepath.Join(*out, relora.ValShard)
	tokOut := filepath.Join(*out, relora.TokenizerFile)
	if !*force {
		for _, p := range []string{trainPath, valPath, tokOut} {
			if _, err := os.Stat(p); err == nil {
				return fmt.Errorf("%s already exists: choose another --out or add --force to replace it", p)
			}
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}

	var tok data.Tokenizer
	var tokJSON []byte
	if *tokPath == "" && *trainTok == 0 {
		fmt.Fprintln(stderr, "note: no --tokenizer or --train_tokenizer: byte-level tokens (256), as train encodes --data text; --train_tokenizer 8192 trains a BPE")
		*tokPath = "bytes"
	}
	if *tokPath != "" {
		if tok, tokJSON, err = relora.LoadTokenizer(*tokPath); err != nil {
			return err
		}
	} else {
		var text bytes.Buffer
		err := data.WalkDocuments(files, func(doc []byte) error {
			text.Write(doc)
			text.WriteString("\n\n")
			return nil
		})
		if err != nil {
			return err
		}
		var progress io.Writer
		if !*quiet {
			progress = stderr
		}
		bpe, err := data.TrainBPE(text.Bytes(), *trainTok, progress)
		if err != nil {
			return fmt.Errorf("--train_tokenizer: %v", err)
		}
		if tokJSON, err = bpe.MarshalJSON(); err != nil {
			return err
		}
		tok = bpe
		if v := bpe.VocabSize(); v < *trainTok {
			fmt.Fprintf(stderr, "warning: --train_tokenizer %d: the corpus gives a vocabulary of only %d tokens (no pair of tokens occurs often enough for more merges)\n", *trainTok, v)
		}
	}

	// Both shards are written to temporary files and renamed into place
	// only when everything has succeeded.
	vocab := tok.VocabSize()
	tw, err := data.CreateShard(trainPath, vocab)
	if err != nil {
		return err
	}
	defer tw.Abort()
	vw, err := data.CreateShard(valPath, vocab)
	if err != nil {
		return err
	}
	defer vw.Abort()
	var prog data.EncodeProgress
	start := time.Now()
	stopProgress := func(bool) {}
	if !*quiet {
		stopProgress = progressLine(stderr, &prog, start)
	}
	valDocs := 0
	err = data.EncodeCorpus(files, tok, *threads, &prog, func(doc int, ids []int) error {
		if data.IsValDocument(doc, *valFrac) {
			valDocs++
			return vw.Write(ids)
		}
		return tw.Write(ids)
	})
	stopProgress(err == nil)
	if err != nil {
		return err
	}
	if err := tw.Finish(); err != nil {
		return err
	}
	if err := vw.Finish(); err != nil {
		return err
	}
	if tokJSON != nil {
		if err := data.WriteFileAtomic(tokOut, append(bytes.TrimRight(tokJSON, "\n"), '\n')); err != nil {
			return err
		}
		os.Chmod(tokOut, 0o644)
	} else if err := os.Remove(tokOut); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err // a stale tokenizer.json would not match byte shards
	}
	if err := tw.Commit(); err != nil {
		return err
	}
	if err := vw.Commit(); err != nil {
		return err
	}
	el := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "%d documents, %.1f MB of text -> %s: %d tokens; %s: %d tokens (%d documents); vocab %d\n",
		prog.Docs, float64(prog.Bytes)/1e6, trainPath, tw.Count(), valPath, vw.Count(), valDocs, vocab)
	fmt.Fprintf(stdout, "%.2f s, %.2f MB/s, %.0f tokens/s, %.2f bytes/token\n",
		el, float64(prog.Bytes)/1e6/el, float64(prog.Tokens)/el, float64(prog.Bytes)/float64(max(prog.Tokens, 1)))
	const oneSeq = 128 + 1 // train's default --max_length, plus the last target
	switch {
	case valDocs == 0 && *valFrac > 0:
		fmt.Fprintf(stderr, "note: %d documents are too few for --val_fraction %g: val.bin is empty (training holds out the last 5%% of train.bin)\n", prog.Docs, *valFrac)
	case vw.Count() > 0 && vw.Count() < oneSeq:
		fmt.Fprintf(stderr, "warning: %s has %d tokens, less than one sequence of train's default --max_length 128 (%d tokens): train and eval on it will refuse it; use a larger --val_fraction\n", valPath, vw.Count(), oneSeq)
	}
	return nil
}

// progressLine refreshes one line on w every 200 ms: bytes read, rate,
// tokens/s and the estimated time left. The returned function stops it:
// after success it prints the final state and ends the line; after a
// failure it blanks the line, so the error stands alone.
func progressLine(w io.Writer, p *data.EncodeProgress, start time.Time) func(ok bool) {
	done := make(chan bool)
	finished := make(chan struct{})
	width := 0
	print := func() {
		el := time.Since(start).Seconds()
		b := atomic.LoadInt64(&p.Bytes)
		tokens := atomic.LoadInt64(&p.Tokens)
		// Progress through the files on disk: finished files, plus the
		// current one's bytes scaled by the expansion seen so far (gzip).
		fileBytes, fileDocs := atomic.LoadInt64(&p.FileBytes), atomic.LoadInt64(&p.FileDocs)
		expansion := 1.0
		if fileBytes > 0 && fileDocs > 0 {
			expansion = float64(fileDocs) / float64(fileBytes)
		}
		frac := (float64(fileBytes) + float64(b-fileDocs)/expansion) / float64(max(p.FileTotal, 1))
		frac = min(frac, 1)
		eta := "?"
		if frac > 0.01 && el > 0.5 {
			eta = (time.Duration(el*(1-frac)/frac) * time.Second).Round(time.Second).String()
		}
		line := fmt.Sprintf("%8.1f MB read (%3.0f%%)  %7.2f MB/s  %10d tokens  %9.0f tok/s  ETA %s   ",
			float64(b)/1e6, 100*frac, float64(b)/1e6/el, tokens, float64(tokens)/el, eta)
		width = len(line)
		fmt.Fprint(w, "\r"+line)
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				print()
			case ok := <-done:
				if ok {
					print()
					fmt.Fprintln(w)
				} else if width > 0 {
					fmt.Fprint(w, "\r"+strings.Repeat(" ", width)+"\r")
				}
				return
			}
		}
	}()
	return func(ok bool) { done <- ok; <-finished }
}
