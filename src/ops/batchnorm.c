/* Batch normalization, PyTorch semantics (kernels: cl/batchnorm.cl).
 *
 * Training: per-channel statistics over N, H, W in two stages (chunk partials,
 * then a per-channel merge), then one element-wise pass that normalizes and,
 * for the mixed op, adds scale[0] * y into the node sum. Backward: two sums per
 * channel (sum dy, sum dy * xhat) in two stages, then one element-wise pass.
 * Stage 2 merges each channel once (one work-item per channel), for either layout.
 * On CPUs with channels to spare, one work-item per channel runs all three steps
 * of a single batch norm in one launch (the channel kernels, see use_channels). */
#include <stdlib.h>
#include <string.h>

#include "ops/ops_internal.h"

/* The most slices the stack kernels take at once (their private arrays): cl/batchnorm.cl
 * is built with it as -DBN_STACK_MAX, and larger stacks take the per-slice launches. */
#define BN_STACK_MAX 16
#define BN_STR_(v) #v
#define BN_STR(v) BN_STR_(v)
#define PROG "batchnorm -DBN_STACK_MAX=" BN_STR(BN_STACK_MAX)

const char *rd_batchnorm_program(void) { return PROG; }

/* Coefficient floats per channel at the start of the scratch (backward needs 5, forward 3). */
enum { BN_COEF = 5 };

/* A vector argument that may be absent: NULL memory is passed to the kernel. */
static rd_vec opt_vec(const rd_vec *v) {
    rd_vec none = {NULL, 0, 0};
    return v && v->mem ? *v : none;
}

/* Kernel layout: stage-1 work-groups over (chunk, channel) with element-wise
 * passes over (c*h*w, n) (GPUs: coalesced, many groups), or one work-item per
 * (channel, image) plane, float8 along it (CPUs: vector loops, no barriers).
 * On CPUs a single training batch norm with at least 4 channels per compute
 * unit runs as one work-item per channel instead (the channel kernels: stage 1,
 * stage 2 and the element-wise pass in one launch, with the planes' partials).
 * RADARS_BN_KERNELS=groups|planes|channels overrides the choice (tests run all). */
static int use_planes(const rd_ctx *ctx) {
    const char *env = getenv("RADARS_BN_KERNELS");
    if (env && !strcmp(env, "groups")) return 0;
    if (env && (!strcmp(env, "planes") || !strcmp(env, "channels"))) return 1;
    return !(ctx->dev.type & CL_DEVICE_TYPE_GPU);
}

enum { BN_CHANNELS_PER_UNIT = 4 };  /* the least channels per compute unit for the channel kernels */

static int use_channels(const rd_ctx *ctx, const rd_tensor *x) {
    const char *env = getenv("RADARS_BN_KERNELS");
    if (env) return !strcmp(env, "channels");
    size_t units = ctx->dev.compute_units ? ctx->dev.compute_units : 1;
    return use_planes(ctx) && (size_t)x->c >= BN_CHANNELS_PER_UNIT * units;
}

/* One work-item per channel, each its own work-group, so that the channels spread over the units. */
static void channel_range(const rd_tensor *x, size_t g[1], size_t l[1]) {
    g[0] = (size_t)x->c;
    l[0] = 1;
}

/* Number of partials per channel and the values each covers (L). Planes: one
 * per image. Groups: each work-item folds up to 16 values; fewer when that
 * leaves less than two work-groups per compute unit (few channels, small images). */
static size_t bn_chunks(const rd_ctx *ctx, const rd_tensor *x, size_t *chunk_len) {
    size_t m = (size_t)x->n * x->h * x->w;
    if (use_planes(ctx)) {
        *chunk_len = (size_t)x->h * x->w;
        return x->n > 0 ? (size_t)x->n : 1;
    }
    size_t items = 16, want = 2 * (size_t)(ctx->dev.compute_units ? ctx->dev.compute_units : 1);
    while (items > 1 && (size_t)x->c * ((m + ctx->wg * items - 1) / (ctx->wg * items)) < want) items /= 2;
    *chunk_len = ctx->wg * items;
    size_t chunks = (m + *chunk_len - 1) / *chunk_len;
    return chunks ? chunks : 1;
}

size_t rd_batchnorm_scratch_bytes(rd_ctx *ctx, const rd_tensor *x) {
    size_t len, chunks = bn_chunks(ctx, x, &len);
    return ((size_t)BN_COEF * x->c + 2 * (size_t)x->c * chunks) * sizeof(float);
}

