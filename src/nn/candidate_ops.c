/* The candidate operations of an edge (SEARCH.md's table): their names, weights,
 * the activations each keeps for its backward pass, forward and backward.
 *
 * Every op with a final batch-norm ends with the fused "BN, times the edge's
 * softmax weight, add into the node sum" kernel, and its backward's
 * per-channel sum of dnode * y gives the gradient of its mixed-op weight.
 * The evaluation network (network.c) runs the same ops with affine BNs, no BN
 * after pools, a plain sum into the node and, in training, drop-path's
 * per-image scales (rd_op_exec.plain_sum / drop_scales).
 * ReLUs are fused into the following convolution's input, so no ReLU output is
 * ever stored; batch-norms run in place on their convolution's output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nn/nn_internal.h"
#include "nn/candidate_ops.h"

/* ---- weights and names (PyTorch DARTS module layout) ---- */
static rd_param_desc conv_desc(const char *suffix, int out, int in, int kh, int kw) {
    rd_param_desc d = {suffix, 4, {out, in, kh, kw}, in * kh * kw};
    return d;
}

int rd_op_params(rd_op_id op, int C, int stride, rd_param_desc *out) {
    const rd_op_info *info = rd_op_get_info(op);
    int k = info->k;
    switch (info->kind) {
    case RD_KIND_NONE:
    case RD_KIND_POOL: return 0;
    case RD_KIND_SKIP:
        if (stride == 1) return 0;
        out[0] = conv_desc("conv_1.weight", C / 2, C, 1, 1);
        out[1] = conv_desc("conv_2.weight", C / 2, C, 1, 1);
        return 2;
    case RD_KIND_SEP:
        out[0] = conv_desc("op.1.weight", C, 1, k, k);
        out[1] = conv_desc("op.2.weight", C, C, 1, 1);
        out[2] = conv_desc("op.5.weight", C, 1, k, k);
        out[3] = conv_desc("op.6.weight", C, C, 1, 1);
        return 4;
    case RD_KIND_DIL:
        out[0] = conv_desc("op.1.weight", C, 1, k, k);
        out[1] = conv_desc("op.2.weight", C, C, 1, 1);
        return 2;
    case RD_KIND_CONV: out[0] = conv_desc("op.1.weight", C, C, k, k); return 1;
    case RD_KIND_CONV71:
        out[0] = conv_desc("op.1.weight", C, C, 1, 7);
        out[1] = conv_desc("op.2.weight", C, C, 7, 1);
        return 2;
    }
    return 0;
}

int rd_op_bn_names(rd_op_id op, int stride, int pool_bn, const char **out) {
    switch (rd_op_get_info(op)->kind) {
    case RD_KIND_NONE: return 0;
    case RD_KIND_POOL:
        if (!pool_bn) return 0;
        out[0] = "1";
        return 1;
    case RD_KIND_SKIP:
        if (stride == 1) return 0;
        out[0] = "bn";
        return 1;
    case RD_KIND_SEP: out[0] = "op.3"; out[1] = "op.7"; return 2;
    case RD_KIND_DIL: out[0] = "op.3"; return 1;
    case RD_KIND_CONV: out[0] = "op.2"; return 1;
    case RD_KIND_CONV71: out[0] = "op.3"; return 1;
    }
    return 0;
}

/* ---- convolution parameters of each stage ---- */
static rd_conv_params dw_params(const rd_op_inst *op, int stage) {
    const rd_op_info *info = rd_op_get_info(op->id);
    int k = info->k;
    if (info->kind == RD_KIND_DIL) return rd_conv_depthwise_params(op->C, k, op->stride, k - 1, 2, 1);
    /* sep conv: stage 0 strided, stage 1 stride 1; both see a ReLU first */
    return rd_conv_depthwise_params(op->C, k, stage == 0 ? op->stride : 1, k / 2, 1, 1);
}

static rd_conv_params pw_params(void) { return rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 0); }

static rd_conv_params conv71_params(const rd_op_inst *op, int stage) {
    /* stage 0: 1x7 stride (1, s) pad (0, 3) after ReLU; stage 1: 7x1 stride (s, 1) pad (3, 0) */
    if (stage == 0) return rd_conv_dense_params(1, 7, 1, op->stride, 0, 3, 1, 1);
    return rd_conv_dense_params(7, 1, op->stride, 1, 3, 0, 1, 0);
}

