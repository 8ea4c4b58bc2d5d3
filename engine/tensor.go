package engine

import "fmt"

// Tensor is a dense row-major float32 array: a view (Data, and Grad when it
// has one) into a slab owned by an Arena. A tensor without a gradient buffer
// is frozen or an input: no op ever computes its gradient.
//
// On a device (see Device) a tensor also has storage there: Dev, and
// DevGrad when it has a gradient. Parameters keep their host copy (Data,
// and Grad as the mark of a trainable tensor) and move with ToDevice and
// FromDevice; the activations of a device graph live on the device only
// (Data and Grad nil).
//
// A frozen host tensor may instead hold its values in bfloat16 (BF16, Data
// nil: see StoreBF16): ReLoRA's W0 under --dtype bfloat16 on the CPU. Ops
// widen it to float32 before computing with it.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
	Grad  []float32
	BF16  []uint16 // the values in bfloat16 when Data is nil

	Dev, DevGrad Buf
}

// Size is the number of elements.
func (t *Tensor) Size() int { return numel(t.Shape) }

// Frozen reports whether the tensor has no gradient buffer.
func (t *Tensor) Frozen() bool { return !t.HasGrad() }

// HasGrad reports whether the tensor has a gradient buffer, on the host or
// on a device.
func (t *Tensor) HasGrad() bool { return t.Grad != nil || !t.DevGrad.Nil() }

// Rows is the product of all dimensions but the last; Cols is the last.
func (t *Tensor) Rows() int { return t.Size() / t.Cols() }

// Cols is the size of the last dimension.
func (t *Tensor) Cols() int { return t.Shape[len(t.Shape)-1] }

func (t *Tensor) String() string { return fmt.Sprintf("%s%v", t.Name, t.Shape) }

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("engine: negative dimension in shape %v", shape))
		}
		n *= d
	}
	return n
}

// Arena hands out float32 views carved from large slabs, so that a model's
// parameters, gradients, optimizer moments or activations each live in a few
// allocations. Views are never freed individually; Reset reuses the slabs.
type Arena struct {
	chunk int
	slabs [][]float32
	cur   int // index of the slab being carved
	off   int // offset into slabs[cur]
	total int
}

// NewArena returns an arena whose slabs hold at least chunk floats.
func NewArena(chunk int) *Arena {
	if chunk <= 0 {
		chunk = 1 << 20
	}
	return &Arena{chunk: chunk}
}

// Alloc returns n zeroed floats (zeroed only on first use of a slab region;
// after Reset the caller owns the contents).
func (a *Arena) Alloc(n int) []float32 {
	for a.cur < len(a.slabs) {
		s := a.slabs[a.cur]
		if a.off+n <= len(s) {
			v := s[a.off : a.off+n : a.off+n]
			a.off += n
			a.total += n
			return v
		}
		a.cur++
		a.off = 0
	}
	size := max(a.chunk, n)
	a.slabs = append(a.slabs, make([]float32, size))
	a.cur = len(a.slabs) - 1
	a.off = n
	a.total += n
	return a.slabs[a.cur][:n:n]
}

// Used is the number of floats handed out since the last Reset.
func (a *Arena) Used() int { return a.total }

// Reset makes all slabs available again (the old views alias new ones).
func (a *Arena) Reset() { a.cur, a.off, a.total = 0, 0, 0 }

// New returns a tensor with data (and a gradient buffer when grad is true)
// carved from the arena.
func (a *Arena) New(name string, grad bool, shape ...int) *Tensor {
	n := numel(shape)
	t := &Tensor{Name: name, Shape: append([]int(nil), shape...), Data: a.Alloc(n)}
	if grad {
		t.Grad = a.Alloc(n)
	}
	return t
}

// AllocGrads gives every tensor in ts a zeroed gradient buffer, all carved
// from one new slab (replacing any buffer it had), and returns that slab:
// the gradients of ts one after another, in the order of ts (what a
// data-parallel run all-reduces in one call). Tensors not in ts keep
// theirs; set Grad to nil to freeze one.
func AllocGrads(ts []*Tensor) []float32 {
	total := 0
	for _, t := range ts {
		total += t.Size()
	}
	flat := make([]float32, total)
	off := 0
	for _, t := range ts {
		t.Grad = flat[off : off+t.Size() : off+t.Size()]
		off += t.Size()
	}
	return flat
}
