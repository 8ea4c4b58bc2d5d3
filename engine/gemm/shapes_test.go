package gemm

import "github.com/relora-go/relora-go/engine/gemm/gemmbench"

// The benchmarks' cases come from gemmbench (shared with relora-cpu bench
// gemm); BenchShape is a local type so that the benchmarks' unkeyed
// literals stay local ones.

// BenchShape is a gemmbench.Shape.
type BenchShape gemmbench.Shape

// Trans returns the transA, transB flags of the layout.
func (s BenchShape) Trans() (transA, transB bool) { return gemmbench.Shape(s).Trans() }

// Flops is 2·M·N·K.
func (s BenchShape) Flops() float64 { return gemmbench.Shape(s).Flops() }

// BenchShapes is gemmbench.Shapes.
func BenchShapes(layouts []string) []BenchShape {
	var out []BenchShape
	for _, s := range gemmbench.Shapes(layouts) {
		out = append(out, BenchShape(s))
	}
	return out
}