static rd_pool_params pool_params(const rd_op_inst *op) {
    const rd_op_info *info = rd_op_get_info(op->id);
    rd_pool_params p = {info->pool, info->k, op->stride, info->k / 2};
    return p;
}

/* need NULL: only the kept activations are planned (rd_op_activation_floats) */
static void need_conv(rd_ctx *ctx, rd_scratch_need *need, const rd_conv_params *p, const rd_tensor *x,
                      const rd_tensor *y) {
    if (!need) return;
    rd_ops_scratch_need s;
    rd_conv2d_scratch(ctx, p, x, y, &s);
    rd_scratch_merge(need, &s);
}

static void need_pool(rd_ctx *ctx, rd_scratch_need *need, const rd_pool_params *p, const rd_tensor *x,
                      const rd_tensor *y) {
    if (!need) return;
    rd_ops_scratch_need s;
    rd_pool2d_scratch(ctx, p, x, y, &s);
    rd_scratch_merge(need, &s);
}

static void need_bn(rd_ctx *ctx, rd_scratch_need *need, const rd_tensor *x) {
    if (!need) return;
    rd_ops_scratch_need s;
    rd_batchnorm_scratch(ctx, x, &s);
    rd_scratch_merge(need, &s);
}

int rd_op_stackable(const rd_op_inst *op) {
    if (op->affine) return 0;
    switch (rd_op_get_info(op->id)->kind) {
    case RD_KIND_NONE: return 0;
    case RD_KIND_POOL: return op->pool_bn;
    case RD_KIND_SKIP: return op->stride != 1;
    default: return 1;
    }
}

/* The op's output and its final BN's saved statistics: slices of the edge's stack when it has one. */
static rd_tensor final_act(rd_arena *acts, const rd_op_inst *op, int n, int h_out, int w_out) {
    if (op->bn_stack) return rd_tensor_channels(op->bn_stack->t, op->stack_slot * op->C, op->C);
    return rd_arena_tensor(acts, n, op->C, h_out, w_out);
}

static rd_bn_state final_bn_tmp(rd_arena *acts, const rd_op_inst *op) {
    if (!op->bn_stack) return rd_bn_tmp_plan(acts, op->C);
    rd_bn_state s;
    memset(&s, 0, sizeof s);
    size_t C = (size_t)op->C, at = (size_t)op->stack_slot * C;
    s.save_mean = rd_vec_slice(op->bn_stack->tmp.save_mean, at, C);
    s.save_invstd = rd_vec_slice(op->bn_stack->tmp.save_invstd, at, C);
    return s;
}

