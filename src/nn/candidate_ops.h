/* Internal: planning and running one candidate op on one edge (candidate_ops.c). */
#ifndef RADARS_CANDIDATE_OPS_H
#define RADARS_CANDIDATE_OPS_H

#include "nn/nn_internal.h"

/* What a forward / backward of the ops needs besides the op itself. */
typedef struct rd_op_exec {
    rd_vec weights;
    rd_vec weight_grads;    /* .mem NULL: weight gradients not wanted */
    rd_vec bn_state;        /* running statistics */
    rd_vec mix_weights;     /* softmax of the alphas over active ops, [2][14][K] */
    rd_vec alpha_partials;  /* .mem NULL: alpha gradients not wanted */
    rd_bn_params bn;
    int train;
    /* The evaluation network (network.c): node += op(x) with no mixed-op weight
     * (mix_weights and alpha_partials unused), and in training, when drop_scales
     * is given, node[b] += drop_scales[op->drop_off + b] * op(x)[b] for every op but
     * the identity (DARTS' drop_path). */
    int plain_sum;
    rd_vec drop_scales;
    /* PC-DARTS (the stack's pc_k > 1): the weight of edge e of cell type t at t * 14 + e
     * (softmax of the betas over the node's edges), and per cell i and edge e at
     * i * 14 + e the partial sums of d(loss)/d(that weight) (.mem NULL: not wanted). */
    rd_vec edge_weights, edge_partials;
    rd_vec bn_stack_ws;     /* the reductions of one edge's BN stack at a time (rd_batchnorm_stack_floats) */
} rd_op_exec;

/* Whether the edge's stack bs runs its ops' final batch norms (cell_stack.c) instead of each
 * op: in training of the supernet's weighted sum, on an edge the layout gave a stack. The ops
 * (candidate_ops.c) and the cell (cell_stack.c) both ask this, so they cannot disagree. */
static inline int rd_bn_stack_runs(const rd_bn_stack *bs, const rd_op_exec *e) {
    return bs && bs->slices && e->train && !e->plain_sum;
}

/* Whether the op's 1x1 convolutions can join its edge's groups (rd_edge_pw): sep and dil convs. */
int rd_op_pw_groupable(const rd_op_inst *op);
/* Rows of a groupable op (after rd_op_plan) in the edge's four groups: fwd0 and bwd0 for every
 * such op, fwd1 and bwd1 for sep convs only (NULL for a dil conv); 0 when an offset or a batch
 * stride does not fit a uint. */
int rd_op_pw_rows(const rd_op_inst *op, uint32_t *fwd0, uint32_t *fwd1, uint32_t *bwd0, uint32_t *bwd1);
/* An edge's groupable ops (all stacked: rd_bn_stack_runs), their 1x1 stages grouped: forward up
 * to their stack slices; backward from their slices (after the stack's backward), dx += . */
rd_status rd_ops_forward_grouped(rd_ctx *ctx, const rd_op_exec *e, const rd_op_inst *const *ops, int n,
                                 const rd_edge_pw *pw, const rd_tensor *x);
rd_status rd_ops_backward_grouped(rd_ctx *ctx, const rd_op_exec *e, const rd_op_inst *const *ops, int n,
                                  const rd_edge_pw *pw, const rd_tensor *x, const rd_tensor *dx);

/* Plans the op's kept activations (and its scratch needs) for input x and output size. */
void rd_op_plan(rd_ctx *ctx, rd_op_inst *op, const rd_tensor *x, int h_out, int w_out, rd_arena *acts,
                rd_scratch_need *need);
/* Whether the op ends with a batch norm an edge's stack can take (rd_bn_stack). */
int rd_op_stackable(const rd_op_inst *op);
/* Floats the op's backward needs in each of its two temporaries. */
size_t rd_op_temp_floats(const rd_op_inst *op, const rd_tensor *x, int h_out, int w_out);
/* node += w * op(x) */
rd_status rd_op_forward(rd_ctx *ctx, const rd_op_exec *e, const rd_op_inst *op, const rd_tensor *x,
                        const rd_tensor *node);
/* dx += d(node)/dx; weight gradients and alpha partials when e asks for them.
 * ta, tb: temporaries of at least rd_op_temp_floats floats. */
rd_status rd_op_backward(rd_ctx *ctx, const rd_op_exec *e, const rd_op_inst *op, const rd_tensor *x,
                         const rd_tensor *dnode, const rd_tensor *dx, const rd_tensor *ta, const rd_tensor *tb);
/* Adds the op's parameters and FLOPs (2 per multiply-add) to *params and *flops;
 * x is h_in x w_in, a stride-2 op's output h_out x w_out. Affine BNs count as parameters. */
void rd_op_cost(const rd_op_inst *op, int h_in, int w_in, int h_out, int w_out, double *params, double *flops);

#endif
