/* Max / average pooling and global average pooling (kernels: cl/pool.cl). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops_internal.h"

#define PROG "pool"

/* Max backward's arg-max bytes live in scratch slot 0: a pooling call never
 * overlaps a convolution call, which is the slot's other user. */
enum { POOL_SCRATCH_SLOT = RD_SCRATCH_CONV0 };
/* The arg-max is stored in one byte: ky * K + kx < 256. */
enum { POOL_MAX_K = 15 };

int rd_pool_out_size(const rd_pool_params *p, int in) {
    if (p->stride < 1 || p->k < 1) return 0;
    int span = in + 2 * p->pad - p->k;
    return span < 0 ? 0 : span / p->stride + 1;
}

static const char *pool_name(const rd_pool_params *p) {
    return p->kind == RD_POOL_MAX ? "max_pool" : "avg_pool";
}

/* Checks the parameters and that y has the pooled shape of x. */
static rd_status check_pool(rd_ctx *ctx, const char *op, const rd_pool_params *p, const rd_tensor *x,
                            const rd_tensor *y) {
    if (p->kind != RD_POOL_MAX && p->kind != RD_POOL_AVG)
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: unknown pooling kind %d", op, (int)p->kind);
    if (p->k < 1 || p->k > POOL_MAX_K || p->stride < 1 || p->pad < 0 || p->pad > p->k / 2)
        return rd_fail(&ctx->err, RD_ERR_ARG,
                       "%s: window %d, stride %d, padding %d not supported (need 1 <= k <= %d, stride >= 1, "
                       "0 <= padding <= k/2)",
                       op, p->k, p->stride, p->pad, POOL_MAX_K);
    if (!x->mem) return rd_fail(&ctx->err, RD_ERR_ARG, "%s: x has no device memory", op);
    int oh = rd_pool_out_size(p, x->h), ow = rd_pool_out_size(p, x->w);
    if (oh < 1 || ow < 1) {
        char s[64];
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: input %s is smaller than the %dx%d window", op,
                       rd_tensor_shape_str(x, s, sizeof s), p->k, p->k);
    }
    return rd_check_shape(ctx, op, y, "y", x->n, x->c, oh, ow);
}

/* Kernel layouts (cl/pool.cl):
 *  items: one work-item per output (per input pixel for the gathers), coalesced: GPUs;
 *  tiles: one work-item per plane, padded __local tile, float8: CPUs, for the
 *         DARTS windows (K = 3, 5, stride 1, 2, padding K/2) when the tiles fit;
 *         max backward computes the arg-max in __local memory (no scratch);
 *  rows:  one work-item per row, scalar: CPUs, any window.
 * Items come unrolled for the DARTS windows or generic. RADARS_POOL_KERNELS=
 * items|tiles|rows overrides the choice (tiles falls back to rows where it does
 * not apply); the tests run every layout. */
typedef enum { LAYOUT_ITEMS, LAYOUT_TILES, LAYOUT_ROWS } pool_layout;
enum { TILE_SLACK = 32 };  /* POOL_SLACK in cl/pool.cl */

static int darts_window(const rd_pool_params *p) {
    return (p->k == 3 || p->k == 5) && (p->stride == 1 || p->stride == 2) && p->pad == p->k / 2;
}

/* __local bytes of the tile kernels: the padded x tile (forward; max backward's
 * arg-max), the gathers' padded dy tile, arg tile and row buffer. */
typedef struct tile_sizes { size_t x, dy, arg, row; } tile_sizes;
static tile_sizes tile_bytes(const rd_pool_params *p, const rd_tensor *x, const rd_tensor *y) {
    tile_sizes t;
    size_t hp = (size_t)x->h + 2 * (size_t)p->pad, wp = (size_t)x->w + 2 * (size_t)p->pad;
    size_t tiles = ((size_t)y->h + 2 * (size_t)p->k) * ((size_t)y->w + 2 * (size_t)p->k) + TILE_SLACK;
    t.x = (hp * wp + TILE_SLACK) * sizeof(float);
    t.dy = tiles * sizeof(float);
    t.arg = rd_round_up(tiles, 16);
    t.row = ((size_t)x->w + 2 * (size_t)p->pad + TILE_SLACK) * sizeof(float);
    return t;
}

static pool_layout choose_layout(const rd_ctx *ctx, const rd_pool_params *p, const rd_tensor *x,
                                 const rd_tensor *y) {
    const char *env = getenv("RADARS_POOL_KERNELS");
    pool_layout want = ctx->dev.type & CL_DEVICE_TYPE_GPU ? LAYOUT_ITEMS : LAYOUT_TILES;
    if (env && !strcmp(env, "items")) want = LAYOUT_ITEMS;
    else if (env && !strcmp(env, "tiles")) want = LAYOUT_TILES;
    else if (env && !strcmp(env, "rows")) want = LAYOUT_ROWS;
    if (want == LAYOUT_TILES) {
        tile_sizes t = tile_bytes(p, x, y);
        size_t bwd = t.x + t.dy + t.arg + t.row;  /* max backward's: the most of any tile kernel */
        if (!darts_window(p) || bwd > ctx->dev.local_mem) want = LAYOUT_ROWS;
    }
    return want;
}

