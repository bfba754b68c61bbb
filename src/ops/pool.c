/* Max / average pooling and global average pooling (kernels: cl/pool.cl). */
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

size_t rd_pool2d_scratch_bytes(rd_ctx *ctx, const rd_pool_params *p, const rd_tensor *x, const rd_tensor *y) {
    (void)ctx;
    (void)x;
    return p->kind == RD_POOL_MAX ? rd_tensor_numel(y) : 0;
}

rd_status rd_pool2d_forward(rd_ctx *ctx, const rd_pool_params *p, const rd_tensor *x, const rd_tensor *y) {
    const char *op = pool_name(p);
    RD_TRY(check_pool(ctx, op, p, x, y));
    cl_uint C = (cl_uint)x->c, n = (cl_uint)x->n;
    cl_int H = x->h, W = x->w, OH = y->h, OW = y->w, K = p->k, S = p->stride, P = p->pad;
    size_t g[2] = {rd_tensor_chw(y), (size_t)y->n};
    return rd_launch(ctx, PROG, p->kind == RD_POOL_MAX ? "pool_max_forward" : "pool_avg_forward", 2, g, NULL,
                     RD_TARG(x), RD_TARG(y), RD_ARG(C), RD_ARG(n), RD_ARG(H), RD_ARG(W), RD_ARG(OH), RD_ARG(OW),
                     RD_ARG(K), RD_ARG(S), RD_ARG(P), RD_END);
}

rd_status rd_pool2d_backward(rd_ctx *ctx, const rd_pool_params *p, const rd_tensor *x, const rd_tensor *dy,
                             const rd_tensor *dx, int dx_accumulate) {
    const char *op = p->kind == RD_POOL_MAX ? "max_pool backward" : "avg_pool backward";
    RD_TRY(check_pool(ctx, op, p, x, dy));
    RD_TRY(rd_check_shape(ctx, op, dx, "dx", x->n, x->c, x->h, x->w));
    cl_uint C = (cl_uint)x->c, n = (cl_uint)x->n;
    cl_int H = x->h, W = x->w, OH = dy->h, OW = dy->w, K = p->k, S = p->stride, P = p->pad;
    cl_int acc = dx_accumulate != 0;
    size_t gx[2] = {rd_tensor_chw(x), (size_t)x->n};
    if (p->kind == RD_POOL_AVG)
        return rd_launch(ctx, PROG, "pool_avg_backward", 2, gx, NULL, RD_TARG(dy), RD_TARG(dx), RD_ARG(C),
                         RD_ARG(n), RD_ARG(acc), RD_ARG(H), RD_ARG(W), RD_ARG(OH), RD_ARG(OW), RD_ARG(K), RD_ARG(S),
                         RD_ARG(P), RD_END);
    cl_mem arg;
    RD_TRY(rd_scratch(ctx, POOL_SCRATCH_SLOT, rd_pool2d_scratch_bytes(ctx, p, x, dy), &arg));
    size_t gy[2] = {rd_tensor_chw(dy), (size_t)dy->n};
    RD_TRY(rd_launch(ctx, PROG, "pool_max_argmax", 2, gy, NULL, RD_TARG(x), RD_ARG(arg), RD_ARG(C), RD_ARG(n),
                     RD_ARG(H), RD_ARG(W), RD_ARG(OH), RD_ARG(OW), RD_ARG(K), RD_ARG(S), RD_ARG(P), RD_END));
    return rd_launch(ctx, PROG, "pool_max_backward", 2, gx, NULL, RD_TARG(dy), RD_ARG(arg), RD_TARG(dx), RD_ARG(C),
                     RD_ARG(n), RD_ARG(acc), RD_ARG(H), RD_ARG(W), RD_ARG(OH), RD_ARG(OW), RD_ARG(K), RD_ARG(S),
                     RD_ARG(P), RD_END);
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
