// Package tokenizer turns bytes into token ids and back: the Tokenizer
// interface and its special tokens, the byte tokenizer, and the byte-level
// BPE (encoding, training with TrainBPE, tokenizer.json read and written as
// Hugging Face's tokenizers library does, GPT-2, LLaMA-3 and Qwen2
// pre-tokenizers). load.go finds a tokenizer by the name --tokenizer takes
// (a file, "bytes", or the embedded Brown BPE) and the one that belongs to
// a model directory (ForModel). It imports only the embedded assets and
// engine/atomicfile: data, the trainer and the CLI build on it.
package tokenizer
