package main

import (
	"fmt"
	"io"

	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/engine/gemm"
)

// kernelsReport is "relora-cpu kernels": the kernels this CPU and build
// run, one name per line on stdout (values for RELORA_KERNEL), and on
// stderr the kernel and cache blocks GEMM chose for this CPU, with the
// reason (table entry, cached or fresh measurement, or forced).
func kernelsReport(stdout, stderr io.Writer) {
	ch := gemm.Chosen()
	for _, k := range engine.AvailableKernels() {
		fmt.Fprintln(stdout, k.Name)
	}
	fmt.Fprint(stderr, ch.Describe())
	fmt.Fprintf(stderr, "vector kernels: %s\n", engine.VecLevel())
}
