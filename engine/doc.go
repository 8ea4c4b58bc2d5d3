// Package engine is the CPU compute engine: float32 tensors that are views
// into flat slabs, a tape of ops replayed forward and in reverse for
// gradients, the op kernels, and AdamW. It knows nothing of LLaMA or ReLoRA.
package engine
