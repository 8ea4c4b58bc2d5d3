//go:build cuda

package cuda

// The real GPU driver: the CUDA driver API, cuBLAS and NVRTC, loaded at run
// time with dlopen (gpu_shim.c), so building needs no CUDA header or
// library and a binary built without a GPU runs on one. No CUDA runtime API
// is called: cuBLAS brings its own use of it, on the device's primary
// context, which is the context this driver uses too.
//
// The libraries are looked for, in order, in the directories of
// $RELORA_CUDA_LIB_DIR (one, or a colon-separated list), $CUDA_HOME/lib64 and
// $CUDA_PATH/lib64, the default loader path (LD_LIBRARY_PATH, the ld.so
// cache), /usr/local/cuda/lib64, /usr/local/cuda/targets/<arch>-linux/lib,
// /usr/lib/<arch>-linux-gnu, /usr/local/nvidia/lib64, /usr/local/nvidia/lib,
// /usr/lib64, and the nvidia/*/lib directories of Python's site-packages
// (the nvidia-cublas, nvidia-cuda-nvrtc and nvidia-cuda-runtime wheels:
// nvidia/cu13/lib for CUDA 13, nvidia/{cublas,cuda_nvrtc,cuda_runtime}/lib
// for 12). cuBLAS and NVRTC are taken at the driver's CUDA major version or
// below, down to 12 (libcublas.so.13, then .so.12); cuBLAS's own
// dependencies (libcudart, libcublasLt) and NVRTC's builtins library are
// loaded first from the directory cuBLAS or NVRTC is found in, so no
// LD_LIBRARY_PATH is needed.

/*
#cgo CFLAGS: -O2 -Wall
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "gpu_shim.h"
*/
import "C"

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// gpuLibDirEnv names the directories searched first for the CUDA libraries.
const gpuLibDirEnv = "RELORA_CUDA_LIB_DIR"

// gpuPTXDirEnv, when set, names a directory Load writes each source's PTX
// to (<file>.ptx), for inspection with ptxas or cuobjdump.
const gpuPTXDirEnv = "RELORA_CUDA_PTX_DIR"

// gpuPrelude is what NVRTC compiles before each kernels/*.cu file: the
// parts of the kernel dialect (kernels/emu.h) that CUDA C++ does not have
// under the same name. Everything else of the dialect (threadIdx, warp
// shuffles, atomicAdd, expf, min, ...) is CUDA's own, which NVRTC provides
// without any #include. EXTERN_SHARED gives a pointer to the block's
// dynamic shared memory, like the emulation's, so two kernels (or one
// kernel twice) may use it with different element types.
const gpuPrelude = `// engine/cuda NVRTC prelude (gpu.go)
#define EXTERN_SHARED(T, name) \
    extern __shared__ __attribute__((aligned(16))) unsigned char relora_dyn_smem_[]; \
    T *const name = reinterpret_cast<T *>(relora_dyn_smem_)
`

// gpuStaticSmem is the dynamic shared memory a kernel may use without
// opting in (cuFuncSetAttribute).
const gpuStaticSmem = 48 << 10

var errGPUClosed = errors.New("cuda: the GPU driver is closed")

// gpuDriver implements Driver on a CUDA GPU (device 0). It is used from
// one goroutine at a time; any goroutine will do, since every call makes
// the driver's context current on its OS thread first.
type gpuDriver struct {
	name      string
	dev       C.CUdevice
	retained  bool // the primary context
	stream    C.CUstream
	blas      C.cublasHandle_t
	scratch   *C.rg_scratch
	slots     *[C.RG_MAX_PARAMS]uint64 // scratch.slots
	cc        int                      // compute capability, e.g. 90
	arch      int                      // what NVRTC compiles for (cc, or the highest it supports below)
	smemOptin int                      // the most dynamic shared memory a block may opt in to
	totalMem  int64
	nvrtcVer  [2]int

	mods  []C.CUmodule
	funcs []gpuFunc
	// ptxParams: each kernel's PTX parameter types as Load read them.
	ptxParams map[string][]string
	cubins    int // files loaded as NVRTC CUBINs (the driver could not JIT their PTX)

	err    error // the first failure of Timer, returned by Sync
	closed bool
}

type gpuFunc struct {
	fn      C.CUfunction
	name    string
	nparams int
	smem    int // the dynamic shared memory opted in to so far
}

// ---- finding and loading the libraries ----

// gpuSearch is where the libraries are looked for: directories, and ""
// for the default loader path (dlopen of the bare soname).
type gpuSearch struct {
	locs []string
	desc []string // the same, for error messages
}

