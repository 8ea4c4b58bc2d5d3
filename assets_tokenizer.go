package relorago

import _ "embed"

// DefaultTokenizer is the tokenizer of the default run: a byte-level BPE
// with 4096 tokens trained on Brown train (testdata/tokenizer/README.md),
// in tokenizer.json format.
//
//go:embed testdata/tokenizer/brown-4096.json
var DefaultTokenizer []byte
