/* Fully connected layer: y = x w^T + b (PyTorch nn.Linear, w is [out, in]).
 * The three products go through CLBlast (rd_gemm, temporaries from scratch slot
 * RD_SCRATCH_GEMM); the bias add and bias gradient are small kernels in cl/linear.cl.
 *
 * x may be any N x C x H x W view with C*H*W == K, including a strided one (a
 * channel slice): its rows are K contiguous floats nstride apart, which is
 * exactly a row-major matrix with leading dimension nstride, so no copy is made.
 * The same holds for y, dy and dx. */
#include "ops/ops_internal.h"

#define PROG "linear"

/* Shapes shared by forward and backward; sets *m and *k. */
static rd_status check_linear(rd_ctx *ctx, const char *op, const rd_tensor *x, const rd_vec *w, const rd_vec *b,
                              const char *bname, const rd_tensor *y, const char *yname, size_t *m, size_t *k) {
    RD_TRY(rd_check_shape(ctx, op, x, "x", -1, -1, -1, -1));
    RD_TRY(rd_check_shape(ctx, op, y, yname, x->n, -1, 1, 1));
    *m = (size_t)y->c;
    *k = rd_tensor_chw(x);
    if (*m == 0 || *k == 0) {
        char sx[64], sy[64];
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: empty layer (x %s, %s %s)", op,
                       rd_tensor_shape_str(x, sx, sizeof sx), yname, rd_tensor_shape_str(y, sy, sizeof sy));
    }
    RD_TRY(rd_check_vec(ctx, op, w, "w", *m * *k));
    if (b) RD_TRY(rd_check_vec(ctx, op, b, bname, *m));
    return RD_OK;
}

size_t rd_linear_scratch_bytes(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *y) {
    size_t n = (size_t)x->n, m = (size_t)y->c, k = rd_tensor_chw(x), most = 0, s;
    /* forward x w^T, backward dy w and dy^T x */
    s = rd_gemm_scratch_bytes(ctx, 0, 1, n, m, k); if (s > most) most = s;
    s = rd_gemm_scratch_bytes(ctx, 0, 0, n, k, m); if (s > most) most = s;
    s = rd_gemm_scratch_bytes(ctx, 1, 0, m, k, n); if (s > most) most = s;
    return most;
}

rd_status rd_linear_forward(rd_ctx *ctx, const rd_tensor *x, const rd_vec *w, const rd_vec *b, const rd_tensor *y) {
    size_t m, k, n = (size_t)x->n;
    RD_TRY(check_linear(ctx, "linear", x, w, b, "b", y, "y", &m, &k));
    if (n == 0) return RD_OK;
    /* y (N x M) = x (N x K) . w^T (K x M) */
    RD_TRY(rd_gemm(ctx, 0, 1, n, m, k, 1.0f, x->mem, x->off, x->nstride, w->mem, w->off, k, 0.0f, y->mem, y->off,
                   y->nstride));
    if (!b) return RD_OK;
    size_t g[2] = {m, n};
    cl_uint mc = (cl_uint)m, nc = (cl_uint)n;
    return rd_launch(ctx, PROG, "linear_bias_add", 2, g, NULL, RD_TARG(y), RD_VARG(b), RD_ARG(mc), RD_ARG(nc),
                     RD_END);
}

rd_status rd_linear_backward(rd_ctx *ctx, const rd_tensor *x, const rd_vec *w, const rd_tensor *dy,
                             const rd_tensor *dx, int dx_accumulate, const rd_vec *dw, const rd_vec *db) {
    size_t m, k, n = (size_t)x->n;
    RD_TRY(check_linear(ctx, "linear backward", x, w, db, "db", dy, "dy", &m, &k));
    if (dx) RD_TRY(rd_check_same_shape(ctx, "linear backward", x, "x", dx, "dx"));
    if (dx && !dx->mem) return rd_fail(&ctx->err, RD_ERR_ARG, "linear backward: dx has no device memory");
    if (dw) RD_TRY(rd_check_vec(ctx, "linear backward", dw, "dw", m * k));
    if (n == 0) return RD_OK;
    if (dx) /* dx (N x K) (+)= dy (N x M) . w (M x K); beta 0 overwrites (CLBlast does not read C then) */
        RD_TRY(rd_gemm(ctx, 0, 0, n, k, m, 1.0f, dy->mem, dy->off, dy->nstride, w->mem, w->off, k,
                       dx_accumulate ? 1.0f : 0.0f, dx->mem, dx->off, dx->nstride));
    if (dw) /* dw (M x K) += dy^T (M x N) . x (N x K) */
        RD_TRY(rd_gemm(ctx, 1, 0, m, k, n, 1.0f, dy->mem, dy->off, dy->nstride, x->mem, x->off, x->nstride, 1.0f,
                       dw->mem, dw->off, k));
    if (db) {
        size_t g[1] = {m};
        cl_uint mc = (cl_uint)m, nc = (cl_uint)n;
        RD_TRY(rd_launch(ctx, PROG, "linear_bias_grad", 1, g, NULL, RD_TARG(dy), RD_VARG(db), RD_ARG(mc),
                         RD_ARG(nc), RD_END));
    }
    return RD_OK;
}