void rd_op_plan(rd_ctx *ctx, rd_op_inst *op, const rd_tensor *x, int h_out, int w_out, rd_arena *acts,
                rd_scratch_need *need) {
    const rd_op_info *info = rd_op_get_info(op->id);
    int n = x->n, C = op->C;
    op->n_act = 0;
    switch (info->kind) {
    case RD_KIND_NONE: break;
    case RD_KIND_POOL: {
        op->act[op->n_act++] = final_act(acts, op, n, h_out, w_out);
        if (op->pool_bn) op->bn_tmp[0] = final_bn_tmp(acts, op);
        rd_pool_params p = pool_params(op);
        need_pool(ctx, need, &p, x, &op->act[0]);
        break;
    }
    case RD_KIND_SKIP:
        if (op->stride == 1) break;
        op->act[op->n_act++] = final_act(acts, op, n, h_out, w_out);
        op->bn_tmp[0] = final_bn_tmp(acts, op);
        for (int s = 0; s < 2; s++) {
            rd_conv_params p = rd_factorized_reduce_params(s);
            rd_tensor half = rd_tensor_channels(op->act[0], s * (C / 2), C / 2);
            need_conv(ctx, need, &p, x, &half);
        }
        break;
    case RD_KIND_SEP: {
        for (int i = 0; i < 3; i++) op->act[op->n_act++] = rd_arena_tensor(acts, n, C, h_out, w_out);
        op->act[op->n_act++] = final_act(acts, op, n, h_out, w_out);
        op->bn_tmp[0] = rd_bn_tmp_plan(acts, C);
        op->bn_tmp[1] = final_bn_tmp(acts, op);
        rd_conv_params d0 = dw_params(op, 0), d1 = dw_params(op, 1), pw = pw_params();
        need_conv(ctx, need, &d0, x, &op->act[0]);
        need_conv(ctx, need, &pw, &op->act[0], &op->act[1]);
        need_conv(ctx, need, &d1, &op->act[1], &op->act[2]);
        need_conv(ctx, need, &pw, &op->act[2], &op->act[3]);
        break;
    }
    case RD_KIND_DIL: {
        op->act[op->n_act++] = rd_arena_tensor(acts, n, C, h_out, w_out);
        op->act[op->n_act++] = final_act(acts, op, n, h_out, w_out);
        op->bn_tmp[0] = final_bn_tmp(acts, op);
        rd_conv_params d0 = dw_params(op, 0), pw = pw_params();
        need_conv(ctx, need, &d0, x, &op->act[0]);
        need_conv(ctx, need, &pw, &op->act[0], &op->act[1]);
        break;
    }
    case RD_KIND_CONV: {
        op->act[op->n_act++] = final_act(acts, op, n, h_out, w_out);
        op->bn_tmp[0] = final_bn_tmp(acts, op);
        rd_conv_params p = rd_conv_dense_params(info->k, info->k, op->stride, op->stride, info->k / 2,
                                                info->k / 2, 1, 1);
        need_conv(ctx, need, &p, x, &op->act[0]);
        break;
    }
    case RD_KIND_CONV71: {
        rd_conv_params p0 = conv71_params(op, 0), p1 = conv71_params(op, 1);
        op->act[op->n_act++] = rd_arena_tensor(acts, n, C, x->h, rd_conv_out_w(&p0, x->w));
        op->act[op->n_act++] = final_act(acts, op, n, h_out, w_out);
        op->bn_tmp[0] = final_bn_tmp(acts, op);
        need_conv(ctx, need, &p0, x, &op->act[0]);
        need_conv(ctx, need, &p1, &op->act[0], &op->act[1]);
        break;
    }
    }
    /* every BN of the op normalizes a tensor of the op's output shape */
    if (op->n_act) need_bn(ctx, need, &op->act[op->n_act - 1]);
}

size_t rd_op_activation_floats(rd_op_id id, int stride, int C, int h, int w) {
    rd_op_inst op;
    memset(&op, 0, sizeof op);
    op.id = id;
    op.stride = stride;
    op.C = C;
    op.pool_bn = 1;
    rd_arena plan;
    memset(&plan, 0, sizeof plan);
    plan.chunk_limit = (size_t)-1;
    rd_arena_begin(&plan, 0);
    rd_tensor x = rd_tensor_make(NULL, 0, 1, C, h, w);
    rd_op_plan(NULL, &op, &x, stride == 2 ? h / 2 : h, stride == 2 ? w / 2 : w, &plan, NULL);
    size_t floats = 0;
    for (int i = 0; i < op.n_act; i++) floats += rd_tensor_numel(&op.act[i]);
    return floats;
}

size_t rd_op_temp_floats(const rd_op_inst *op, const rd_tensor *x, int h_out, int w_out) {
    /* the backward temporaries hold one op-internal tensor each */
    size_t out = (size_t)x->n * op->C * h_out * w_out;
    if (rd_op_get_info(op->id)->kind == RD_KIND_CONV71) {
        size_t mid = (size_t)x->n * op->C * x->h * w_out;
        if (mid > out) out = mid;
    }
    return out;
}

/* ---- forward ---- */
static rd_vec wvec(const rd_op_exec *e, const rd_op_inst *op, int i) {
    return rd_vec_slice(e->weights, op->w_off[i], op->w_len[i]);
}

static rd_bn_state bn_state(const rd_op_exec *e, const rd_op_inst *op, int i) {
    rd_bn_state s = op->bn_tmp[i];
    s.gamma.mem = s.beta.mem = NULL;
    if (op->affine) {
        s.gamma = rd_vec_slice(e->weights, op->gamma_off[i], (size_t)op->C);
        s.beta = rd_vec_slice(e->weights, op->beta_off[i], (size_t)op->C);
    }
    if (e->bn_state.mem) {
        s.running_mean = rd_vec_slice(e->bn_state, op->bn_off[i], (size_t)op->C);
        s.running_var = rd_vec_slice(e->bn_state, op->bn_off[i] + (size_t)op->C, (size_t)op->C);
    } else {
        s.running_mean.mem = s.running_var.mem = NULL;
    }
    return s;
}

