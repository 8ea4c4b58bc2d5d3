package relorago

import _ "embed"

// DefaultTrain and DefaultVal are the gzip-compressed default corpus.
var (
	//go:embed testdata/corpus/brown-train-excerpt.txt.gz
	DefaultTrain []byte
	//go:embed testdata/corpus/brown-val.txt.gz
	DefaultVal []byte
)
