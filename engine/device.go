package engine

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/relora-go/relora-go/asm"
)

// Buf is storage in a device's memory: the address of its first element
// and its length in 4-byte elements (float32, or int32 for token ids).
// The zero Buf is "none" (an absent gradient, say).
type Buf struct {
	Ptr uintptr
	N   int
}

// Nil reports whether b is the zero Buf.
func (b Buf) Nil() bool { return b.Ptr == 0 }

// Slice is elements [lo, hi) of b.
func (b Buf) Slice(lo, hi int) Buf {
	if lo < 0 || hi < lo || hi > b.N {
		panic(fmt.Sprintf("engine: Buf.Slice(%d, %d) of %d elements", lo, hi, b.N))
	}
	return Buf{b.Ptr + uintptr(lo)*4, hi - lo}
}

// Device is an accelerator that holds tensors in its own memory and runs
// the engine's ops there (engine/cuda: a CUDA GPU, or its CPU emulation).
// A graph built with NewDeviceGraph records device ops instead of CPU ops;
// they call these methods. Everything is row-major with the same meaning
// as the CPU op of the same name, and runs in issue order on one stream.
//
// Methods do not return errors: the first failure is kept and returned by
// Sync (as CUDA reports asynchronous errors), and later calls do nothing.
// A zero Buf where a method takes a gradient means "not wanted: skip it".
type Device interface {
	// Name describes the device (card, driver and library versions).
	Name() string

	// Alloc returns n zeroed elements. Free returns them to the device.
	Alloc(n int) Buf
	Free(b Buf)
	Zero(b Buf)
	Copy(dst, src Buf)
	Upload(dst Buf, src []float32)
	UploadInt32(dst Buf, src []int32)
	Download(dst []float32, src Buf)
	// Sync waits for all issued work and returns the first error.
	Sync() error
	// Close frees all the device's memory; nothing may use it afterwards.
	Close() error

	// Gemm is C = alpha·op(A)·op(B) + beta·C, engine (row-major) layout:
	// op(A) m×k, op(B) k×n, leading dimensions in elements; beta 0 never
	// reads C. Batched runs batch products, operand i at offset i·stride.
	Gemm(transA, transB bool, m, n, k int, alpha float32, a Buf, lda int, b Buf, ldb int, beta float32, c Buf, ldc int)
	GemmBatched(transA, transB bool, m, n, k int, alpha float32, a Buf, lda, strideA int,
		b Buf, ldb, strideB int, beta float32, c Buf, ldc, strideC int, batch int)

	// Embedding: y[r] = table[ids[r]] for rows ids. Backward
	// dtable[ids[r]] += dy[r], adding each id's rows in increasing order,
	// with the rows grouped by id (GroupRows): order lists the rows id by
	// id, group s is order[starts[s]:starts[s+1]], groups groups in all.
	Embedding(y, table, ids Buf, rows, d int)
	EmbeddingBackward(dtable, dy, ids, order, starts Buf, groups, d int)
	// RMSNorm: y = x·rstd·w per row of width d, rstd[r] saved; backward
	// dx += …, dw += Σ_r dy·x·rstd (either may be zero).
	RMSNorm(y, rstd, x, w Buf, rows, d int, eps float32)
	RMSNormBackward(dx, dw, dy, x, w, rstd Buf, rows, d int)
	// RoPE on rows of heads·hd, row r at position r mod seq, with the
	// [seq, hd/2] cos and sin tables; backward dx += rotateᵀ(dy).
	RoPE(y, x, cos, sin Buf, rows, seq, heads, hd int)
	RoPEBackward(dx, dy, cos, sin Buf, rows, seq, heads, hd int)
	// CausalSoftmax: for count blocks of T×T scores, row t becomes the
	// softmax of its first t+1 entries and zero after. Backward turns dp
	// into p ⊙ (dp − rowsum(dp ⊙ p)) with zeros above the diagonal.
	CausalSoftmax(p Buf, count, T int)
	CausalSoftmaxBackward(dp, p Buf, count, T int)
	// SwiGLU: y = silu(gate)·up; backward dgate += …, dup += … (either may be zero).
	SwiGLU(y, gate, up Buf, n int)
	SwiGLUBackward(dgate, dup, dy, gate, up Buf, n int)
	// Add: y = a + b. Mul: y = a ⊙ b. Accumulate: dst += s·src.
	// MulAccumulate: dst += a ⊙ b.
	Add(y, a, b Buf, n int)
	Mul(y, a, b Buf, n int)
	Accumulate(dst, src Buf, s float32, n int)
	MulAccumulate(dst, a, b Buf, n int)
	// CrossEntropy: per row, lse[r] = log Σ exp(logits[r]) and rowLoss[r] =
	// lse − logits[r, t] (0 where t < 0). Backward: dlogits[r] +=
	// scale·(softmax(logits[r]) − onehot(t)) for rows with t ≥ 0.
	CrossEntropy(rowLoss, lse, logits, targets Buf, rows, vocab int)
	CrossEntropyBackward(dlogits, logits, lse, targets Buf, rows, vocab int, scale float32)
	// SumSquares writes Σ x² of each consecutive piece of x (pieces of
	// `piece` elements, the last one shorter) into partial, in float32.
	SumSquares(partial, x Buf, piece int)
	// AdamW is asm.AdamW on device memory.
	AdamW(w, g, m, v Buf, p asm.AdamWParams)
	// Dropout: y = x·keep[i]/(1−p) with keep[i] = hash(seed, i) ≥ p
	// (DropoutKeep); DropoutBackward dx += dy·keep/(1−p).
	Dropout(y, x Buf, p float32, seed uint64)
	DropoutBackward(dx, dy Buf, p float32, seed uint64)
}

