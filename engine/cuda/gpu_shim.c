//go:build cuda

// gpu_shim.c: the function tables of the CUDA driver API, cuBLAS and NVRTC,
// resolved with dlsym from the libraries gpu.go dlopens, and thin wrappers
// that call through them. See gpu_shim.h.

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_shim.h"

// ---- the function pointers, with the prototypes of cuda.h, cublas_api.h
// and nvrtc.h (the exported symbol names: cuda.h maps the unsuffixed names
// onto these _v2 ones) ----

static CUresult (*p_cuInit)(unsigned int flags);
static CUresult (*p_cuDriverGetVersion)(int *version);
static CUresult (*p_cuDeviceGet)(CUdevice *dev, int ordinal);
static CUresult (*p_cuDeviceGetName)(char *name, int len, CUdevice dev);
static CUresult (*p_cuDeviceGetAttribute)(int *pi, CUdevice_attribute attrib, CUdevice dev);
static CUresult (*p_cuDeviceTotalMem_v2)(size_t *bytes, CUdevice dev);
static CUresult (*p_cuDevicePrimaryCtxRetain)(CUcontext *pctx, CUdevice dev);
static CUresult (*p_cuDevicePrimaryCtxRelease_v2)(CUdevice dev);
static CUresult (*p_cuCtxSetCurrent)(CUcontext ctx);
static CUresult (*p_cuCtxGetCurrent)(CUcontext *pctx);
static CUresult (*p_cuMemGetInfo_v2)(size_t *free_bytes, size_t *total_bytes);
static CUresult (*p_cuMemAlloc_v2)(CUdeviceptr *dptr, size_t bytesize);
static CUresult (*p_cuMemFree_v2)(CUdeviceptr dptr);
static CUresult (*p_cuMemcpyHtoD_v2)(CUdeviceptr dst, const void *src, size_t bytes);
static CUresult (*p_cuMemcpyDtoH_v2)(void *dst, CUdeviceptr src, size_t bytes);
static CUresult (*p_cuMemcpyDtoDAsync_v2)(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s);
static CUresult (*p_cuMemsetD32Async)(CUdeviceptr dst, unsigned int ui, size_t n, CUstream s);
static CUresult (*p_cuStreamCreate)(CUstream *ps, unsigned int flags);
static CUresult (*p_cuStreamDestroy_v2)(CUstream s);
static CUresult (*p_cuStreamSynchronize)(CUstream s);
static CUresult (*p_cuEventCreate)(CUevent *pe, unsigned int flags);
static CUresult (*p_cuEventRecord)(CUevent e, CUstream s);
static CUresult (*p_cuEventSynchronize)(CUevent e);
static CUresult (*p_cuEventElapsedTime_v2)(float *ms, CUevent start, CUevent end);
static CUresult (*p_cuEventElapsedTime)(float *ms, CUevent start, CUevent end);
static CUresult (*p_cuEventDestroy_v2)(CUevent e);
static CUresult (*p_cuModuleLoadDataEx)(CUmodule *module, const void *image, unsigned int n,
                                        CUjit_option *options, void **values);
static CUresult (*p_cuModuleUnload)(CUmodule module);
static CUresult (*p_cuModuleGetFunction)(CUfunction *fn, CUmodule module, const char *name);
static CUresult (*p_cuFuncSetAttribute)(CUfunction fn, CUfunction_attribute attrib, int value);
static CUresult (*p_cuLaunchKernel)(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                    unsigned int bx, unsigned int by, unsigned int bz,
                                    unsigned int shared, CUstream s, void **params, void **extra);
static CUresult (*p_cuGetErrorName)(CUresult error, const char **str);
static CUresult (*p_cuGetErrorString)(CUresult error, const char **str);

