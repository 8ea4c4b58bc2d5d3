//go:build cuda

package cuda

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
)

//go:embed kernels/*.cu kernels/reduce.cuh
var kernelFS embed.FS

// kernelSources maps each kernels/*.cu file name (without the directory) to
// what Driver.Load compiles: kernels/reduce.cuh (the helpers every file may
// use), then the file, numbered from its own first line.
var kernelSources = func() map[string]string {
	names, err := fs.Glob(kernelFS, "kernels/*.cu")
	if err != nil {
		panic(err)
	}
	common, err := kernelFS.ReadFile("kernels/reduce.cuh")
	if err != nil {
		panic(err)
	}
	m := make(map[string]string, len(names))
	for _, n := range names {
		b, err := kernelFS.ReadFile(n)
		if err != nil {
			panic(err)
		}
		m[path.Base(n)] = string(common) + fmt.Sprintf("#line 1 %q\n", path.Base(n)) + string(b)
	}
	return m
}()

// Indices into kernelTable: what Device passes to Driver.Launch.
const (
	kEmbeddingFwd = iota
	kEmbeddingBwd
	kRMSNormFwd
	kRMSNormBwdDx
	kRMSNormBwdDw
	kRoPEFwd
	kRoPEBwd
	kCausalSoftmaxFwd
	kCausalSoftmaxBwd
	kSwiGLUFwd
	kSwiGLUBwd
	kAddFwd
	kMulFwd
	kAccumulate
	kMulAccumulate
	kColSumAcc
	kScale2D
	kCrossEntropyFwd
	kCrossEntropyBwd
	kAdamW
	kSumSquares
	kDropoutFwd
	kDropoutBwd
	kF32ToBF16
	kBF16ToF32
	numKernels
)

// kernelTable lists every __global__ function of kernels/*.cu with its
// parameter letters ('p' pointer, 'i' int, 'f' float, 'u' unsigned long
// long), in the order of the k… constants.
var kernelTable = []Kernel{
	kEmbeddingFwd:     {"embedding_fwd", "pppiii"},
	kEmbeddingBwd:     {"embedding_bwd", "pppppii"},
	kRMSNormFwd:       {"rmsnorm_fwd", "ppppiif"},
	kRMSNormBwdDx:     {"rmsnorm_bwd_dx", "pppppii"},
	kRMSNormBwdDw:     {"rmsnorm_bwd_dw", "ppppiiii"},
	kRoPEFwd:          {"rope_fwd", "ppppiiii"},
	kRoPEBwd:          {"rope_bwd", "ppppiiii"},
	kCausalSoftmaxFwd: {"causal_softmax_fwd", "pii"},
	kCausalSoftmaxBwd: {"causal_softmax_bwd", "ppii"},
	kSwiGLUFwd:        {"swiglu_fwd", "pppi"},
	kSwiGLUBwd:        {"swiglu_bwd", "pppppi"},
	kAddFwd:           {"add_fwd", "pppi"},
	kMulFwd:           {"mul_fwd", "pppi"},
	kAccumulate:       {"accumulate", "ppfi"},
	kMulAccumulate:    {"mul_accumulate", "pppi"},
	kColSumAcc:        {"col_sum_acc", "ppii"},
	kScale2D:          {"scale2d", "piiif"},
	kCrossEntropyFwd:  {"cross_entropy_fwd", "ppppii"},
	kCrossEntropyBwd:  {"cross_entropy_bwd", "ppppiif"},
	kAdamW:            {"adamw", "ppppifffffffff"},
	kSumSquares:       {"sum_squares", "ppii"},
	kDropoutFwd:       {"dropout_fwd", "ppiffu"},
	kDropoutBwd:       {"dropout_bwd", "ppiffu"},
	kF32ToBF16:        {"f32_to_bf16", "ppi"},
	kBF16ToF32:        {"bf16_to_f32", "ppi"},
}
