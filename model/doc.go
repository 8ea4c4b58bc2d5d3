// Package model is LLaMA as the ReLoRA reference builds it: configuration,
// parameters with Hugging Face names, initialisation, the forward graph, and
// weights on disk as safetensors.
package model