size_t rd_pool2d_scratch_bytes(rd_ctx *ctx, const rd_pool_params *p, const rd_tensor *x, const rd_tensor *y) {
    if (p->kind != RD_POOL_MAX || choose_layout(ctx, p, x, y) == LAYOUT_TILES) return 0;
    return rd_tensor_numel(y);
}

typedef enum { POOL_FORWARD, POOL_ARGMAX, POOL_GATHER } pool_pass;

/* One pooling kernel. Forward and arg-max read x (in) and write y (out) or arg;
 * the gathers read dy (in) and arg and write dx (out); the tile gathers read x
 * (xs) instead of arg. xs / ys: input and output shapes. */
static rd_status launch(rd_ctx *ctx, const char *op, const rd_pool_params *p, pool_layout layout, pool_pass pass,
                        const char *base, const rd_tensor *xs, const rd_tensor *ys, const rd_tensor *in, cl_mem arg,
                        const rd_tensor *out, int acc_flag) {
    char name[64];
    int generic = !darts_window(p);
    static const char *const suffix[] = {"", "_tile", "_rows"};
    if (generic || layout == LAYOUT_ROWS) snprintf(name, sizeof name, "%s%s", base, suffix[layout]);
    else snprintf(name, sizeof name, "%s%s_k%ds%d", base, suffix[layout], p->k, p->stride);
    cl_uint C = (cl_uint)xs->c, n = (cl_uint)xs->n;
    cl_int H = xs->h, W = xs->w, OH = ys->h, OW = ys->w, K = p->k, S = p->stride, P = p->pad;
    cl_int acc = acc_flag != 0;
#define GEOM RD_ARG(H), RD_ARG(W), RD_ARG(OH), RD_ARG(OW)
#define KSP RD_ARG(K), RD_ARG(S), RD_ARG(P)
    if (layout == LAYOUT_TILES) {
        size_t g[2] = {(size_t)xs->c, (size_t)xs->n}, l[2] = {1, 1};
        tile_sizes t = tile_bytes(p, xs, ys);
        switch (pass) {
        case POOL_FORWARD:
            return rd_launch(ctx, PROG, name, 2, g, l, RD_TARG(in), RD_TARG(out), RD_LOCAL(t.x), RD_ARG(C),
                             RD_ARG(n), GEOM, RD_END);
        case POOL_ARGMAX:
            return rd_fail(&ctx->err, RD_ERR_ARG, "%s: the tile kernels take no arg-max pass", op);
        case POOL_GATHER: {
            /* average pooling reads neither x nor the arg-max tile: a float each stands in */
            int is_max = p->kind == RD_POOL_MAX;
            return rd_launch(ctx, PROG, name, 2, g, l, RD_TARG(xs), RD_TARG(in), RD_TARG(out),
                             RD_LOCAL(is_max ? t.x : sizeof(float)), RD_LOCAL(t.dy),
                             RD_LOCAL(is_max ? t.arg : sizeof(float)), RD_LOCAL(t.row), RD_ARG(C), RD_ARG(n),
                             RD_ARG(acc), GEOM, RD_END);
        }
        }
    }
    if (layout == LAYOUT_ROWS) {
        const rd_tensor *walk = pass == POOL_GATHER ? xs : ys;  /* whose rows the work-items take */
        size_t g[2] = {(size_t)walk->c * walk->h, (size_t)xs->n};
        switch (pass) {
        case POOL_FORWARD:
            return rd_launch(ctx, PROG, name, 2, g, NULL, RD_TARG(in), RD_TARG(out), RD_ARG(C), RD_ARG(n), GEOM, KSP,
                             RD_END);
        case POOL_ARGMAX:
            return rd_launch(ctx, PROG, name, 2, g, NULL, RD_TARG(in), RD_ARG(arg), RD_ARG(C), RD_ARG(n), GEOM, KSP,
                             RD_END);
        case POOL_GATHER:
            return rd_launch(ctx, PROG, name, 2, g, NULL, RD_TARG(in), RD_ARG(arg), RD_TARG(out), RD_ARG(C),
                             RD_ARG(n), RD_ARG(acc), GEOM, KSP, RD_END);
        }
    }
    /* items: the kernels split an index with float reciprocals, exact below 2^24 elements per image */
    const rd_tensor *walk = pass == POOL_GATHER ? xs : ys;
    size_t per_image = rd_tensor_chw(walk);
    if (per_image >= (1u << 24))
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: %zu elements per image, at most 2^24 supported", op, per_image);
    float rcp_plane = 1.0f / (float)(walk->h * walk->w), rcp_row = 1.0f / (float)walk->w;
    size_t g[2] = {per_image, (size_t)xs->n};
#define SPLIT RD_ARG(rcp_plane), RD_ARG(rcp_row)
    switch (pass) {
    case POOL_FORWARD:
        return generic ? rd_launch(ctx, PROG, name, 2, g, NULL, RD_TARG(in), RD_TARG(out), RD_ARG(C), RD_ARG(n), SPLIT,
                                   GEOM, KSP, RD_END)
                       : rd_launch(ctx, PROG, name, 2, g, NULL, RD_TARG(in), RD_TARG(out), RD_ARG(C), RD_ARG(n), SPLIT,
                                   GEOM, RD_END);
    case POOL_ARGMAX:
        return generic ? rd_launch(ctx, PROG, name, 2, g, NULL, RD_TARG(in), RD_ARG(arg), RD_ARG(C), RD_ARG(n), SPLIT,
                                   GEOM, KSP, RD_END)
                       : rd_launch(ctx, PROG, name, 2, g, NULL, RD_TARG(in), RD_ARG(arg), RD_ARG(C), RD_ARG(n), SPLIT,
                                   GEOM, RD_END);
    case POOL_GATHER:
        return generic ? rd_launch(ctx, PROG, name, 2, g, NULL, RD_TARG(in), RD_ARG(arg), RD_TARG(out), RD_ARG(C),
                                   RD_ARG(n), RD_ARG(acc), SPLIT, GEOM, KSP, RD_END)
                       : rd_launch(ctx, PROG, name, 2, g, NULL, RD_TARG(in), RD_ARG(arg), RD_TARG(out), RD_ARG(C),
                                   RD_ARG(n), RD_ARG(acc), SPLIT, GEOM, RD_END);
    }
#undef GEOM
#undef KSP
#undef SPLIT
    return RD_OK;
}

