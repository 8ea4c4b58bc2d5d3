//go:build mpi

// mpi_shim.c: MPI calls for mpi.go. See mpi_shim.h.

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_shim.h"

struct rc_mpi {
	MPI_Comm comm; // our duplicate of MPI_COMM_WORLD
	int rank, size;
	int64_t piece;  // elements per step of the ordered reduction
	float *scratch; // size·ceil(piece/size) floats: every rank's share of one piece
	int *cnt, *dsp, *rcnt, *rdsp;
};

// the most elements one MPI call moves (MPI counts are ints)
#define RC_MAX_COUNT ((int64_t)1 << 30)

int rc_mpi_init(rc_mpi **out, int64_t piece, int *provided)
{
	int flag = 0, r;
	*out = NULL;
	MPI_Initialized(&flag);
	if (flag) {
		MPI_Query_thread(provided);
	} else if ((r = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, provided)) != MPI_SUCCESS) {
		return r;
	}
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	rc_mpi *m = calloc(1, sizeof *m);
	if (!m) {
		return MPI_ERR_NO_MEM;
	}
	if ((r = MPI_Comm_dup(MPI_COMM_WORLD, &m->comm)) != MPI_SUCCESS) {
		free(m);
		return r;
	}
	MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
	MPI_Comm_rank(m->comm, &m->rank);
	MPI_Comm_size(m->comm, &m->size);
	m->piece = piece;
	int64_t share = (piece + m->size - 1) / m->size;
	m->scratch = malloc((size_t)(share * m->size) * sizeof(float));
	m->cnt = malloc(4 * (size_t)m->size * sizeof(int));
	if (!m->scratch || !m->cnt) {
		free(m->scratch);
		free(m->cnt);
		free(m);
		return MPI_ERR_NO_MEM;
	}
	m->dsp = m->cnt + m->size;
	m->rcnt = m->dsp + m->size;
	m->rdsp = m->rcnt + m->size;
	*out = m;
	return MPI_SUCCESS;
}

int rc_mpi_rank(rc_mpi *m) { return m->rank; }
int rc_mpi_size(rc_mpi *m) { return m->size; }

void rc_mpi_host(char *buf, int len)
{
	char name[MPI_MAX_PROCESSOR_NAME + 1];
	int n = 0;
	if (MPI_Get_processor_name(name, &n) != MPI_SUCCESS) {
		n = 0;
	}
	name[n] = 0;
	strncpy(buf, name, (size_t)len - 1);
	buf[len - 1] = 0;
}

void rc_mpi_library(char *buf, int len)
{
	char v[MPI_MAX_LIBRARY_VERSION_STRING + 1];
	int n = 0;
	if (MPI_Get_library_version(v, &n) != MPI_SUCCESS) {
		n = 0;
	}
	v[n] = 0;
	strncpy(buf, v, (size_t)len - 1);
	buf[len - 1] = 0;
}

void rc_mpi_error_string(int code, char *buf, int len)
{
	char s[MPI_MAX_ERROR_STRING + 1];
	int n = 0;
	if (MPI_Error_string(code, s, &n) != MPI_SUCCESS) {
		n = 0;
	}
	s[n] = 0;
	strncpy(buf, s, (size_t)len - 1);
	buf[len - 1] = 0;
}

int rc_mpi_error_class(int code)
{
	int c = code;
	if (MPI_Error_class(code, &c) != MPI_SUCCESS) {
		return code;
	}
	return c;
}

int rc_mpi_allreduce(rc_mpi *m, float *buf, int64_t n)
{
	for (int64_t off = 0; off < n; off += RC_MAX_COUNT) {
		int64_t k = n - off < RC_MAX_COUNT ? n - off : RC_MAX_COUNT;
		int r = MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)k, MPI_FLOAT, MPI_SUM, m->comm);
		if (r != MPI_SUCCESS) {
			return r;
		}
	}
	return MPI_SUCCESS;
}

