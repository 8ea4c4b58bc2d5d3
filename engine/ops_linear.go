package engine

import (
	"fmt"

	"github.com/relora-go/relora-go/engine/gemm"
)

// matmulOp is C = op(A)·op(B) with transpose flags; the transposes are
// never materialised, the GEMM reads the stored layout.
type matmulOp struct {
	a, b, c        *Tensor
	transA, transB bool
	m, n, k        int
}

// MatMul records C = op(A)·op(B), where op(X) is X or Xᵀ. A and B are 2-D
// (leading dimensions folded into rows). C is m×n.
func (g *Graph) MatMul(a, b *Tensor, transA, transB bool) *Tensor {
	ar, ac := a.Rows(), a.Cols()
	br, bc := b.Rows(), b.Cols()
	m, k := ar, ac
	if transA {
		m, k = ac, ar
	}
	kb, n := br, bc
	if transB {
		kb, n = bc, br
	}
	if k != kb {
		panic(fmt.Sprintf("engine: MatMul %v·%v: inner dimensions %d and %d differ", a, b, k, kb))
	}
	c := g.NewActivation("matmul", needGrad(a, b), m, n)
	op := &matmulOp{a: a, b: b, c: c, transA: transA, transB: transB, m: m, n: n, k: k}
	if g.dev != nil {
		g.Record(&devMatmul{op}, c)
		return c
	}
	g.Record(op, c)
	return c
}

// Linear records y = x·wᵀ for x [..., in] and w [out, in] (PyTorch's layout).
// A frozen w gets no weight-gradient GEMM.
func (g *Graph) Linear(x, w *Tensor) *Tensor {
	if x.Cols() != w.Cols() {
		panic(fmt.Sprintf("engine: Linear %v by weight %v: input width %d, weight expects %d", x, w, x.Cols(), w.Cols()))
	}
	shape := append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), w.Rows())
	y := g.MatMul(x, w, false, true)
	y.Shape = shape
	y.Name = w.Name
	return y
}

func (o *matmulOp) Kind() string { return "matmul" }

func (o *matmulOp) Flops(p Phase) int64 {
	f := 2 * int64(o.m) * int64(o.n) * int64(o.k)
	if p == PhaseForward {
		return f
	}
	var n int64
	if o.a.Grad != nil {
		n += f
	}
	if o.b.Grad != nil {
		n += f
	}
	return n
}

func ld(t *Tensor) int { return t.Cols() }

// gemmName names a GEMM kernel by layout for profiles ("sgemm_nt").
func gemmName(transA, transB bool) string {
	return [2][2]string{{"sgemm_nn", "sgemm_nt"}, {"sgemm_tn", "sgemm_tt"}}[b2i(transA)][b2i(transB)]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// GEMM runs Sgemm on the graph's pool and reports it as a kernel of the
// current op (ops outside this package use it for their products).
func (g *Graph) GEMM(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	t0 := g.Now()
	gemm.Sgemm(g.Pool, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	g.Kernel(gemmName(transA, transB), t0, 2*int64(m)*int64(n)*int64(k))
}

func (o *matmulOp) Forward(g *Graph) {
	g.GEMM(o.transA, o.transB, o.m, o.n, o.k, 1, o.a.Data, ld(o.a), o.b.Data, ld(o.b), 0, o.c.Data, o.n)
}

func (o *matmulOp) Backward(g *Graph) {
	a, b, dc := o.a, o.b, o.c.Grad
	if a.Grad != nil {
		if !o.transA { // dA[m,k] += dC · op(B)ᵀ
			g.GEMM(false, !o.transB, o.m, o.k, o.n, 1, dc, o.n, b.Data, ld(b), 1, a.Grad, ld(a))
		} else { // dA[k,m] += op(B) · dCᵀ
			g.GEMM(o.transB, true, o.k, o.m, o.n, 1, b.Data, ld(b), dc, o.n, 1, a.Grad, ld(a))
		}
	}
	if b.Grad != nil {
		if !o.transB { // dB[k,n] += op(A)ᵀ · dC
			g.GEMM(!o.transA, false, o.k, o.n, o.m, 1, a.Data, ld(a), dc, o.n, 1, b.Grad, ld(b))
		} else { // dB[n,k] += dCᵀ · op(A)
			g.GEMM(true, o.transA, o.n, o.k, o.m, 1, dc, o.n, a.Data, ld(a), 1, b.Grad, ld(b))
		}
	}
}