static cublasStatus_t (*p_cublasCreate_v2)(cublasHandle_t *handle);
static cublasStatus_t (*p_cublasDestroy_v2)(cublasHandle_t handle);
static cublasStatus_t (*p_cublasSetStream_v2)(cublasHandle_t handle, CUstream stream);
static cublasStatus_t (*p_cublasSetPointerMode_v2)(cublasHandle_t handle, cublasPointerMode_t mode);
static cublasStatus_t (*p_cublasSetMathMode)(cublasHandle_t handle, cublasMath_t mode);
static cublasStatus_t (*p_cublasGetProperty)(libraryPropertyType type, int *value);
static cublasStatus_t (*p_cublasSgemm_v2)(cublasHandle_t handle, cublasOperation_t transa,
                                          cublasOperation_t transb, int m, int n, int k,
                                          const float *alpha, const float *A, int lda,
                                          const float *B, int ldb, const float *beta, float *C,
                                          int ldc);
static cublasStatus_t (*p_cublasSgemmStridedBatched)(
    cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
    const float *alpha, const float *A, int lda, long long strideA, const float *B, int ldb,
    long long strideB, const float *beta, float *C, int ldc, long long strideC, int batchCount);
static cublasStatus_t (*p_cublasGemmEx)(cublasHandle_t handle, cublasOperation_t transa,
                                        cublasOperation_t transb, int m, int n, int k,
                                        const void *alpha, const void *A, cudaDataType Atype,
                                        int lda, const void *B, cudaDataType Btype, int ldb,
                                        const void *beta, void *C, cudaDataType Ctype, int ldc,
                                        cublasComputeType_t computeType, cublasGemmAlgo_t algo);
static cublasStatus_t (*p_cublasGemmStridedBatchedEx)(
    cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
    const void *alpha, const void *A, cudaDataType Atype, int lda, long long strideA,
    const void *B, cudaDataType Btype, int ldb, long long strideB, const void *beta, void *C,
    cudaDataType Ctype, int ldc, long long strideC, int batchCount,
    cublasComputeType_t computeType, cublasGemmAlgo_t algo);

static nvrtcResult (*p_nvrtcVersion)(int *major, int *minor);
static nvrtcResult (*p_nvrtcGetNumSupportedArchs)(int *n);
static nvrtcResult (*p_nvrtcGetSupportedArchs)(int *archs);
static nvrtcResult (*p_nvrtcCreateProgram)(nvrtcProgram *prog, const char *src, const char *name,
                                           int numHeaders, const char *const *headers,
                                           const char *const *includeNames);
static nvrtcResult (*p_nvrtcCompileProgram)(nvrtcProgram prog, int numOptions,
                                            const char *const *options);
static nvrtcResult (*p_nvrtcGetProgramLogSize)(nvrtcProgram prog, size_t *size);
static nvrtcResult (*p_nvrtcGetProgramLog)(nvrtcProgram prog, char *log);
static nvrtcResult (*p_nvrtcGetPTXSize)(nvrtcProgram prog, size_t *size);
static nvrtcResult (*p_nvrtcGetPTX)(nvrtcProgram prog, char *ptx);
static nvrtcResult (*p_nvrtcGetCUBINSize)(nvrtcProgram prog, size_t *size);
static nvrtcResult (*p_nvrtcGetCUBIN)(nvrtcProgram prog, char *cubin);
static nvrtcResult (*p_nvrtcDestroyProgram)(nvrtcProgram *prog);
static const char *(*p_nvrtcGetErrorString)(nvrtcResult r);

// ---- the symbol tables ----

typedef struct {
	const char *name;
	void **fp;
	int optional;
} rg_sym;

#define SYM(f) {#f, (void **)&p_##f, 0}
#define OPT(f) {#f, (void **)&p_##f, 1}

