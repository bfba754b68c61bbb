/* The planner's arena: bump allocation over chunks no larger than the
 * device's largest allocation. PLAN mode sizes chunks, BIND mode hands out the
 * same offsets in allocated chunks (see nn_internal.h). */
#include <stdio.h>
#include <string.h>

#include "nn/nn_internal.h"

void rd_arena_begin(rd_arena *a, int bind) {
    a->bind = bind;
    a->failed = 0;
    if (!bind) {
        a->n_chunks = 0;
        memset(a->used, 0, sizeof a->used);
    } else {
        memset(a->used, 0, sizeof a->used);
        a->n_chunks = 0;
    }
}

static size_t place(rd_arena *a, size_t len, cl_mem *mem) {
    len = rd_round_up(len ? len : 1, RD_ALIGN_FLOATS);
    if (len > a->chunk_limit) {
        a->failed = 1;
        *mem = NULL;
        return 0;
    }
    if (a->n_chunks == 0 || a->used[a->n_chunks - 1] + len > a->chunk_limit) {
        if (a->n_chunks == RD_MAX_CHUNKS) {
            a->failed = 1;
            *mem = NULL;
            return 0;
        }
        a->n_chunks++;
    }
    int c = a->n_chunks - 1;
    size_t off = a->used[c];
    a->used[c] += len;
    *mem = a->bind ? rd_buffer_mem(a->buf[c]) : NULL;
    return off;
}

rd_tensor rd_arena_tensor(rd_arena *a, int n, int c, int h, int w) {
    cl_mem mem;
    size_t off = place(a, (size_t)n * c * h * w, &mem);
    return rd_tensor_make(mem, off, n, c, h, w);
}

rd_vec rd_arena_vec(rd_arena *a, size_t len) {
    cl_mem mem;
    size_t off = place(a, len, &mem);
    return rd_vec_make(mem, off, len);
}

size_t rd_arena_bytes(const rd_arena *a) {
    size_t total = 0;
    for (int i = 0; i < a->n_chunks; i++) total += a->used[i];
    return total * sizeof(float);
}

rd_status rd_arena_allocate(rd_ctx *ctx, rd_arena *a, const char *what) {
    for (int i = 0; i < a->n_chunks; i++) {
        if (a->buf[i] && a->capacity[i] >= a->used[i]) continue;
        rd_free(ctx, a->buf[i]);
        a->buf[i] = NULL;
        a->capacity[i] = 0;
        char name[96];
        snprintf(name, sizeof name, "%s[%d]", what, i);
        RD_TRY(rd_alloc(ctx, a->used[i] * sizeof(float), name, &a->buf[i]));
        a->capacity[i] = a->used[i];
    }
    /* chunks no longer planned are released */
    for (int i = a->n_chunks; i < RD_MAX_CHUNKS; i++) {
        rd_free(ctx, a->buf[i]);
        a->buf[i] = NULL;
        a->capacity[i] = 0;
    }
    return RD_OK;
}

void rd_arena_free(rd_ctx *ctx, rd_arena *a) {
    for (int i = 0; i < RD_MAX_CHUNKS; i++) {
        rd_free(ctx, a->buf[i]);
        a->buf[i] = NULL;
        a->capacity[i] = 0;
    }
}
