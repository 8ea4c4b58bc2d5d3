package data

import (
	"fmt"
	"math/rand/v2"
)

// Tokens is a token stream the batcher reads windows from: an in-memory
// Int32s or a memory-mapped *Shard.
type Tokens interface {
	Len() int
	// Read copies tokens off, off+1, ... into dst (as many as there are)
	// and returns how many it copied.
	Read(dst []int32, off int) int
}

// Int32s is an in-memory token stream.
type Int32s []int32

// Len is the number of tokens.
func (t Int32s) Len() int { return len(t) }

// Read copies tokens from off into dst.
func (t Int32s) Read(dst []int32, off int) int { return copy(dst, t[min(off, len(t)):]) }

// Batcher cuts a token stream into non-overlapping windows of seq+1 tokens
// (inputs are the first seq, targets the last seq) and hands them out in an
// order shuffled by seed, epoch after epoch. Its position is two integers,
// so a checkpoint can restore it exactly.
type Batcher struct {
	tokens Tokens
	seq    int
	seed   uint64
	order  []int32 // window order of the current epoch
	Epoch  int
	Next   int // next window of the epoch
}

// NewBatcher prepares batches of sequences of length seq from tokens.
// source names the data in errors; batch is the number of sequences per
// micro-batch, needed to check the data is long enough.
func NewBatcher(source string, tokens Tokens, seq, batch int, seed uint64) (*Batcher, error) {
	if seq < 1 || batch < 1 {
		return nil, fmt.Errorf("batch_size and max_length must be positive")
	}
	if need := batch * (seq + 1); tokens.Len() < need {
		return nil, fmt.Errorf("%s has %d tokens; one batch of %d sequences of max_length %d needs %d: use more data or lower --batch_size/--max_length",
			source, tokens.Len(), batch, seq, need)
	}
	b := &Batcher{tokens: tokens, seq: seq, seed: seed}
	b.order = make([]int32, tokens.Len()/(seq+1))
	b.shuffle()
	return b, nil
}

// Windows is the number of sequences in one epoch.
func (b *Batcher) Windows() int { return len(b.order) }

func (b *Batcher) shuffle() {
	for i := range b.order {
		b.order[i] = int32(i)
	}
	rng := rand.New(rand.NewPCG(b.seed, uint64(b.Epoch)))
	rng.Shuffle(len(b.order), func(i, j int) { b.order[i], b.order[j] = b.order[j], b.order[i] })
}

// Seek restores a position saved from Epoch and Next.
func (b *Batcher) Seek(epoch, next int) {
	b.Epoch, b.Next = epoch, next
	b.shuffle()
}

// Fill writes the next len(inputs)/seq sequences into inputs and targets
// (each batch·seq ids, row-major). It allocates nothing.
func (b *Batcher) Fill(inputs, targets []int32) {
	for r := 0; r < len(inputs)/b.seq; r++ {
		if b.Next == len(b.order) {
			b.Epoch++
			b.Next = 0
			b.shuffle()
		}
		w := int(b.order[b.Next]) * (b.seq + 1)
		b.Next++
		b.tokens.Read(inputs[r*b.seq:(r+1)*b.seq], w)
		b.tokens.Read(targets[r*b.seq:(r+1)*b.seq], w+1)
	}
}

// Skip moves past the next n windows as n Fills of one sequence would,
// without reading them (a data-parallel rank skipping the windows of the
// other ranks). It allocates nothing beyond what Fill does at an epoch's
// end.
func (b *Batcher) Skip(n int) {
	for n > 0 {
		if b.Next == len(b.order) {
			b.Epoch++
			b.Next = 0
			b.shuffle()
		}
		step := min(n, len(b.order)-b.Next)
		b.Next += step
		n -= step
	}
}

// Sequential fills inputs and targets with windows i, i+1, ... in stream
// order (for evaluation) and reports how many windows it wrote; it stops at
// the end of the stream.
func Sequential(tokens Tokens, seq, first int, inputs, targets []int32) int {
	n := 0
	for r := 0; r < len(inputs)/seq; r++ {
		w := (first + r) * (seq + 1)
		if w+seq+1 > tokens.Len() {
			break
		}
		tokens.Read(inputs[r*seq:(r+1)*seq], w)
		tokens.Read(targets[r*seq:(r+1)*seq], w+1)
		n++
	}
	return n
}

// ToInt32 converts token ids for the batcher.
func ToInt32(ids []int) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}