/* gamma/beta both absent or both of length C; running stats likewise. */
static rd_status check_state(rd_ctx *ctx, const char *op, const rd_bn_state *s, int C, int *affine, int *track) {
    size_t c = (size_t)C;
    *affine = s->gamma.mem != NULL;
    if ((s->gamma.mem != NULL) != (s->beta.mem != NULL))
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: gamma and beta must both be given or both be absent", op);
    if (*affine) {
        RD_TRY(rd_check_vec(ctx, op, &s->gamma, "gamma", c));
        RD_TRY(rd_check_vec(ctx, op, &s->beta, "beta", c));
    }
    if (track) {
        *track = s->running_mean.mem != NULL;
        if ((s->running_mean.mem != NULL) != (s->running_var.mem != NULL))
            return rd_fail(&ctx->err, RD_ERR_ARG,
                           "%s: running_mean and running_var must both be given or both be absent", op);
        if (*track) {
            RD_TRY(rd_check_vec(ctx, op, &s->running_mean, "running_mean", c));
            RD_TRY(rd_check_vec(ctx, op, &s->running_var, "running_var", c));
        }
    }
    return RD_OK;
}

static rd_status check_params(rd_ctx *ctx, const char *op, const rd_bn_params *p) {
    if (!(p->eps >= 0.0f) || !(p->momentum >= 0.0f && p->momentum <= 1.0f))
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: eps %g must be >= 0 and momentum %g in [0, 1]", op,
                       (double)p->eps, (double)p->momentum);
    return RD_OK;
}

/* Where a batch norm's reductions live: its coefficients (floats from coef) and
 * channel 0's partials (from part), with the chunking of the tensor the first
 * stage ran over (a stack's, for one of its slices). */
typedef struct bn_ws {
    cl_mem mem;
    cl_ulong coef, part;
    size_t chunks, L;
} bn_ws;

static rd_status scratch_ws(rd_ctx *ctx, const rd_tensor *x, bn_ws *w) {
    w->chunks = bn_chunks(ctx, x, &w->L);
    w->coef = 0;
    w->part = (cl_ulong)BN_COEF * x->c;
    return rd_scratch(ctx, RD_SCRATCH_REDUCE, rd_batchnorm_scratch_bytes(ctx, x), &w->mem);
}

/* The element-wise pass y = (x - mean) * a + b from the coefficients, with the optional accumulate. */
static rd_status bn_apply(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *y, const rd_vec *coef, const rd_vec *scale,
                          const rd_tensor *accum_out) {
    rd_vec sc = opt_vec(scale);
    rd_tensor acc = {0};
    cl_int has_scale = sc.mem != NULL, has_acc = accum_out && accum_out->mem;
    if (has_acc) acc = *accum_out;
    cl_uint hw = (cl_uint)(x->h * x->w), n = (cl_uint)x->n;
    if (use_planes(ctx)) {
        size_t g[2] = {(size_t)x->c, (size_t)x->n};
        cl_uint C = (cl_uint)x->c;
        return rd_launch(ctx, PROG, "bn_apply_planes", 2, g, NULL, RD_TARG(x), RD_TARG(y), RD_ARG(C), RD_ARG(n),
                         RD_ARG(hw), RD_VARG(coef), RD_VARG(&sc), RD_ARG(has_scale), RD_TARG(&acc), RD_ARG(has_acc),
                         RD_END);
    }
    size_t g[2];
    rd_tensor_range(x, g);
    cl_uint chw = (cl_uint)g[0];
    return rd_launch(ctx, PROG, "bn_apply", 2, g, NULL, RD_TARG(x), RD_TARG(y), RD_ARG(hw), RD_ARG(chw), RD_ARG(n),
                     RD_VARG(coef), RD_VARG(&sc), RD_ARG(has_scale), RD_TARG(&acc), RD_ARG(has_acc), RD_END);
}

/* Forward stage 1 over x: each channel's (chunk mean, M2) partials. */
static rd_status stats_stage1(rd_ctx *ctx, const rd_tensor *x, const bn_ws *w) {
    cl_uint C = (cl_uint)x->c, hw = (cl_uint)(x->h * x->w), M = (cl_uint)((size_t)x->n * x->h * x->w),
            Lu = (cl_uint)w->L, n = (cl_uint)x->n;
    if (use_planes(ctx)) {
        size_t g1[2] = {(size_t)x->c, (size_t)x->n};
        return rd_launch(ctx, PROG, "bn_stats_planes", 2, g1, NULL, RD_TARG(x), RD_ARG(C), RD_ARG(n), RD_ARG(hw),
                         RD_ARG(w->mem), RD_ARG(w->part), RD_END);
    }
    size_t g1[2] = {w->chunks * ctx->wg, (size_t)x->c}, l1[2] = {ctx->wg, 1};
    return rd_launch(ctx, PROG, "bn_stats_partial", 2, g1, l1, RD_TARG(x), RD_ARG(C), RD_ARG(hw), RD_ARG(M),
                     RD_ARG(Lu), RD_ARG(w->mem), RD_ARG(w->part), RD_END);
}

