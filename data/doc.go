// Package data turns text on disk into token batches: readers for corpus
// files, tokenizers, and the deterministic batcher the trainer pulls from.
// It depends on nothing else in the project.
package data
