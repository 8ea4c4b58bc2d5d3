package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/engine/gemm"
	"github.com/relora-go/relora-go/engine/sched"
)

// Decoder runs the model one token at a time for generation, keeping every
// layer's keys and values (after RoPE) in a cache so that a new token costs
// one row of each projection and one attention row per head. It computes
// what Build's training graph computes for the same prefix, op for op
// (RMSNorm, RoPE table, softmax and SwiGLU as the engine does them).
type Decoder struct {
	m             *Model
	pool          *sched.Pool
	maxLen        int
	pos           int
	w             [][7][]float32 // per layer: q, k, v, o, gate, up, down weights
	kc, vc        [][]float32    // per layer [maxLen, d]
	cos           []float32      // [maxLen, hd/2]
	sin           []float32
	x, h, q, a, o []float32
	gate, up, f   []float32
	scores        []float32
	logits        []float32
}

// NewDecoder prepares a decoder for sequences of up to maxLen tokens. The
// model must be plain (Dense projections: merge ReLoRA factors first).
// pool may be nil (serial).
func NewDecoder(m *Model, maxLen int, pool *sched.Pool) (*Decoder, error) {
	c := m.Config
	d, f, hd := c.Hidden, c.Intermediate, c.HeadDim()
	if maxLen <= 0 {
		return nil, fmt.Errorf("model: a decoder needs a positive sequence length, got %d", maxLen)
	}
	cache := 4 * (2*float64(c.Layers)*float64(maxLen)*float64(d) + float64(maxLen)*float64(hd+1))
	if err := engine.CheckMemory(fmt.Sprintf("a key/value cache for %d tokens", maxLen), cache); err != nil {
		return nil, err
	}
	dec := &Decoder{m: m, pool: pool, maxLen: maxLen}
	for l := range m.Blocks {
		var ws [7][]float32
		for i, slot := range m.Blocks[l].Projections() {
			dn, ok := (*slot).(*Dense)
			if !ok {
				return nil, fmt.Errorf("model: layer %d %s is not a plain Linear (merge the low-rank factors first)", l, ProjNames[i])
			}
			ws[i] = dn.W.Data
		}
		dec.w = append(dec.w, ws)
		dec.kc = append(dec.kc, make([]float32, maxLen*d))
		dec.vc = append(dec.vc, make([]float32, maxLen*d))
	}
	dec.cos, dec.sin = engine.RoPETable(maxLen, hd)
	dec.x, dec.h, dec.q, dec.a, dec.o = make([]float32, d), make([]float32, d), make([]float32, d), make([]float32, d), make([]float32, d)
	dec.gate, dec.up, dec.f = make([]float32, f), make([]float32, f), make([]float32, d)
	dec.scores = make([]float32, maxLen)
	dec.logits = make([]float32, c.Vocab)
	return dec, nil
}

// Reset empties the cache.
func (dec *Decoder) Reset() { dec.pos = 0 }

// linear is y = x·Wᵀ for one row.
func (dec *Decoder) linear(y, x, w []float32) {
	gemm.Sgemm(dec.pool, false, true, 1, len(y), len(x), 1, x, len(x), w, len(x), 0, y, len(y))
}

