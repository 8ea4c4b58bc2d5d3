// Package prof collects per-kernel profiles of the engine (calls,
// nanoseconds and FLOPs per kernel ← op ← layer ← phase) and writes them in
// pprof's format, so `go tool pprof` reads them like any CPU profile.
package prof
