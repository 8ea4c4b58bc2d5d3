// Package gemmbench holds the cases GEMM is benchmarked on: a Shape (layout
// and M, K, N, with its transposes and FLOPs) and the default list (square
// shapes, and the forward and weight-gradient products of a 60M-class LLaMA
// training step with rank-128 factors). `relora-cpu bench gemm` and
// engine/gemm's Go benchmarks both measure these, so their figures compare.
// It imports nothing: the gemm package's own tests can use it.
package gemmbench