/* Forward stage 2 (merge, save, running statistics) and the element-wise pass. */
static rd_status stats_stage2(rd_ctx *ctx, const rd_bn_params *p, const rd_bn_state *s, int affine, int track,
                              const rd_tensor *x, const rd_tensor *y, const rd_vec *scale, const rd_tensor *accum_out,
                              const bn_ws *w) {
    rd_vec rm = opt_vec(&s->running_mean), rv = opt_vec(&s->running_var), ga = opt_vec(&s->gamma),
           be = opt_vec(&s->beta);
    cl_int tr = track, af = affine;
    float eps = p->eps, mom = p->momentum;
    cl_uint C = (cl_uint)x->c, M = (cl_uint)((size_t)x->n * x->h * x->w), Lu = (cl_uint)w->L,
            nch = (cl_uint)w->chunks;
    size_t g2[1] = {(size_t)x->c};
    RD_TRY(rd_launch(ctx, PROG, "bn_stats_finish", 1, g2, NULL, RD_ARG(w->mem), RD_ARG(w->coef), RD_ARG(w->part),
                     RD_ARG(nch), RD_ARG(C), RD_ARG(M), RD_ARG(Lu), RD_ARG(eps), RD_ARG(mom), RD_ARG(tr), RD_ARG(af),
                     RD_VARG(&s->save_mean), RD_VARG(&s->save_invstd), RD_VARG(&rm), RD_VARG(&rv), RD_VARG(&ga),
                     RD_VARG(&be), RD_END));
    rd_vec coef = {w->mem, (size_t)w->coef, (size_t)BN_COEF * x->c};
    return bn_apply(ctx, x, y, &coef, scale, accum_out);
}

/* The whole training forward in one launch (the channel kernels). */
static rd_status train_channels(rd_ctx *ctx, const rd_bn_params *p, const rd_bn_state *s, int affine, int track,
                                const rd_tensor *x, const rd_tensor *y, const rd_vec *scale,
                                const rd_tensor *accum_out, const bn_ws *w) {
    rd_vec rm = opt_vec(&s->running_mean), rv = opt_vec(&s->running_var), ga = opt_vec(&s->gamma),
           be = opt_vec(&s->beta), sc = opt_vec(scale);
    rd_tensor acc = {0};
    cl_int tr = track, af = affine, has_scale = sc.mem != NULL, has_acc = accum_out && accum_out->mem;
    if (has_acc) acc = *accum_out;
    float eps = p->eps, mom = p->momentum;
    cl_uint C = (cl_uint)x->c, n = (cl_uint)x->n, hw = (cl_uint)(x->h * x->w);
    size_t g[1], l[1];
    channel_range(x, g, l);
    return rd_launch(ctx, PROG, "bn_train_channels", 1, g, l, RD_TARG(x), RD_TARG(y), RD_ARG(C), RD_ARG(n),
                     RD_ARG(hw), RD_ARG(w->mem), RD_ARG(w->part), RD_ARG(eps), RD_ARG(mom), RD_ARG(tr), RD_ARG(af),
                     RD_VARG(&s->save_mean), RD_VARG(&s->save_invstd), RD_VARG(&rm), RD_VARG(&rv), RD_VARG(&ga),
                     RD_VARG(&be), RD_VARG(&sc), RD_ARG(has_scale), RD_TARG(&acc), RD_ARG(has_acc), RD_END);
}

static rd_status check_forward_train(rd_ctx *ctx, const char *op, const rd_bn_params *p, const rd_bn_state *s,
                                     const rd_tensor *x, const rd_tensor *y, const rd_vec *scale,
                                     const rd_tensor *accum_out, int *affine, int *track) {
    RD_TRY(check_params(ctx, op, p));
    RD_TRY(rd_check_shape(ctx, op, x, "x", -1, -1, -1, -1));
    RD_TRY(rd_check_shape(ctx, op, y, "y", x->n, x->c, x->h, x->w));
    RD_TRY(check_state(ctx, op, s, x->c, affine, track));
    RD_TRY(rd_check_vec(ctx, op, &s->save_mean, "save_mean", (size_t)x->c));
    RD_TRY(rd_check_vec(ctx, op, &s->save_invstd, "save_invstd", (size_t)x->c));
    if (scale && scale->mem) RD_TRY(rd_check_vec(ctx, op, scale, "scale", 1));
    if (accum_out && accum_out->mem)
        RD_TRY(rd_check_shape(ctx, op, accum_out, "accum_out", x->n, x->c, x->h, x->w));
    size_t m = (size_t)x->n * x->h * x->w;
    if (m < 2) {
        char sh[64];
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: x %s has %zu value per channel; training needs at least 2", op,
                       rd_tensor_shape_str(x, sh, sizeof sh), m);
    }
    return RD_OK;
}

