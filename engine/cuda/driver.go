//go:build cuda

// Package cuda is the engine's GPU path (build tag cuda): an engine.Device
// whose ops launch CUDA C kernels (kernels/*.cu) and cuBLAS GEMMs through a
// Driver. Two drivers implement it: the real one, which dlopens the CUDA
// driver, cuBLAS and NVRTC at run time (no CUDA headers or libraries are
// needed to build), and the CPU emulation, which runs the same kernel
// sources compiled by the host C++ compiler under a header that emulates
// CUDA's execution model, with the engine's SGEMM behind the cuBLAS calls.
package cuda

import "unsafe"

// Ptr is an address in device memory.
type Ptr uintptr

// Dim3 is a CUDA grid or block shape.
type Dim3 struct{ X, Y, Z int }

// Kernel is one __global__ function of kernels/*.cu with its parameter
// list: one letter per parameter, 'p' a pointer, 'i' an int, 'f' a float,
// 'u' an unsigned long long (for example "pppif"). The emulation and the
// PTX compile check both verify the sources against this table.
type Kernel struct {
	Name   string
	Params string
}

// Math selects a GEMM's arithmetic: fp32 throughout, TF32 tensor cores,
// or bf16 inputs; the accumulation is fp32 in every case.
type Math int

// The GEMM arithmetics.
const (
	MathFP32 Math = iota
	MathTF32
	MathBF16 // A and B hold bfloat16 (2-byte) elements; C is fp32
)

// Gemm is a cuBLAS GEMM exactly as cublasSgemmStridedBatched (or GemmEx)
// defines it: column-major, C = alpha·op(A)·op(B) + beta·C with op(A)
// m×k, op(B) k×n, C m×n; Batch products with operand i at element offset
// i·Stride (Batch ≤ 1: one product). Leading dimensions and strides are in
// elements.
type Gemm struct {
	TransA, TransB bool
	M, N, K        int
	Alpha, Beta    float32
	A              Ptr
	LDA            int
	B              Ptr
	LDB            int
	C              Ptr
	LDC            int
	Batch          int
	StrideA        int64
	StrideB        int64
	StrideC        int64
	Math           Math
}

// Driver is what the device layer needs of a CUDA GPU, at the level of the
// driver API and cuBLAS. Every method runs on the driver's one stream, in
// issue order. A Driver is used from one goroutine at a time (the real one
// makes its CUDA context current on the calling OS thread when it is not,
// so the goroutine may move between threads between calls).
type Driver interface {
	// Name describes the device and its library versions.
	Name() string
	// Load compiles or links the kernel sources (the real driver: NVRTC,
	// then cuModuleLoadData; the emulation: the built-in registry) and
	// checks every kernel of the table exists with its parameter list.
	Load(sources map[string]string, table []Kernel) error

	Alloc(bytes int) (Ptr, error)
	Free(p Ptr) error
	CopyHtoD(dst Ptr, src unsafe.Pointer, bytes int) error
	CopyDtoH(dst unsafe.Pointer, src Ptr, bytes int) error
	CopyDtoD(dst, src Ptr, bytes int) error
	// Memset32 writes n 4-byte words of value v.
	Memset32(dst Ptr, v uint32, n int) error

	// Launch runs kernel k (an index into the table given to Load) on a
	// grid of blocks with dynamic shared memory shared bytes. args holds
	// one 8-byte slot per parameter: a pointer, or an int32/float32 in the
	// low 4 bytes (float bits via math.Float32bits).
	Launch(k int, grid, block Dim3, shared int, args []uint64) error
	Gemm(g *Gemm) error

	// Sync waits for the stream and returns the first asynchronous error.
	Sync() error
	// Timer starts a device timing; its stop function returns the
	// seconds elapsed on the device between the two (CUDA events).
	Timer() (stop func() float64)
	Close() error
}
