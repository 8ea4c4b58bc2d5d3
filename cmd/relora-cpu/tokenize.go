package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/relora-go/relora-go/data/tokenizer"
)

// cmdTokenize encodes stdin to space-separated ids, or with --decode turns
// ids (separated by any white space) back into text.
func cmdTokenize(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("tokenize", flag.ContinueOnError)
	tokPath := fs.String("tokenizer", "", "a tokenizer.json, \"embedded\" (the Brown BPE, 4096 tokens) or \"bytes\"")
	decode := fs.Bool("decode", false, "read ids from stdin and write the text they encode")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *tokPath == "" {
		return fmt.Errorf("--tokenizer is required (a tokenizer.json, \"embedded\" or \"bytes\")")
	}
	tok, _, err := tokenizer.Load(*tokPath)
	if err != nil {
		return err
	}
	in, err := io.ReadAll(stdin)
	if err != nil {
		return fmt.Errorf("stdin: %w", err)
	}
	w := bufio.NewWriter(stdout)
	if *decode {
		fields := bytes.Fields(in)
		ids := make([]int, len(fields))
		for i, f := range fields {
			v, err := strconv.Atoi(string(f))
			if err != nil || v < 0 || v >= tok.VocabSize() {
				return fmt.Errorf("stdin: id %d %q is not a token id in [0, %d)", i+1, f, tok.VocabSize())
			}
			ids[i] = v
		}
		w.Write(tok.Decode(ids))
		return w.Flush()
	}
	for i, id := range tok.Encode(in) {
		if i > 0 {
			w.WriteByte(' ')
		}
		w.WriteString(strconv.Itoa(id))
	}
	w.WriteByte('\n')
	return w.Flush()
}