rd_status rd_batchnorm_forward_train(rd_ctx *ctx, const rd_bn_params *p, const rd_bn_state *s, const rd_tensor *x,
                                     const rd_tensor *y, const rd_vec *scale, const rd_tensor *accum_out) {
    int affine, track;
    RD_TRY(check_forward_train(ctx, "batchnorm forward", p, s, x, y, scale, accum_out, &affine, &track));
    if (x->c == 0) return RD_OK;
    bn_ws w;
    RD_TRY(scratch_ws(ctx, x, &w));
    if (use_channels(ctx, x)) return train_channels(ctx, p, s, affine, track, x, y, scale, accum_out, &w);
    RD_TRY(stats_stage1(ctx, x, &w));
    return stats_stage2(ctx, p, s, affine, track, x, y, scale, accum_out, &w);
}

rd_status rd_batchnorm_forward_eval(rd_ctx *ctx, const rd_bn_params *p, const rd_bn_state *s, const rd_tensor *x,
                                    const rd_tensor *y) {
    const char *op = "batchnorm eval";
    RD_TRY(check_params(ctx, op, p));
    RD_TRY(rd_check_shape(ctx, op, x, "x", -1, -1, -1, -1));
    RD_TRY(rd_check_shape(ctx, op, y, "y", x->n, x->c, x->h, x->w));
    int affine, track;
    RD_TRY(check_state(ctx, op, s, x->c, &affine, &track));
    if (!track)  /* PyTorch's track_running_stats=False: batch statistics, nothing updated */
        return rd_batchnorm_forward_train(ctx, p, s, x, y, NULL, NULL);
    if (x->c == 0) return RD_OK;
    cl_mem ws;
    RD_TRY(rd_scratch(ctx, RD_SCRATCH_REDUCE, (size_t)BN_COEF * x->c * sizeof(float), &ws));
    rd_vec ga = opt_vec(&s->gamma), be = opt_vec(&s->beta);
    cl_uint C = (cl_uint)x->c;
    cl_int af = affine;
    float eps = p->eps;
    size_t g[1] = {(size_t)x->c};
    RD_TRY(rd_launch(ctx, PROG, "bn_eval_coef", 1, g, NULL, RD_ARG(C), RD_ARG(eps), RD_ARG(af),
                     RD_VARG(&s->running_mean), RD_VARG(&s->running_var), RD_VARG(&ga), RD_VARG(&be), RD_ARG(ws),
                     RD_END));
    rd_vec coef = {ws, 0, (size_t)BN_COEF * x->c};
    return bn_apply(ctx, x, y, &coef, NULL, NULL);
}

/* Backward stage 1 over v: each channel's (sum dy, sum dy * xhat) partials; dy
 * may have fewer channels than v (a stack's slices share one dy). */
static rd_status grad_stage1(rd_ctx *ctx, const rd_bn_state *s, cl_int mode, const rd_tensor *v, const rd_tensor *dy,
                             const bn_ws *w) {
    cl_uint C = (cl_uint)v->c, dyC = (cl_uint)dy->c, hw = (cl_uint)(v->h * v->w),
            M = (cl_uint)((size_t)v->n * v->h * v->w), Lu = (cl_uint)w->L, n = (cl_uint)v->n;
    rd_vec sm = opt_vec(&s->save_mean), si = opt_vec(&s->save_invstd), ga = opt_vec(&s->gamma),
           be = opt_vec(&s->beta);
    if (use_planes(ctx)) {
        size_t g1[2] = {(size_t)v->c, (size_t)v->n};
        return rd_launch(ctx, PROG, "bn_grad_planes", 2, g1, NULL, RD_TARG(v), RD_TARG(dy), RD_ARG(dyC), RD_ARG(C),
                         RD_ARG(n), RD_ARG(hw), RD_ARG(mode), RD_VARG(&sm), RD_VARG(&si), RD_VARG(&ga), RD_VARG(&be),
                         RD_ARG(w->mem), RD_ARG(w->part), RD_END);
    }
    size_t g1[2] = {w->chunks * ctx->wg, (size_t)v->c}, l1[2] = {ctx->wg, 1};
    return rd_launch(ctx, PROG, "bn_grad_partial", 2, g1, l1, RD_TARG(v), RD_TARG(dy), RD_ARG(dyC), RD_ARG(C),
                     RD_ARG(hw), RD_ARG(M), RD_ARG(Lu), RD_ARG(mode), RD_VARG(&sm), RD_VARG(&si), RD_VARG(&ga),
                     RD_VARG(&be), RD_ARG(w->mem), RD_ARG(w->part), RD_END);
}

