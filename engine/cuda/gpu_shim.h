//go:build cuda

// gpu_shim.h: the real GPU driver's C side (see gpu.go). The CUDA driver
// API, cuBLAS and NVRTC are loaded at run time with dlopen, so nothing here
// includes a CUDA header: the few types and enum values used are declared
// below, with the values of cuda.h, cublas_api.h, library_types.h and
// nvrtc.h. Every wrapper returns the library's status code unchanged.
//
// The wrappers that act on the driver's context first make it current on
// the calling OS thread (one cuCtxGetCurrent, and a cuCtxSetCurrent only
// when another or no context is current), so the Go side may be called from
// any goroutine, one at a time.

#ifndef RELORA_GPU_SHIM_H
#define RELORA_GPU_SHIM_H

#include <stddef.h>
#include <stdint.h>

// ---- CUDA driver API (cuda.h) ----

typedef int CUresult; // enum cudaError_enum
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef int CUdevice_attribute;
typedef int CUfunction_attribute;
typedef int CUjit_option;

enum {
	CUDA_SUCCESS = 0,
	CUDA_ERROR_INVALID_VALUE = 1,
	CUDA_ERROR_NO_DEVICE = 100,
	CUDA_ERROR_INVALID_PTX = 218,
	CUDA_ERROR_JIT_COMPILER_NOT_FOUND = 221,
	CUDA_ERROR_UNSUPPORTED_PTX_VERSION = 222,
	CUDA_ERROR_NOT_FOUND = 500,
};

enum {
	CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
	CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
	CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
	CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
};

enum { CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8 };
enum { CU_STREAM_DEFAULT = 0 };
enum { CU_EVENT_DEFAULT = 0 };

enum {
	CU_JIT_INFO_LOG_BUFFER = 3,
	CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4,
	CU_JIT_ERROR_LOG_BUFFER = 5,
	CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
};

// ---- cuBLAS (cublas_api.h, library_types.h) ----

typedef struct cublasContext *cublasHandle_t;
typedef int cublasStatus_t;
typedef int cublasOperation_t;
typedef int cublasMath_t;
typedef int cublasPointerMode_t;
typedef int cublasComputeType_t;
typedef int cublasGemmAlgo_t;
typedef int cudaDataType;
typedef int libraryPropertyType;

enum {
	CUBLAS_STATUS_SUCCESS = 0,
	CUBLAS_STATUS_NOT_INITIALIZED = 1,
	CUBLAS_STATUS_ALLOC_FAILED = 3,
	CUBLAS_STATUS_INVALID_VALUE = 7,
	CUBLAS_STATUS_ARCH_MISMATCH = 8,
	CUBLAS_STATUS_MAPPING_ERROR = 11,
	CUBLAS_STATUS_EXECUTION_FAILED = 13,
	CUBLAS_STATUS_INTERNAL_ERROR = 14,
	CUBLAS_STATUS_NOT_SUPPORTED = 15,
	CUBLAS_STATUS_LICENSE_ERROR = 16,
};

enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum { CUBLAS_POINTER_MODE_HOST = 0 };
enum { CUBLAS_DEFAULT_MATH = 0 };
enum { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 };
enum { CUBLAS_GEMM_DEFAULT = -1 };
enum { CUDA_R_32F = 0, CUDA_R_16BF = 14 };
enum { RG_MAJOR_VERSION = 0, RG_MINOR_VERSION = 1, RG_PATCH_LEVEL = 2 }; // libraryPropertyType

// ---- NVRTC (nvrtc.h) ----

typedef struct _nvrtcProgram *nvrtcProgram;
typedef int nvrtcResult;

enum {
	NVRTC_SUCCESS = 0,
	NVRTC_ERROR_OUT_OF_MEMORY = 1,
	NVRTC_ERROR_INVALID_INPUT = 3,
	NVRTC_ERROR_COMPILATION = 6,
};

// ---- the shim ----

// Libraries, for rg_bind and rg_lib_path.
enum { RG_LIB_CUDA = 0, RG_LIB_CUBLAS = 1, RG_LIB_NVRTC = 2 };

// rg_dlopen opens path (RTLD_NOW, RTLD_GLOBAL when global); on failure
// it returns NULL with dlerror's message copied into err.
void *rg_dlopen(const char *path, int global, char *err, size_t err_size);
// rg_bind resolves the library's function table from handle; it returns
// NULL, or the name of the first required symbol that is missing.
const char *rg_bind(int lib, void *handle);
// rg_lib_path is the file the library was loaded from (dladdr), or NULL.
const char *rg_lib_path(int lib);

// Error names (NULL when the library does not know the code).
const char *rg_cu_error_name(CUresult r);
const char *rg_cu_error_string(CUresult r);
const char *rg_nvrtc_error(nvrtcResult r);

