//go:build !(amd64 || arm64) || !gc || purego

package asm

// No assembly in this build (the purego tag, another compiler, or another
// architecture): only GoKernel.
func archKernels() []Kernel { return nil }

var archKnown []string
