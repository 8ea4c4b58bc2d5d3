package engine

import "github.com/relora-go/relora-go/asm"

// The SIMD level and micro-kernels the engine runs on, for the packages
// above it (the CLI's `kernels` and `bench gemm`, the decoder's sampling):
// only the engine reaches package asm.

// Kernel is a GEMM micro-kernel (a name, its tile shape and tile function).
type Kernel = asm.Kernel

// SelectedKernel is the micro-kernel GEMM runs with: the best this CPU and
// build have, or the one RELORA_KERNEL forces.
func SelectedKernel() Kernel { return asm.Selected() }

// KernelSelectionError is non-nil when RELORA_KERNEL named a kernel that
// is not available, so SelectedKernel fell back.
func KernelSelectionError() error { return asm.SelectionError() }

// AvailableKernels lists the micro-kernels this CPU and build can run,
// best first (the portable "go" kernel last); the slice is a copy.
func AvailableKernels() []Kernel { return asm.Available() }

// KernelByName returns the available micro-kernel of that name, or an
// error saying whether the name is unknown or the CPU (or build) lacks it.
func KernelByName(name string) (Kernel, error) { return asm.ByName(name) }

// VecLevel names the level the vector kernels (softmax, SwiGLU, RMSNorm,
// cross-entropy, AdamW) run at.
func VecLevel() string { return asm.VecLevel() }

// SoftmaxInPlace replaces x by softmax(x) with the vector kernel of the
// attention op (the max ignores NaN; a NaN element makes the row NaN).
func SoftmaxInPlace(x []float32) { asm.SoftmaxInPlace(x) }

// SwiGLUInto sets y[i] = g[i]·σ(g[i])·u[i] with the vector kernel of the
// SwiGLU op; y, g and u have the same length (y may alias g or u).
func SwiGLUInto(y, g, u []float32) { asm.SwiGLU(y, g, u) }