static rg_sym rg_cuda_syms[] = {
    SYM(cuInit),
    SYM(cuDriverGetVersion),
    SYM(cuDeviceGet),
    SYM(cuDeviceGetName),
    SYM(cuDeviceGetAttribute),
    SYM(cuDeviceTotalMem_v2),
    SYM(cuDevicePrimaryCtxRetain),
    SYM(cuDevicePrimaryCtxRelease_v2),
    SYM(cuCtxSetCurrent),
    SYM(cuCtxGetCurrent),
    SYM(cuMemGetInfo_v2),
    SYM(cuMemAlloc_v2),
    SYM(cuMemFree_v2),
    SYM(cuMemcpyHtoD_v2),
    SYM(cuMemcpyDtoH_v2),
    SYM(cuMemcpyDtoDAsync_v2),
    SYM(cuMemsetD32Async),
    SYM(cuStreamCreate),
    SYM(cuStreamDestroy_v2),
    SYM(cuStreamSynchronize),
    SYM(cuEventCreate),
    SYM(cuEventRecord),
    SYM(cuEventSynchronize),
    OPT(cuEventElapsedTime_v2), // CUDA 12.8+; cuda.h 13 maps cuEventElapsedTime onto it
    OPT(cuEventElapsedTime),
    SYM(cuEventDestroy_v2),
    SYM(cuModuleLoadDataEx),
    SYM(cuModuleUnload),
    SYM(cuModuleGetFunction),
    SYM(cuFuncSetAttribute),
    SYM(cuLaunchKernel),
    SYM(cuGetErrorName),
    SYM(cuGetErrorString),
    {NULL, NULL, 0},
};

static rg_sym rg_cublas_syms[] = {
    SYM(cublasCreate_v2),
    SYM(cublasDestroy_v2),
    SYM(cublasSetStream_v2),
    SYM(cublasSetPointerMode_v2),
    SYM(cublasSetMathMode),
    SYM(cublasGetProperty),
    SYM(cublasSgemm_v2),
    SYM(cublasSgemmStridedBatched),
    SYM(cublasGemmEx),
    SYM(cublasGemmStridedBatchedEx),
    {NULL, NULL, 0},
};

static rg_sym rg_nvrtc_syms[] = {
    SYM(nvrtcVersion),
    OPT(nvrtcGetNumSupportedArchs),
    OPT(nvrtcGetSupportedArchs),
    SYM(nvrtcCreateProgram),
    SYM(nvrtcCompileProgram),
    SYM(nvrtcGetProgramLogSize),
    SYM(nvrtcGetProgramLog),
    SYM(nvrtcGetPTXSize),
    SYM(nvrtcGetPTX),
    OPT(nvrtcGetCUBINSize), // CUDA 11.1+
    OPT(nvrtcGetCUBIN),
    SYM(nvrtcDestroyProgram),
    SYM(nvrtcGetErrorString),
    {NULL, NULL, 0},
};

static rg_sym *rg_tables[] = {rg_cuda_syms, rg_cublas_syms, rg_nvrtc_syms};

void *rg_dlopen(const char *path, int global, char *err, size_t err_size)
{
	void *h = dlopen(path, RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL));
	if (!h && err && err_size) {
		const char *msg = dlerror();
		strncpy(err, msg ? msg : "unknown dlopen error", err_size - 1);
		err[err_size - 1] = 0;
	}
	return h;
}

const char *rg_bind(int lib, void *handle)
{
	rg_sym *t = rg_tables[lib];
	for (int i = 0; t[i].name; i++) {
		*t[i].fp = dlsym(handle, t[i].name);
		if (!*t[i].fp && !t[i].optional) {
			return t[i].name;
		}
	}
	if (lib == RG_LIB_CUDA && !p_cuEventElapsedTime_v2 && !p_cuEventElapsedTime) {
		return "cuEventElapsedTime";
	}
	return NULL;
}

const char *rg_lib_path(int lib)
{
	Dl_info info;
	void *fp = *rg_tables[lib][0].fp;
	if (!fp || !dladdr(fp, &info)) {
		return NULL;
	}
	return info.dli_fname;
}

// ---- the context ----

static CUcontext rg_ctx;

static CUresult rg_ensure(void)
{
	CUcontext cur = NULL;
	if (p_cuCtxGetCurrent(&cur) == CUDA_SUCCESS && cur == rg_ctx) {
		return CUDA_SUCCESS;
	}
	return p_cuCtxSetCurrent(rg_ctx);
}

#define ENSURE()                                                                                   \
	do {                                                                                       \
		CUresult e_ = rg_ensure();                                                         \
		if (e_ != CUDA_SUCCESS) {                                                          \
			return e_;                                                                 \
		}                                                                                  \
	} while (0)

CUresult rg_set_ctx(CUcontext ctx)
{
	rg_ctx = ctx;
	return p_cuCtxSetCurrent(ctx);
}

// ---- errors ----

