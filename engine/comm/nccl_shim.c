//go:build cuda && mpi

// nccl_shim.c: the function tables of NCCL and of the few CUDA driver
// calls the backend needs, resolved with dlsym from the libraries nccl.go
// dlopens, and thin wrappers that call through them. See nccl_shim.h.

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "nccl_shim.h"

// ---- the function pointers, with the prototypes of cuda.h and nccl.h
// (the exported names: cuda.h maps the unsuffixed ones onto the _v2) ----

static CUresult (*p_cuInit)(unsigned int flags);
static CUresult (*p_cuDeviceGetCount)(int *count);
static CUresult (*p_cuDeviceGet)(CUdevice *dev, int ordinal);
static CUresult (*p_cuDevicePrimaryCtxRetain)(CUcontext *pctx, CUdevice dev);
static CUresult (*p_cuDevicePrimaryCtxRelease_v2)(CUdevice dev);
static CUresult (*p_cuCtxGetCurrent)(CUcontext *pctx);
static CUresult (*p_cuCtxSetCurrent)(CUcontext ctx);
static CUresult (*p_cuStreamQuery)(CUstream s);
static CUresult (*p_cuGetErrorName)(CUresult error, const char **str);

static ncclResult_t (*p_ncclGetVersion)(int *version);
static ncclResult_t (*p_ncclGetUniqueId)(ncclUniqueId *uniqueId);
static ncclResult_t (*p_ncclCommInitRank)(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank);
static ncclResult_t (*p_ncclCommDestroy)(ncclComm_t comm);
static ncclResult_t (*p_ncclCommAbort)(ncclComm_t comm);
static ncclResult_t (*p_ncclCommGetAsyncError)(ncclComm_t comm, ncclResult_t *asyncError);
static const char *(*p_ncclGetErrorString)(ncclResult_t result);
static const char *(*p_ncclGetLastError)(ncclComm_t comm);
static ncclResult_t (*p_ncclAllReduce)(const void *sendbuff, void *recvbuff, size_t count,
                                       ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                       CUstream stream);
static ncclResult_t (*p_ncclBroadcast)(const void *sendbuff, void *recvbuff, size_t count,
                                       ncclDataType_t datatype, int root, ncclComm_t comm,
                                       CUstream stream);

// ---- the symbol tables ----

typedef struct {
	const char *name;
	void **fp;
	int optional;
} rc_sym;

#define SYM(f) {#f, (void **)&p_##f, 0}
#define OPT(f) {#f, (void **)&p_##f, 1}

static rc_sym rc_cuda_syms[] = {
    SYM(cuInit),
    SYM(cuDeviceGetCount),
    SYM(cuDeviceGet),
    SYM(cuDevicePrimaryCtxRetain),
    SYM(cuDevicePrimaryCtxRelease_v2),
    SYM(cuCtxGetCurrent),
    SYM(cuCtxSetCurrent),
    SYM(cuStreamQuery),
    OPT(cuGetErrorName),
    {NULL, NULL, 0},
};

static rc_sym rc_nccl_syms[] = {
    SYM(ncclGetVersion),
    SYM(ncclGetUniqueId),
    SYM(ncclCommInitRank),
    SYM(ncclCommDestroy),
    SYM(ncclCommAbort),
    SYM(ncclCommGetAsyncError),
    SYM(ncclGetErrorString),
    OPT(ncclGetLastError), // NCCL 2.13+
    SYM(ncclAllReduce),
    SYM(ncclBroadcast),
    {NULL, NULL, 0},
};

static rc_sym *rc_tables[] = {rc_cuda_syms, rc_nccl_syms};

void *rc_dlopen(const char *path, char *err, size_t err_size)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h && err && err_size) {
		const char *msg = dlerror();
		strncpy(err, msg ? msg : "unknown dlopen error", err_size - 1);
		err[err_size - 1] = 0;
	}
	return h;
}

const char *rc_bind(int lib, void *handle)
{
	rc_sym *t = rc_tables[lib];
	for (int i = 0; t[i].name; i++) {
		*t[i].fp = dlsym(handle, t[i].name);
		if (!*t[i].fp && !t[i].optional) {
			return t[i].name;
		}
	}
	return NULL;
}