// Device and context.
CUresult rg_init(void);
CUresult rg_driver_version(int *v);
CUresult rg_device_get(CUdevice *dev, int ordinal);
CUresult rg_device_name(char *buf, int len, CUdevice dev);
CUresult rg_device_attr(int *v, CUdevice_attribute attr, CUdevice dev);
CUresult rg_device_total_mem(size_t *bytes, CUdevice dev);
CUresult rg_primary_ctx_retain(CUcontext *ctx, CUdevice dev);
CUresult rg_primary_ctx_release(CUdevice dev);
// rg_set_ctx makes ctx the shim's context and current on this thread.
CUresult rg_set_ctx(CUcontext ctx);
CUresult rg_mem_info(size_t *free_bytes, size_t *total_bytes);

// Streams and events.
CUresult rg_stream_create(CUstream *s);
CUresult rg_stream_destroy(CUstream s);
CUresult rg_stream_sync(CUstream s);

typedef struct {
	CUresult r;
	CUevent e;
} rg_event_ret;
rg_event_ret rg_event_create(void);
CUresult rg_event_record(CUevent e, CUstream s);
CUresult rg_event_sync(CUevent e);
typedef struct {
	CUresult r;
	float ms;
} rg_elapsed_ret;
rg_elapsed_ret rg_event_elapsed(CUevent start, CUevent stop);
CUresult rg_event_destroy(CUevent e);

// Memory.
typedef struct {
	CUresult r;
	CUdeviceptr p;
} rg_alloc_ret;
rg_alloc_ret rg_mem_alloc(size_t bytes);
CUresult rg_mem_free(CUdeviceptr p);
CUresult rg_htod(CUdeviceptr dst, const void *src, size_t bytes);
CUresult rg_dtoh(void *dst, CUdeviceptr src, size_t bytes);
CUresult rg_dtod(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s);
CUresult rg_memset32(CUdeviceptr dst, unsigned int v, size_t n, CUstream s);

// Modules and launches.
CUresult rg_module_load(CUmodule *mod, const void *image, char *log, size_t log_size);
CUresult rg_module_unload(CUmodule mod);
CUresult rg_module_function(CUfunction *fn, CUmodule mod, const char *name);
CUresult rg_func_max_dyn_smem(CUfunction fn, int bytes);
CUresult rg_launch(CUfunction fn, unsigned int gx, unsigned int gy, unsigned int gz,
                   unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared,
                   CUstream s, void **params);

// The launch slots: params[i] points at slots[i]. C memory, owned by one
// driver, so a launch passes cuLaunchKernel no Go memory at all.
#define RG_MAX_PARAMS 64
typedef struct {
	unsigned long long slots[RG_MAX_PARAMS];
	void *params[RG_MAX_PARAMS];
} rg_scratch;
rg_scratch *rg_scratch_new(void);
void rg_scratch_free(rg_scratch *s);

// cuBLAS.
cublasStatus_t rg_blas_create(cublasHandle_t *h);
// rg_blas_setup: stream s, host pointer mode, default math.
cublasStatus_t rg_blas_setup(cublasHandle_t h, CUstream s);
cublasStatus_t rg_blas_destroy(cublasHandle_t h);
cublasStatus_t rg_blas_property(libraryPropertyType type, int *v);
// rg_gemm: math 0 fp32 (Sgemm), 1 TF32 (GemmEx, 32F_FAST_TF32), 2 bf16
// A/B with fp32 C (GemmEx, 32F); batch > 1: the strided-batched form. It
// returns 0, a cublasStatus_t (> 0), or minus the CUresult of making the
// context current.
int rg_gemm(cublasHandle_t h, int math, int batch, int ta, int tb, int m, int n, int k,
            float alpha, CUdeviceptr a, int lda, long long sa,
            CUdeviceptr b, int ldb, long long sb,
            float beta, CUdeviceptr c, int ldc, long long sc);

// NVRTC.
nvrtcResult rg_nvrtc_version(int *major, int *minor);
// rg_nvrtc_archs writes up to cap supported architectures (e.g. 90) and
// returns how many NVRTC has, or -1 when it cannot say.
int rg_nvrtc_archs(int *archs, int cap);
// rg_nvrtc_compile compiles src to PTX (NUL-terminated, *out_size
// counting the NUL), or with cubin set to a CUBIN. *log and *out are
// malloc'd (free them; either may be NULL); *stage names the call that
// failed.
nvrtcResult rg_nvrtc_compile(const char *src, const char *name, int nopts, const char **opts,
                             int cubin, char **log, char **out, size_t *out_size,
                             const char **stage);

#endif
