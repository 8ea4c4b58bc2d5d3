package relora

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
)

// Optimizer reset modes (ResetMode.Kind).
const (
	// ResetFull is --reset_optimizer_on_relora true, the reference default.
	// The reference does NOT zero the state: it applies random pruning with
	// ratio FullResetRatio (a workaround for a ZeroRedundancyOptimizer bug),
	// which keeps about 0.1% of the entries. Apply reproduces that.
	ResetFull = "reset"
	// ResetRandom is --optimizer_random_pruning p: zero each entry with
	// probability p.
	ResetRandom = "random"
	// ResetMagnitude is --optimizer_magnitude_pruning p: keep the entries with
	// |x| > quantile(|T|, p).
	ResetMagnitude = "magnitude"
	// ResetZero zeroes every entry (the paperV1 reference's reset). No flag
	// combination selects it; construct it directly.
	ResetZero = "zero"
)

// FullResetRatio is the random-pruning ratio the reference uses for
// --reset_optimizer_on_relora true.
const FullResetRatio = 0.999

// Optimizer reset masks (ResetMode.Mask, --optimizer_reset_mask).
const (
	// MaskIndependent prunes exp_avg and exp_avg_sq each with its own mask
	// (the reference): magnitude pruning ranks each moment by its own
	// magnitude, random pruning draws for exp_avg and then again for
	// exp_avg_sq. An entry can keep a large first moment while its second
	// moment is zeroed, and its next step m̂/(√v̂+ε) is then many times a
	// normal one.
	MaskIndependent = "independent"
	// MaskJoint prunes both moments of an entry or neither: magnitude
	// pruning keeps the entries whose exp_avg_sq is above the quantile,
	// random pruning draws once per entry.
	MaskJoint = "joint"
)

// ResetMode is how the LoRA factors' Adam moments are pruned at an optimizer
// reset. With Mask MaskIndependent ("" too) Apply it to each moment tensor
// (exp_avg, exp_avg_sq) separately; with MaskJoint call ApplyJoint on the
// pair.
type ResetMode struct {
	Kind  string  // ResetFull, ResetRandom, ResetMagnitude or ResetZero
	Ratio float64 // pruning ratio: FullResetRatio for ResetFull, 1 for ResetZero
	Mask  string  // MaskIndependent ("" is the same) or MaskJoint
}

// Joint reports whether the mode prunes both moments with one mask.
func (m ResetMode) Joint() bool { return m.Mask == MaskJoint }

// ParseResetMode builds the reset mode from the reference flags
// --reset_optimizer_on_relora (reference default true),
// --optimizer_random_pruning and --optimizer_magnitude_pruning (default 0,
// where 0 means "off"). As in the reference, exactly one mode must be active:
// to use a pruning ratio, --reset_optimizer_on_relora must be set to false.
// Ratios must lie in [0, 1). The reference only rejects "no mode" when the
// first reset happens; here it is an error at once, so call ParseResetMode
// only for runs that reset (--relora set).
func ParseResetMode(reset bool, random, magnitude float64) (ResetMode, error) {
	if !(random >= 0 && random < 1) {
		return ResetMode{}, fmt.Errorf("--optimizer_random_pruning must be in [0, 1), got %v", random)
	}
	if !(magnitude >= 0 && magnitude < 1) {
		return ResetMode{}, fmt.Errorf("--optimizer_magnitude_pruning must be in [0, 1), got %v", magnitude)
	}
	n := 0
	if reset {
		n++
	}
	if random != 0 {
		n++
	}
	if magnitude != 0 {
		n++
	}
	switch {
	case n > 1:
		return ResetMode{}, fmt.Errorf("only one optimizer reset mode may be active, got --reset_optimizer_on_relora %v, --optimizer_random_pruning %v, --optimizer_magnitude_pruning %v (set --reset_optimizer_on_relora false to use a pruning ratio)", reset, random, magnitude)
	case n == 0:
		return ResetMode{}, fmt.Errorf("no optimizer reset mode: set --reset_optimizer_on_relora true, or --optimizer_random_pruning or --optimizer_magnitude_pruning to a ratio in (0, 1)")
	case reset:
		return ResetMode{Kind: ResetFull, Ratio: FullResetRatio}, nil
	case random != 0:
		return ResetMode{Kind: ResetRandom, Ratio: random}, nil
	default:
		return ResetMode{Kind: ResetMagnitude, Ratio: magnitude}, nil
	}
}