const char *rc_lib_path(int lib)
{
	Dl_info info;
	void *fp = *rc_tables[lib][0].fp;
	if (!fp || !dladdr(fp, &info)) {
		return NULL;
	}
	return info.dli_fname;
}

// ---- the context ----

static CUresult rc_ensure(CUcontext ctx)
{
	CUcontext cur = NULL;
	if (p_cuCtxGetCurrent(&cur) == CUDA_SUCCESS && cur == ctx) {
		return CUDA_SUCCESS;
	}
	return p_cuCtxSetCurrent(ctx);
}

// a CUDA failure to make the context current, as NCCL reports CUDA's
#define ENSURE(ctx)                                                                                \
	do {                                                                                       \
		if (rc_ensure(ctx) != CUDA_SUCCESS) {                                              \
			return ncclUnhandledCudaError;                                             \
		}                                                                                  \
	} while (0)

// ---- CUDA ----

CUresult rc_cu_init(void) { return p_cuInit(0); }
CUresult rc_cu_device_count(int *n) { return p_cuDeviceGetCount(n); }

CUresult rc_cu_primary_ctx(int ordinal, CUdevice *dev, CUcontext *ctx)
{
	CUresult r = p_cuDeviceGet(dev, ordinal);
	if (r != CUDA_SUCCESS) {
		return r;
	}
	if ((r = p_cuDevicePrimaryCtxRetain(ctx, *dev)) != CUDA_SUCCESS) {
		return r;
	}
	return p_cuCtxSetCurrent(*ctx);
}

CUresult rc_cu_primary_release(CUdevice dev) { return p_cuDevicePrimaryCtxRelease_v2(dev); }

CUresult rc_cu_stream_query(CUcontext ctx)
{
	CUresult r = rc_ensure(ctx);
	if (r != CUDA_SUCCESS) {
		return r;
	}
	return p_cuStreamQuery(NULL); // the legacy default stream
}

const char *rc_cu_error_name(CUresult r)
{
	const char *s = NULL;
	if (!p_cuGetErrorName || p_cuGetErrorName(r, &s) != CUDA_SUCCESS) {
		return NULL;
	}
	return s;
}

// ---- NCCL ----

ncclResult_t rc_nccl_version(int *v) { return p_ncclGetVersion(v); }
ncclResult_t rc_nccl_unique_id(ncclUniqueId *id) { return p_ncclGetUniqueId(id); }

ncclResult_t rc_nccl_init_rank(CUcontext ctx, ncclComm_t *comm, int nranks, const void *id, int rank)
{
	ncclUniqueId u;
	memcpy(&u, id, sizeof u);
	ENSURE(ctx);
	return p_ncclCommInitRank(comm, nranks, u, rank);
}

ncclResult_t rc_nccl_destroy(CUcontext ctx, ncclComm_t comm)
{
	ENSURE(ctx);
	return p_ncclCommDestroy(comm);
}

ncclResult_t rc_nccl_abort(CUcontext ctx, ncclComm_t comm)
{
	ENSURE(ctx);
	return p_ncclCommAbort(comm);
}

ncclResult_t rc_nccl_async_error(ncclComm_t comm, ncclResult_t *err)
{
	return p_ncclCommGetAsyncError(comm, err);
}

const char *rc_nccl_error_string(ncclResult_t r) { return p_ncclGetErrorString ? p_ncclGetErrorString(r) : NULL; }

const char *rc_nccl_last_error(ncclComm_t comm) { return p_ncclGetLastError ? p_ncclGetLastError(comm) : NULL; }

// The collectives run in place on the legacy default stream: engine/cuda's
// stream is a blocking one, so they start after the work already queued
// there and the work queued after them waits for them.
ncclResult_t rc_nccl_allreduce_f32(CUcontext ctx, ncclComm_t comm, uintptr_t buf, size_t n)
{
	ENSURE(ctx);
	return p_ncclAllReduce((const void *)buf, (void *)buf, n, ncclFloat32, ncclSum, comm, NULL);
}

ncclResult_t rc_nccl_bcast_bytes(CUcontext ctx, ncclComm_t comm, uintptr_t buf, size_t bytes, int root)
{
	ENSURE(ctx);
	return p_ncclBroadcast((const void *)buf, (void *)buf, bytes, ncclUint8, root, comm, NULL);
}
