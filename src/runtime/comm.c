/* The processes of one job: Open MPI when built with it and started by mpirun,
 * else a job of one (radars/comm.h).
 *
 * Gradients go through the host: read (blocking), one MPI_Allreduce in place,
 * scaled, written back. That works with every OpenCL driver and every MPI; a
 * GPU-aware MPI could reduce device memory directly (README: scaling). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "radars/comm.h"
#include "runtime/runtime.h"

#ifdef RADARS_HAVE_MPI
#include <mpi.h>
#endif

struct rd_comm {
    int rank, size, local_rank;
    int mpi;                 /* MPI_Init was called by us */
    float *staging;          /* host copy of the vectors being reduced */
    size_t staging_len;
    rd_comm_stats stats;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int rd_comm_mpi_built(void) {
#ifdef RADARS_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

/* Started by an MPI launcher? (Open MPI's and the PMI/PMIx variables other launchers set.) */
static int launched_by_mpi(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

#ifdef RADARS_HAVE_MPI
static rd_status mpi_fail(const rd_comm *c, rd_err *err, int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    return rd_fail(err, RD_ERR_IO, "MPI %s on rank %d of %d failed: %s", what, c->rank, c->size, msg);
}
#endif

rd_status rd_comm_init(int *argc, char ***argv, rd_comm **out, rd_err *err) {
    *out = NULL;
    rd_comm *c = calloc(1, sizeof *c);
    if (!c) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    c->size = 1;
    if (launched_by_mpi()) {
#ifdef RADARS_HAVE_MPI
        int provided = 0, rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) {
            free(c);
            return rd_fail(err, RD_ERR_IO, "MPI_Init failed (error %d)", rc);
        }
        c->mpi = 1;
        /* errors come back as codes, so that each names its rank and operation */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
        MPI_Comm_size(MPI_COMM_WORLD, &c->size);
        MPI_Comm node;
        if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
            MPI_Comm_rank(node, &c->local_rank);
            MPI_Comm_free(&node);
        }
#else
        const char *n = getenv("OMPI_COMM_WORLD_SIZE") ? getenv("OMPI_COMM_WORLD_SIZE") : getenv("PMI_SIZE");
        if (n && atoi(n) > 1) {
            free(c);
            return rd_fail(err, RD_ERR_ARG,
                           "started by mpirun with %s processes, but this radars was built without MPI "
                           "(install libopenmpi-dev and configure again)", n);
        }
#endif
    }
    *out = c;
    return RD_OK;
}

void rd_comm_free(rd_comm *c) {
    if (!c) return;
#ifdef RADARS_HAVE_MPI
    if (c->mpi) MPI_Finalize();
#endif
    free(c->staging);
    free(c);
}

int rd_comm_rank(const rd_comm *c) { return c ? c->rank : 0; }
int rd_comm_size(const rd_comm *c) { return c ? c->size : 1; }
int rd_comm_local_rank(const rd_comm *c) { return c ? c->local_rank : 0; }
rd_comm_stats rd_comm_get_stats(const rd_comm *c) {
    rd_comm_stats s = {0};
    return c ? c->stats : s;
}

rd_status rd_comm_sum_doubles(rd_comm *c, double *v, int n, rd_err *err) {
    if (!c || c->size == 1 || n == 0) return RD_OK;
#ifdef RADARS_HAVE_MPI
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(c, err, rc, "all-reduce of statistics");
#endif
    return RD_OK;
}

