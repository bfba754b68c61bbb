/* radars-cl: the processes of one job (data-parallel search and training over Open MPI).
 *
 * One rank per device. Each rank holds the whole network on its own device and
 * takes its shard of every batch; after each backward pass the gradients are
 * averaged with one MPI_Allreduce over the contiguous gradient buffers, so every
 * rank applies the same update to the same parameters. Without MPI (a build
 * without it, or a process not started by mpirun) a job is one rank and every
 * call here is a no-op: the single-process path is unchanged.
 *
 * A context carries its job (rd_ctx_set_comm): the search and training loops
 * read it from there. Every collective reports failures into err naming the
 * operation; a rank that dies makes mpirun stop the job. */
#ifndef RADARS_COMM_H
#define RADARS_COMM_H

#include "radars/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rd_comm rd_comm;

/* What the all-reduces of a job cost so far (this rank's view). */
typedef struct rd_comm_stats {
    int64_t allreduces;      /* calls */
    int64_t bytes;           /* payload bytes reduced (per rank, each way) */
    double seconds;          /* wall time inside them once the device finished the work before them:
                                device <-> host copies and MPI */
    double mpi_seconds;      /* of which inside MPI_Allreduce (waiting there for the slowest rank included) */
} rd_comm_stats;

/* The job this process belongs to: MPI_COMM_WORLD when the process was started by
 * an MPI launcher (mpirun; detected from its environment) and the library was
 * built with MPI, else a job of one. Call once, before any other thread starts. */
rd_status rd_comm_init(int *argc, char ***argv, rd_comm **out, rd_err *err);
/* Ends the job (MPI_Finalize); NULL is fine. */
void rd_comm_free(rd_comm *c);
/* Whether this build can run over MPI at all. */
int rd_comm_mpi_built(void);
/* rank, ranks, and the rank among those on the same machine (NULL: 0, 1, 0). */
int rd_comm_rank(const rd_comm *c);
int rd_comm_size(const rd_comm *c);
int rd_comm_local_rank(const rd_comm *c);
rd_comm_stats rd_comm_get_stats(const rd_comm *c);

/* Element-wise sums over the ranks, in place, the same bits on every rank. */
rd_status rd_comm_sum_doubles(rd_comm *c, double *v, int n, rd_err *err);
/* Device vectors of ctx summed over the ranks, vector i multiplied by scales[i] (NULL:
 * all 1), in place: all of them in one MPI_Allreduce through one host staging buffer. */
rd_status rd_comm_allreduce_vecs(rd_comm *c, rd_ctx *ctx, const rd_vec *vecs, const float *scales, int n);
/* bytes from root to every rank. */
rd_status rd_comm_bcast(rd_comm *c, void *buf, size_t bytes, int root, rd_err *err);
/* Every rank's `bytes` bytes, in rank order, on every rank (recv: size x bytes). */
rd_status rd_comm_allgather(rd_comm *c, const void *send, void *recv, size_t bytes, rd_err *err);
/* Waits for every rank. */
rd_status rd_comm_barrier(rd_comm *c, rd_err *err);
/* Fails (RD_ERR_ARG, on every rank) naming the first rank whose value differs from
 * rank 0's: "<what>: rank R differs from rank 0 (...)". */
rd_status rd_comm_check_same(rd_comm *c, uint64_t value, const char *what, rd_err *err);
/* The same check on a hash of len bytes of data (a genotype's text, say). */
rd_status rd_comm_check_bytes(rd_comm *c, const void *data, size_t len, const char *what, rd_err *err);
/* The same check on a hash of device vectors of ctx (parameters: weights, running statistics,
 * alphas), read to the host; reports into ctx's error. */
rd_status rd_comm_check_vecs(rd_comm *c, rd_ctx *ctx, const rd_vec *vecs, int n, const char *what);
/* Stops the whole job at once (MPI_Abort): a rank that cannot go on while the
 * others wait in a collective. Returns only without MPI. */
void rd_comm_abort(rd_comm *c, int code);

/* The job a context's work belongs to (NULL: a job of one). */
void rd_ctx_set_comm(rd_ctx *ctx, rd_comm *c);
rd_comm *rd_ctx_comm(const rd_ctx *ctx);


#ifdef __cplusplus
}
#endif
#endif
