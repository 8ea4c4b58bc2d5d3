//go:build cuda

package main

// The GPU path: registers the "cuda" and "emu" devices.
import _ "github.com/relora-go/relora-go/engine/cuda"
