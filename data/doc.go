// Package data turns text on disk into token batches: readers for corpus
// files (text, JSON lines, directories, globs), the parallel encoding of a
// corpus in document order (encode.go), token shards and the prepared
// directory `relora-cpu prepare` writes (Prepare: train.bin, val.bin and
// tokenizer.json), SHA256SUMS manifests, and the deterministic batcher the
// trainer pulls from. The tokenizers are data/tokenizer's; files are
// written through engine/atomicfile. Nothing else of the project is
// imported.
package data