/* Backward stage 2 (merge; dgamma, dbeta, dot) and the element-wise pass into dx. */
static rd_status grad_stage2(rd_ctx *ctx, const rd_bn_state *s, int affine, cl_int mode, const rd_tensor *v,
                             const rd_tensor *dy, const rd_vec *scale, const rd_tensor *dx, int dx_accumulate,
                             const rd_vec *dgamma, const rd_vec *dbeta, const rd_vec *dot_out, const bn_ws *w) {
    cl_uint C = (cl_uint)v->c, hw = (cl_uint)(v->h * v->w), M = (cl_uint)((size_t)v->n * v->h * v->w),
            nch = (cl_uint)w->chunks, n = (cl_uint)v->n;
    cl_int af = affine;
    rd_vec sm = opt_vec(&s->save_mean), ga = opt_vec(&s->gamma), be = opt_vec(&s->beta);
    rd_vec sc = opt_vec(scale), dg = opt_vec(dgamma), db = opt_vec(dbeta), dot = opt_vec(dot_out);
    cl_int has_sc = sc.mem != NULL, has_dg = dg.mem != NULL, has_db = db.mem != NULL, has_dot = dot.mem != NULL;
    cl_int acc = dx_accumulate != 0;
    size_t g2[1] = {(size_t)v->c};
    RD_TRY(rd_launch(ctx, PROG, "bn_grad_finish", 1, g2, NULL, RD_ARG(w->mem), RD_ARG(w->coef), RD_ARG(w->part),
                     RD_ARG(nch), RD_ARG(C), RD_ARG(M), RD_ARG(mode), RD_ARG(af), RD_VARG(&sm),
                     RD_VARG(&s->save_invstd), RD_VARG(&ga), RD_VARG(&be), RD_VARG(&sc), RD_ARG(has_sc), RD_VARG(&dg),
                     RD_ARG(has_dg), RD_VARG(&db), RD_ARG(has_db), RD_VARG(&dot), RD_ARG(has_dot), RD_END));
    if (!dx || !dx->mem) return RD_OK;
    rd_vec coef = {w->mem, (size_t)w->coef, (size_t)BN_COEF * v->c};
    if (use_planes(ctx)) {
        size_t g[2] = {(size_t)v->c, (size_t)v->n};
        return rd_launch(ctx, PROG, "bn_grad_input_planes", 2, g, NULL, RD_TARG(v), RD_TARG(dy), RD_TARG(dx),
                         RD_ARG(C), RD_ARG(n), RD_ARG(hw), RD_VARG(&coef), RD_ARG(acc), RD_END);
    }
    size_t g[2];
    rd_tensor_range(v, g);
    cl_uint chw = (cl_uint)g[0];
    return rd_launch(ctx, PROG, "bn_grad_input", 2, g, NULL, RD_TARG(v), RD_TARG(dy), RD_TARG(dx), RD_ARG(hw),
                     RD_ARG(chw), RD_ARG(n), RD_VARG(&coef), RD_ARG(acc), RD_END);
}

/* The whole backward in one launch (the channel kernels). */
static rd_status backward_channels(rd_ctx *ctx, const rd_bn_state *s, int affine, cl_int mode, const rd_tensor *v,
                                   const rd_tensor *dy, const rd_vec *scale, const rd_tensor *dx, int dx_accumulate,
                                   const rd_vec *dgamma, const rd_vec *dbeta, const rd_vec *dot_out, const bn_ws *w) {
    rd_vec sm = opt_vec(&s->save_mean), ga = opt_vec(&s->gamma), be = opt_vec(&s->beta);
    rd_vec sc = opt_vec(scale), dg = opt_vec(dgamma), db = opt_vec(dbeta), dot = opt_vec(dot_out);
    rd_tensor d = {0};
    cl_int has_dx = dx && dx->mem, acc = dx_accumulate != 0, af = affine;
    if (has_dx) d = *dx;
    cl_int has_sc = sc.mem != NULL, has_dg = dg.mem != NULL, has_db = db.mem != NULL, has_dot = dot.mem != NULL;
    cl_uint C = (cl_uint)v->c, n = (cl_uint)v->n, hw = (cl_uint)(v->h * v->w);
    size_t g[1], l[1];
    channel_range(v, g, l);
    return rd_launch(ctx, PROG, "bn_backward_channels", 1, g, l, RD_TARG(v), RD_TARG(dy), RD_TARG(&d),
                     RD_ARG(has_dx), RD_ARG(acc), RD_ARG(C), RD_ARG(n), RD_ARG(hw), RD_ARG(mode), RD_ARG(af),
                     RD_VARG(&sm), RD_VARG(&s->save_invstd), RD_VARG(&ga), RD_VARG(&be), RD_VARG(&sc),
                     RD_ARG(has_sc), RD_VARG(&dg), RD_ARG(has_dg), RD_VARG(&db), RD_ARG(has_db), RD_VARG(&dot),
                     RD_ARG(has_dot), RD_ARG(w->mem), RD_ARG(w->part), RD_END);
}