// The ordered reduction, piece by piece: each rank owns a contiguous share
// of the piece (share j is [k·j/size, k·(j+1)/size), as chunk() in
// comm.go); an all-to-all brings every rank's copy of its share to it, it
// adds them in rank order, and an all-gather puts the shares back together
// on every rank. Every element is added once, by one rank, in rank order:
// the bits do not depend on the algorithm MPI picks. Each rank sends and
// receives 2·(size-1)/size of the buffer, as a bandwidth-optimal
// all-reduce does.
int rc_mpi_allreduce_ordered(rc_mpi *m, float *buf, int64_t n)
{
	const int P = m->size, me = m->rank;
	for (int64_t off = 0; off < n; off += m->piece) {
		int64_t k = n - off < m->piece ? n - off : m->piece;
		float *b = buf + off;
		int64_t lo = k * me / P, mine = k * (me + 1) / P - lo;
		for (int j = 0; j < P; j++) {
			int64_t jlo = k * j / P, jhi = k * (j + 1) / P;
			m->cnt[j] = (int)(jhi - jlo);
			m->dsp[j] = (int)jlo;
			m->rcnt[j] = (int)mine;
			m->rdsp[j] = (int)(mine * j);
		}
		int r = MPI_Alltoallv(b, m->cnt, m->dsp, MPI_FLOAT, m->scratch, m->rcnt, m->rdsp, MPI_FLOAT,
		                      m->comm);
		if (r != MPI_SUCCESS) {
			return r;
		}
		float *out = b + lo;
		memcpy(out, m->scratch, (size_t)mine * sizeof(float));
		for (int j = 1; j < P; j++) {
			const float *s = m->scratch + mine * j;
			for (int64_t i = 0; i < mine; i++) {
				out[i] += s[i];
			}
		}
		r = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, b, m->cnt, m->dsp, MPI_FLOAT, m->comm);
		if (r != MPI_SUCCESS) {
			return r;
		}
	}
	return MPI_SUCCESS;
}

// MPI's advice for a fixed order in one place: reduce to rank 0, then
// broadcast (the order is MPI_Reduce's, fixed for a given size and count).
int rc_mpi_reduce_bcast(rc_mpi *m, float *buf, int64_t n)
{
	for (int64_t off = 0; off < n; off += RC_MAX_COUNT) {
		int64_t k = n - off < RC_MAX_COUNT ? n - off : RC_MAX_COUNT;
		int r = MPI_Reduce(m->rank == 0 ? MPI_IN_PLACE : buf + off, buf + off, (int)k, MPI_FLOAT,
		                   MPI_SUM, 0, m->comm);
		if (r != MPI_SUCCESS) {
			return r;
		}
		if ((r = MPI_Bcast(buf + off, (int)k, MPI_FLOAT, 0, m->comm)) != MPI_SUCCESS) {
			return r;
		}
	}
	return MPI_SUCCESS;
}

int rc_mpi_bcast(rc_mpi *m, void *buf, int64_t bytes, int root)
{
	char *p = buf;
	for (int64_t off = 0; off < bytes; off += RC_MAX_COUNT) {
		int64_t k = bytes - off < RC_MAX_COUNT ? bytes - off : RC_MAX_COUNT;
		int r = MPI_Bcast(p + off, (int)k, MPI_BYTE, root, m->comm);
		if (r != MPI_SUCCESS) {
			return r;
		}
	}
	return MPI_SUCCESS;
}

int rc_mpi_allgather(rc_mpi *m, const void *send, void *recv, int64_t bytes)
{
	if (bytes > INT_MAX) {
		return MPI_ERR_COUNT;
	}
	return MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, m->comm);
}

int rc_mpi_barrier(rc_mpi *m) { return MPI_Barrier(m->comm); }

int rc_mpi_abort(rc_mpi *m, int code) { return MPI_Abort(m ? m->comm : MPI_COMM_WORLD, code); }

int rc_mpi_finalize(rc_mpi *m)
{
	if (m) {
		MPI_Comm_free(&m->comm);
		free(m->scratch);
		free(m->cnt);
		free(m);
	}
	int done = 0;
	MPI_Finalized(&done);
	return done ? MPI_SUCCESS : MPI_Finalize();
}
