package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refBF16 rounds x to bfloat16 from first principles: the two bf16 values
// that bracket x (truncation and the next one away from zero), compared in
// float64; the nearer wins, a tie goes to the even one (last bit 0).
func refBF16(x float32) uint16 {
	if x != x {
		return 0 // NaN: checked separately
	}
	b := math.Float32bits(x)
	lo := uint16(b >> 16) // |lo| <= |x|
	if uint32(lo)<<16 == b {
		return lo
	}
	hi := lo + 1 // next magnitude, same sign (0x7f80 / 0xff80 is Inf)
	val := func(h uint16) float64 {
		if h&0x7fff == 0x7f80 {
			// Inf stands for 2^128 in the rounding rule (IEEE overflow)
			return math.Copysign(math.Ldexp(1, 128), float64(x))
		}
		return float64(math.Float32frombits(uint32(h) << 16))
	}
	dlo, dhi := math.Abs(float64(x)-val(lo)), math.Abs(val(hi)-float64(x))
	switch {
	case dlo < dhi:
		return lo
	case dhi < dlo:
		return hi
	case lo&1 == 0:
		return lo
	}
	return hi
}

func TestRoundBF16Special(t *testing.T) {
	f := math.Float32frombits
	cases := []struct {
		in   float32
		want uint16
		what string
	}{
		{0, 0x0000, "+0"},
		{float32(math.Copysign(0, -1)), 0x8000, "-0"},
		{1, 0x3f80, "1"},
		{-2, 0xc000, "-2"},
		{float32(math.Inf(1)), 0x7f80, "+Inf"},
		{float32(math.Inf(-1)), 0xff80, "-Inf"},
		// ties: exactly half an ulp above an even and an odd bf16
		{f(0x3f808000), 0x3f80, "1 + half ulp: tie to even (down)"},
		{f(0x3f818000), 0x3f82, "1 + 1.5 ulp: tie to even (up)"},
		{f(0xbf818000), 0xbf82, "negative tie to even (up in magnitude)"},
		{f(0x3f808001), 0x3f81, "just above a tie: up"},
		{f(0x3f817fff), 0x3f81, "just below a tie: down"},
		// a tie that carries into the exponent
		{f(0x3fff8000), 0x4000, "1.99609375 + half ulp: up to 2 (carry)"},
		// subnormals
		{f(0x00000001), 0x0000, "smallest subnormal: to 0"},
		{f(0x00008000), 0x0000, "subnormal tie to even 0"},
		{f(0x00018000), 0x0002, "subnormal tie to even 2"},
		{f(0x00010001), 0x0001, "subnormal just above"},
		{f(0x007fffff), 0x0080, "largest subnormal: up to the smallest normal"},
		{f(0x807fffff), 0x8080, "negative largest subnormal"},
		// overflow
		{math.MaxFloat32, 0x7f80, "max float32: beyond bf16 max + half ulp, Inf"},
		{f(0x7f7f7fff), 0x7f7f, "just below the overflow tie: bf16 max"},
		{f(0x7f7f8000), 0x7f80, "overflow tie: to even, which is Inf"},
		{-math.MaxFloat32, 0xff80, "-max float32: -Inf"},
	}
	for _, c := range cases {
		got := make([]uint16, 1)
		RoundBF16(got, []float32{c.in})
		if got[0] != c.want {
			t.Errorf("%s (%#08x): got %#04x, want %#04x", c.what, math.Float32bits(c.in), got[0], c.want)
		}
		if r := refBF16(c.in); r != c.want {
			t.Errorf("reference disagrees on %s: %#04x", c.what, r)
		}
	}
	// NaN stays NaN whatever the payload, sign kept
	for _, b := range []uint32{0x7fc00000, 0x7f800001, 0x7f80ffff, 0xffc00001, 0xff800001, 0x7fffffff} {
		got := make([]uint16, 1)
		RoundBF16(got, []float32{f(b)})
		w := BF16ToFloat32(got[0])
		if w == w {
			t.Errorf("NaN %#08x rounded to a number %#04x", b, got[0])
		}
		if got[0]>>15 != uint16(b>>31) {
			t.Errorf("NaN %#08x lost its sign: %#04x", b, got[0])
		}
	}
}