const char *rg_cu_error_name(CUresult r)
{
	const char *s = NULL;
	if (!p_cuGetErrorName || p_cuGetErrorName(r, &s) != CUDA_SUCCESS) {
		return NULL;
	}
	return s;
}

const char *rg_cu_error_string(CUresult r)
{
	const char *s = NULL;
	if (!p_cuGetErrorString || p_cuGetErrorString(r, &s) != CUDA_SUCCESS) {
		return NULL;
	}
	return s;
}

const char *rg_nvrtc_error(nvrtcResult r) { return p_nvrtcGetErrorString ? p_nvrtcGetErrorString(r) : NULL; }

// ---- device ----

CUresult rg_init(void) { return p_cuInit(0); }
CUresult rg_driver_version(int *v) { return p_cuDriverGetVersion(v); }
CUresult rg_device_get(CUdevice *dev, int ordinal) { return p_cuDeviceGet(dev, ordinal); }
CUresult rg_device_name(char *buf, int len, CUdevice dev) { return p_cuDeviceGetName(buf, len, dev); }
CUresult rg_device_attr(int *v, CUdevice_attribute attr, CUdevice dev) { return p_cuDeviceGetAttribute(v, attr, dev); }
CUresult rg_device_total_mem(size_t *bytes, CUdevice dev) { return p_cuDeviceTotalMem_v2(bytes, dev); }
CUresult rg_primary_ctx_retain(CUcontext *ctx, CUdevice dev) { return p_cuDevicePrimaryCtxRetain(ctx, dev); }
CUresult rg_primary_ctx_release(CUdevice dev) { return p_cuDevicePrimaryCtxRelease_v2(dev); }

CUresult rg_mem_info(size_t *free_bytes, size_t *total_bytes)
{
	ENSURE();
	return p_cuMemGetInfo_v2(free_bytes, total_bytes);
}

// ---- streams and events ----

CUresult rg_stream_create(CUstream *s)
{
	ENSURE();
	return p_cuStreamCreate(s, CU_STREAM_DEFAULT);
}

CUresult rg_stream_destroy(CUstream s)
{
	ENSURE();
	return p_cuStreamDestroy_v2(s);
}

CUresult rg_stream_sync(CUstream s)
{
	ENSURE();
	return p_cuStreamSynchronize(s);
}

rg_event_ret rg_event_create(void)
{
	rg_event_ret ret = {rg_ensure(), NULL};
	if (ret.r == CUDA_SUCCESS) {
		ret.r = p_cuEventCreate(&ret.e, CU_EVENT_DEFAULT);
	}
	return ret;
}

CUresult rg_event_record(CUevent e, CUstream s)
{
	ENSURE();
	return p_cuEventRecord(e, s);
}

CUresult rg_event_sync(CUevent e)
{
	ENSURE();
	return p_cuEventSynchronize(e);
}

rg_elapsed_ret rg_event_elapsed(CUevent start, CUevent stop)
{
	rg_elapsed_ret ret = {rg_ensure(), 0.0f};
	if (ret.r == CUDA_SUCCESS) {
		ret.r = p_cuEventElapsedTime_v2 ? p_cuEventElapsedTime_v2(&ret.ms, start, stop)
		                                : p_cuEventElapsedTime(&ret.ms, start, stop);
	}
	return ret;
}

CUresult rg_event_destroy(CUevent e)
{
	ENSURE();
	return p_cuEventDestroy_v2(e);
}

// ---- memory ----

rg_alloc_ret rg_mem_alloc(size_t bytes)
{
	rg_alloc_ret ret = {rg_ensure(), 0};
	if (ret.r == CUDA_SUCCESS) {
		ret.r = p_cuMemAlloc_v2(&ret.p, bytes);
	}
	return ret;
}

CUresult rg_mem_free(CUdeviceptr p)
{
	ENSURE();
	return p_cuMemFree_v2(p);
}

// The copies from and to host memory are the synchronous ones (on the NULL
// stream, which the driver's blocking stream waits for and is waited for
// by): they return once the host buffer has been read (pageable memory is
// staged) or written, so Go memory is not used after the call.
CUresult rg_htod(CUdeviceptr dst, const void *src, size_t bytes)
{
	ENSURE();
	return p_cuMemcpyHtoD_v2(dst, src, bytes);
}