rd_status rd_batchnorm_backward(rd_ctx *ctx, const rd_bn_params *p, const rd_bn_state *s, const rd_tensor *x,
                                const rd_tensor *y, const rd_tensor *dy, const rd_vec *scale, const rd_tensor *dx,
                                int dx_accumulate, const rd_vec *dgamma, const rd_vec *dbeta, const rd_vec *dot_out) {
    const char *op = "batchnorm backward";
    (void)p;
    const rd_tensor *v = x && x->mem ? x : y;  /* what xhat is read back from */
    if (!v || !v->mem) return rd_fail(&ctx->err, RD_ERR_ARG, "%s: neither x nor y is given", op);
    RD_TRY(rd_check_shape(ctx, op, dy, "dy", v->n, v->c, v->h, v->w));
    if (dx && dx->mem) RD_TRY(rd_check_shape(ctx, op, dx, "dx", v->n, v->c, v->h, v->w));
    int affine;
    RD_TRY(check_state(ctx, op, s, v->c, &affine, NULL));
    size_t c = (size_t)v->c;
    if (v == x) RD_TRY(rd_check_vec(ctx, op, &s->save_mean, "save_mean", c));
    RD_TRY(rd_check_vec(ctx, op, &s->save_invstd, "save_invstd", c));
    if (scale && scale->mem) RD_TRY(rd_check_vec(ctx, op, scale, "scale", 1));
    if (dgamma && dgamma->mem) {
        if (!affine) return rd_fail(&ctx->err, RD_ERR_ARG, "%s: dgamma given but the batch norm is not affine", op);
        RD_TRY(rd_check_vec(ctx, op, dgamma, "dgamma", c));
    }
    if (dbeta && dbeta->mem) {
        if (!affine) return rd_fail(&ctx->err, RD_ERR_ARG, "%s: dbeta given but the batch norm is not affine", op);
        RD_TRY(rd_check_vec(ctx, op, dbeta, "dbeta", c));
    }
    if (dot_out && dot_out->mem) RD_TRY(rd_check_vec(ctx, op, dot_out, "dot_out", c));
    size_t m = (size_t)v->n * v->h * v->w;
    if (m == 0 || c == 0) return RD_OK;
    bn_ws w;
    RD_TRY(scratch_ws(ctx, v, &w));
    cl_int mode = v == x ? 0 : affine ? 2 : 1;
    if (use_channels(ctx, v))
        return backward_channels(ctx, s, affine, mode, v, dy, scale, dx, dx_accumulate, dgamma, dbeta, dot_out, &w);
    RD_TRY(grad_stage1(ctx, s, mode, v, dy, &w));
    return grad_stage2(ctx, s, affine, mode, v, dy, scale, dx, dx_accumulate, dgamma, dbeta, dot_out, &w);
}

/* ---- stacks: G batch norms over the channel slices of one tensor ---- */
size_t rd_batchnorm_stack_floats(rd_ctx *ctx, const rd_tensor *stack) {
    return rd_batchnorm_scratch_bytes(ctx, stack) / sizeof(float);
}

static rd_status stack_ws(rd_ctx *ctx, const char *op, const rd_tensor *stack, int slices, int g, const rd_vec *ws,
                          bn_ws *w, rd_tensor *slice) {
    if (slices < 1 || stack->c % slices || g < 0 || g >= slices)
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: slice %d of %d of a %d-channel stack", op, g, slices, stack->c);
    size_t need = rd_batchnorm_stack_floats(ctx, stack);
    if (!ws->mem || ws->len < need)
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: ws has %zu floats, the stack needs %zu", op, ws->mem ? ws->len : 0,
                       need);
    size_t C = (size_t)(stack->c / slices);
    w->mem = ws->mem;
    w->chunks = bn_chunks(ctx, stack, &w->L);
    w->coef = ws->off;
    w->part = ws->off + (size_t)BN_COEF * stack->c + 2 * (size_t)g * C * w->chunks;
    *slice = rd_tensor_channels(*stack, (int)(g * C), (int)C);
    return RD_OK;
}

