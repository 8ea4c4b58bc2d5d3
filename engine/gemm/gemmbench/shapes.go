package gemmbench

// Shape is one GEMM benchmark case: C is M×N and K the reduction;
// layout NT reads B stored N×K and TN reads A stored K×M (row-major, as a
// cblas_sgemm benchmark would state them, so that figures compare directly).
type Shape struct {
	Layout  string // "NN", "NT", "TN" or "TT"
	M, K, N int
}

// Trans returns the transA, transB flags of the layout.
func (s Shape) Trans() (transA, transB bool) {
	return len(s.Layout) == 2 && s.Layout[0] == 'T', len(s.Layout) == 2 && s.Layout[1] == 'T'
}

// Flops is 2·M·N·K.
func (s Shape) Flops() float64 { return 2 * float64(s.M) * float64(s.N) * float64(s.K) }

// Forward (NN, NT) and weight-gradient (TN) shapes of a 60M-class LLaMA
// with rank-128 factors, and the square ones (NN only).
var (
	benchSquare = [][3]int{{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048}}
	benchFwd    = [][3]int{{4096, 512, 512}, {4096, 512, 1376}, {4096, 1376, 512}, {4096, 512, 32000}, {4096, 512, 128}, {4096, 128, 512}}
	benchWGrad  = [][3]int{{512, 4096, 512}, {512, 4096, 1376}, {1376, 4096, 512}, {512, 4096, 32000}, {512, 4096, 128}, {128, 4096, 512}}
)

// Shapes returns the default benchmark list for the given layouts (a
// nil list means NN, NT and TN): square shapes under NN, the forward shapes
// under NN and NT, the weight-gradient shapes under TN.
func Shapes(layouts []string) []Shape {
	if len(layouts) == 0 {
		layouts = []string{"NN", "NT", "TN"}
	}
	var out []Shape
	for _, l := range layouts {
		var list [][3]int
		switch l {
		case "NN":
			list = append(append(list, benchSquare...), benchFwd...)
		case "NT":
			list = benchFwd
		case "TN":
			list = benchWGrad
		}
		for _, s := range list {
			out = append(out, Shape{Layout: l, M: s[0], K: s[1], N: s[2]})
		}
	}
	return out
}
