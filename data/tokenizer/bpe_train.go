package tokenizer

import (
	"fmt"
	"io"
	"time"
)

// MinBPEVocab is the smallest vocabulary TrainBPE accepts: 256 bytes and the
// three special tokens.
const MinBPEVocab = 259

// TrainBPE learns a byte-level BPE tokenizer with vocabSize tokens from text,
// using GPT-2's pre-tokenizer. The vocabulary is the 256 bytes, the special
// tokens <|endoftext|>, <s>, </s> (ids 256, 257, 258), and vocabSize-259
// merges. Training stops early, with a smaller vocabulary, if no adjacent
// pair is left to merge. Each merge takes the most frequent adjacent pair,
// ties going to the smaller (left id, right id). If progress is not nil,
// a line is written to it every 1000 merges and at the end.
//
// Pre-tokens are counted once into a table of distinct words; merges update
// the pair counts incrementally through a pair -> words index and a lazy
// max-heap, so a merge costs time in proportion to the words it touches.
func TrainBPE(text []byte, vocabSize int, progress io.Writer) (*BPE, error) {
	if vocabSize < MinBPEVocab {
		return nil, fmt.Errorf("bpe: vocab size %d is below the minimum %d (256 bytes + 3 special tokens)", vocabSize, MinBPEVocab)
	}
	if vocabSize > math32 {
		return nil, fmt.Errorf("bpe: vocab size %d too large", vocabSize)
	}
	start := time.Now()

	// Distinct pre-tokens and their frequencies, in order of first appearance.
	index := make(map[string]int32)
	var words [][]int32
	var freq []int64
	PreTokGPT2.Split(text, func(w []byte) {
		if i, ok := index[string(w)]; ok {
			freq[i]++
			return
		}
		index[string(w)] = int32(len(words))
		s := make([]int32, len(w))
		for k, c := range w {
			s[k] = int32(c)
		}
		words = append(words, s)
		freq = append(freq, 1)
	})
	index = nil
	if progress != nil {
		fmt.Fprintf(progress, "bpe: %d bytes, %d distinct pre-tokens (%.2fs)\n", len(text), len(words), time.Since(start).Seconds())
	}

	t := newTrainedBPE()

	counts := make(map[uint64]int64)
	where := make(map[uint64][]int32)
	addWhere := func(p uint64, w int32) {
		l := where[p]
		if len(l) > 0 && l[len(l)-1] == w {
			return
		}
		where[p] = append(l, w)
	}
	for w, s := range words {
		for i := 0; i+1 < len(s); i++ {
			p := pairKey(s[i], s[i+1])
			counts[p] += freq[w]
			addWhere(p, int32(w))
		}
	}
	h := make(pairHeap, 0, len(counts))
	for p, c := range counts {
		h = append(h, pairCount{c, p})
	}
	h.init()

	delta := make(map[uint64]int64)
	for len(t.tokens) < vocabSize && len(h) > 0 {
		top := h.pop()
		if c := counts[top.pair]; c != top.count {
			if c > 0 {
				h.push(pairCount{c, top.pair})
			}
			continue
		}
		a, b := int32(top.pair>>32), int32(uint32(top.pair))
		z := int32(len(t.tokens))
		tok := make([]byte, 0, len(t.tokens[a])+len(t.tokens[b]))
		tok = append(append(tok, t.tokens[a]...), t.tokens[b]...)
		t.tokens = append(t.tokens, tok)
		t.special = append(t.special, false)
		t.merges[top.pair] = bpeMerge{rank: int32(len(t.ranked)), id: z}
		t.ranked = append(t.ranked, [2]int32{a, b})

		affected := where[top.pair]
		delete(where, top.pair)
		for _, w := range affected {
			s := words[w]
			found := false
			for i := 0; i+1 < len(s); i++ {
				if s[i] == a && s[i+1] == b {
					found = true
					break
				}
			}
			if !found {
				continue
			}
			f := freq[w]
			for i := 0; i+1 < len(s); i++ {
				delta[pairKey(s[i], s[i+1])] -= f
			}
			j := 0
			for i := 0; i < len(s); j++ {
				if i+1 < len(s) && s[i] == a && s[i+1] == b {
					s[j] = z
					i += 2
				} else {
					s[j] = s[i]
					i++
				}
			}
			s = s[:j]
			words[w] = s
			for i := 0; i+1 < len(s); i++ {
				p := pairKey(s[i], s[i+1])
				delta[p] += f
				if s[i] == z || s[i+1] == z {
					addWhere(p, w)
				}
			}
		}
		for p, d := range delta {
			if d == 0 {
				continue
			}
			c := counts[p] + d
			if c <= 0 {
				delete(counts, p)
				continue
			}
			counts[p] = c
			if d > 0 {
				h.push(pairCount{c, p})
			}
		}
		clear(delta)
		if progress != nil && len(t.ranked)%1000 == 0 {
			fmt.Fprintf(progress, "bpe: %d merges, vocab %d, last count %d (%.2fs)\n", len(t.ranked), len(t.tokens), top.count, time.Since(start).Seconds())
		}
	}
	if progress != nil {
		fmt.Fprintf(progress, "bpe: done, vocab %d, %d merges (%.2fs)\n", len(t.tokens), len(t.ranked), time.Since(start).Seconds())
	}
	return t, nil
}

const math32 = 1<<31 - 1

// newTrainedBPE returns a tokenizer with the 256 byte tokens and the three
// special tokens and no merges.
func newTrainedBPE() *BPE {
	t := &BPE{
		merges: make(map[uint64]bpeMerge),
		cache:  make(map[string][]int32),
		pre:    PreTokGPT2,
	}
	for b := 0; b < 256; b++ {
		t.tokens = append(t.tokens, []byte{byte(b)})
		t.special = append(t.special, false)
		t.byteID[b] = int32(b)
	}
	for _, s := range []string{TokenEOD, TokenBOS, TokenEOS} {
		t.added = append(t.added, addedToken{id: len(t.tokens), content: s, special: true})
		t.tokens = append(t.tokens, []byte(s))
		t.special = append(t.special, true)
	}
	t.eod, t.bos, t.eos = 256, 257, 258
	return t
}

type pairCount struct {
	count int64
	pair  uint64
}

// pairHeap is a max-heap by count, ties to the smaller pair.
type pairHeap []pairCount

func (h pairHeap) less(i, j int) bool {
	return h[i].count > h[j].count || h[i].count == h[j].count && h[i].pair < h[j].pair
}

func (h pairHeap) down(i int) {
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h.less(l, m) {
			m = l
		}
		if r < len(h) && h.less(r, m) {
			m = r
		}
		if m == i {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func (h pairHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *pairHeap) push(x pairCount) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *pairHeap) pop() pairCount {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	*h = s[:last]
	(*h).down(0)
	return top
}
