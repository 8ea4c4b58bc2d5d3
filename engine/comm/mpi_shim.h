//go:build mpi

// mpi_shim.h: the MPI backend's C side (see mpi.go). MPI's handles are
// macros or pointers to library globals in Open MPI, which cgo cannot
// name, so every call goes through a wrapper here that takes our own
// rc_mpi struct. Every wrapper returns MPI's error code unchanged
// (MPI_SUCCESS is 0): the communicator's error handler is
// MPI_ERRORS_RETURN, so a failure comes back instead of aborting.

#ifndef RELORA_MPI_SHIM_H
#define RELORA_MPI_SHIM_H

#include <stddef.h>
#include <stdint.h>

typedef struct rc_mpi rc_mpi;

// rc_mpi_init calls MPI_Init_thread (MPI_THREAD_FUNNELED: every call comes
// from the one OS thread mpi.go locks for MPI) unless MPI is initialized
// already, duplicates MPI_COMM_WORLD and sets MPI_ERRORS_RETURN on both.
// piece is the most elements one step of the ordered reduction moves.
int rc_mpi_init(rc_mpi **out, int64_t piece, int *provided);
int rc_mpi_rank(rc_mpi *m);
int rc_mpi_size(rc_mpi *m);
void rc_mpi_host(char *buf, int len);
void rc_mpi_library(char *buf, int len);
void rc_mpi_error_string(int code, char *buf, int len);
int rc_mpi_error_class(int code);

int rc_mpi_allreduce(rc_mpi *m, float *buf, int64_t n);
int rc_mpi_allreduce_ordered(rc_mpi *m, float *buf, int64_t n);
int rc_mpi_reduce_bcast(rc_mpi *m, float *buf, int64_t n); // benchmark only
int rc_mpi_bcast(rc_mpi *m, void *buf, int64_t bytes, int root);
int rc_mpi_allgather(rc_mpi *m, const void *send, void *recv, int64_t bytes);
int rc_mpi_barrier(rc_mpi *m);
int rc_mpi_abort(rc_mpi *m, int code);
int rc_mpi_finalize(rc_mpi *m);

#endif