/* This op's drop-path scales for the images of t (.mem NULL: none). */
static rd_vec drop_scales(const rd_op_exec *e, const rd_op_inst *op, const rd_tensor *t) {
    rd_vec none = {NULL, 0, 0};
    if (!e->plain_sum || !e->train || !e->drop_scales.mem) return none;
    return rd_vec_slice(e->drop_scales, op->drop_off, (size_t)t->n);
}

/* node += the op's output t: times the mixed-op weight (supernet), the drop-path
 * scale of each image, or plainly. */
static rd_status accumulate(rd_ctx *ctx, const rd_op_exec *e, const rd_op_inst *op, const rd_tensor *t,
                            const rd_tensor *node) {
    if (!e->plain_sum) {
        rd_vec w = rd_vec_slice(e->mix_weights, op->mix_slot, 1);
        return rd_axpy_dev(ctx, &w, t, node, 1);
    }
    rd_vec d = drop_scales(e, op, t);
    if (d.mem) return rd_scale_images(ctx, &d, t, node, 1);
    return rd_axpy(ctx, 1.0f, t, node, 1);
}

/* The op's last stage: BN over t, then node += w * t (fused where the BN kernel can). */
static rd_status bn_accumulate(rd_ctx *ctx, const rd_op_exec *e, const rd_op_inst *op, int bn, const rd_tensor *t,
                               const rd_tensor *node) {
    if (rd_bn_stack_runs(op->bn_stack, e)) return RD_OK; /* the edge's stack runs it (cell_stack.c) */
    rd_bn_state s = bn_state(e, op, bn);
    if (!e->plain_sum) {
        rd_vec w = rd_vec_slice(e->mix_weights, op->mix_slot, 1);
        if (e->train) return rd_batchnorm_forward_train(ctx, &e->bn, &s, t, t, &w, node);
        RD_TRY(rd_batchnorm_forward_eval(ctx, &e->bn, &s, t, t));
        return rd_axpy_dev(ctx, &w, t, node, 1);
    }
    if (e->train && !drop_scales(e, op, t).mem) return rd_batchnorm_forward_train(ctx, &e->bn, &s, t, t, NULL, node);
    if (e->train) RD_TRY(rd_batchnorm_forward_train(ctx, &e->bn, &s, t, t, NULL, NULL));
    else RD_TRY(rd_batchnorm_forward_eval(ctx, &e->bn, &s, t, t));
    return accumulate(ctx, e, op, t, node);
}

static rd_status bn_inner(rd_ctx *ctx, const rd_op_exec *e, const rd_op_inst *op, int bn, const rd_tensor *t) {
    rd_bn_state s = bn_state(e, op, bn);
    if (e->train) return rd_batchnorm_forward_train(ctx, &e->bn, &s, t, t, NULL, NULL);
    return rd_batchnorm_forward_eval(ctx, &e->bn, &s, t, t);
}