// ParseResetMask checks an --optimizer_reset_mask value.
func ParseResetMask(mask string) error {
	if mask != MaskIndependent && mask != MaskJoint {
		return fmt.Errorf("--optimizer_reset_mask must be %s or %s, got %q", MaskJoint, MaskIndependent, mask)
	}
	return nil
}

// String describes the mode (for an independent mask, as earlier builds
// did).
func (m ResetMode) String() string {
	var s string
	switch m.Kind {
	case ResetZero:
		s = "zero"
	case ResetFull:
		s = fmt.Sprintf("reset (random pruning %v)", m.Ratio)
	default:
		s = fmt.Sprintf("%s pruning %v", m.Kind, m.Ratio)
	}
	if m.Joint() {
		s += ", joint mask"
	}
	return s
}

// Apply prunes one moment tensor in place and returns how many entries it
// masked out (see PruneMagnitude, PruneRandom, PruneZero). scratch is used by
// magnitude pruning (nil allocates); rng by random pruning and ResetFull.
// Apply panics on an unknown Kind.
func (m ResetMode) Apply(t []float32, scratch []float32, rng *rand.Rand) int {
	switch m.Kind {
	case ResetFull, ResetRandom:
		return PruneRandom(t, m.Ratio, rng)
	case ResetMagnitude:
		return PruneMagnitude(t, m.Ratio, scratch)
	case ResetZero:
		return PruneZero(t)
	}
	panic(fmt.Sprintf("relora: unknown optimizer reset mode %q", m.Kind))
}

// ApplyJoint prunes the two moment tensors of one parameter, m (exp_avg)
// and v (exp_avg_sq, the same length), with one mask: an entry is zeroed in
// both or kept in both. Magnitude pruning keeps the entries with
// |v| > quantile(|v|, Ratio) (see PruneMagnitude); random pruning and
// ResetFull draw u = rng.Float64() once per entry, in order, and keep the
// entry iff u > Ratio; ResetZero zeroes both. It returns the number of
// entries masked out in m and v together (2 per masked entry, already-zero
// ones included), so that it counts what Apply on each tensor would.
// scratch and rng are as in Apply. It panics on an unknown Kind or on
// tensors of different lengths.
func (m ResetMode) ApplyJoint(mom, v []float32, scratch []float32, rng *rand.Rand) int {
	if len(mom) != len(v) {
		panic(fmt.Sprintf("relora: moments of %d and %d entries", len(mom), len(v)))
	}
	zeroed := 0
	switch m.Kind {
	case ResetFull, ResetRandom:
		checkRatio(m.Ratio)
		for i := range v {
			if !(rng.Float64() > m.Ratio) {
				mom[i], v[i] = 0, 0
				zeroed++
			}
		}
	case ResetMagnitude:
		if len(v) == 0 {
			checkRatio(m.Ratio)
			return 0
		}
		thr := MagnitudeThreshold(v, m.Ratio, scratch)
		for i, x := range v {
			if !(abs32(x) > thr) {
				mom[i], v[i] = 0, 0
				zeroed++
			}
		}
	case ResetZero:
		clear(mom)
		clear(v)
		zeroed = len(v)
	default:
		panic(fmt.Sprintf("relora: unknown optimizer reset mode %q", m.Kind))
	}
	return 2 * zeroed
}

// PruneZero zeroes t and returns len(t).
func PruneZero(t []float32) int {
	clear(t)
	return len(t)
}

// PruneRandom zeroes each entry of t with probability p, in place: entry i is
// kept iff the i-th draw u = rng.Float64() (one draw per entry, in order)
// satisfies u > p, as the reference's `T *= rand_like(T) > p`. The result is
// deterministic for a given rng state. It returns the number of entries
// masked out (already-zero entries included). It panics if p is not in [0, 1].
func PruneRandom(t []float32, p float64, rng *rand.Rand) (zeroed int) {
	checkRatio(p)
	for i := range t {
		if !(rng.Float64() > p) {
			t[i] = 0
			zeroed++
		}
	}
	return zeroed
}

