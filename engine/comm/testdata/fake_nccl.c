// A stand-in for libcuda.so.1 and libnccl.so.2 (one file under both
// names), for nccl_fake_test.go: it checks and logs how nccl_shim.c calls
// them, with no GPU. The log is $FAKE_NCCL_LOG, one line per call.
// $FAKE_NCCL_FAIL, read at each collective: "async" makes it hang with
// ncclRemoteError as the asynchronous error, "hang" makes it hang with
// none. Otherwise the stream is busy for $FAKE_NCCL_PENDING queries.

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
	char internal[128];
} ncclUniqueId;

static int ctx_storage;
static void *current;
static int pending, async_err, hang;
static struct {
	int nranks, rank;
} comm_storage;

static void logf_(const char *fmt, ...)
{
	const char *p = getenv("FAKE_NCCL_LOG");
	if (!p) {
		return;
	}
	FILE *f = fopen(p, "a");
	if (!f) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

int cuInit(unsigned flags) { return flags == 0 ? 0 : 1; }
int cuDeviceGetCount(int *n)
{
	*n = 2;
	return 0;
}
int cuDeviceGet(int *d, int ordinal)
{
	*d = ordinal;
	return ordinal < 2 ? 0 : 101;
}
int cuDevicePrimaryCtxRetain(void **c, int dev)
{
	*c = &ctx_storage;
	return 0;
}
int cuDevicePrimaryCtxRelease_v2(int dev) { return 0; }
int cuCtxGetCurrent(void **c)
{
	*c = current;
	return 0;
}
int cuCtxSetCurrent(void *c)
{
	current = c;
	return 0;
}
int cuStreamQuery(void *s)
{
	if (s != NULL || current != &ctx_storage) {
		return 400; // not the legacy stream, or no context
	}
	if (hang) {
		return 600;
	}
	if (pending > 0) {
		pending--;
		return 600;
	}
	return 0;
}
int cuGetErrorName(int e, const char **s)
{
	*s = "CUDA_ERROR_FAKE";
	return 0;
}

int ncclGetVersion(int *v)
{
	*v = 22703;
	return 0;
}
int ncclGetUniqueId(ncclUniqueId *id)
{
	memset(id, 0, sizeof *id);
	snprintf(id->internal, sizeof id->internal, "fakeid:%d", (int)getpid());
	return 0;
}
int ncclCommInitRank(void **comm, int nranks, ncclUniqueId id, int rank)
{
	if (current != &ctx_storage) {
		return 1;
	}
	id.internal[127] = 0;
	logf_("init nranks=%d rank=%d id=%s", nranks, rank, id.internal);
	comm_storage.nranks = nranks;
	comm_storage.rank = rank;
	*comm = &comm_storage;
	async_err = 0;
	hang = 0;
	return 0;
}
int ncclCommDestroy(void *comm)
{
	logf_("destroy");
	return comm == &comm_storage ? 0 : 4;
}
int ncclCommAbort(void *comm)
{
	logf_("abort");
	return 0;
}
int ncclCommGetAsyncError(void *comm, int *e)
{
	*e = async_err;
	return 0;
}
const char *ncclGetErrorString(int r) { return r == 6 ? "remote process exited or there was a network error" : "fake error"; }
const char *ncclGetLastError(void *comm) { return "fake last error"; }

static int collective(void)
{
	if (current != &ctx_storage) {
		return 1;
	}
	const char *f = getenv("FAKE_NCCL_FAIL");
	const char *p = getenv("FAKE_NCCL_PENDING");
	pending = p ? atoi(p) : 0;
	if (f && !strcmp(f, "async")) {
		async_err = 6;
		hang = 1;
	} else if (f && !strcmp(f, "hang")) {
		hang = 1;
	}
	return 0;
}

int ncclAllReduce(const void *send, void *recv, size_t count, int dtype, int op, void *comm, void *stream)
{
	logf_("allreduce count=%ld dtype=%d op=%d %s", (long)count, dtype, op,
	      send == recv && stream == NULL && comm == &comm_storage ? "inplace legacy" : "WRONG");
	return collective();
}
int ncclBroadcast(const void *send, void *recv, size_t count, int dtype, int root, void *comm, void *stream)
{
	logf_("bcast count=%ld dtype=%d root=%d %s", (long)count, dtype, root,
	      send == recv && stream == NULL && comm == &comm_storage ? "inplace legacy" : "WRONG");
	return collective();
}
