package engine

import "fmt"

// embeddingOp gathers rows of a table [vocab, d] for a slice of token ids.
type embeddingOp struct {
	table, y *Tensor
	ids      []int32
	back     bool
}

// Embedding records y[i] = table[ids[i]]. The ids slice belongs to the
// caller, who refills it before each Forward; its length fixes the rows.
func (g *Graph) Embedding(table *Tensor, ids []int32) *Tensor {
	y := g.NewActivation("embedding", needGrad(table), len(ids), table.Cols())
	if g.dev != nil {
		n := len(ids)
		g.Record(&devEmbedding{embeddingOp: embeddingOp{table: table, y: y, ids: ids}, dids: g.DevScratch(n),
			order: make([]int32, n), starts: make([]int32, n+1), next: make([]int32, table.Rows()),
			dorder: g.DevScratch(n), dstarts: g.DevScratch(n + 1)}, y)
		return y
	}
	g.Record(&embeddingOp{table: table, y: y, ids: ids}, y)
	return y
}

func (o *embeddingOp) Kind() string { return "embedding" }

// checkIDs panics on a token id outside the table.
func (o *embeddingOp) checkIDs() {
	vocab := o.table.Rows()
	for _, id := range o.ids {
		if id < 0 || int(id) >= vocab {
			panic(fmt.Sprintf("engine: token id %d outside the embedding's vocabulary of %d", id, vocab))
		}
	}
}

func (o *embeddingOp) Forward(g *Graph) {
	o.checkIDs()
	o.back = false
	g.Pool.Run(elemChunks, o)
}

func (o *embeddingOp) Backward(g *Graph) {
	if o.table.Grad != nil {
		o.back = true
		g.Pool.Run(elemChunks, o)
	}
}

// Run handles a slice of rows forward; backward it handles a slice of
// columns of every row, so that repeated ids never race.
func (o *embeddingOp) Run(_, i int) {
	d := o.table.Cols()
	if !o.back {
		lo, hi := span(len(o.ids), i)
		for r := lo; r < hi; r++ {
			id := int(o.ids[r])
			copy(o.y.Data[r*d:r*d+d], o.table.Data[id*d:id*d+d])
		}
		return
	}
	lo, hi := span(d, i)
	for r, id := range o.ids {
		dst := o.table.Grad[int(id)*d+lo : int(id)*d+hi]
		src := o.y.Grad[r*d+lo : r*d+hi]
		for j := range dst {
			dst[j] += src[j]
		}
	}
}