// PruneMagnitude zeroes, in place, every entry of t whose magnitude is not
// strictly greater than MagnitudeThreshold(t, p), and returns the number of
// entries masked out (already-zero entries included). scratch, if
// len(scratch) >= len(t), avoids an allocation. It runs in O(n log n) worst
// case (O(n) expected). It panics if p is not in [0, 1].
func PruneMagnitude(t []float32, p float64, scratch []float32) (zeroed int) {
	if len(t) == 0 {
		checkRatio(p)
		return 0
	}
	thr := MagnitudeThreshold(t, p, scratch)
	for i, x := range t {
		if !(abs32(x) > thr) { // NaN threshold (NaN in t) zeroes all, like torch
			t[i] = 0
			zeroed++
		}
	}
	return zeroed
}

// MagnitudeThreshold returns quantile(|t|, p) as torch.quantile computes it
// (linear interpolation between the order statistics around position
// p·(n−1) of the sorted |t|), rounded to float32 like the reference's cast to
// the tensor dtype. The interpolation is done in float64. It returns NaN if t
// holds a NaN or is empty. t is not modified; scratch as in PruneMagnitude.
func MagnitudeThreshold(t []float32, p float64, scratch []float32) float32 {
	checkRatio(p)
	n := len(t)
	if n == 0 {
		return float32(math.NaN())
	}
	if len(scratch) < n {
		scratch = make([]float32, n)
	}
	a := scratch[:n]
	for i, x := range t {
		ax := abs32(x)
		if ax != ax {
			return float32(math.NaN())
		}
		a[i] = ax
	}
	pos := p * float64(n-1)
	k := int(math.Floor(pos))
	k = min(max(k, 0), n-1)
	w := pos - float64(k)
	selectKth(a, k)
	lo := float64(a[k])
	if k+1 >= n || w == 0 {
		return float32(lo)
	}
	hi := float64(slices.Min(a[k+1:]))
	// torch.lerp's formulation.
	var v float64
	if w < 0.5 {
		v = lo + w*(hi-lo)
	} else {
		v = hi - (hi-lo)*(1-w)
	}
	return float32(v)
}

func checkRatio(p float64) {
	if !(p >= 0 && p <= 1) {
		panic(fmt.Sprintf("relora: pruning ratio %v not in [0, 1]", p))
	}
}

func abs32(x float32) float32 {
	return math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
}

// selectKth reorders a (no NaNs) so that a[k] is its k-th smallest element
// (0-based), every element before k is <= a[k] and every element after k is
// >= a[k]. Quickselect with three-way partitioning (so runs of equal values,
// such as the zeros left by an earlier pruning, cost O(n)) and a depth limit
// past which the remaining range is sorted, which bounds the worst case at
// O(n log n).
func selectKth(a []float32, k int) {
	selectKthDepth(a, k, 2*bits.Len(uint(len(a)))+2)
}

// selectKthDepth is selectKth with an explicit partitioning depth budget.
func selectKthDepth(a []float32, k, depth int) {
	lo, hi := 0, len(a)
	for hi-lo > 16 {
		if depth == 0 {
			slices.Sort(a[lo:hi])
			return
		}
		depth--
		pivot := median3(a[lo], a[lo+(hi-lo)/2], a[hi-1])
		lt, i, gt := lo, lo, hi
		for i < gt {
			switch x := a[i]; {
			case x < pivot:
				a[lt], a[i] = x, a[lt]
				lt++
				i++
			case x > pivot:
				gt--
				a[i], a[gt] = a[gt], x
			default:
				i++
			}
		}
		// [lo,lt) < pivot, [lt,gt) == pivot, [gt,hi) > pivot.
		switch {
		case k < lt:
			hi = lt
		case k >= gt:
			lo = gt
		default:
			return
		}
	}
	// Insertion sort of the small remaining range.
	for i := lo + 1; i < hi; i++ {
		for j := i; j > lo && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

func median3(a, b, c float32) float32 {
	if a > b {
		a, b = b, a
	}
	if b > c {
		b = c
	}
	if a > b {
		b = a
	}
	return b
}