rd_status rd_op_forward(rd_ctx *ctx, const rd_op_exec *e, const rd_op_inst *op, const rd_tensor *x,
                        const rd_tensor *node) {
    const rd_op_info *info = rd_op_get_info(op->id);
    const rd_tensor *a = op->act;
    switch (info->kind) {
    case RD_KIND_NONE: return RD_OK;
    case RD_KIND_POOL: {
        rd_pool_params p = pool_params(op);
        RD_TRY(rd_pool2d_forward(ctx, &p, x, &a[0]));
        if (!op->pool_bn) return accumulate(ctx, e, op, &a[0], node);
        return bn_accumulate(ctx, e, op, 0, &a[0], node);
    }
    case RD_KIND_SKIP: {
        if (op->stride == 1) {
            if (e->plain_sum) return rd_axpy(ctx, 1.0f, x, node, 1); /* the identity: never dropped */
            rd_vec w = rd_vec_slice(e->mix_weights, op->mix_slot, 1);
            return rd_axpy_dev(ctx, &w, x, node, 1);
        }
        for (int s = 0; s < 2; s++) {
            rd_conv_params p = rd_factorized_reduce_params(s);
            rd_tensor half = rd_tensor_channels(a[0], s * (op->C / 2), op->C / 2);
            rd_vec w = wvec(e, op, s);
            RD_TRY(rd_conv2d_forward(ctx, &p, x, &w, &half));
        }
        return bn_accumulate(ctx, e, op, 0, &a[0], node);
    }
    case RD_KIND_SEP: {
        rd_conv_params d0 = dw_params(op, 0), d1 = dw_params(op, 1), pw = pw_params();
        rd_vec w0 = wvec(e, op, 0), w1 = wvec(e, op, 1), w2 = wvec(e, op, 2), w3 = wvec(e, op, 3);
        RD_TRY(rd_conv2d_forward(ctx, &d0, x, &w0, &a[0]));
        RD_TRY(rd_conv2d_forward(ctx, &pw, &a[0], &w1, &a[1]));
        RD_TRY(bn_inner(ctx, e, op, 0, &a[1]));
        RD_TRY(rd_conv2d_forward(ctx, &d1, &a[1], &w2, &a[2]));
        RD_TRY(rd_conv2d_forward(ctx, &pw, &a[2], &w3, &a[3]));
        return bn_accumulate(ctx, e, op, 1, &a[3], node);
    }
    case RD_KIND_DIL: {
        rd_conv_params d0 = dw_params(op, 0), pw = pw_params();
        rd_vec w0 = wvec(e, op, 0), w1 = wvec(e, op, 1);
        RD_TRY(rd_conv2d_forward(ctx, &d0, x, &w0, &a[0]));
        RD_TRY(rd_conv2d_forward(ctx, &pw, &a[0], &w1, &a[1]));
        return bn_accumulate(ctx, e, op, 0, &a[1], node);
    }
    case RD_KIND_CONV: {
        rd_conv_params p = rd_conv_dense_params(info->k, info->k, op->stride, op->stride, info->k / 2, info->k / 2,
                                                1, 1);
        rd_vec w0 = wvec(e, op, 0);
        RD_TRY(rd_conv2d_forward(ctx, &p, x, &w0, &a[0]));
        return bn_accumulate(ctx, e, op, 0, &a[0], node);
    }
    case RD_KIND_CONV71: {
        rd_conv_params p0 = conv71_params(op, 0), p1 = conv71_params(op, 1);
        rd_vec w0 = wvec(e, op, 0), w1 = wvec(e, op, 1);
        RD_TRY(rd_conv2d_forward(ctx, &p0, x, &w0, &a[0]));
        RD_TRY(rd_conv2d_forward(ctx, &p1, &a[0], &w1, &a[1]));
        return bn_accumulate(ctx, e, op, 0, &a[1], node);
    }
    }
    return RD_OK;
}

/* ---- backward ---- */
/* Gradients of an affine BN's gamma and beta (NULL when not affine or not wanted). */
static void bn_param_grads(const rd_op_exec *e, const rd_op_inst *op, int bn, rd_vec *dg, rd_vec *db,
                           const rd_vec **dgp, const rd_vec **dbp) {
    *dgp = *dbp = NULL;
    if (!op->affine || !e->weight_grads.mem) return;
    *dg = rd_vec_slice(e->weight_grads, op->gamma_off[bn], (size_t)op->C);
    *db = rd_vec_slice(e->weight_grads, op->beta_off[bn], (size_t)op->C);
    *dgp = dg;
    *dbp = db;
}

/* An inner BN, in place on the gradient g (y: its output). */
static rd_status bn_backward_inplace(rd_ctx *ctx, const rd_op_exec *e, const rd_op_inst *op, int bn,
                                     const rd_tensor *y, const rd_tensor *g) {
    rd_bn_state s = bn_state(e, op, bn);
    rd_vec dg, db;
    const rd_vec *dgp, *dbp;
    bn_param_grads(e, op, bn, &dg, &db, &dgp, &dbp);
    return rd_batchnorm_backward(ctx, &e->bn, &s, NULL, y, g, NULL, g, 0, dgp, dbp, NULL);
}

/* The gradient of the op's output t from dnode, into temp, for ops without a final
 * BN: w * dnode (supernet; with the alpha partial), s[b] * dnode[b] (drop-path), or
 * dnode itself (returned without a copy). */
static rd_status output_grad(rd_ctx *ctx, const rd_op_exec *e, const rd_op_inst *op, const rd_tensor *t,
                             const rd_tensor *dnode, const rd_tensor *temp, rd_tensor *g) {
    if (!e->plain_sum) {
        rd_vec w = rd_vec_slice(e->mix_weights, op->mix_slot, 1);
        if (e->alpha_partials.mem) {
            rd_vec dot = rd_vec_slice(e->alpha_partials, op->partial_off, 1);
            RD_TRY(rd_tensor_dot(ctx, dnode, t, &dot));
        }
        RD_TRY(rd_axpy_dev(ctx, &w, dnode, temp, 0));
        *g = *temp;
        return RD_OK;
    }
    rd_vec d = drop_scales(e, op, t);
    if (!d.mem) {
        *g = *dnode;
        return RD_OK;
    }
    RD_TRY(rd_scale_images(ctx, &d, dnode, temp, 0));
    *g = *temp;
    return RD_OK;
}

