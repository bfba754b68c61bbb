/* Internal: architecture-weight kernels (alphas.c). */
#ifndef RADARS_ALPHAS_H
#define RADARS_ALPHAS_H
#include "nn/nn_internal.h"

/* weights = per-row softmax of alphas over ops whose mask is 1 ([2][14][K]); each vector starts its buffer. */
rd_status rd_alphas_softmax(rd_ctx *ctx, const rd_vec *alphas, const rd_vec *mask, const rd_vec *weights, int K);
/* grad = d(loss)/d(alphas) from partials [n_cells][14][K][cmax] (cells of type bit c of reduce_bits). */
rd_status rd_alphas_grad(rd_ctx *ctx, const rd_vec *partials, const rd_vec *weights, const rd_vec *mask,
                         const rd_vec *grad, int K, int cmax, int n_cells, uint64_t reduce_bits);
/* PC-DARTS' edge normalisation: weights = per-node softmax of betas ([2][14] each). */
rd_status rd_edge_softmax(rd_ctx *ctx, const rd_vec *betas, const rd_vec *weights);
/* grad ([2][14]) = d(loss)/d(betas) from partials [n_cells][14] through the softmax. */
rd_status rd_edge_softmax_grad(rd_ctx *ctx, const rd_vec *partials, const rd_vec *weights, const rd_vec *grad,
                               int n_cells, uint64_t reduce_bits);
#endif
