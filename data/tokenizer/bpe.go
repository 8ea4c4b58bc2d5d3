package tokenizer

import (
	"math"
	"sync"
)

// BPE is a byte-level byte-pair-encoding tokenizer of the GPT-2 kind: text is
// split into pieces by a pre-tokenizer (PreTokGPT2 unless loaded otherwise),
// each piece starts as one token per byte, and merges are applied by rank
// (lowest first). Every byte has a token, so any byte string, invalid UTF-8
// included, encodes, and Decode(Encode(b)) == b exactly.
//
// Token ids of a tokenizer made by TrainBPE:
//
//	0..255   the single bytes, id == byte value
//	256      "<|endoftext|>"  end of document (EOD)
//	257      "<s>"            beginning of sequence (BOS)
//	258      "</s>"           end of sequence (EOS)
//	259..    merges, in rank order (id 259+r is the result of merge r)
//
// A tokenizer loaded from a tokenizer.json keeps that file's ids; see
// LoadTokenizerJSON for how its special tokens are found.
//
// Encode treats its input as plain bytes: the text "<|endoftext|>" in a
// document encodes as ordinary tokens, never as the special id (unlike
// Hugging Face tokenizers, which split added tokens out of the text first).
// A *BPE is safe for concurrent use.
type BPE struct {
	tokens  [][]byte // id -> bytes; nil where no token has that id
	special []bool   // id is an added (special) token
	byteID  [256]int32
	merges  map[uint64]bpeMerge
	ranked  [][2]int32 // merges in rank order: left, right ids

	pre            PreTokenizer
	addPrefixSpace bool           // prepend ' ' to text that does not start with one
	ignoreMerges   bool           // a piece that is itself a token is emitted whole
	pieceID        map[string]int // bytes -> id; only when ignoreMerges

	added         []addedToken
	bos, eos, eod int

	mu    sync.RWMutex
	cache map[string][]int32
}

type bpeMerge struct {
	rank int32
	id   int32 // token produced
}

type addedToken struct {
	id      int
	content string
	special bool
}

const maxCacheEntries = 1 << 17

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// VocabSize is one more than the largest token id.
func (t *BPE) VocabSize() int { return len(t.tokens) }

// BOS returns the beginning-of-sequence id, or -1.
func (t *BPE) BOS() int { return t.bos }

// EOS returns the end-of-sequence id, or -1.
func (t *BPE) EOS() int { return t.eos }

// EOD returns the end-of-document id, or -1.
func (t *BPE) EOD() int { return t.eod }

// NumMerges is the number of merge rules.
func (t *BPE) NumMerges() int { return len(t.ranked) }

// PreTokenizer returns the pre-tokenization pattern in use.
func (t *BPE) PreTokenizer() PreTokenizer { return t.pre }

// Token returns the bytes of token id (a special token's text for special
// ids), or nil if no token has that id.
func (t *BPE) Token(id int) []byte {
	if id < 0 || id >= len(t.tokens) {
		return nil
	}
	return t.tokens[id]
}

// IsSpecial reports whether id is an added (special) token.
func (t *BPE) IsSpecial(id int) bool {
	return id >= 0 && id < len(t.special) && t.special[id]
}

// TokenID returns the id of the special (added) token with the given
// content, or -1.
func (t *BPE) TokenID(content string) int {
	for _, a := range t.added {
		if a.content == content {
			return a.id
		}
	}
	return -1
}

// Decode concatenates the bytes of the tokens. Ids that name no token are
// skipped; special tokens decode to their text.
func (t *BPE) Decode(ids []int) []byte {
	n := 0
	for _, id := range ids {
		if id >= 0 && id < len(t.tokens) {
			n += len(t.tokens[id])
		}
	}
	out := make([]byte, 0, n)
	for _, id := range ids {
		if id >= 0 && id < len(t.tokens) {
			out = append(out, t.tokens[id]...)
		}
	}
	return out
}

// Encode returns the token ids of text. It never produces special ids.
func (t *BPE) Encode(text []byte) []int {
	return t.AppendEncode(make([]int, 0, len(text)/3+1), text)
}

// AppendEncode appends the token ids of text to dst and returns it.
func (t *BPE) AppendEncode(dst []int, text []byte) []int {
	if t.addPrefixSpace && len(text) > 0 && text[0] != ' ' {
		text = append([]byte{' '}, text...)
	}
	t.pre.Split(text, func(w []byte) { dst = t.encodePiece(dst, w) })
	return dst
}