func gpuSearchPath() gpuSearch {
	var s gpuSearch
	seen := map[string]bool{}
	add := func(d string) bool {
		d = filepath.Clean(d)
		if seen[d] {
			return false
		}
		seen[d] = true
		s.locs = append(s.locs, d)
		return true
	}
	if v := os.Getenv(gpuLibDirEnv); v != "" {
		var ds []string
		for _, d := range strings.Split(v, ":") {
			if d != "" && add(d) {
				ds = append(ds, d)
			}
		}
		s.desc = append(s.desc, "$"+gpuLibDirEnv+" ("+strings.Join(ds, ":")+")")
	}
	for _, e := range []string{"CUDA_HOME", "CUDA_PATH"} {
		if v := os.Getenv(e); v != "" && add(filepath.Join(v, "lib64")) {
			s.desc = append(s.desc, "$"+e+"/lib64")
		}
	}
	s.locs = append(s.locs, "")
	s.desc = append(s.desc, "the default loader path")
	triple, target := "x86_64-linux-gnu", "x86_64-linux"
	if runtime.GOARCH == "arm64" {
		triple, target = "aarch64-linux-gnu", "sbsa-linux"
	}
	for _, d := range []string{
		"/usr/local/cuda/lib64",
		"/usr/local/cuda/targets/" + target + "/lib",
		"/usr/lib/" + triple,
		"/usr/local/nvidia/lib64",
		"/usr/local/nvidia/lib",
		"/usr/lib64",
	} {
		if add(d) {
			s.desc = append(s.desc, d)
		}
	}
	n := 0
	for _, d := range gpuPipDirs() {
		if add(d) {
			n++
		}
	}
	s.desc = append(s.desc, fmt.Sprintf("Python site-packages nvidia/*/lib (%d found)", n))
	return s
}

// gpuPipDirs lists the nvidia/*/lib directories of the NVIDIA wheels
// under the usual Python installations.
func gpuPipDirs() []string {
	var roots []string
	for _, e := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if v := os.Getenv(e); v != "" {
			roots = append(roots, v+"/lib/python3*/site-packages")
		}
	}
	if h, err := os.UserHomeDir(); err == nil {
		roots = append(roots, h+"/.local/lib/python3*/site-packages")
	}
	roots = append(roots,
		"/usr/local/lib/python3*/dist-packages",
		"/usr/local/lib/python3*/site-packages",
		"/usr/lib/python3/dist-packages",
		"/usr/lib/python3*/site-packages",
		"/opt/*/.venv/lib/python3*/site-packages",
		"/opt/*/lib/python3*/site-packages",
	)
	var dirs []string
	for _, r := range roots {
		m, _ := filepath.Glob(r + "/nvidia/*/lib")
		sort.Sort(sort.Reverse(sort.StringSlice(m))) // newer Python first
		dirs = append(dirs, m...)
	}
	return dirs
}

func gpuDlopen(path string, global bool) (unsafe.Pointer, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg [512]C.char
	g := C.int(0)
	if global {
		g = 1
	}
	h := C.rg_dlopen(cpath, g, &msg[0], C.size_t(len(msg)))
	if h == nil {
		return nil, errors.New(C.GoString(&msg[0]))
	}
	return h, nil
}

func gpuFileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// open looks for the first of names (best first) location by location
// and dlopens it; pre runs just before, with the location and name found.
// The error lists where it looked and any library that was found but did
// not load; hint follows "not found".
func (s *gpuSearch) open(names []string, hint string, global bool, pre func(loc, name string)) (unsafe.Pointer, string, error) {
	var failed []string
	for _, loc := range s.locs {
		for _, name := range names {
			p := name
			if loc != "" {
				p = filepath.Join(loc, name)
				if !gpuFileExists(p) {
					continue
				}
			}
			if pre != nil {
				pre(loc, name)
			}
			h, err := gpuDlopen(p, global)
			if err == nil {
				return h, p, nil
			}
			msg := err.Error()
			if loc == "" && strings.HasPrefix(msg, name+":") && strings.Contains(msg, "No such file") {
				continue // not on the default loader path
			}
			failed = append(failed, msg)
		}
	}
	what := names[0]
	if len(names) > 1 {
		what += " (or " + strings.Join(names[1:], ", ") + ")"
	}
	msg := what + " not found" + hint
	if len(failed) > 0 {
		msg = fmt.Sprintf("%s did not load: %s", what, strings.Join(failed, "; "))
	}
	return nil, "", fmt.Errorf("%s; looked in %s; set %s to the directory that holds it",
		msg, strings.Join(s.desc, ", "), gpuLibDirEnv)
}

// gpuLibs is the process's loaded libraries (once loaded, for good).
var gpuLibs struct {
	sync.Mutex
	ok                  bool
	cuda, cublas, nvrtc string // the files
	driverVersion       int    // e.g. 13000
}

