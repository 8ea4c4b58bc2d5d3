//go:build cuda

package cuda

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// findClang returns the clang++ to compile the kernels with: $RELORA_CLANG,
// else the first of clang++-19, clang++-16, clang++-14, clang++ on PATH or
// in /usr/lib/llvm-N/bin.
func findClang() string {
	if c := os.Getenv("RELORA_CLANG"); c != "" {
		return c
	}
	for _, c := range []string{"clang++-19", "clang++-16", "clang++-14", "clang++"} {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	for _, v := range []string{"19", "18", "17", "16", "15", "14"} {
		p := "/usr/lib/llvm-" + v + "/bin/clang++"
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// compilePTX compiles one kernel source to PTX with clang and the prelude.
func compilePTX(clang, file string) (string, error) {
	prelude, err := filepath.Abs("kernels/clang_prelude.h")
	if err != nil {
		return "", err
	}
	common, err := filepath.Abs("kernels/reduce.cuh")
	if err != nil {
		return "", err
	}
	// Read the inputs here too, so that go test's result cache, which
	// tracks the files the test opens (not those clang opens), sees edits.
	for _, f := range []string{prelude, common, file} {
		if _, err := os.ReadFile(f); err != nil {
			return "", err
		}
	}
	cmd := exec.Command(clang, "-x", "cuda", "--cuda-device-only", "--cuda-gpu-arch=sm_80",
		"-nocudainc", "-nocudalib", "-Xclang", "-target-feature", "-Xclang", "+ptx70",
		"-O2", "-S", "-Wall", "-Werror", "-include", prelude, "-include", common, "-o", "-", file)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", clang, file, err, stderr.String())
	}
	return out.String(), nil
}

// TestPTXCompile compiles every kernels/*.cu file to PTX for sm_80 and
// checks the entries against the Go table and the emulation's registry.
func TestPTXCompile(t *testing.T) {
	clang := findClang()
	if clang == "" {
		t.Skip("no clang++ (set RELORA_CLANG, or install clang-14): the PTX compile check is skipped")
	}
	files, err := filepath.Glob("kernels/*.cu")
	if err != nil || len(files) == 0 {
		t.Fatalf("no kernels/*.cu: %v", err)
	}
	ptxs := make([]string, len(files))
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ptxs[i], errs[i] = compilePTX(clang, f)
		}()
	}
	wg.Wait()
	all := map[string]string{}
	for i, f := range files {
		if errs[i] != nil {
			t.Error(errs[i])
			continue
		}
		for name, sig := range ptxSignatures(ptxs[i]) {
			if _, dup := all[name]; dup {
				t.Errorf("kernel %s is defined in more than one file (again in %s)", name, f)
			}
			all[name] = sig
		}
	}
	if t.Failed() {
		return
	}
	table := append(append([]Kernel(nil), kernelTable...), selftestTable...)
	if err := checkSignatures(table, emuKernels(), all); err != nil {
		t.Error(err)
	}
}

func TestPTXSignatures(t *testing.T) {
	const ptx = `
.version 7.0
.target sm_80
	// .globl	a
.visible .entry a(
	.param .u64 a_param_0,
	.param .u32 a_param_1,
	.param .f32 a_param_2,
	.param .u64 a_param_3
)
{
	ret;
}
.visible .entry b()
{
	ret;
}
.visible .entry c(
	.param .u64 .ptr .global .align 4 c_param_0,
	.param .s32 c_param_1,
	.param .align 8 .b8 c_param_2[16],
	.param .f64 c_param_3
)
{
}
.visible .func (.param .b32 func_retval0) helper(.param .b32 x)
`
	want := map[string]string{"a": "pifp", "b": "", "c": "pi??"}
	if got := ptxSignatures(ptx); !reflect.DeepEqual(got, want) {
		t.Errorf("ptxSignatures = %v, want %v", got, want)
	}
}

func TestCheckSignatures(t *testing.T) {
	table := []Kernel{{"a", "pifu"}, {"b", "p"}}
	if err := checkSignatures(table, map[string]string{"a": "pifu", "b": "p"}, map[string]string{"a": "pifp", "b": "p"}); err != nil {
		t.Errorf("matching views: %v", err)
	}
	if err := checkSignatures(table, nil, nil); err != nil {
		t.Errorf("the table alone: %v", err)
	}
	err := checkSignatures(append(table, Kernel{"b", "p"}),
		map[string]string{"a": "pifp", "c": "i"}, map[string]string{"a": "pif", "b": "p"})
	if err == nil {
		t.Fatal("mismatches: no error")
	}
	for _, want := range []string{
		"kernel b is twice in the Go table",
		`kernel a: the Go table has parameters "pifu", the emulation's registry (kernels/kernels.def) "pifp"`,
		`kernel b (Go table "p") is not in the emulation's registry`,
		`kernel c (emulation's registry (kernels/kernels.def) "i") is not in the Go table`,
		`kernel a: the Go table has parameters "pifu", the PTX "pif"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestEmuLoadKernelTable loads the engine's kernel table into the emulation.
func TestEmuLoadKernelTable(t *testing.T) {
	d := newEmu(EmuOptions{})
	defer d.Close()
	if err := d.Load(kernelSources, kernelTable); err != nil {
		t.Fatal(err)
	}
}
