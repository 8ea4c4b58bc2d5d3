package data

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/relora-go/relora-go/data/tokenizer"
	"github.com/relora-go/relora-go/engine/atomicfile"
)

// A prepared directory (relora-cpu prepare writes it; train's --data
// takes it): the token shards, and tokenizer.json unless the tokens are
// bytes.
const (
	TrainShard = "train.bin"
	ValShard   = "val.bin"
)

// PrepareOptions says what Prepare tokenizes, with what, and where to.
type PrepareOptions struct {
	Paths []string // corpus files, directories or globs (see ExpandPaths)
	Out   string   // the directory for train.bin, val.bin and tokenizer.json
	// Tokenizer is the tokenizer to encode with (a name tokenizer.Load
	// takes); TrainVocab > 0 trains a byte-level BPE of that size on the
	// corpus instead. With neither, the tokens are bytes (as train encodes
	// text), and a note says so.
	Tokenizer   string
	TrainVocab  int
	ValFraction float64 // documents held out for val.bin (IsValDocument)
	Threads     int     // tokenizer threads (0: all cores)
	Force       bool    // replace shard files already in Out
	// Progress, if not nil, gets BPE training's progress and a progress
	// line refreshed while encoding; Notes gets notes and warnings.
	Progress, Notes io.Writer
}

// Prepared is what Prepare wrote.
type Prepared struct {
	TrainPath, ValPath     string
	TrainTokens, ValTokens int64
	ValDocs                int   // documents held out for val.bin
	Docs, Bytes, Tokens    int64 // documents, bytes of text and tokens encoded
	Vocab                  int
	Elapsed                time.Duration // encoding and writing (not BPE training)
}

// Prepare tokenizes a corpus into a prepared directory: train.bin and
// val.bin (documents IsValDocument holds out) and the tokenizer's
// tokenizer.json. Both shards and the tokenizer are written to temporary
// files and put in place only when everything has succeeded, the
// tokenizer before the shards; a stale tokenizer.json is removed when the
// tokens are bytes.
func Prepare(o PrepareOptions) (*Prepared, error) {
	files, err := ExpandPaths(o.Paths...)
	if err != nil {
		return nil, err
	}
	r := &Prepared{TrainPath: filepath.Join(o.Out, TrainShard), ValPath: filepath.Join(o.Out, ValShard)}
	tokOut := filepath.Join(o.Out, tokenizer.FileName)
	if !o.Force {
		for _, p := range []string{r.TrainPath, r.ValPath, tokOut} {
			if _, err := os.Stat(p); err == nil {
				return nil, fmt.Errorf("%s already exists: choose another --out or add --force to replace it", p)
			}
		}
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	tok, tokJSON, err := prepareTokenizer(o, files)
	if err != nil {
		return nil, err
	}
	r.Vocab = tok.VocabSize()
	tw, err := CreateShard(r.TrainPath, r.Vocab)
	if err != nil {
		return nil, err
	}
	defer tw.Abort()
	vw, err := CreateShard(r.ValPath, r.Vocab)
	if err != nil {
		return nil, err
	}
	defer vw.Abort()
	var prog EncodeProgress
	start := time.Now()
	stopProgress := func(bool) {}
	if o.Progress != nil {
		stopProgress = progressLine(o.Progress, &prog, start)
	}
	err = EncodeCorpus(files, tok, o.Threads, &prog, func(doc int, ids []int) error {
		if IsValDocument(doc, o.ValFraction) {
			r.ValDocs++
			return vw.Write(ids)
		}
		return tw.Write(ids)
	})
	stopProgress(err == nil)
	if err != nil {
		return nil, err
	}
	if err := tw.Finish(); err != nil {
		return nil, err
	}
	if err := vw.Finish(); err != nil {
		return nil, err
	}
	if tokJSON != nil {
		if err := atomicfile.WriteFile(tokOut, append(bytes.TrimRight(tokJSON, "\n"), '\n')); err != nil {
			return nil, err
		}
		os.Chmod(tokOut, 0o644)
	} else if err := os.Remove(tokOut); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err // a stale tokenizer.json would not match byte shards
	}
	if err := tw.Commit(); err != nil {
		return nil, err
	}
	if err := vw.Commit(); err != nil {
		return nil, err
	}
	r.Elapsed = time.Since(start)
	r.TrainTokens, r.ValTokens = tw.Count(), vw.Count()
	r.Docs, r.Bytes, r.Tokens = prog.Docs, prog.Bytes, prog.Tokens
	return r, nil
}

// prepareTokenizer loads o.Tokenizer or trains a BPE of o.TrainVocab tokens
// on the documents of files; it returns the tokenizer and its
// tokenizer.json (nil for bytes).
func prepareTokenizer(o PrepareOptions, files []string) (tokenizer.Tokenizer, []byte, error) {
	name := o.Tokenizer
	if name == "" && o.TrainVocab == 0 {
		fmt.Fprintln(o.Notes, "note: no --tokenizer or --train_tokenizer: byte-level tokens (256), as train encodes --data text; --train_tokenizer 8192 trains a BPE")
		name = "bytes"
	}
	if name != "" {
		return tokenizer.Load(name)
	}
	var text bytes.Buffer
	err := WalkDocuments(files, func(doc []byte) error {
		text.Write(doc)
		text.WriteString("\n\n")
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	bpe, err := tokenizer.TrainBPE(text.Bytes(), o.TrainVocab, o.Progress)
	if err != nil {
		return nil, nil, fmt.Errorf("--train_tokenizer: %v", err)
	}
	tokJSON, err := bpe.MarshalJSON()
	if err != nil {
		return nil, nil, err
	}
	if v := bpe.VocabSize(); v < o.TrainVocab {
		fmt.Fprintf(o.Notes, "warning: --train_tokenizer %d: the corpus gives a vocabulary of only %d tokens (no pair of tokens occurs often enough for more merges)\n", o.TrainVocab, v)
	}
	return bpe, tokJSON, nil
}

// progressLine refreshes one line on w every 200 ms: bytes read, rate,
// tokens/s and the estimated time left. The returned function stops it:
// after success it prints the final state and ends the line; after a
// failure it blanks the line, so the error stands alone.
func progressLine(w io.Writer, p *EncodeProgress, start time.Time) func(ok bool) {
	done := make(chan bool)
	finished := make(chan struct{})
	width := 0
	print := func() {
		line := progressText(p, time.Since(start).Seconds())
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

// progressText is the progress line after el seconds.
func progressText(p *EncodeProgress, el float64) string {
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
	return fmt.Sprintf("%8.1f MB read (%3.0f%%)  %7.2f MB/s  %10d tokens  %9.0f tok/s  ETA %s   ",
		float64(b)/1e6, 100*frac, float64(b)/1e6/el, tokens, float64(tokens)/el, eta)
}
