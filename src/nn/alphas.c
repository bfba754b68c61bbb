/* Architecture weights on the device: the masked softmax that turns alphas into
 * mixed-op weights, and the reduction of per-op partial sums into d(loss)/d(alpha)
 * (kernels: cl/alphas.cl). */
#include "nn/alphas.h"

rd_status rd_alphas_softmax(rd_ctx *ctx, const rd_vec *alphas, const rd_vec *mask, const rd_vec *weights, int K) {
    cl_uint rows = 2 * RD_CELL_EDGES, k = (cl_uint)K;
    if (alphas->len != (size_t)rows * K || mask->len != alphas->len || weights->len != alphas->len)
        return rd_fail(&ctx->err, RD_ERR_ARG, "alphas softmax: vectors of %zu, %zu, %zu floats for 2x14x%d", alphas->len,
                       mask->len, weights->len, K);
    /* whole vectors start at their offsets: pass sub-buffers as pointers + offsets folded in */
    size_t g[1] = {rows}, l[1] = {1};
    cl_mem a = alphas->mem, m = mask->mem, w = weights->mem;
    if (alphas->off || mask->off || weights->off)
        return rd_fail(&ctx->err, RD_ERR_ARG, "alphas softmax: vectors must start their buffers");
    return rd_launch(ctx, "alphas", "masked_softmax", 1, g, l, RD_ARG(a), RD_ARG(m), RD_ARG(w), RD_ARG(rows),
                     RD_ARG(k), RD_END);
}

rd_status rd_alphas_grad(rd_ctx *ctx, const rd_vec *partials, const rd_vec *weights, const rd_vec *mask,
                         const rd_vec *grad, int K, int cmax, int n_cells, uint64_t reduce_bits) {
    if (K > 16) return rd_fail(&ctx->err, RD_ERR_ARG, "alpha gradient: at most 16 ops per edge (got %d)", K);
    if (partials->off || weights->off || mask->off || grad->off)
        return rd_fail(&ctx->err, RD_ERR_ARG, "alpha gradient: vectors must start their buffers");
    cl_uint k = (cl_uint)K, cm = (cl_uint)cmax, nc = (cl_uint)n_cells, edges = RD_CELL_EDGES;
    cl_ulong bits = reduce_bits;
    size_t g[1] = {2 * RD_CELL_EDGES}, l[1] = {1};
    return rd_launch(ctx, "alphas", "alpha_grad", 1, g, l, RD_ARG(partials->mem), RD_ARG(weights->mem),
                     RD_ARG(mask->mem), RD_ARG(grad->mem), RD_ARG(k), RD_ARG(cm), RD_ARG(nc), RD_ARG(bits),
                     RD_ARG(edges), RD_END);
}

rd_status rd_edge_softmax(rd_ctx *ctx, const rd_vec *betas, const rd_vec *weights) {
    if (betas->len != 2 * RD_CELL_EDGES || weights->len != 2 * RD_CELL_EDGES)
        return rd_fail(&ctx->err, RD_ERR_ARG, "edge softmax: vectors of %zu and %zu floats for 2x14", betas->len,
                       weights->len);
    cl_uint steps = RD_CELL_NODES, edges = RD_CELL_EDGES;
    size_t g[1] = {2 * RD_CELL_NODES}, l[1] = {1};
    return rd_launch(ctx, "alphas", "edge_softmax", 1, g, l, RD_ARG(betas->mem), RD_ARG(betas->off),
                     RD_ARG(weights->mem), RD_ARG(weights->off), RD_ARG(steps), RD_ARG(edges), RD_END);
}

rd_status rd_edge_softmax_grad(rd_ctx *ctx, const rd_vec *partials, const rd_vec *weights, const rd_vec *grad,
                               int n_cells, uint64_t reduce_bits) {
    if (partials->off || partials->len < (size_t)n_cells * RD_CELL_EDGES || weights->len != 2 * RD_CELL_EDGES ||
        grad->len != 2 * RD_CELL_EDGES)
        return rd_fail(&ctx->err, RD_ERR_ARG, "edge softmax gradient: bad vectors");
    cl_uint steps = RD_CELL_NODES, edges = RD_CELL_EDGES, nc = (cl_uint)n_cells;
    cl_ulong bits = reduce_bits;
    size_t g[1] = {2 * RD_CELL_NODES}, l[1] = {1};
    return rd_launch(ctx, "alphas", "edge_softmax_grad", 1, g, l, RD_ARG(partials->mem), RD_ARG(weights->mem),
                     RD_ARG(weights->off), RD_ARG(grad->mem), RD_ARG(grad->off), RD_ARG(steps), RD_ARG(edges),
                     RD_ARG(nc), RD_ARG(bits), RD_END);
}