rd_status rd_batchnorm_stack_stats(rd_ctx *ctx, const rd_tensor *stack, const rd_vec *ws) {
    bn_ws w;
    rd_tensor all;
    RD_TRY(stack_ws(ctx, "batchnorm stack statistics", stack, 1, 0, ws, &w, &all));
    if ((size_t)stack->n * stack->h * stack->w < 2 || stack->c == 0)
        return rd_fail(&ctx->err, RD_ERR_ARG, "batchnorm stack statistics: fewer than 2 values per channel");
    return stats_stage1(ctx, stack, &w);
}

rd_status rd_batchnorm_stack_grad_sums(rd_ctx *ctx, const rd_tensor *stack, const rd_tensor *dy, const rd_vec *ws) {
    const char *op = "batchnorm stack gradient sums";
    bn_ws w;
    rd_tensor all;
    RD_TRY(stack_ws(ctx, op, stack, 1, 0, ws, &w, &all));
    if (dy->c < 1 || stack->c % dy->c)
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: dy's %d channels do not divide the stack's %d", op, dy->c,
                       stack->c);
    RD_TRY(rd_check_shape(ctx, op, dy, "dy", stack->n, dy->c, stack->h, stack->w));
    rd_bn_state none;
    memset(&none, 0, sizeof none);
    return grad_stage1(ctx, &none, 1, stack, dy, &w);
}

/* The table's entries within the vectors they index (C: one slice's channels). */
static rd_status check_tab(rd_ctx *ctx, const char *op, const rd_bn_stack_tab *tab, int slices, size_t C,
                           const rd_vec *scales, const rd_vec *running, const rd_vec *dots) {
    if (!tab->host || tab->dev.len < 3 * (size_t)slices)
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: the table has room for %zu of %d slices", op, tab->dev.len / 3,
                       slices);
    for (int g = 0; g < slices; g++) {
        const uint32_t *t = tab->host + 3 * g;
        if (t[0] >= scales->len || (running && running->mem && t[1] + 2 * C > running->len) ||
            (dots && dots->mem && t[2] + C > dots->len))
            return rd_fail(&ctx->err, RD_ERR_ARG, "%s: slice %d's table entry (%u, %u, %u) is outside its vectors",
                           op, g, t[0], t[1], t[2]);
    }
    return RD_OK;
}

/* Slice g's state: its statistics' slices and running statistics (none when running is absent). */
static rd_bn_state slice_state(const rd_vec *save_mean, const rd_vec *save_invstd, const rd_vec *running,
                               const uint32_t *t, size_t C, int g) {
    rd_bn_state s;
    memset(&s, 0, sizeof s);
    s.save_mean = rd_vec_slice(*save_mean, g * C, C);
    s.save_invstd = rd_vec_slice(*save_invstd, g * C, C);
    if (running && running->mem) {
        s.running_mean = rd_vec_slice(*running, t[1], C);
        s.running_var = rd_vec_slice(*running, t[1] + C, C);
    }
    return s;
}

