package engine

import "math"

// bfloat16 storage (--dtype bfloat16 on the CPU): a frozen tensor may hold
// its values as the upper halves of float32s (Tensor.BF16) instead of
// Data, at half the memory. The engine computes in float32 only: an op
// that reads such a tensor widens it first (WidenBF16, exact).

// RoundBF16 sets dst[i] to src[i] rounded to the nearest bfloat16, ties to
// even (what PyTorch's .to(torch.bfloat16) does). NaNs stay NaN (quiet,
// sign and upper payload kept); values beyond the largest bfloat16 by half
// an ulp or more become ±Inf; subnormals round like any other value (the
// formats share the exponent range). dst must be as long as src.
func RoundBF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = roundBF16(math.Float32bits(v))
	}
}

func roundBF16(b uint32) uint16 {
	if b&0x7fffffff > 0x7f800000 { // NaN: truncating could give Inf
		return uint16(b>>16) | 0x0040
	}
	// add just under half an ulp of bf16, plus one when the kept part is
	// odd (ties to even); a carry into the exponent is the right answer
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// WidenBF16 sets dst[i] to the float32 value of the bfloat16 src[i]
// (exact). dst must be as long as src.
func WidenBF16(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = math.Float32frombits(uint32(h) << 16)
	}
}

// BF16ToFloat32 is the float32 value of one bfloat16.
func BF16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// NonFiniteBF16 counts the NaN and infinite values of x.
func NonFiniteBF16(x []uint16) int {
	n := 0
	for _, h := range x {
		if h&0x7f80 == 0x7f80 {
			n++
		}
	}
	return n
}

// StoreBF16 replaces a frozen tensor's float32 values (Data) with their
// bfloat16 rounding (BF16) and drops Data, so that its memory is freed
// once nothing else holds the slab it was carved from. It panics on a
// tensor with a gradient or device storage (bf16 storage is for the
// host's frozen weights only) and does nothing to one already in bf16.
func (t *Tensor) StoreBF16() {
	if t.BF16 != nil && t.Data == nil {
		return
	}
	if t.HasGrad() || !t.Dev.Nil() {
		panic("engine: StoreBF16 of " + t.String() + ", which is trainable or on a device")
	}
	t.BF16 = make([]uint16, t.Size())
	RoundBF16(t.BF16, t.Data)
	t.Data = nil
}

// IsBF16 reports whether the tensor's values are held in BF16.
func (t *Tensor) IsBF16() bool { return t.Data == nil && t.BF16 != nil }

// HostBytes is the host memory of the tensor's values and gradient.
func (t *Tensor) HostBytes() int64 {
	return 4*int64(len(t.Data)) + 2*int64(len(t.BF16)) + 4*int64(len(t.Grad))
}