CUresult rg_dtoh(void *dst, CUdeviceptr src, size_t bytes)
{
	ENSURE();
	return p_cuMemcpyDtoH_v2(dst, src, bytes);
}

CUresult rg_dtod(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s)
{
	ENSURE();
	return p_cuMemcpyDtoDAsync_v2(dst, src, bytes, s);
}

CUresult rg_memset32(CUdeviceptr dst, unsigned int v, size_t n, CUstream s)
{
	ENSURE();
	return p_cuMemsetD32Async(dst, v, n, s);
}

// ---- modules and launches ----

CUresult rg_module_load(CUmodule *mod, const void *image, char *log, size_t log_size)
{
	ENSURE();
	CUjit_option opts[2] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
	void *vals[2] = {log, (void *)(uintptr_t)log_size};
	if (log && log_size) {
		log[0] = 0;
	}
	return p_cuModuleLoadDataEx(mod, image, log && log_size ? 2 : 0, opts, vals);
}

CUresult rg_module_unload(CUmodule mod)
{
	ENSURE();
	return p_cuModuleUnload(mod);
}

CUresult rg_module_function(CUfunction *fn, CUmodule mod, const char *name)
{
	ENSURE();
	return p_cuModuleGetFunction(fn, mod, name);
}

CUresult rg_func_max_dyn_smem(CUfunction fn, int bytes)
{
	ENSURE();
	return p_cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
}

CUresult rg_launch(CUfunction fn, unsigned int gx, unsigned int gy, unsigned int gz,
                   unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared,
                   CUstream s, void **params)
{
	ENSURE();
	return p_cuLaunchKernel(fn, gx, gy, gz, bx, by, bz, shared, s, params, NULL);
}

rg_scratch *rg_scratch_new(void)
{
	rg_scratch *s = calloc(1, sizeof(rg_scratch));
	if (s) {
		for (int i = 0; i < RG_MAX_PARAMS; i++) {
			s->params[i] = &s->slots[i];
		}
	}
	return s;
}

void rg_scratch_free(rg_scratch *s) { free(s); }

// ---- cuBLAS ----

cublasStatus_t rg_blas_create(cublasHandle_t *h)
{
	CUresult e = rg_ensure();
	if (e != CUDA_SUCCESS) {
		return CUBLAS_STATUS_NOT_INITIALIZED;
	}
	return p_cublasCreate_v2(h);
}

cublasStatus_t rg_blas_setup(cublasHandle_t h, CUstream s)
{
	cublasStatus_t st = p_cublasSetStream_v2(h, s);
	if (st == CUBLAS_STATUS_SUCCESS) {
		st = p_cublasSetPointerMode_v2(h, CUBLAS_POINTER_MODE_HOST);
	}
	if (st == CUBLAS_STATUS_SUCCESS) {
		st = p_cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
	}
	return st;
}

cublasStatus_t rg_blas_destroy(cublasHandle_t h)
{
	rg_ensure();
	return p_cublasDestroy_v2(h);
}

cublasStatus_t rg_blas_property(libraryPropertyType type, int *v) { return p_cublasGetProperty(type, v); }