rd_status rd_batchnorm_stack_forward(rd_ctx *ctx, const rd_bn_params *p, const rd_tensor *stack, int slices,
                                     const rd_vec *ws, const rd_vec *save_mean, const rd_vec *save_invstd,
                                     const rd_vec *running, const rd_vec *scales, const rd_bn_stack_tab *tab,
                                     const rd_tensor *accum_out) {
    const char *op = "batchnorm stack forward";
    bn_ws w;
    rd_tensor x;
    RD_TRY(stack_ws(ctx, op, stack, slices, 0, ws, &w, &x));
    size_t C = (size_t)x.c;
    RD_TRY(check_params(ctx, op, p));
    RD_TRY(rd_check_vec(ctx, op, save_mean, "save_mean", slices * C));
    RD_TRY(rd_check_vec(ctx, op, save_invstd, "save_invstd", slices * C));
    RD_TRY(rd_check_shape(ctx, op, accum_out, "accum_out", x.n, x.c, x.h, x.w));
    RD_TRY(check_tab(ctx, op, tab, slices, C, scales, running, NULL));
    if (use_planes(ctx) && slices <= BN_STACK_MAX) {
        cl_uint Cu = (cl_uint)C, G = (cl_uint)slices, n = (cl_uint)x.n, hw = (cl_uint)(x.h * x.w);
        rd_vec run = opt_vec(running);
        cl_int track = run.mem != NULL;
        float eps = p->eps, mom = p->momentum;
        size_t gf[2] = {C, (size_t)slices}, g[2] = {C, (size_t)x.n};
        RD_TRY(rd_launch(ctx, PROG, "bn_stack_finish", 2, gf, NULL, RD_ARG(w.mem), RD_ARG(w.coef), RD_ARG(w.part),
                         RD_ARG(Cu), RD_ARG(G), RD_ARG(n), RD_ARG(hw), RD_ARG(eps), RD_ARG(mom), RD_ARG(track),
                         RD_VARG(save_mean), RD_VARG(save_invstd), RD_VARG(&run), RD_VARG(&tab->dev), RD_END));
        return rd_launch(ctx, PROG, "bn_stack_apply_planes", 2, g, NULL, RD_TARG(stack), RD_ARG(Cu), RD_ARG(G),
                         RD_ARG(n), RD_ARG(hw), RD_ARG(w.mem), RD_ARG(w.coef), RD_VARG(scales), RD_VARG(&tab->dev),
                         RD_TARG(accum_out), RD_END);
    }
    for (int g = 0; g < slices; g++) {  /* a merge and an element-wise launch per slice */
        RD_TRY(stack_ws(ctx, op, stack, slices, g, ws, &w, &x));
        const uint32_t *t = tab->host + 3 * g;
        rd_bn_state s = slice_state(save_mean, save_invstd, running, t, C, g);
        rd_vec sc = rd_vec_slice(*scales, t[0], 1);
        RD_TRY(stats_stage2(ctx, p, &s, 0, s.running_mean.mem != NULL, &x, &x, &sc, accum_out, &w));
    }
    return RD_OK;
}

rd_status rd_batchnorm_stack_backward(rd_ctx *ctx, const rd_tensor *stack, int slices, const rd_vec *ws,
                                      const rd_vec *save_invstd, const rd_tensor *dy, const rd_vec *scales,
                                      const rd_bn_stack_tab *tab, const rd_vec *dots) {
    const char *op = "batchnorm stack backward";
    bn_ws w;
    rd_tensor y;
    RD_TRY(stack_ws(ctx, op, stack, slices, 0, ws, &w, &y));
    size_t C = (size_t)y.c;
    RD_TRY(rd_check_vec(ctx, op, save_invstd, "save_invstd", slices * C));
    RD_TRY(rd_check_shape(ctx, op, dy, "dy", y.n, y.c, y.h, y.w));
    RD_TRY(check_tab(ctx, op, tab, slices, C, scales, NULL, dots));
    cl_int has_dot = dots && dots->mem;
    if (use_planes(ctx) && slices <= BN_STACK_MAX) {
        cl_uint Cu = (cl_uint)C, G = (cl_uint)slices, n = (cl_uint)y.n, hw = (cl_uint)(y.h * y.w);
        rd_vec dot = opt_vec(dots);
        size_t gf[2] = {C, (size_t)slices}, g[2] = {C, (size_t)y.n};
        RD_TRY(rd_launch(ctx, PROG, "bn_stack_grad_finish", 2, gf, NULL, RD_ARG(w.mem), RD_ARG(w.coef),
                         RD_ARG(w.part), RD_ARG(Cu), RD_ARG(G), RD_ARG(n), RD_ARG(hw), RD_VARG(save_invstd),
                         RD_VARG(scales), RD_VARG(&dot), RD_ARG(has_dot), RD_VARG(&tab->dev), RD_END));
        return rd_launch(ctx, PROG, "bn_stack_grad_input_planes", 2, g, NULL, RD_TARG(stack), RD_TARG(dy),
                         RD_ARG(Cu), RD_ARG(G), RD_ARG(n), RD_ARG(hw), RD_ARG(w.mem), RD_ARG(w.coef), RD_END);
    }
    for (int g = 0; g < slices; g++) {
        RD_TRY(stack_ws(ctx, op, stack, slices, g, ws, &w, &y));
        const uint32_t *t = tab->host + 3 * g;
        rd_bn_state s = slice_state(save_invstd, save_invstd, NULL, t, C, g);
        rd_vec sc = rd_vec_slice(*scales, t[0], 1), dot = {NULL, 0, 0};
        if (has_dot) dot = rd_vec_slice(*dots, t[2], C);
        RD_TRY(grad_stage2(ctx, &s, 0, 1, &y, dy, &sc, &y, 0, NULL, NULL, has_dot ? &dot : NULL, &w));
    }
    return RD_OK;
}