// Step appends token at the next position and returns the logits for the
// token after it (a slice reused by the next call).
func (dec *Decoder) Step(token int) ([]float32, error) {
	m, c := dec.m, dec.m.Config
	if dec.pos >= dec.maxLen {
		return nil, fmt.Errorf("model: the sequence is full (%d tokens)", dec.maxLen)
	}
	if token < 0 || token >= c.Vocab {
		return nil, fmt.Errorf("model: token %d outside the vocabulary of %d", token, c.Vocab)
	}
	d, hd, heads := c.Hidden, c.HeadDim(), c.Heads
	half := hd / 2
	eps := float32(c.NormEps)
	p := dec.pos
	h := dec.h
	copy(h, m.Embed.Data[token*d:(token+1)*d])
	cs, sn := dec.cos[p*half:(p+1)*half], dec.sin[p*half:(p+1)*half]
	scale := float32(1 / math.Sqrt(float64(hd)))
	for l := range m.Blocks {
		b, w := &m.Blocks[l], &dec.w[l]
		kc, vc := dec.kc[l], dec.vc[l]
		engine.RMSNormRow(dec.x, h, b.AttnNorm.Data, eps)
		dec.linear(dec.q, dec.x, w[0])
		krow, vrow := kc[p*d:(p+1)*d], vc[p*d:(p+1)*d]
		dec.linear(krow, dec.x, w[1])
		dec.linear(vrow, dec.x, w[2])
		engine.RoPERow(dec.q, dec.q, cs, sn)
		engine.RoPERow(krow, krow, cs, sn)
		for hh := 0; hh < heads; hh++ {
			q := dec.q[hh*hd : (hh+1)*hd]
			s := dec.scores[:p+1]
			for t := 0; t <= p; t++ {
				k := kc[t*d+hh*hd : t*d+(hh+1)*hd]
				var dot float32
				for j, v := range q {
					dot += v * k[j]
				}
				s[t] = scale * dot
			}
			engine.SoftmaxInPlace(s)
			out := dec.a[hh*hd : (hh+1)*hd]
			clear(out)
			for t := range s {
				pt := s[t]
				v := vc[t*d+hh*hd : t*d+(hh+1)*hd]
				for j := range out {
					out[j] += pt * v[j]
				}
			}
		}
		dec.linear(dec.o, dec.a, w[3])
		for j := range h {
			h[j] += dec.o[j]
		}
		engine.RMSNormRow(dec.x, h, b.MLPNorm.Data, eps)
		dec.linear(dec.gate, dec.x, w[4])
		dec.linear(dec.up, dec.x, w[5])
		engine.SwiGLUInto(dec.gate, dec.gate, dec.up)
		dec.linear(dec.f, dec.gate, w[6])
		for j := range h {
			h[j] += dec.f[j]
		}
	}
	engine.RMSNormRow(dec.x, h, m.Norm.Data, eps)
	dec.linear(dec.logits, dec.x, m.Head.Data)
	dec.pos++
	return dec.logits, nil
}

// Generate feeds prompt through the decoder, then samples up to maxNew
// tokens with s and rng, one at a time, each fed back: it stops before
// stop (the end of document; -1: never). emit, if not nil, gets each
// generated id as it comes. It returns the generated ids (without stop).
func (dec *Decoder) Generate(prompt []int, maxNew int, s Sampling, rng *rand.Rand, stop int, emit func(id int)) ([]int, error) {
	var logits []float32
	var err error
	for _, id := range prompt {
		if logits, err = dec.Step(id); err != nil {
			return nil, err
		}
	}
	var gen []int
	for n := 0; n < maxNew; n++ {
		id := s.Sample(logits, rng)
		if id == stop {
			break
		}
		gen = append(gen, id)
		if emit != nil {
			emit(id)
		}
		if n+1 < maxNew {
			if logits, err = dec.Step(id); err != nil {
				return gen, err
			}
		}
	}
	return gen, nil
}

// Sampling chooses the next token from logits.
type Sampling struct {
	Temperature float64 // 0: greedy (argmax)
	TopK        int     // keep the K most likely tokens (0: all)
	TopP        float64 // keep the smallest set whose probability reaches P (0 or 1: all)
}

// Sample draws a token from logits under s with rng. scratch, if long
// enough, avoids allocation.
func (s Sampling) Sample(logits []float32, rng *rand.Rand) int {
	if s.Temperature <= 0 {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return best
	}
	type cand struct {
		id int
		p  float64
	}
	cands := make([]cand, len(logits))
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var sum float64
	for i, v := range logits {
		e := math.Exp((float64(v) - mx) / s.Temperature)
		cands[i] = cand{i, e}
		sum += e
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].p > cands[j].p })
	n := len(cands)
	if s.TopK > 0 && s.TopK < n {
		n = s.TopK
	}
	if s.TopP > 0 && s.TopP < 1 {
		var acc float64
		for i := 0; i < n; i++ {
			acc += cands[i].p / sum
			if acc >= s.TopP {
				n = i + 1
				break
			}
		}
	}
	var total float64
	for _, c := range cands[:n] {
		total += c.p
	}
	r := rng.Float64() * total
	for _, c := range cands[:n] {
		r -= c.p
		if r < 0 {
			return c.id
		}
	}
	return cands[n-1].id
}