int rg_gemm(cublasHandle_t h, int math, int batch, int ta, int tb, int m, int n, int k,
            float alpha, CUdeviceptr a, int lda, long long sa,
            CUdeviceptr b, int ldb, long long sb,
            float beta, CUdeviceptr c, int ldc, long long sc)
{
	CUresult e = rg_ensure();
	if (e != CUDA_SUCCESS) {
		return -(int)e;
	}
	cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
	cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
	const void *pa = (const void *)(uintptr_t)a;
	const void *pb = (const void *)(uintptr_t)b;
	void *pc = (void *)(uintptr_t)c;
	cudaDataType ab;
	cublasComputeType_t ct;
	switch (math) {
	case 0:
		if (batch <= 1) {
			return p_cublasSgemm_v2(h, opa, opb, m, n, k, &alpha, pa, lda, pb, ldb, &beta, pc, ldc);
		}
		return p_cublasSgemmStridedBatched(h, opa, opb, m, n, k, &alpha, pa, lda, sa, pb, ldb, sb,
		                                   &beta, pc, ldc, sc, batch);
	case 1:
		ab = CUDA_R_32F;
		ct = CUBLAS_COMPUTE_32F_FAST_TF32;
		break;
	case 2:
		ab = CUDA_R_16BF;
		ct = CUBLAS_COMPUTE_32F;
		break;
	default:
		return CUBLAS_STATUS_INVALID_VALUE;
	}
	if (batch <= 1) {
		return p_cublasGemmEx(h, opa, opb, m, n, k, &alpha, pa, ab, lda, pb, ab, ldb, &beta, pc,
		                      CUDA_R_32F, ldc, ct, CUBLAS_GEMM_DEFAULT);
	}
	return p_cublasGemmStridedBatchedEx(h, opa, opb, m, n, k, &alpha, pa, ab, lda, sa, pb, ab, ldb,
	                                    sb, &beta, pc, CUDA_R_32F, ldc, sc, batch, ct,
	                                    CUBLAS_GEMM_DEFAULT);
}

// ---- NVRTC ----

nvrtcResult rg_nvrtc_version(int *major, int *minor) { return p_nvrtcVersion(major, minor); }

int rg_nvrtc_archs(int *archs, int cap)
{
	int n = 0;
	if (!p_nvrtcGetNumSupportedArchs || !p_nvrtcGetSupportedArchs ||
	    p_nvrtcGetNumSupportedArchs(&n) != NVRTC_SUCCESS || n <= 0) {
		return -1;
	}
	int *all = calloc((size_t)n, sizeof(int));
	if (!all) {
		return -1;
	}
	if (p_nvrtcGetSupportedArchs(all) != NVRTC_SUCCESS) {
		free(all);
		return -1;
	}
	for (int i = 0; i < n && i < cap; i++) {
		archs[i] = all[i];
	}
	free(all);
	return n;
}

nvrtcResult rg_nvrtc_compile(const char *src, const char *name, int nopts, const char **opts,
                             int cubin, char **log, char **out, size_t *out_size,
                             const char **stage)
{
	nvrtcResult (*get_size)(nvrtcProgram, size_t *) = cubin ? p_nvrtcGetCUBINSize : p_nvrtcGetPTXSize;
	nvrtcResult (*get)(nvrtcProgram, char *) = cubin ? p_nvrtcGetCUBIN : p_nvrtcGetPTX;
	nvrtcProgram prog = NULL;
	*log = NULL;
	*out = NULL;
	*out_size = 0;
	if (!get_size || !get) {
		*stage = "nvrtcGetCUBIN (not in this NVRTC)";
		return NVRTC_ERROR_INVALID_INPUT;
	}
	*stage = "nvrtcCreateProgram";
	nvrtcResult r = p_nvrtcCreateProgram(&prog, src, name, 0, NULL, NULL);
	if (r != NVRTC_SUCCESS) {
		return r;
	}
	*stage = "nvrtcCompileProgram";
	nvrtcResult rc = p_nvrtcCompileProgram(prog, nopts, (const char *const *)opts);
	size_t n = 0;
	if (p_nvrtcGetProgramLogSize(prog, &n) == NVRTC_SUCCESS && n > 1) {
		*log = malloc(n);
		if (*log && p_nvrtcGetProgramLog(prog, *log) != NVRTC_SUCCESS) {
			free(*log);
			*log = NULL;
		}
	}
	if (rc != NVRTC_SUCCESS) {
		p_nvrtcDestroyProgram(&prog);
		return rc;
	}
	*stage = cubin ? "nvrtcGetCUBINSize" : "nvrtcGetPTXSize";
	r = get_size(prog, &n);
	if (r == NVRTC_SUCCESS) {
		*stage = cubin ? "nvrtcGetCUBIN" : "nvrtcGetPTX";
		*out = malloc(n + 1);
		if (!*out) {
			r = NVRTC_ERROR_OUT_OF_MEMORY;
		} else {
			r = get(prog, *out);
			(*out)[n] = 0;
			*out_size = n;
		}
	}
	p_nvrtcDestroyProgram(&prog);
	return r;
}