/* Through the op's last BN: g (a temporary) = d(pre-BN) from dnode scaled by the op's
 * weight (or drop-path scale); the per-channel dnode * y sums go to the alpha partials
 * when wanted, gamma / beta gradients to the weight gradients when affine. In an edge's
 * BN stack that already ran (cell_stack.c): g = y, which holds d(pre-BN) now. */
static rd_status bn_accumulate_backward(rd_ctx *ctx, const rd_op_exec *e, const rd_op_inst *op, int bn,
                                        const rd_tensor *y, const rd_tensor *dnode, rd_tensor *g) {
    if (rd_bn_stack_runs(op->bn_stack, e)) {
        *g = *y;
        return RD_OK;
    }
    rd_bn_state s = bn_state(e, op, bn);
    rd_vec dg, db;
    const rd_vec *dgp, *dbp;
    bn_param_grads(e, op, bn, &dg, &db, &dgp, &dbp);
    rd_tensor tv = *g;
    if (e->plain_sum) {
        rd_vec d = drop_scales(e, op, y);
        const rd_tensor *dy = dnode;
        if (d.mem) {
            RD_TRY(rd_scale_images(ctx, &d, dnode, &tv, 0));
            dy = &tv;
        }
        return rd_batchnorm_backward(ctx, &e->bn, &s, NULL, y, dy, NULL, &tv, 0, dgp, dbp, NULL);
    }
    rd_vec w = rd_vec_slice(e->mix_weights, op->mix_slot, 1);
    rd_vec dot, *dotp = NULL;
    if (e->alpha_partials.mem) {
        dot = rd_vec_slice(e->alpha_partials, op->partial_off, (size_t)op->C);
        dotp = &dot;
    }
    return rd_batchnorm_backward(ctx, &e->bn, &s, NULL, y, dnode, &w, &tv, 0, dgp, dbp, dotp);
}

static rd_status conv_backward(rd_ctx *ctx, const rd_op_exec *e, const rd_conv_params *p, const rd_op_inst *op,
                               int wi, const rd_tensor *x, const rd_tensor *dy, const rd_tensor *dx, int acc) {
    rd_vec w = wvec(e, op, wi);
    rd_vec g, *gp = NULL;
    if (e->weight_grads.mem) {
        g = rd_vec_slice(e->weight_grads, op->w_off[wi], op->w_len[wi]);
        gp = &g;
    }
    return rd_conv2d_backward(ctx, p, x, &w, dy, dx, acc, gp);
}

static rd_tensor temp_like(const rd_tensor *buf, const rd_tensor *shape) {
    return rd_tensor_make(buf->mem, buf->off, shape->n, shape->c, shape->h, shape->w);
}