func (t *BPE) encodePiece(dst []int, w []byte) []int {
	if len(w) == 1 {
		return append(dst, int(t.byteID[w[0]]))
	}
	cacheable := len(w) <= 64
	if cacheable {
		t.mu.RLock()
		ids, ok := t.cache[string(w)]
		t.mu.RUnlock()
		if ok {
			for _, id := range ids {
				dst = append(dst, int(id))
			}
			return dst
		}
	}
	if t.ignoreMerges {
		if id, ok := t.pieceID[string(w)]; ok {
			return append(dst, id)
		}
	}
	var buf [64]int32
	syms := buf[:0]
	if len(w) > len(buf) {
		syms = make([]int32, 0, len(w))
	}
	for _, c := range w {
		syms = append(syms, t.byteID[c])
	}
	if len(syms) <= 256 {
		syms = t.mergeSmall(syms)
	} else {
		syms = t.mergeLarge(syms)
	}
	for _, id := range syms {
		dst = append(dst, int(id))
	}
	if cacheable {
		ids := append([]int32(nil), syms...)
		t.mu.Lock()
		if len(t.cache) >= maxCacheEntries {
			clear(t.cache)
		}
		t.cache[string(w)] = ids
		t.mu.Unlock()
	}
	return dst
}

// mergeSmall applies merges GPT-2's way: find the adjacent pair of lowest
// rank, merge all its occurrences left to right, repeat. Quadratic in the
// piece length, fastest for ordinary words.
func (t *BPE) mergeSmall(s []int32) []int32 {
	for len(s) > 1 {
		best := bpeMerge{rank: math.MaxInt32}
		bi := -1
		for i := 0; i+1 < len(s); i++ {
			if m, ok := t.merges[pairKey(s[i], s[i+1])]; ok && m.rank < best.rank {
				best, bi = m, i
			}
		}
		if bi < 0 {
			break
		}
		a, b := s[bi], s[bi+1]
		j := bi
		for i := bi; i < len(s); {
			if i+1 < len(s) && s[i] == a && s[i+1] == b {
				s[j] = best.id
				i += 2
			} else {
				s[j] = s[i]
				i++
			}
			j++
		}
		s = s[:j]
	}
	return s
}

// mergeLarge gives the same result as mergeSmall in O(n log n) for long
// pieces (a long run of letters or spaces): a heap of candidate pairs
// ordered by (rank, position) over a linked list of symbols.
func (t *BPE) mergeLarge(s []int32) []int32 {
	n := len(s)
	prev := make([]int32, n)
	next := make([]int32, n)
	for i := range s {
		prev[i] = int32(i - 1)
		next[i] = int32(i + 1)
	}
	next[n-1] = -1
	type cand struct {
		rank, pos, left, right int32
	}
	var h []cand
	less := func(x, y cand) bool {
		return x.rank < y.rank || x.rank == y.rank && x.pos < y.pos
	}
	push := func(c cand) {
		h = append(h, c)
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if !less(h[i], h[p]) {
				break
			}
			h[i], h[p] = h[p], h[i]
			i = p
		}
	}
	pop := func() cand {
		top := h[0]
		last := len(h) - 1
		h[0] = h[last]
		h = h[:last]
		for i := 0; ; {
			l, r, m := 2*i+1, 2*i+2, i
			if l < len(h) && less(h[l], h[m]) {
				m = l
			}
			if r < len(h) && less(h[r], h[m]) {
				m = r
			}
			if m == i {
				break
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
		return top
	}
	try := func(i int32) {
		if i < 0 || next[i] < 0 {
			return
		}
		if m, ok := t.merges[pairKey(s[i], s[next[i]])]; ok {
			push(cand{m.rank, i, s[i], s[next[i]]})
		}
	}
	alive := make([]bool, n)
	for i := range alive {
		alive[i] = true
	}
	for i := 0; i+1 < n; i++ {
		try(int32(i))
	}
	for len(h) > 0 {
		c := pop()
		i := c.pos
		if !alive[i] || next[i] < 0 || s[i] != c.left || s[next[i]] != c.right {
			continue
		}
		j := next[i]
		s[i] = t.merges[pairKey(c.left, c.right)].id
		alive[j] = false
		next[i] = next[j]
		if next[j] >= 0 {
			prev[next[j]] = i
		}
		try(prev[i])
		try(i)
	}
	out := s[:0]
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, s[i])
	}
	return out
}
