// Package run is a ReLoRA training run around package relora's method: the
// options with their CLI flags and validation, the run's data (Corpus),
// the Trainer (steps, evaluation, warm start, merges and optimizer resets
// in the reference's order, data-parallel ranks over engine/comm), atomic
// and exactly resumable checkpoints, metrics.jsonl and the progress lines,
// the size limits checked before allocating, what final/ and export write
// for Hugging Face, the loading of a model directory with its tokenizer
// (LoadModel, for eval, generate and export), and the analysis of a run's
// updates (spectrum.go, for analyze).
package run