rd_status rd_op_backward(rd_ctx *ctx, const rd_op_exec *e, const rd_op_inst *op, const rd_tensor *x,
                         const rd_tensor *dnode, const rd_tensor *dx, const rd_tensor *ta, const rd_tensor *tb) {
    const rd_op_info *info = rd_op_get_info(op->id);
    const rd_tensor *a = op->act;
    switch (info->kind) {
    case RD_KIND_NONE: return RD_OK;  /* zero output: no gradient, and d(loss)/d(weight) = 0 */
    case RD_KIND_POOL: {
        rd_tensor g = temp_like(ta, &a[0]);
        if (op->pool_bn) RD_TRY(bn_accumulate_backward(ctx, e, op, 0, &a[0], dnode, &g));
        else RD_TRY(output_grad(ctx, e, op, &a[0], dnode, &g, &g));
        rd_pool_params p = pool_params(op);
        return rd_pool2d_backward(ctx, &p, x, &g, dx, 1);
    }
    case RD_KIND_SKIP: {
        if (op->stride == 1) {
            if (e->plain_sum) return rd_axpy(ctx, 1.0f, dnode, dx, 1);
            rd_vec w = rd_vec_slice(e->mix_weights, op->mix_slot, 1);
            if (e->alpha_partials.mem) {
                rd_vec dot = rd_vec_slice(e->alpha_partials, op->partial_off, 1);
                RD_TRY(rd_tensor_dot(ctx, dnode, x, &dot));
            }
            return rd_axpy_dev(ctx, &w, dnode, dx, 1);
        }
        rd_tensor g = temp_like(ta, &a[0]);
        RD_TRY(bn_accumulate_backward(ctx, e, op, 0, &a[0], dnode, &g));
        for (int s = 0; s < 2; s++) {
            rd_conv_params p = rd_factorized_reduce_params(s);
            rd_tensor half = rd_tensor_channels(g, s * (op->C / 2), op->C / 2);
            RD_TRY(conv_backward(ctx, e, &p, op, s, x, &half, dx, 1));
        }
        return RD_OK;
    }
    case RD_KIND_SEP: {
        rd_conv_params d0 = dw_params(op, 0), d1 = dw_params(op, 1), pw = pw_params();
        rd_tensor g3 = temp_like(ta, &a[3]), g2 = temp_like(tb, &a[2]), g1 = temp_like(ta, &a[1]),
                  g0 = temp_like(tb, &a[0]);
        RD_TRY(bn_accumulate_backward(ctx, e, op, 1, &a[3], dnode, &g3));
        RD_TRY(conv_backward(ctx, e, &pw, op, 3, &a[2], &g3, &g2, 0));
        RD_TRY(conv_backward(ctx, e, &d1, op, 2, &a[1], &g2, &g1, 0));
        RD_TRY(bn_backward_inplace(ctx, e, op, 0, &a[1], &g1));
        RD_TRY(conv_backward(ctx, e, &pw, op, 1, &a[0], &g1, &g0, 0));
        return conv_backward(ctx, e, &d0, op, 0, x, &g0, dx, 1);
    }
    case RD_KIND_DIL: {
        rd_conv_params d0 = dw_params(op, 0), pw = pw_params();
        rd_tensor g1 = temp_like(ta, &a[1]), g0 = temp_like(tb, &a[0]);
        RD_TRY(bn_accumulate_backward(ctx, e, op, 0, &a[1], dnode, &g1));
        RD_TRY(conv_backward(ctx, e, &pw, op, 1, &a[0], &g1, &g0, 0));
        return conv_backward(ctx, e, &d0, op, 0, x, &g0, dx, 1);
    }
    case RD_KIND_CONV: {
        rd_conv_params p = rd_conv_dense_params(info->k, info->k, op->stride, op->stride, info->k / 2, info->k / 2,
                                                1, 1);
        rd_tensor g = temp_like(ta, &a[0]);
        RD_TRY(bn_accumulate_backward(ctx, e, op, 0, &a[0], dnode, &g));
        return conv_backward(ctx, e, &p, op, 0, x, &g, dx, 1);
    }
    case RD_KIND_CONV71: {
        rd_conv_params p0 = conv71_params(op, 0), p1 = conv71_params(op, 1);
        rd_tensor g1 = temp_like(ta, &a[1]), g0 = temp_like(tb, &a[0]);
        RD_TRY(bn_accumulate_backward(ctx, e, op, 0, &a[1], dnode, &g1));
        RD_TRY(conv_backward(ctx, e, &p1, op, 1, &a[0], &g1, &g0, 0));
        return conv_backward(ctx, e, &p0, op, 0, x, &g0, dx, 1);
    }
    }
    return RD_OK;
}

/* ---- an edge's sep and dil convs with their 1x1 stages grouped (rd_edge_pw) ----
 * Forward: x -dw0-> a0 -1x1-> a1 [sep: -BN-> a1 -dw2-> a2 -1x1-> a3]; the last act is the op's
 * stack slice. Backward, each gradient where its tensor was: the stack leaves d(slice) in the
 * slice; the last 1x1's gradient goes over its input (a2, dil: a0); a sep conv's dw2 writes d(a1)
 * into its slice (free by then), where the inner BN's backward runs in place, and its first
 * 1x1's gradient goes over a0; dw0 then adds into dx. No temporaries. */
int rd_op_pw_groupable(const rd_op_inst *op) {
    rd_op_kind k = rd_op_get_info(op->id)->kind;
    return k == RD_KIND_SEP || k == RD_KIND_DIL;
}