// gpuLoad loads and binds libcuda, cuInit()s it, then cuBLAS and NVRTC.
func gpuLoad() (driverVersion int, err error) {
	gpuLibs.Lock()
	defer gpuLibs.Unlock()
	if gpuLibs.ok {
		return gpuLibs.driverVersion, nil
	}
	s := gpuSearchPath()
	h, path, err := s.open([]string{"libcuda.so.1"}, " (no NVIDIA driver?)", false, func(loc, _ string) {
		// libcuda dlopens its PTX compiler by soname: from a directory
		// off the loader path, load it first.
		if p := filepath.Join(loc, "libnvidia-ptxjitcompiler.so.1"); loc != "" && gpuFileExists(p) {
			gpuDlopen(p, true)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("cuda: %v", err)
	}
	if miss := C.rg_bind(C.RG_LIB_CUDA, h); miss != nil {
		return 0, fmt.Errorf("cuda: %s has no %s (driver too old?)", path, C.GoString(miss))
	}
	if r := C.rg_init(); r != C.CUDA_SUCCESS {
		return 0, fmt.Errorf("cuda: cuInit: %s (driver %s)", cuErrName(r), gpuLibPath(C.RG_LIB_CUDA, path))
	}
	var v C.int
	if r := C.rg_driver_version(&v); r != C.CUDA_SUCCESS {
		return 0, cuErr("cuDriverGetVersion", r)
	}
	major := int(v) / 1000
	if major < 12 {
		return 0, fmt.Errorf("cuda: the NVIDIA driver supports CUDA %s; CUDA 12 or later is needed", gpuVersion(int(v)))
	}
	var vers []string // library sonames' versions to try, best first
	for m := major; m >= 12; m-- {
		vers = append(vers, strconv.Itoa(m))
	}
	sonames := func(stem string) []string {
		var n []string
		for _, v := range vers {
			n = append(n, stem+".so."+v)
		}
		return n
	}
	// preload loads a dependency, from loc when it is there, else from
	// wherever the search finds it; failure is left to the loader to
	// report when the library that needs it loads.
	preload := func(loc, name string) {
		if loc != "" {
			if p := filepath.Join(loc, name); gpuFileExists(p) {
				gpuDlopen(p, true)
				return
			}
		}
		s.open([]string{name}, "", true, nil)
	}

	hb, blasPath, err := s.open(sonames("libcublas"), "", false, func(loc, name string) {
		ver := strings.TrimPrefix(name, "libcublas.so.")
		preload(loc, "libcudart.so."+ver)
		preload(loc, "libcublasLt.so."+ver)
	})
	if err != nil {
		return 0, fmt.Errorf("cuda: cuBLAS: %v", err)
	}
	if miss := C.rg_bind(C.RG_LIB_CUBLAS, hb); miss != nil {
		return 0, fmt.Errorf("cuda: %s has no %s", blasPath, C.GoString(miss))
	}

	hn, nvrtcPath, err := s.open(sonames("libnvrtc"), "", false, func(loc, name string) {
		if loc == "" {
			return
		}
		ver := strings.TrimPrefix(name, "libnvrtc.so.")
		m, _ := filepath.Glob(filepath.Join(loc, "libnvrtc-builtins.so."+ver+"*"))
		sort.Strings(m)
		if len(m) > 0 {
			gpuDlopen(m[0], true)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("cuda: NVRTC: %v", err)
	}
	if miss := C.rg_bind(C.RG_LIB_NVRTC, hn); miss != nil {
		return 0, fmt.Errorf("cuda: %s has no %s", nvrtcPath, C.GoString(miss))
	}

	gpuLibs.cuda = gpuLibPath(C.RG_LIB_CUDA, path)
	gpuLibs.cublas = gpuLibPath(C.RG_LIB_CUBLAS, blasPath)
	gpuLibs.nvrtc = gpuLibPath(C.RG_LIB_NVRTC, nvrtcPath)
	gpuLibs.driverVersion = int(v)
	gpuLibs.ok = true
	return int(v), nil
}

// gpuLibPath is the file a library was loaded from.
func gpuLibPath(lib C.int, opened string) string {
	if p := C.rg_lib_path(lib); p != nil {
		return C.GoString(p)
	}
	return opened
}

// gpuLibFiles says which files the libraries were loaded from.
func gpuLibFiles() string {
	gpuLibs.Lock()
	defer gpuLibs.Unlock()
	if !gpuLibs.ok {
		return "(not loaded)"
	}
	return fmt.Sprintf("driver %s, cuBLAS %s, NVRTC %s", gpuLibs.cuda, gpuLibs.cublas, gpuLibs.nvrtc)
}

// gpuVersion formats a CUDA version number: 13000 is "13.0", 12080 "12.8".
func gpuVersion(v int) string {
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
}

// ---- errors ----

func cuErrName(r C.CUresult) string {
	name := "CUDA error " + strconv.Itoa(int(r))
	if p := C.rg_cu_error_name(r); p != nil {
		name = C.GoString(p)
	}
	if p := C.rg_cu_error_string(r); p != nil {
		name += " (" + C.GoString(p) + ")"
	}
	return name
}

func cuErr(call string, r C.CUresult) error {
	return fmt.Errorf("cuda: %s: %s", call, cuErrName(r))
}

var cublasStatusNames = map[int]string{
	0:  "CUBLAS_STATUS_SUCCESS",
	1:  "CUBLAS_STATUS_NOT_INITIALIZED",
	3:  "CUBLAS_STATUS_ALLOC_FAILED",
	7:  "CUBLAS_STATUS_INVALID_VALUE",
	8:  "CUBLAS_STATUS_ARCH_MISMATCH",
	11: "CUBLAS_STATUS_MAPPING_ERROR",
	13: "CUBLAS_STATUS_EXECUTION_FAILED",
	14: "CUBLAS_STATUS_INTERNAL_ERROR",
	15: "CUBLAS_STATUS_NOT_SUPPORTED",
	16: "CUBLAS_STATUS_LICENSE_ERROR",
}

func blasErr(call string, st C.cublasStatus_t) error {
	name, ok := cublasStatusNames[int(st)]
	if !ok {
		name = "cuBLAS status " + strconv.Itoa(int(st))
	}
	return fmt.Errorf("cuda: %s: %s", call, name)
}

func nvrtcErrName(r C.nvrtcResult) string {
	if p := C.rg_nvrtc_error(r); p != nil {
		return C.GoString(p)
	}
	return "NVRTC error " + strconv.Itoa(int(r))
}

// ---- the driver ----

// newGPU opens device 0. Without the libraries or a GPU it returns a
// one-line error naming what is missing and where it looked.
func newGPU() (Driver, error) {
	driverVersion, err := gpuLoad()
	if err != nil {
		return nil, err
	}
	d := &gpuDriver{}
	if err := d.open(driverVersion); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *gpuDriver) open(driverVersion int) error {
	if r := C.rg_device_get(&d.dev, 0); r != C.CUDA_SUCCESS {
		return cuErr("cuDeviceGet(0)", r)
	}
	var nameBuf [256]C.char
	if r := C.rg_device_name(&nameBuf[0], C.int(len(nameBuf)), d.dev); r != C.CUDA_SUCCESS {
		return cuErr("cuDeviceGetName", r)
	}
	attr := func(a C.CUdevice_attribute, what string) (int, error) {
		var v C.int
		if r := C.rg_device_attr(&v, a, d.dev); r != C.CUDA_SUCCESS {
			return 0, cuErr("cuDeviceGetAttribute("+what+")", r)
		}
		return int(v), nil
	}
	major, err := attr(C.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "COMPUTE_CAPABILITY_MAJOR")
	if err != nil {
		return err
	}
	minor, err := attr(C.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "COMPUTE_CAPABILITY_MINOR")
	if err != nil {
		return err
	}
	if d.smemOptin, err = attr(C.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, "MAX_SHARED_MEMORY_PER_BLOCK_OPTIN"); err != nil {
		return err
	}
	d.cc = major*10 + minor
	var total C.size_t
	if r := C.rg_device_total_mem(&total, d.dev); r != C.CUDA_SUCCESS {
		return cuErr("cuDeviceTotalMem_v2", r)
	}
	d.totalMem = int64(total)

	var ctx C.CUcontext
	if r := C.rg_primary_ctx_retain(&ctx, d.dev); r != C.CUDA_SUCCESS {
		return cuErr("cuDevicePrimaryCtxRetain", r)
	}
	d.retained = true
	if r := C.rg_set_ctx(ctx); r != C.CUDA_SUCCESS {
		return cuErr("cuCtxSetCurrent", r)
	}
	if r := C.rg_stream_create(&d.stream); r != C.CUDA_SUCCESS {
		return cuErr("cuStreamCreate", r)
	}
	if st := C.rg_blas_create(&d.blas); st != C.CUBLAS_STATUS_SUCCESS {
		d.blas = nil
		return blasErr("cublasCreate_v2", st)
	}
	if st := C.rg_blas_setup(d.blas, d.stream); st != C.CUBLAS_STATUS_SUCCESS {
		return blasErr("cublasSetStream_v2/SetPointerMode_v2/SetMathMode", st)
	}
	var bv [3]C.int
	for i, p := range []C.libraryPropertyType{C.RG_MAJOR_VERSION, C.RG_MINOR_VERSION, C.RG_PATCH_LEVEL} {
		if st := C.rg_blas_property(p, &bv[i]); st != C.CUBLAS_STATUS_SUCCESS {
			return blasErr("cublasGetProperty", st)
		}
	}
	var nmaj, nmin C.int
	if r := C.rg_nvrtc_version(&nmaj, &nmin); r != C.NVRTC_SUCCESS {
		return fmt.Errorf("cuda: nvrtcVersion: %s", nvrtcErrName(r))
	}
	d.nvrtcVer = [2]int{int(nmaj), int(nmin)}
	d.arch = d.cc
	var archs [64]C.int
	if n := int(C.rg_nvrtc_archs(&archs[0], C.int(len(archs)))); n > 0 {
		best := 0
		for _, a := range archs[:min(n, len(archs))] {
			if int(a) <= d.cc && int(a) > best {
				best = int(a)
			}
		}
		if best > 0 {
			d.arch = best
		}
	}
	d.scratch = C.rg_scratch_new()
	if d.scratch == nil {
		return errors.New("cuda: out of host memory")
	}
	d.slots = (*[C.RG_MAX_PARAMS]uint64)(unsafe.Pointer(&d.scratch.slots[0]))

	d.name = fmt.Sprintf("%s (sm_%d, %.1f GiB), driver %s, cuBLAS %d.%d.%d, NVRTC %d.%d",
		C.GoString(&nameBuf[0]), d.cc, float64(d.totalMem)/(1<<30),
		gpuVersion(driverVersion), bv[0], bv[1], bv[2], nmaj, nmin)
	return nil
}

func (d *gpuDriver) Name() string { return d.name }

func (d *gpuDriver) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	if d.stream != nil {
		if r := C.rg_stream_sync(d.stream); r != C.CUDA_SUCCESS {
			keep(cuErr("cuStreamSynchronize", r))
		}
	}
	if d.blas != nil {
		if st := C.rg_blas_destroy(d.blas); st != C.CUBLAS_STATUS_SUCCESS {
			keep(blasErr("cublasDestroy_v2", st))
		}
	}
	d.unload(d.mods)
	d.mods, d.funcs = nil, nil
	if d.stream != nil {
		if r := C.rg_stream_destroy(d.stream); r != C.CUDA_SUCCESS {
			keep(cuErr("cuStreamDestroy_v2", r))
		}
	}
	if d.retained {
		if r := C.rg_primary_ctx_release(d.dev); r != C.CUDA_SUCCESS {
			keep(cuErr("cuDevicePrimaryCtxRelease_v2", r))
		}
	}
	if d.scratch != nil {
		C.rg_scratch_free(d.scratch)
		d.scratch, d.slots = nil, nil
	}
	return first
}

// ---- memory ----

func (d *gpuDriver) Alloc(bytes int) (Ptr, error) {
	if d.closed {
		return 0, errGPUClosed
	}
	if bytes <= 0 {
		if bytes < 0 {
			return 0, fmt.Errorf("cuda: Alloc(%d): negative size", bytes)
		}
		return 0, nil
	}
	ret := C.rg_mem_alloc(C.size_t(bytes))
	if ret.r != C.CUDA_SUCCESS {
		return 0, d.allocErr(bytes, ret.r)
	}
	return Ptr(ret.p), nil
}

func (d *gpuDriver) allocErr(bytes int, r C.CUresult) error {
	var free, total C.size_t
	extra := ""
	if C.rg_mem_info(&free, &total) == C.CUDA_SUCCESS {
		extra = fmt.Sprintf("; %.2f GiB free of %.2f GiB", float64(free)/(1<<30), float64(total)/(1<<30))
	}
	return fmt.Errorf("cuda: cuMemAlloc_v2(%d bytes): %s%s", bytes, cuErrName(r), extra)
}

func (d *gpuDriver) Free(p Ptr) error {
	if d.closed {
		return errGPUClosed
	}
	if p == 0 {
		return nil
	}
	if r := C.rg_mem_free(C.CUdeviceptr(p)); r != C.CUDA_SUCCESS {
		return cuErr("cuMemFree_v2", r)
	}
	return nil
}

func (d *gpuDriver) CopyHtoD(dst Ptr, src unsafe.Pointer, bytes int) error {
	if err := d.copyCheck(bytes, src == nil); err != nil || bytes == 0 {
		return err
	}
	if r := C.rg_htod(C.CUdeviceptr(dst), src, C.size_t(bytes)); r != C.CUDA_SUCCESS {
		return cuErr("cuMemcpyHtoD_v2", r)
	}
	return nil
}

func (d *gpuDriver) CopyDtoH(dst unsafe.Pointer, src Ptr, bytes int) error {
	if err := d.copyCheck(bytes, dst == nil); err != nil || bytes == 0 {
		return err
	}
	if r := C.rg_dtoh(dst, C.CUdeviceptr(src), C.size_t(bytes)); r != C.CUDA_SUCCESS {
		return cuErr("cuMemcpyDtoH_v2", r)
	}
	return nil
}

func (d *gpuDriver) CopyDtoD(dst, src Ptr, bytes int) error {
	if err := d.copyCheck(bytes, false); err != nil || bytes == 0 {
		return err
	}
	if r := C.rg_dtod(C.CUdeviceptr(dst), C.CUdeviceptr(src), C.size_t(bytes), d.stream); r != C.CUDA_SUCCESS {
		return cuErr("cuMemcpyDtoDAsync_v2", r)
	}
	return nil
}

func (d *gpuDriver) copyCheck(bytes int, nilHost bool) error {
	switch {
	case d.closed:
		return errGPUClosed
	case bytes < 0:
		return fmt.Errorf("cuda: copy of %d bytes", bytes)
	case nilHost && bytes > 0:
		return errors.New("cuda: copy to or from a nil host pointer")
	}
	return nil
}

func (d *gpuDriver) Memset32(dst Ptr, v uint32, n int) error {
	if err := d.copyCheck(n, false); err != nil || n == 0 {
		return err
	}
	if r := C.rg_memset32(C.CUdeviceptr(dst), C.uint(v), C.size_t(n), d.stream); r != C.CUDA_SUCCESS {
		return cuErr("cuMemsetD32Async", r)
	}
	return nil
}

// ---- kernels ----

// Load compiles each source file (in name order) as its own NVRTC program
// (the prelude, then the file: a file's helpers are private to it, as in
// the emulation), for the device's compute capability: compute_XY PTX, no
// fast math, which the driver compiles at load. Where the driver cannot
// (no PTX JIT library, PTX newer than the driver) the file is compiled
// again by NVRTC to an sm_XY CUBIN. Then it finds every kernel of the
// table, checking its parameter list against the PTX's. On failure the
// kernels loaded before stay loaded.
func (d *gpuDriver) Load(sources map[string]string, table []Kernel) error {
	if d.closed {
		return errGPUClosed
	}
	files := make([]string, 0, len(sources))
	for f := range sources {
		files = append(files, f)
	}
	sort.Strings(files)
	type entry struct {
		file   string
		mod    C.CUmodule
		params []string
	}
	var mods []C.CUmodule
	fail := func(err error) error {
		d.unload(mods)
		return err
	}
	entries := map[string]entry{}
	ptxParams := map[string][]string{}
	for _, f := range files {
		ptx, err := d.compile(f, sources[f], false)
		if err != nil {
			return fail(err)
		}
		text := string(ptx[:len(ptx)-1])
		if dir := os.Getenv(gpuPTXDirEnv); dir != "" {
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, strings.TrimSuffix(f, filepath.Ext(f))+".ptx"), []byte(text), 0o644)
		}
		mod, r, err := gpuLoadModule(f, "PTX", ptx)
		if r == C.CUDA_ERROR_JIT_COMPILER_NOT_FOUND || r == C.CUDA_ERROR_UNSUPPORTED_PTX_VERSION || r == C.CUDA_ERROR_INVALID_PTX {
			// The driver cannot JIT this PTX (no PTX compiler library, or
			// an NVRTC newer than the driver): let NVRTC make the SASS.
			cubin, cerr := d.compile(f, sources[f], true)
			if cerr == nil {
				mod, _, cerr = gpuLoadModule(f, "CUBIN", cubin)
			}
			if cerr != nil {
				err = fmt.Errorf("%v\n(and as a CUBIN: %v)", err, cerr)
			} else {
				err = nil
				d.cubins++
			}
		}
		if err != nil {
			return fail(err)
		}
		mods = append(mods, mod)
		ents := ptxEntries(text)
		names := make([]string, 0, len(ents))
		for name := range ents {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			params := ents[name]
			if e, dup := entries[name]; dup {
				return fail(fmt.Errorf("cuda: kernel %s is defined in both %s and %s", name, e.file, f))
			}
			entries[name] = entry{f, mod, params}
			ptxParams[name] = params
		}
	}
	funcs := make([]gpuFunc, len(table))
	for i, k := range table {
		if len(k.Params) > C.RG_MAX_PARAMS {
			return fail(fmt.Errorf("cuda: kernel %s has %d parameters; at most %d are supported", k.Name, len(k.Params), C.RG_MAX_PARAMS))
		}
		cname := C.CString(k.Name)
		var fn C.CUfunction
		r := C.CUresult(C.CUDA_ERROR_NOT_FOUND)
		if e, ok := entries[k.Name]; ok {
			if err := ptxCheckParams(k, e.params, e.file); err != nil {
				C.free(unsafe.Pointer(cname))
				return fail(err)
			}
			r = C.rg_module_function(&fn, e.mod, cname)
		} else {
			// Not seen in the PTX (by name): ask every module, so that a
			// PTX form the reader does not know is no failure.
			for _, m := range mods {
				if r = C.rg_module_function(&fn, m, cname); r == C.CUDA_SUCCESS {
					break
				}
			}
		}
		C.free(unsafe.Pointer(cname))
		if r != C.CUDA_SUCCESS {
			return fail(fmt.Errorf("cuda: kernel %s (table entry %d) is in none of the sources (%s): cuModuleGetFunction: %s; is it extern \"C\" __global__?",
				k.Name, i, strings.Join(files, ", "), cuErrName(r)))
		}
		funcs[i] = gpuFunc{fn: fn, name: k.Name, nparams: len(k.Params)}
	}
	d.unload(d.mods)
	d.mods, d.funcs, d.ptxParams = mods, funcs, ptxParams
	return nil
}

func (d *gpuDriver) unload(mods []C.CUmodule) {
	for _, m := range mods {
		C.rg_module_unload(m)
	}
}

// gpuPTXCache holds compiled PTX by the hash of everything that went into
// it, so that drivers opened one after another (tests) compile once.
var gpuPTXCache struct {
	sync.Mutex
	m map[[32]byte][]byte
}

// nvrtcOptions are the NVRTC options for a compute capability (e.g. 90):
// PTX for compute_XY, or with cubin a CUBIN for sm_XY.
func nvrtcOptions(arch int, cubin bool) []string {
	target := "--gpu-architecture=compute_"
	if cubin {
		target = "--gpu-architecture=sm_"
	}
	return []string{
		target + strconv.Itoa(arch),
		"--std=c++17",
		"-default-device",
		"-lineinfo",
	}
}

// compile turns one source file into PTX (NUL-terminated text) with NVRTC,
// or with cubin into a CUBIN.
func (d *gpuDriver) compile(file, src string, cubin bool) ([]byte, error) {
	text := gpuPrelude + "#line 1 \"" + file + "\"\n" + src + "\n"
	opts := nvrtcOptions(d.arch, cubin)
	key := sha256.Sum256([]byte(fmt.Sprintf("%d.%d\x00%s\x00%s\x00%s", d.nvrtcVer[0], d.nvrtcVer[1], strings.Join(opts, "\x00"), file, text)))
	gpuPTXCache.Lock()
	out, ok := gpuPTXCache.m[key]
	gpuPTXCache.Unlock()
	if ok {
		return out, nil
	}

	csrc, cname := C.CString(text), C.CString(file)
	defer C.free(unsafe.Pointer(csrc))
	defer C.free(unsafe.Pointer(cname))
	copts := (*[64]*C.char)(C.malloc(C.size_t(len(opts)) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	for i, o := range opts {
		copts[i] = C.CString(o)
	}
	defer func() {
		for i := range opts {
			C.free(unsafe.Pointer(copts[i]))
		}
		C.free(unsafe.Pointer(copts))
	}()
	var clog, cout *C.char
	var size C.size_t
	var stage *C.char
	r := C.rg_nvrtc_compile(csrc, cname, C.int(len(opts)), &copts[0], gpuBool(cubin), &clog, &cout, &size, &stage)
	log := ""
	if clog != nil {
		log = strings.TrimSpace(C.GoString(clog))
		C.free(unsafe.Pointer(clog))
	}
	if cout != nil {
		out = C.GoBytes(unsafe.Pointer(cout), C.int(size))
		C.free(unsafe.Pointer(cout))
	}
	if r != C.NVRTC_SUCCESS {
		return nil, fmt.Errorf("cuda: %s(%s, %s): %s\n%s", C.GoString(stage), file, strings.Join(opts, " "), nvrtcErrName(r), log)
	}
	if !cubin {
		// PTX text, NUL-terminated (nvrtcGetPTXSize counts the NUL)
		if i := bytes.IndexByte(out, 0); i >= 0 {
			out = out[:i]
		}
		out = append(out, 0)
	}
	gpuPTXCache.Lock()
	if gpuPTXCache.m == nil {
		gpuPTXCache.m = map[[32]byte][]byte{}
	}
	gpuPTXCache.m[key] = out
	gpuPTXCache.Unlock()
	return out, nil
}

// gpuLoadModule loads PTX (NUL-terminated; the driver compiles it for the
// device) or a CUBIN.
func gpuLoadModule(file, what string, image []byte) (C.CUmodule, C.CUresult, error) {
	cimg := C.CBytes(image)
	defer C.free(cimg)
	const logSize = 16 << 10
	clog := (*C.char)(C.malloc(logSize))
	defer C.free(unsafe.Pointer(clog))
	var mod C.CUmodule
	if r := C.rg_module_load(&mod, cimg, clog, logSize); r != C.CUDA_SUCCESS {
		return nil, r, fmt.Errorf("cuda: cuModuleLoadDataEx(%s of %s): %s\n%s", what, file, cuErrName(r), strings.TrimSpace(C.GoString(clog)))
	}
	return mod, C.CUDA_SUCCESS, nil
}

// ptxEntries reads the .entry directives of PTX: each kernel's parameter
// types (".u64", ".u32", ".f32", ...; "?" for a form it does not know).
func ptxEntries(ptx string) map[string][]string {
	m := map[string][]string{}
	rest := ptx
	for {
		i := strings.Index(rest, ".entry")
		if i < 0 {
			return m
		}
		rest = rest[i+len(".entry"):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
			continue
		}
		open := strings.IndexByte(rest, '(')
		if open < 0 {
			return m
		}
		name := strings.TrimSpace(rest[:open])
		if name == "" || strings.ContainsAny(name, " \t\r\n{};") {
			continue
		}
		end := strings.IndexByte(rest[open:], ')')
		if end < 0 {
			return m
		}
		body := rest[open+1 : open+end]
		rest = rest[open+end:]
		params := []string{}
		for _, p := range strings.Split(body, ",") {
			f := strings.Fields(p)
			if len(f) == 0 {
				continue
			}
			if f[0] != ".param" || len(f) < 3 || f[1] == ".align" || strings.Contains(p, "[") {
				params = append(params, "?") // not a scalar (a struct by value)
				continue
			}
			params = append(params, f[1])
		}
		m[name] = params
	}
}

// ptxParamFits reports whether a PTX parameter type holds a parameter of
// the table's letter.
func ptxParamFits(letter byte, typ string) bool {
	switch letter {
	case 'p', 'u':
		return typ == ".u64" || typ == ".b64" || typ == ".s64"
	case 'i':
		return typ == ".u32" || typ == ".s32" || typ == ".b32"
	case 'f':
		return typ == ".f32" || typ == ".b32"
	}
	return false
}

func ptxCheckParams(k Kernel, params []string, file string) error {
	ok := len(params) == len(k.Params)
	for i := 0; ok && i < len(params); i++ {
		ok = ptxParamFits(k.Params[i], params[i])
	}
	if !ok {
		return fmt.Errorf("cuda: kernel %s of %s takes (%s) but the table says %q ('p' pointer, 'i' int, 'f' float, 'u' unsigned long long)",
			k.Name, file, strings.Join(params, ", "), k.Params)
	}
	return nil
}

// Launch: see Driver. Every dimension of grid and block is at least 1, as
// CUDA (and the emulation) want.
func (d *gpuDriver) Launch(k int, grid, block Dim3, shared int, args []uint64) error {
	if d.closed {
		return errGPUClosed
	}
	if uint(k) >= uint(len(d.funcs)) {
		return d.launchErr(k, grid, block, shared, len(args), 0, "no such kernel (Load first)")
	}
	f := &d.funcs[k]
	if len(args) != f.nparams {
		return d.launchErr(k, grid, block, shared, len(args), 0, "wrong number of arguments")
	}
	gx, gy, gz := grid.X, grid.Y, grid.Z
	bx, by, bz := block.X, block.Y, block.Z
	if gx < 1 || gy < 1 || gz < 1 || gx > math.MaxInt32 || gy > math.MaxUint16 || gz > math.MaxUint16 ||
		bx < 1 || by < 1 || bz < 1 || bx > 1024 || by > 1024 || bz > 64 || bx*by*bz > 1024 {
		return d.launchErr(k, grid, block, shared, len(args), 0, "bad grid or block shape (CUDA's limits)")
	}
	if shared < 0 || shared > max(d.smemOptin, gpuStaticSmem) {
		return d.launchErr(k, grid, block, shared, len(args), 0, fmt.Sprintf("the device allows %d bytes of shared memory per block", d.smemOptin))
	}
	if shared > gpuStaticSmem && shared > f.smem {
		if r := C.rg_func_max_dyn_smem(f.fn, C.int(shared)); r != C.CUDA_SUCCESS {
			return d.launchErr(k, grid, block, shared, len(args), r, "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)")
		}
		f.smem = shared
	}
	copy(d.slots[:], args)
	r := C.rg_launch(f.fn, C.uint(gx), C.uint(gy), C.uint(gz), C.uint(bx), C.uint(by), C.uint(bz),
		C.uint(shared), d.stream, &d.scratch.params[0])
	if r != C.CUDA_SUCCESS {
		return d.launchErr(k, grid, block, shared, len(args), r, "cuLaunchKernel")
	}
	return nil
}

//go:noinline
func (d *gpuDriver) launchErr(k int, grid, block Dim3, shared, nargs int, r C.CUresult, what string) error {
	name := fmt.Sprintf("#%d", k)
	if k >= 0 && k < len(d.funcs) {
		name = fmt.Sprintf("%s (%d parameters)", d.funcs[k].name, d.funcs[k].nparams)
	}
	msg := what
	if r != C.CUDA_SUCCESS {
		msg += ": " + cuErrName(r)
	}
	return fmt.Errorf("cuda: launch of kernel %s, grid %dx%dx%d, block %dx%dx%d, %d bytes shared, %d arguments: %s",
		name, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, shared, nargs, msg)
}

// ---- GEMM ----

func (d *gpuDriver) Gemm(g *Gemm) error {
	if d.closed {
		return errGPUClosed
	}
	batch := g.Batch
	if batch < 1 {
		batch = 1
	}
	fits := func(v int) bool { return v >= 0 && v <= math.MaxInt32 }
	if !fits(g.M) || !fits(g.N) || !fits(g.K) || !fits(g.LDA) || !fits(g.LDB) || !fits(g.LDC) || !fits(batch) ||
		g.Math < MathFP32 || g.Math > MathBF16 {
		return gemmErr(*g, 0, "bad arguments")
	}
	if g.M == 0 || g.N == 0 {
		return nil
	}
	r := C.rg_gemm(d.blas, C.int(g.Math), C.int(batch), gpuBool(g.TransA), gpuBool(g.TransB),
		C.int(g.M), C.int(g.N), C.int(g.K),
		C.float(g.Alpha), C.CUdeviceptr(g.A), C.int(g.LDA), C.longlong(g.StrideA),
		C.CUdeviceptr(g.B), C.int(g.LDB), C.longlong(g.StrideB),
		C.float(g.Beta), C.CUdeviceptr(g.C), C.int(g.LDC), C.longlong(g.StrideC))
	if r != 0 {
		return gemmErr(*g, int(r), "")
	}
	return nil
}

func gpuBool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

//go:noinline
func gemmErr(g Gemm, r int, what string) error {
	call := [...]string{"cublasSgemm_v2", "cublasGemmEx", "cublasGemmEx"}[min(max(int(g.Math), 0), 2)]
	if g.Batch > 1 {
		call = [...]string{"cublasSgemmStridedBatched", "cublasGemmStridedBatchedEx", "cublasGemmStridedBatchedEx"}[min(max(int(g.Math), 0), 2)]
	}
	maths := [...]string{"fp32", "tf32", "bf16"}
	m := "math " + strconv.Itoa(int(g.Math))
	if g.Math >= 0 && int(g.Math) < len(maths) {
		m = maths[g.Math]
	}
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	desc := fmt.Sprintf("%s(%s, %s%s, m=%d n=%d k=%d, lda=%d ldb=%d ldc=%d, batch=%d strides=%d,%d,%d)",
		call, m, t(g.TransA), t(g.TransB), g.M, g.N, g.K, g.LDA, g.LDB, g.LDC, g.Batch, g.StrideA, g.StrideB, g.StrideC)
	switch {
	case r < 0:
		return fmt.Errorf("cuda: %s: making the context current: %s", desc, cuErrName(C.CUresult(-r)))
	case r > 0:
		return blasErr(desc, C.cublasStatus_t(r))
	}
	return fmt.Errorf("cuda: %s: %s", desc, what)
}

// ---- sync and timing ----

func (d *gpuDriver) Sync() error {
	if d.closed {
		return errGPUClosed
	}
	if r := C.rg_stream_sync(d.stream); r != C.CUDA_SUCCESS && d.err == nil {
		d.err = cuErr("cuStreamSynchronize", r)
	}
	return d.err
}

func (d *gpuDriver) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Timer records an event on the stream now; stop records another, waits
// for it and returns the seconds between them. A failure makes stop
// return 0 and Sync the error.
func (d *gpuDriver) Timer() (stop func() float64) {
	zero := func() float64 { return 0 }
	if d.closed {
		return zero
	}
	a := C.rg_event_create()
	if a.r != C.CUDA_SUCCESS {
		d.fail(cuErr("cuEventCreate", a.r))
		return zero
	}
	b := C.rg_event_create()
	if b.r != C.CUDA_SUCCESS {
		C.rg_event_destroy(a.e)
		d.fail(cuErr("cuEventCreate", b.r))
		return zero
	}
	if r := C.rg_event_record(a.e, d.stream); r != C.CUDA_SUCCESS {
		C.rg_event_destroy(a.e)
		C.rg_event_destroy(b.e)
		d.fail(cuErr("cuEventRecord", r))
		return zero
	}
	done := false
	return func() float64 {
		if done || d.closed {
			return 0
		}
		done = true
		defer C.rg_event_destroy(a.e)
		defer C.rg_event_destroy(b.e)
		if r := C.rg_event_record(b.e, d.stream); r != C.CUDA_SUCCESS {
			d.fail(cuErr("cuEventRecord", r))
			return 0
		}
		if r := C.rg_event_sync(b.e); r != C.CUDA_SUCCESS {
			d.fail(cuErr("cuEventSynchronize", r))
			return 0
		}
		e := C.rg_event_elapsed(a.e, b.e)
		if e.r != C.CUDA_SUCCESS {
			d.fail(cuErr("cuEventElapsedTime", e.r))
			return 0
		}
		return float64(e.ms) / 1e3
	}
}