rd_status rd_pool2d_forward(rd_ctx *ctx, const rd_pool_params *p, const rd_tensor *x, const rd_tensor *y) {
    const char *op = pool_name(p);
    RD_TRY(check_pool(ctx, op, p, x, y));
    const char *kernel = p->kind == RD_POOL_MAX ? "pool_max_forward" : "pool_avg_forward";
    return launch(ctx, op, p, choose_layout(ctx, p, x, y), POOL_FORWARD, kernel, x, y, x, NULL, y, 0);
}

rd_status rd_pool2d_backward(rd_ctx *ctx, const rd_pool_params *p, const rd_tensor *x, const rd_tensor *dy,
                             const rd_tensor *dx, int dx_accumulate) {
    const char *op = p->kind == RD_POOL_MAX ? "max_pool backward" : "avg_pool backward";
    RD_TRY(check_pool(ctx, op, p, x, dy));
    RD_TRY(rd_check_shape(ctx, op, dx, "dx", x->n, x->c, x->h, x->w));
    pool_layout layout = choose_layout(ctx, p, x, dy);
    cl_mem arg = NULL;
    if (p->kind == RD_POOL_MAX && layout != LAYOUT_TILES) {
        RD_TRY(rd_scratch(ctx, POOL_SCRATCH_SLOT, rd_pool2d_scratch_bytes(ctx, p, x, dy), &arg));
        RD_TRY(launch(ctx, op, p, layout, POOL_ARGMAX, "pool_max_argmax", x, dy, x, arg, NULL, 0));
    }
    const char *kernel = p->kind == RD_POOL_MAX ? "pool_max_backward" : "pool_avg_backward";
    return launch(ctx, op, p, layout, POOL_GATHER, kernel, x, dy, dy, arg, dx, dx_accumulate);
}

rd_status rd_global_avgpool_forward(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *y) {
    if (!x->mem) return rd_fail(&ctx->err, RD_ERR_ARG, "global_avgpool: x has no device memory");
    RD_TRY(rd_check_shape(ctx, "global_avgpool", y, "y", x->n, x->c, 1, 1));
    cl_uint C = (cl_uint)x->c, n = (cl_uint)x->n, hw = (cl_uint)(x->h * x->w);
    size_t g[2] = {(size_t)x->c, (size_t)x->n};
    return rd_launch(ctx, PROG, "global_avgpool_forward", 2, g, NULL, RD_TARG(x), RD_TARG(y), RD_ARG(C), RD_ARG(n),
                     RD_ARG(hw), RD_END);
}

rd_status rd_global_avgpool_backward(rd_ctx *ctx, const rd_tensor *dy, const rd_tensor *dx, int dx_accumulate) {
    if (!dx->mem) return rd_fail(&ctx->err, RD_ERR_ARG, "global_avgpool backward: dx has no device memory");
    RD_TRY(rd_check_shape(ctx, "global_avgpool backward", dy, "dy", dx->n, dx->c, 1, 1));
    cl_uint C = (cl_uint)dx->c, n = (cl_uint)dx->n, hw = (cl_uint)(dx->h * dx->w);
    cl_int acc = dx_accumulate != 0;
    size_t g[2] = {rd_tensor_chw(dx), (size_t)dx->n};
    return rd_launch(ctx, PROG, "global_avgpool_backward", 2, g, NULL, RD_TARG(dy), RD_TARG(dx), RD_ARG(C),
                     RD_ARG(n), RD_ARG(hw), RD_ARG(acc), RD_END);
}