/* A group row: x, its batch stride, the weights' offset, y (dy), its batch stride. */
static int pw_row(uint32_t *r, const rd_tensor *x, size_t w_off, const rd_tensor *y) {
    const size_t v[5] = {x->off, x->nstride, w_off, y->off, y->nstride};
    for (int i = 0; i < 5; i++) {
        if (v[i] > UINT32_MAX) return 0;
        r[i] = (uint32_t)v[i];
    }
    return 1;
}

int rd_op_pw_rows(const rd_op_inst *op, uint32_t *fwd0, uint32_t *fwd1, uint32_t *bwd0, uint32_t *bwd1) {
    const rd_tensor *a = op->act;
    if (rd_op_get_info(op->id)->kind == RD_KIND_DIL)
        return pw_row(fwd0, &a[0], op->w_off[1], &a[1]) && pw_row(bwd0, &a[0], op->w_off[1], &a[1]);
    return pw_row(fwd0, &a[0], op->w_off[1], &a[1]) && pw_row(fwd1, &a[2], op->w_off[3], &a[3]) &&
           pw_row(bwd0, &a[2], op->w_off[3], &a[3]) && pw_row(bwd1, &a[0], op->w_off[1], &a[3]);
}

rd_status rd_ops_forward_grouped(rd_ctx *ctx, const rd_op_exec *e, const rd_op_inst *const *ops, int n,
                                 const rd_edge_pw *pw, const rd_tensor *x) {
    for (int i = 0; i < n; i++) {
        rd_conv_params d0 = dw_params(ops[i], 0);
        rd_vec w0 = wvec(e, ops[i], 0);
        RD_TRY(rd_conv2d_forward(ctx, &d0, x, &w0, &ops[i]->act[0]));
    }
    RD_TRY(rd_pw_group_forward(ctx, &pw->fwd[0], &e->weights));
    for (int i = 0; i < n; i++) {
        const rd_op_inst *op = ops[i];
        if (rd_op_get_info(op->id)->kind != RD_KIND_SEP) continue;
        rd_conv_params d1 = dw_params(op, 1);
        rd_vec w2 = wvec(e, op, 2);
        RD_TRY(bn_inner(ctx, e, op, 0, &op->act[1]));
        RD_TRY(rd_conv2d_forward(ctx, &d1, &op->act[1], &w2, &op->act[2]));
    }
    if (pw->fwd[1].slices) RD_TRY(rd_pw_group_forward(ctx, &pw->fwd[1], &e->weights));
    return RD_OK;
}

rd_status rd_ops_backward_grouped(rd_ctx *ctx, const rd_op_exec *e, const rd_op_inst *const *ops, int n,
                                  const rd_edge_pw *pw, const rd_tensor *x, const rd_tensor *dx) {
    const rd_vec *dw = e->weight_grads.mem ? &e->weight_grads : NULL;
    RD_TRY(rd_pw_group_backward(ctx, &pw->bwd[0], &e->weights, dw));
    for (int i = 0; i < n; i++) {
        const rd_op_inst *op = ops[i];
        if (rd_op_get_info(op->id)->kind != RD_KIND_SEP) continue;
        const rd_tensor *a = op->act;
        rd_conv_params d1 = dw_params(op, 1);
        RD_TRY(conv_backward(ctx, e, &d1, op, 2, &a[1], &a[2], &a[3], 0));
        RD_TRY(bn_backward_inplace(ctx, e, op, 0, &a[1], &a[3]));
    }
    if (pw->bwd[1].slices) RD_TRY(rd_pw_group_backward(ctx, &pw->bwd[1], &e->weights, dw));
    for (int i = 0; i < n; i++) {
        rd_conv_params d0 = dw_params(ops[i], 0);
        RD_TRY(conv_backward(ctx, e, &d0, ops[i], 0, x, &ops[i]->act[0], dx, 1));
    }
    return RD_OK;
}

void rd_op_cost(const rd_op_inst *op, int h_in, int w_in, int h_out, int w_out, double *params, double *flops) {
    int ho = op->stride == 2 ? h_out : h_in, wo = op->stride == 2 ? w_out : w_in;
    for (int w = 0; w < op->n_w; w++) {
        double n = (double)op->w_len[w];
        int first_of_71 = op->id == RD_OP_CONV_7X1_1X7 && w == 0; /* the 1x7 conv keeps the input's height */
        *params += n;
        *flops += 2 * n * (first_of_71 ? h_in : ho) * wo;
    }
    if (op->affine) *params += 2.0 * op->n_bn * op->C;
}
