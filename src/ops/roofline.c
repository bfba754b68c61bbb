/* The device's roofline: achievable bandwidth and compute peak through the same
 * OpenCL device the ops run on (kernels: cl/roofline.cl). */
#include <math.h>
#include <time.h>

#include "ops/ops_internal.h"

#define PROG "roofline"
enum { ROOF_ITERS = 256, ROOF_LANES = 64 };  /* as in cl/roofline.cl: 8 chains of float8 */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* The fastest of reps runs of an enqueued launch (after one warm-up). */
static rd_status best_of(rd_ctx *ctx, int reps, rd_status (*launch)(rd_ctx *, void *), void *arg, double *best) {
    RD_TRY(launch(ctx, arg));
    RD_TRY(rd_finish(ctx));
    *best = INFINITY;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        RD_TRY(launch(ctx, arg));
        RD_TRY(rd_finish(ctx));
        double dt = now_s() - t0;
        if (dt < *best) *best = dt;
    }
    return RD_OK;
}

typedef struct copy_arg { cl_mem src, dst; cl_ulong n; size_t items; } copy_arg;
static rd_status launch_copy(rd_ctx *ctx, void *p) {
    copy_arg *a = p;
    size_t g[1] = {a->items};
    return rd_launch(ctx, PROG, "roof_copy", 1, g, NULL, RD_ARG(a->src), RD_ARG(a->dst), RD_ARG(a->n), RD_END);
}

typedef struct fma_arg { cl_mem out; size_t items; } fma_arg;
static rd_status launch_fma(rd_ctx *ctx, void *p) {
    fma_arg *a = p;
    size_t g[1] = {a->items};
    cl_float m = 0.999f, b = 1e-3f;
    return rd_launch(ctx, PROG, "roof_fma", 1, g, NULL, RD_ARG(a->out), RD_ARG(m), RD_ARG(b), RD_END);
}

rd_status rd_roofline_measure(rd_ctx *ctx, size_t copy_bytes, rd_roofline *out) {
    if (copy_bytes < (1u << 20)) copy_bytes = 1u << 20;
    copy_bytes &= ~(size_t)15;
    rd_buffer *src = NULL, *dst = NULL, *fout = NULL;
    rd_status s = rd_alloc(ctx, copy_bytes, "roofline copy source", &src);
    if (s == RD_OK) s = rd_alloc(ctx, copy_bytes, "roofline copy destination", &dst);
    /* work-items: enough groups for every compute unit many times over */
    size_t cus = ctx->dev.compute_units ? ctx->dev.compute_units : 1;
    size_t fma_items = rd_round_up(cus * 4096, ctx->wg);
    if (s == RD_OK) s = rd_alloc(ctx, fma_items * sizeof(float), "roofline fma output", &fout);
    if (s == RD_OK) {
        rd_vec v = {rd_buffer_mem(src), 0, copy_bytes / sizeof(float)};
        s = rd_vec_fill(ctx, &v, 1.0f);
    }
    double t_copy = 0, t_fma = 0;
    if (s == RD_OK) {
        copy_arg ca = {rd_buffer_mem(src), rd_buffer_mem(dst), copy_bytes / 16, copy_bytes / 16};
        s = best_of(ctx, 5, launch_copy, &ca, &t_copy);
    }
    if (s == RD_OK) {
        fma_arg fa = {rd_buffer_mem(fout), fma_items};
        s = best_of(ctx, 5, launch_fma, &fa, &t_fma);
    }
    rd_free(ctx, src);
    rd_free(ctx, dst);
    rd_free(ctx, fout);
    if (s != RD_OK) return s;
    out->bytes_per_s = 2.0 * copy_bytes / t_copy;
    out->flops_per_s = 2.0 * ROOF_ITERS * ROOF_LANES * (double)fma_items / t_fma;
    return RD_OK;
}

double rd_roofline_bound_s(const rd_roofline *r, double flops, double bytes) {
    double tc = r->flops_per_s > 0 ? flops / r->flops_per_s : 0, tm = r->bytes_per_s > 0 ? bytes / r->bytes_per_s : 0;
    return tc > tm ? tc : tm;
}