rd_status rd_comm_allreduce_vecs(rd_comm *c, rd_ctx *ctx, const rd_vec *vecs, const float *scales, int n) {
    if (!c || c->size == 1) return RD_OK;
    /* the backward pass first (a blocking read would wait for it anyway): what is timed
     * below is the all-reduce alone, copies and MPI */
    RD_TRY(rd_finish(ctx));
    double start = now();
    size_t total = 0;
    for (int i = 0; i < n; i++) total += vecs[i].len;
    if (total > (size_t)0x7fffffff)
        return rd_fail(rd_ctx_err(ctx), RD_ERR_TOO_LARGE, "all-reduce of %zu floats: more than MPI's count", total);
    if (total > c->staging_len) {
        float *p = realloc(c->staging, total * sizeof *p);
        if (!p) return rd_fail(rd_ctx_err(ctx), RD_ERR_OUT_OF_MEMORY, "out of host memory for an all-reduce of %zu floats", total);
        c->staging = p;
        c->staging_len = total;
    }
    size_t off = 0;
    for (int i = 0; i < n; off += vecs[i].len, i++) RD_TRY(rd_vec_read(ctx, &vecs[i], c->staging + off));
#ifdef RADARS_HAVE_MPI
    double t = now();
    int rc = MPI_Allreduce(MPI_IN_PLACE, c->staging, (int)total, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    c->stats.mpi_seconds += now() - t;
    if (rc != MPI_SUCCESS) return mpi_fail(c, rd_ctx_err(ctx), rc, "all-reduce of the gradients");
#endif
    off = 0;
    for (int i = 0; i < n; off += vecs[i].len, i++) {
        float *p = c->staging + off;
        if (scales && scales[i] != 1.0f)
            for (size_t j = 0; j < vecs[i].len; j++) p[j] *= scales[i];
        RD_TRY(rd_vec_write(ctx, &vecs[i], p));
    }
    c->stats.allreduces++;
    c->stats.bytes += (int64_t)(total * sizeof(float));
    c->stats.seconds += now() - start;
    return RD_OK;
}

rd_status rd_comm_bcast(rd_comm *c, void *buf, size_t bytes, int root, rd_err *err) {
    if (!c || c->size == 1 || bytes == 0) return RD_OK;
#ifdef RADARS_HAVE_MPI
    if (bytes > (size_t)0x7fffffff) return rd_fail(err, RD_ERR_TOO_LARGE, "broadcast of %zu bytes: too large", bytes);
    int rc = MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(c, err, rc, "broadcast");
#endif
    return RD_OK;
}

rd_status rd_comm_allgather(rd_comm *c, const void *send, void *recv, size_t bytes, rd_err *err) {
    if (!c || c->size == 1) {
        memmove(recv, send, bytes);
        return RD_OK;
    }
#ifdef RADARS_HAVE_MPI
    if (bytes > (size_t)0x7fffffff) return rd_fail(err, RD_ERR_TOO_LARGE, "all-gather of %zu bytes: too large", bytes);
    int rc = MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(c, err, rc, "all-gather");
#endif
    return RD_OK;
}

rd_status rd_comm_barrier(rd_comm *c, rd_err *err) {
    if (!c || c->size == 1) return RD_OK;
#ifdef RADARS_HAVE_MPI
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(c, err, rc, "barrier");
#endif
    return RD_OK;
}

rd_status rd_comm_check_same(rd_comm *c, uint64_t value, const char *what, rd_err *err) {
    int n = rd_comm_size(c);
    if (n == 1) return RD_OK;
    uint64_t *all = malloc((size_t)n * sizeof *all);
    if (!all) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status s = rd_comm_allgather(c, &value, all, sizeof value, err);
    for (int r = 1; s == RD_OK && r < n; r++)
        if (all[r] != all[0]) {
            s = rd_fail(err, RD_ERR_NUMERIC, "%s: rank %d differs from rank 0 (%016llx against %016llx)", what, r,
                        (unsigned long long)all[r], (unsigned long long)all[0]);
            break;
        }
    free(all);
    return s;
}

void rd_comm_abort(rd_comm *c, int code) {
#ifdef RADARS_HAVE_MPI
    if (c && c->mpi && c->size > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
#endif
    (void)c;
    (void)code;
}

void rd_ctx_set_comm(rd_ctx *ctx, rd_comm *c) { ctx->comm = c; }
rd_comm *rd_ctx_comm(const rd_ctx *ctx) { return ctx ? ctx->comm : NULL; }

rd_status rd_comm_check_bytes(rd_comm *c, const void *data, size_t len, const char *what, rd_err *err) {
    if (rd_comm_size(c) == 1) return RD_OK;
    return rd_comm_check_same(c, rd_hash64(data, len, 0), what, err);
}

rd_status rd_comm_check_vecs(rd_comm *c, rd_ctx *ctx, const rd_vec *vecs, int n, const char *what) {
    if (rd_comm_size(c) == 1) return RD_OK;
    size_t most = 1;
    for (int i = 0; i < n; i++) most = vecs[i].len > most ? vecs[i].len : most;
    float *h = malloc(most * sizeof *h);
    if (!h) return rd_fail(rd_ctx_err(ctx), RD_ERR_OUT_OF_MEMORY, "out of host memory for %zu floats", most);
    uint64_t hash = 0;
    rd_status s = RD_OK;
    for (int i = 0; i < n && s == RD_OK; i++) {
        s = rd_vec_read(ctx, &vecs[i], h);
        hash = rd_hash64(h, vecs[i].len * sizeof *h, hash);
    }
    free(h);
    return s == RD_OK ? rd_comm_check_same(c, hash, what, rd_ctx_err(ctx)) : s;
}
