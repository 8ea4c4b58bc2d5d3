//go:build cuda && asan

package cuda

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Under the address sanitizer, a kernel that reads one element past its
// buffer must be reported: this proves the kernels themselves are
// instrumented, which `go test -asan` alone does not do (it sanitizes the C
// files, not the C++ that holds the kernels):
//
//	CGO_CXXFLAGS="-O2 -g -fsanitize=address" go test -asan -tags cuda ./engine/cuda
func TestEmuASanSeesKernelReads(t *testing.T) {
	if os.Getenv("EMU_ASAN_CHILD") != "" {
		d := testEmu(t, 0)
		x := upload(t, d, make([]float32, 10))
		out := upload(t, d, make([]float32, 1))
		d.Launch(kidx(t, "emu_oob"), Dim3{1, 1, 1}, Dim3{1, 1, 1}, 0, []uint64{uint64(x), uint64(out), 10})
		t.Fatal("the out-of-bounds read went unreported")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEmuASanSeesKernelReads$")
	cmd.Env = append(os.Environ(), "EMU_ASAN_CHILD=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err == nil || !strings.Contains(out.String(), "heap-buffer-overflow") {
		t.Fatalf("a kernel read past its buffer and the sanitizer said nothing (are the kernels built with CGO_CXXFLAGS=-fsanitize=address?):\n%s",
			firstLines(out.String(), 15))
	}
}