func TestRoundBF16Random(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 200000
	src := make([]float32, n)
	for i := range src {
		switch i % 4 {
		case 0: // any bit pattern (NaNs excluded below)
			src[i] = math.Float32frombits(rng.Uint32())
		case 1: // weights-like
			src[i] = float32(rng.NormFloat64() * 0.02)
		case 2: // exact ties of random values
			src[i] = math.Float32frombits(rng.Uint32()&0xffff0000 | 0x8000)
		default: // subnormals
			src[i] = math.Float32frombits(rng.Uint32() & 0x807fffff)
		}
	}
	got := make([]uint16, n)
	RoundBF16(got, src)
	wide := make([]float32, n)
	WidenBF16(wide, got)
	for i, x := range src {
		if x != x {
			if w := wide[i]; w == w {
				t.Fatalf("NaN %#08x rounded to %#04x", math.Float32bits(x), got[i])
			}
			continue
		}
		if want := refBF16(x); got[i] != want {
			t.Fatalf("%g (%#08x): got %#04x, want %#04x", x, math.Float32bits(x), got[i], want)
		}
		// widening is exact: the upper half with zeros below
		if math.Float32bits(wide[i]) != uint32(got[i])<<16 {
			t.Fatalf("widen %#04x: got %#08x", got[i], math.Float32bits(wide[i]))
		}
	}
}

func TestWidenBF16AllValues(t *testing.T) {
	src := make([]uint16, 1<<16)
	for i := range src {
		src[i] = uint16(i)
	}
	dst := make([]float32, len(src))
	WidenBF16(dst, src)
	back := make([]uint16, len(src))
	RoundBF16(back, dst)
	for i, h := range src {
		w := float64(dst[i])
		exp, frac := int(h>>7&0xff), float64(h&0x7f)
		var want float64 // the bf16 value by its definition
		switch {
		case exp == 0xff && frac == 0:
			want = math.Inf(1)
		case exp == 0xff:
			if w == w {
				t.Fatalf("%#04x (NaN) widened to %g", h, w)
			}
			continue
		case exp == 0:
			want = math.Ldexp(frac/128, -126)
		default:
			want = math.Ldexp(1+frac/128, exp-127)
		}
		if h>>15 == 1 {
			want = -want
		}
		if w != want || math.Signbit(w) != (h>>15 == 1) {
			t.Fatalf("%#04x widened to %g, want %g", h, w, want)
		}
		if back[i] != h { // every bf16 value rounds to itself
			t.Fatalf("%#04x widened and rounded to %#04x", h, back[i])
		}
	}
	if n := NonFiniteBF16(src); n != 2*128 {
		t.Fatalf("NonFiniteBF16 counted %d of the 256 Inf/NaN patterns", n)
	}
}

func TestStoreBF16(t *testing.T) {
	a := NewArena(0)
	w := a.New("w", false, 3, 4)
	for i := range w.Data {
		w.Data[i] = float32(i) + 1.0/3
	}
	want := make([]uint16, 12)
	RoundBF16(want, w.Data)
	if w.HostBytes() != 48 {
		t.Fatalf("fp32 host bytes %d", w.HostBytes())
	}
	w.StoreBF16()
	if w.Data != nil || !w.IsBF16() || w.HostBytes() != 24 {
		t.Fatalf("after StoreBF16: Data %v, bytes %d", w.Data, w.HostBytes())
	}
	for i := range want {
		if w.BF16[i] != want[i] {
			t.Fatalf("element %d: %#04x, want %#04x", i, w.BF16[i], want[i])
		}
	}
	g := a.New("g", true, 2)
	defer func() {
		if recover() == nil {
			t.Fatal("StoreBF16 of a trainable tensor did not panic")
		}
	}()
	g.StoreBF16()
}

func BenchmarkWidenBF16(b *testing.B) {
	n := 2048 * 5461 // the largest W0 of llama_1b
	src := make([]uint16, n)
	dst := make([]float32, n)
	b.SetBytes(int64(6 * n))
	for b.Loop() {
		WidenBF16(dst, src)
	}
}
