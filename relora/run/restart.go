package run

import (
	"math"

	"github.com/relora-go/relora-go/engine"
)

// StepStats describes the sizes of the factors' AdamW steps at one update:
// for every entry of every A and B, s = |m̂/(√v̂+ε)| with m̂ = m/(1−β1ᵗ),
// v̂ = v/(1−β2ᵗ) at the moments and step count t after the update, i.e. the
// entry's step divided by the learning rate (the decoupled weight decay
// aside). Dividing by the learning rate makes updates at different rates
// comparable: the update an optimizer reset follows runs at rate 0 under
// cosine_restarts.
type StepStats struct {
	Max    float64 `json:"max"`    // the largest s
	Median float64 `json:"median"` // the ⌊n/2⌋-th smallest s (0-based) of the n entries
}

// factorStepStats measures the current factor moments (on the host: the
// caller downloads them from a device first). It allocates; the trainer
// calls it only around an optimizer reset, never in Step.
func (t *Trainer) factorStepStats() StepStats {
	if t.opt.Step == 0 {
		return StepStats{}
	}
	c := t.opt.Config
	bc1 := 1 - math.Pow(c.Beta1, float64(t.opt.Step))
	sbc2 := math.Sqrt(1 - math.Pow(c.Beta2, float64(t.opt.Step)))
	var moms [][2][]float32
	n := 0
	for _, i := range t.factorIndices() {
		m, v := t.opt.Moments(i)
		moms = append(moms, [2][]float32{m, v})
		n += len(m)
	}
	if n == 0 {
		return StepStats{}
	}
	// The keys are the float32 bit patterns of s, which order like s
	// (s >= 0); a non-finite s is clamped to the largest float32 so that
	// the statistics stay finite (JSON has no NaN or infinity).
	keys := func(yield func(uint32)) {
		for _, mv := range moms {
			m, v := mv[0], mv[1]
			for j := range m {
				s := math.Abs(float64(m[j])) / bc1 / (math.Sqrt(float64(v[j]))/sbc2 + c.Eps)
				if !(s <= math.MaxFloat32) {
					s = math.MaxFloat32
				}
				yield(math.Float32bits(float32(s)))
			}
		}
	}
	var top uint32
	median := kthKey(keys, n/2, &top)
	return StepStats{Max: float64(math.Float32frombits(top)), Median: float64(math.Float32frombits(median))}
}

// kthKey returns the k-th smallest (0-based) of the keys that keys yields
// (at least k+1 of them, the same sequence on every call), and stores the
// largest in *top: a radix selection in two passes over the keys, 16 bits
// at a time, with no copy of them.
func kthKey(keys func(yield func(uint32)), k int, top *uint32) uint32 {
	hist := make([]int, 1<<16)
	*top = 0
	keys(func(x uint32) {
		hist[x>>16]++
		*top = max(*top, x)
	})
	hi, rank := bucket(hist, k)
	clear(hist)
	keys(func(x uint32) {
		if x>>16 == hi {
			hist[x&0xffff]++
		}
	})
	lo, _ := bucket(hist, rank)
	return hi<<16 | lo
}

// bucket returns the bucket holding the k-th smallest key of a histogram
// and the key's rank inside it.
func bucket(hist []int, k int) (uint32, int) {
	for b, c := range hist {
		if k < c {
			return uint32(b), k
		}
		k -= c
	}
	panic("relora: rank beyond the histogram")
}

// factorIndices are the optimizer's parameter indices of the factors A and
// B (the tensors an optimizer reset prunes).
func (t *Trainer) factorIndices() []int {
	factor := map[*engine.Tensor]bool{}
	for _, l := range t.Layers {
		factor[l.A], factor[l.B] = true, true
	}
	var idx []int
	for i, p := range t.opt.Params() {
		if factor[p] {
			idx = append(idx, i)
		}
	}
	return idx
}

// logFirstStepAfterReset logs the "reset_first_step" event of the first
// update after an optimizer reset: the step sizes of this update and their
// ratio to those of the update the reset followed (t.resetBefore, measured
// by ResetOptimizer before it pruned). A ratio well above 1 is the spike a
// reset causes; it is left out when the earlier value is 0.
func (t *Trainer) logFirstStepAfterReset() {
	before := *t.resetBefore
	t.resetBefore = nil
	if t.opt.OnDevice() {
		t.opt.MomentsFromDevice()
	}
	now := t.factorStepStats()
	f := map[string]any{"resets": t.Resets, "step_max": now.Max, "step_median": now.Median}
	if before.Max > 0 {
		f["max_ratio"] = now.Max / before.Max
	}
	if before.Median > 0 {
		f["median_ratio"] = now.Median / before.Median
	}
	t.event("reset_first_step", f)
}
