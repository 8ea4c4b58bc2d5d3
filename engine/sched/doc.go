// Package sched is the engine's persistent worker pool. Every parallel kernel
// (GEMM tiles, row-parallel ops, attention heads) runs through Pool.Run: no
// goroutine is started per op, and a call allocates nothing.
package sched
