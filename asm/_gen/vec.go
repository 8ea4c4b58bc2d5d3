package main

import "fmt"

// The vector kernels of package asm (vec.go there has their semantics and
// the exp algorithm): vecx86.go emits vec_amd64.s (AVX-512 and AVX2+FMA),
// vecneon.go emits vec_arm64.s. This file holds what both share.
//
// (The generator's files avoid the _amd64/_arm64 suffixes: those would make
// the go command build them only on that architecture.)

// expConst is one constant of the exp kernels: its float32 bits and what it
// is.
type expConst struct {
	bits uint32
	what string
}

// expConsts are the exp constants both instruction sets use, in the order
// both constant tables store them (indexes k…).
var expConsts = []expConst{
	kLog2e: {0x3fb8aa3b, "log2(e)"},
	kC1:    {0x3f317218, "ln2 high part (float32(ln2))"},
	kC2:    {0xb102e308, "ln2 low part (ln2 − float32(ln2))"},
	kP6:    {0x3ab511e7, "c6"},
	kP5:    {0x3c091d10, "c5"},
	kP4:    {0x3d2aac79, "c4"},
	kP3:    {0x3e2aaa49, "c3"},
	kP2:    {0x3efffffe, "c2"},
	kOne:   {0x3f800000, "1"},
	kLo:    {0xc2ae999a, "−87.3: AVX2 and NEON flush exp below it to 0"},
	kHi:    {0x42b17217, "88.72283: largest float32 with a finite exp"},
	kInf:   {0x7f800000, "+Inf"},
}

const (
	kLog2e = iota
	kC1
	kC2
	kP6
	kP5
	kP4
	kP3
	kP2
	kOne
	kLo
	kHi
	kInf
)

// negInfConst is −Inf, the start of a max (both tables end with it).
var negInfConst = expConst{0xff800000, "−Inf"}

// horner is the polynomial's coefficients after c6, in evaluation order:
// p = ((((c6·r + c5)·r + c4)·r + c3)·r + c2)·r + 1)·r + 1.
var horner = []int{kP5, kP4, kP3, kP2, kOne, kOne}

// at is the address off(reg), or (reg) for offset 0.
func at(off int, reg string) string {
	if off == 0 {
		return "(" + reg + ")"
	}
	return fmt.Sprintf("%d(%s)", off, reg)
}

// remark writes a comment line inside a function.
func remark(e *emitter, s string) { e.op("// %s", s) }

// textFunc starts the function name with the given frame, after a comment
// with its Go signature (sig: the parameters and results) and notes.
func textFunc(e *emitter, name, sig, frame string, notes ...string) {
	e.comment("func %s%s", name, sig)
	for _, n := range notes {
		e.comment("%s", n)
	}
	fmt.Fprintf(e, "TEXT ·%s(SB), NOSPLIT, %s\n", name, frame)
}
