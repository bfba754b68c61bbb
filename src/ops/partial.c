/* PC-DARTS' partial channel connection of one edge (Xu et al., ICLR 2020):
 * the node gets w * shuffle(concat(t, bypass(x's other channels))), t being the
 * mixed op's output on x's first C/K channels (kernels: cl/partial.cl; host
 * reference: src/ops/ref/ref_partial.c; test: tests/test_ops_partial.c). */
#include "ops/ops_internal.h"

#define PROG "partial"

static rd_status check(rd_ctx *ctx, const char *op, const rd_tensor *x, const rd_tensor *t, const rd_vec *w, int K,
                       int stride, const rd_tensor *node) {
    if (K < 2 || stride < 1 || stride > 2)
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: K = %d, stride %d (K >= 2, stride 1 or 2)", op, K, stride);
    RD_TRY(rd_check_shape(ctx, op, x, "x", -1, -1, -1, -1));
    if (x->c % K || (stride == 2 && (x->h % 2 || x->w % 2)))
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: x has %d channels of %dx%d: K = %d must divide the channels%s", op,
                       x->c, x->h, x->w, K, stride == 2 ? " and the sizes be even" : "");
    int ho = x->h / stride, wo = x->w / stride;
    RD_TRY(rd_check_shape(ctx, op, t, "t", x->n, x->c / K, ho, wo));
    RD_TRY(rd_check_shape(ctx, op, node, "node", x->n, x->c, ho, wo));
    return rd_check_vec(ctx, op, w, "w", 1);
}

void rd_pc_combine_scratch(rd_ctx *ctx, rd_ops_scratch_need *need) { rd_reduce_scratch(ctx, need); }

rd_status rd_pc_combine_forward(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *t, const rd_vec *w, int K,
                                int stride, const rd_tensor *node) {
    RD_TRY(check(ctx, "pc combine", x, t, w, K, stride, node));
    cl_uint C = (cl_uint)x->c, k = (cl_uint)K, s = (cl_uint)stride, H = (cl_uint)x->h, W = (cl_uint)x->w,
            Ho = (cl_uint)node->h, Wo = (cl_uint)node->w;
    size_t g[2];
    rd_tensor_range(node, g);
    return rd_launch(ctx, PROG, "pc_combine_forward", 2, g, NULL, RD_TARG(x), RD_TARG(t), RD_VARG(w), RD_TARG(node),
                     RD_ARG(C), RD_ARG(k), RD_ARG(s), RD_ARG(H), RD_ARG(W), RD_ARG(Ho), RD_ARG(Wo), RD_END);
}

rd_status rd_pc_combine_backward(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *t, const rd_vec *w, int K,
                                 int stride, const rd_tensor *dnode, const rd_tensor *dt, const rd_tensor *dx,
                                 const rd_vec *dw) {
    const char *op = "pc combine backward";
    RD_TRY(check(ctx, op, x, t, w, K, stride, dnode));
    RD_TRY(rd_check_same_shape(ctx, op, dt, "dt", t, "t"));
    RD_TRY(rd_check_same_shape(ctx, op, dx, "dx", x, "x"));
    cl_uint C = (cl_uint)x->c, k = (cl_uint)K, s = (cl_uint)stride, H = (cl_uint)x->h, W = (cl_uint)x->w,
            Ho = (cl_uint)dnode->h, Wo = (cl_uint)dnode->w, q = C / k, hw = Ho * Wo, n = (cl_uint)x->n;
    /* the weight's gradient first: it reads t, which dt may alias */
    if (dw) {
        RD_TRY(rd_check_vec(ctx, op, dw, "dw", 1));
        size_t groups;
        RD_TRY(rd_reduce_groups(ctx, rd_tensor_numel(dnode), &groups));
        cl_mem partial;
        RD_TRY(rd_scratch(ctx, RD_SCRATCH_REDUCE, RD_REDUCE_GROUPS * sizeof(float), &partial));
        size_t g[1] = {groups * ctx->wg}, l[1] = {ctx->wg};
        RD_TRY(rd_launch(ctx, PROG, "pc_combine_dot", 1, g, l, RD_TARG(dnode), RD_TARG(x), RD_TARG(t), RD_ARG(C),
                         RD_ARG(k), RD_ARG(s), RD_ARG(H), RD_ARG(W), RD_ARG(Ho), RD_ARG(Wo), RD_ARG(n), RD_ARG(partial),
                         RD_END));
        RD_TRY(rd_finish_sum(ctx, partial, groups, dw));
    }
    size_t gt[2] = {(size_t)q * hw, (size_t)x->n};
    RD_TRY(rd_launch(ctx, PROG, "pc_combine_backward_t", 2, gt, NULL, RD_TARG(dnode), RD_VARG(w), RD_TARG(dt),
                     RD_ARG(q), RD_ARG(k), RD_ARG(hw), RD_END));
    size_t gx[2] = {(size_t)(C - q) * H * W, (size_t)x->n};
    return rd_launch(ctx, PROG, "pc_combine_backward_x", 2, gx, NULL, RD_TARG(dnode), RD_TARG(x), RD_VARG(w),
                     RD_TARG(dx), RD_ARG(C), RD_ARG(k), RD_ARG(s), RD_ARG(H), RD_ARG(W), RD_ARG(Ho), RD_ARG(Wo),
                     RD_END);
}