// GroupRows groups the rows of ids (values in [0, len(next))) by id, as
// Device.EmbeddingBackward takes them: order gets the rows sorted by id,
// stable (len(ids)); starts the first position of each group in order and
// the end (at least len(ids)+1); next is scratch of the vocabulary's size.
// It returns the number of groups and allocates nothing.
func GroupRows(ids, order, starts, next []int32) (groups int) {
	clear(next)
	for _, id := range ids {
		next[id]++
	}
	pos := int32(0)
	for v, c := range next {
		next[v] = pos
		pos += c
	}
	for r, id := range ids {
		order[next[id]] = int32(r)
		next[id]++
	}
	for k := range ids {
		if k == 0 || ids[order[k]] != ids[order[k-1]] {
			starts[groups] = int32(k)
			groups++
		}
	}
	starts[groups] = int32(len(ids))
	return groups
}

// DeviceTimer is implemented by devices that time their own work (CUDA
// events): Timer marks the stream now, and stop waits for the work issued
// since and returns its time on the device. A graph's profiler uses it.
type DeviceTimer interface {
	Timer() (stop func() time.Duration)
}

// DeviceMemory is implemented by devices that count their memory: bytes
// in use, the most in use so far, and held from the system.
type DeviceMemory interface {
	MemStats() (inUse, peak, held int64)
}

// DropoutKeep is the dropout mask a Device draws: element i of a mask
// seeded with seed is kept when a 24-bit hash of (seed, i), scaled to
// [0, 1), is at least p. The hash is splitmix64 of seed + i·golden.
func DropoutKeep(seed uint64, i int, p float32) bool {
	z := seed + uint64(i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float32(z>>40)*(1.0/(1<<24)) >= p
}

// DTypes are the values of --dtype. On a device they are the arithmetic
// of its GEMMs: float32 throughout; tf32 tensor cores; bfloat16 tensor
// cores on operands rounded to bf16, accumulating in fp32; weights,
// activations, gradients and optimizer state stay float32 in every case.
// The CPU computes in float32 only: there bfloat16 is a storage format,
// ReLoRA's frozen W0 held in bf16 and widened before each product
// (Tensor.BF16; relora.Options.BF16W0), and tf32 is refused.
var DTypes = []string{"float32", "tf32", "bfloat16"}

// Devices are opened by name; engine/cuda registers "cuda" and "emu".
var (
	devMu   sync.Mutex
	devices = map[string]func(dtype string) (Device, error){}
)

// RegisterDevice makes a device kind available to OpenDevice; open gets
// the dtype (one of DTypes, checked).
func RegisterDevice(name string, open func(dtype string) (Device, error)) {
	devMu.Lock()
	defer devMu.Unlock()
	devices[name] = open
}

// DeviceNames lists the device kinds this binary can open, "cpu" first.
func DeviceNames() []string {
	devMu.Lock()
	defer devMu.Unlock()
	names := []string{}
	for n := range devices {
		names = append(names, n)
	}
	sort.Strings(names)
	return append([]string{"cpu"}, names...)
}

// OpenDevice opens a device by name with its GEMMs in dtype (""
// is float32); "cpu" (or "") is no device (nil).
func OpenDevice(name, dtype string) (Device, error) {
	if dtype == "" {
		dtype = "float32"
	}
	if !slices.Contains(DTypes, dtype) {
		return nil, fmt.Errorf("--dtype %q: use one of %v", dtype, DTypes)
	}
	if name == "" || name == "cpu" {
		if dtype != "float32" {
			return nil, fmt.Errorf("--dtype %s is a GPU arithmetic (--device cuda); the CPU engine computes in float32 "+
				"(in training, --dtype bfloat16 on the CPU holds ReLoRA's frozen W0 in bf16 instead)", dtype)
		}
		return nil, nil
	}
	devMu.Lock()
	open, ok := devices[name]
	devMu.Unlock()
	if !ok {
		if name == "cuda" || name == "emu" {
			return nil, fmt.Errorf("--device %s: this binary was built without the GPU path; build it with `go build -tags cuda`", name)
		}
		return nil, fmt.Errorf("--device %q: unknown device; this binary has %v", name, DeviceNames())
	}
	return open(dtype)
}
