//go:build cuda && mpi

// nccl_shim.h: the NCCL backend's C side (see nccl.go). NCCL and the CUDA
// driver are loaded at run time with dlopen, as engine/cuda loads CUDA, so
// nothing here includes an NVIDIA header: the few types and values used
// are declared below, with the values of nccl.h and cuda.h. Every wrapper
// returns the library's status code unchanged.
//
// The wrappers first make the communicator's context (the device's primary
// context, which engine/cuda and the CUDA runtime inside NCCL use too)
// current on the calling OS thread when it is not.

#ifndef RELORA_NCCL_SHIM_H
#define RELORA_NCCL_SHIM_H

#include <stddef.h>
#include <stdint.h>

// ---- nccl.h ----

typedef int ncclResult_t;
typedef struct ncclComm *ncclComm_t;
#define RC_NCCL_UNIQUE_ID_BYTES 128
typedef struct {
	char internal[RC_NCCL_UNIQUE_ID_BYTES];
} ncclUniqueId;
typedef int ncclDataType_t;
typedef int ncclRedOp_t;

enum {
	ncclSuccess = 0,
	ncclUnhandledCudaError = 1,
	ncclSystemError = 2,
	ncclInternalError = 3,
	ncclInvalidArgument = 4,
	ncclInvalidUsage = 5,
	ncclRemoteError = 6,
	ncclInProgress = 7,
};
enum { ncclUint8 = 1, ncclFloat32 = 7 };
enum { ncclSum = 0 };

// ---- cuda.h ----

typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUstream_st *CUstream; // cudaStream_t is the same handle
enum { CUDA_SUCCESS = 0, CUDA_ERROR_NOT_READY = 600 };

// ---- loading ----

enum { RC_LIB_CUDA = 0, RC_LIB_NCCL = 1 };
void *rc_dlopen(const char *path, char *err, size_t err_size);
// rc_bind resolves a library's symbols from handle; it returns the first
// one missing, or NULL.
const char *rc_bind(int lib, void *handle);
const char *rc_lib_path(int lib);

// ---- CUDA ----

CUresult rc_cu_init(void);
CUresult rc_cu_device_count(int *n);
CUresult rc_cu_primary_ctx(int ordinal, CUdevice *dev, CUcontext *ctx);
CUresult rc_cu_primary_release(CUdevice dev);
// rc_cu_stream_query: CUDA_SUCCESS once the legacy default stream, on
// which the collectives run, has finished; CUDA_ERROR_NOT_READY before.
CUresult rc_cu_stream_query(CUcontext ctx);
const char *rc_cu_error_name(CUresult r);

// ---- NCCL ----

ncclResult_t rc_nccl_version(int *v);
ncclResult_t rc_nccl_unique_id(ncclUniqueId *id);
ncclResult_t rc_nccl_init_rank(CUcontext ctx, ncclComm_t *comm, int nranks, const void *id, int rank);
ncclResult_t rc_nccl_destroy(CUcontext ctx, ncclComm_t comm);
ncclResult_t rc_nccl_abort(CUcontext ctx, ncclComm_t comm);
ncclResult_t rc_nccl_async_error(ncclComm_t comm, ncclResult_t *err);
const char *rc_nccl_error_string(ncclResult_t r);
const char *rc_nccl_last_error(ncclComm_t comm); // NULL where NCCL is older than 2.13
ncclResult_t rc_nccl_allreduce_f32(CUcontext ctx, ncclComm_t comm, uintptr_t buf, size_t n);
ncclResult_t rc_nccl_bcast_bytes(CUcontext ctx, ncclComm_t comm, uintptr_t buf, size_t bytes, int root);

#endif
