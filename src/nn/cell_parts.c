/* The pieces the supernet and the evaluation network share (see cell_parts.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/cell_parts.h"

const rd_bn_params rd_cell_bn = {1e-5f, 0.1f};

/* ---- named parameters ---- */
int rd_params_add_name(rd_param_registry *r, rd_param_kind kind, size_t off, int ndim, const int *shape, double init,
                       const char *fmt, ...) {
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 256;
        rd_named_tensor *grown = realloc(r->names, (size_t)cap * sizeof *grown);
        if (!grown) return 0;
        r->names = grown;
        double *gi = realloc(r->init, (size_t)cap * sizeof *gi);
        if (!gi) return 0;
        r->init = gi;
        r->cap = cap;
    }
    rd_named_tensor *t = &r->names[r->n];
    r->init[r->n++] = init;
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->kind = kind;
    t->offset = off;
    t->ndim = ndim;
    t->count = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->count *= (size_t)shape[i];
    }
    return 1;
}

size_t rd_params_add_weight(rd_param_registry *r, const rd_param_desc *d, const char *prefix) {
    size_t off = r->n_weights, count = 1;
    for (int i = 0; i < d->ndim; i++) count *= (size_t)d->shape[i];
    r->n_weights += count;
    /* fan_in 0 (a BN's gamma / beta added as a plain weight): no bound, the caller initializes it */
    double bound = d->fan_in > 0 ? 1.0 / sqrt((double)d->fan_in) : RD_INIT_ZERO;
    rd_params_add_name(r, RD_PARAM_WEIGHT, off, d->ndim, d->shape, bound, "%s%s", prefix, d->suffix);
    return off;
}

void rd_params_free(rd_param_registry *r) {
    free(r->names);
    free(r->init);
    r->names = NULL;
    r->init = NULL;
    r->n = r->cap = 0;
}

rd_bn_place rd_params_add_bn(rd_param_registry *r, int C, int affine, const char *prefix) {
    rd_bn_place b;
    memset(&b, 0, sizeof b);
    int shape[1] = {C};
    b.affine = affine;
    if (affine) {
        b.gamma = r->n_weights;
        rd_params_add_name(r, RD_PARAM_WEIGHT, b.gamma, 1, shape, RD_INIT_ONE, "%sweight", prefix);
        b.beta = b.gamma + (size_t)C;
        rd_params_add_name(r, RD_PARAM_WEIGHT, b.beta, 1, shape, RD_INIT_ZERO, "%sbias", prefix);
        r->n_weights += 2 * (size_t)C;
    }
    b.stats = r->n_bn;
    rd_params_add_name(r, RD_PARAM_BN_STATE, b.stats, 1, shape, RD_INIT_ZERO, "%srunning_mean", prefix);
    rd_params_add_name(r, RD_PARAM_BN_STATE, b.stats + (size_t)C, 1, shape, RD_INIT_ONE, "%srunning_var", prefix);
    r->n_bn += 2 * (size_t)C;
    return b;
}

rd_bn_state rd_bn_state_at(const rd_bn_place *b, const rd_bn_state *tmp, int C, const rd_vec *weights,
                           const rd_vec *bn_state) {
    rd_bn_state s = *tmp;
    if (b->affine) {
        s.gamma = rd_vec_slice(*weights, b->gamma, (size_t)C);
        s.beta = rd_vec_slice(*weights, b->beta, (size_t)C);
    } else {
        s.gamma.mem = s.beta.mem = NULL;
    }
    s.running_mean = rd_vec_slice(*bn_state, b->stats, (size_t)C);
    s.running_var = rd_vec_slice(*bn_state, b->stats + (size_t)C, (size_t)C);
    return s;
}

rd_status rd_bn_forward(rd_ctx *ctx, int train, const rd_bn_state *s, const rd_tensor *x, const rd_tensor *y) {
    if (train) return rd_batchnorm_forward_train(ctx, &rd_cell_bn, s, x, y, NULL, NULL);
    return rd_batchnorm_forward_eval(ctx, &rd_cell_bn, s, x, y);
}

/* ---- planner helpers ---- */
void rd_scratch_merge(rd_scratch_need *need, const rd_ops_scratch_need *s) {
    for (int i = 0; i < RD_SCRATCH_SLOTS; i++)
        if (s->bytes[i] > need->bytes[i]) need->bytes[i] = s->bytes[i];
}

rd_bn_state rd_bn_tmp_plan(rd_arena *a, int C) {
    rd_bn_state s;
    memset(&s, 0, sizeof s);
    s.save_mean = rd_arena_vec(a, (size_t)C);
    s.save_invstd = rd_arena_vec(a, (size_t)C);
    return s;
}

rd_tensor rd_arena_flat(rd_arena *a, size_t len) {
    rd_vec v = rd_arena_vec(a, len);
    return rd_tensor_make(v.mem, v.off, 1, 1, 1, (int)len);
}

rd_tensor rd_grad_view(const rd_tensor *buf, const rd_tensor *like) {
    return rd_tensor_make(buf->mem, buf->off, like->n, like->c, like->h, like->w);
}

void rd_classifier_scratch(rd_ctx *ctx, const rd_tensor *pooled, const rd_tensor *logits, rd_scratch_need *need) {
    rd_ops_scratch_need s;
    rd_linear_scratch(ctx, pooled, logits, &s);
    rd_scratch_merge(need, &s);
    rd_clip_grad_norm_scratch(ctx, &s);
    rd_scratch_merge(need, &s);
    rd_reduce_scratch(ctx, &s);
    rd_scratch_merge(need, &s);
}

void rd_arenas_setup(rd_ctx *ctx, rd_arena *acts, rd_arena *grads) {
    size_t limit = rd_ctx_device(ctx)->max_alloc / sizeof(float);
    limit -= limit % RD_ALIGN_FLOATS;
    acts->chunk_limit = grads->chunk_limit = limit;
    acts->name = "activations";
    grads->name = "gradients";
}

rd_status rd_scratch_reserve_all(rd_ctx *ctx, const rd_scratch_need *need) {
    /* a reservation of 0 bytes would still allocate */
    for (int i = 0; i < RD_SCRATCH_SLOTS; i++)
        if (need->bytes[i]) RD_TRY(rd_scratch_reserve(ctx, i, need->bytes[i]));
    return RD_OK;
}

void rd_memory_plan_fill(rd_memory_plan *p, size_t n_weights, size_t n_bn, uint64_t arch, const rd_arena *acts,
                         const rd_arena *grads, const rd_scratch_need *scratch) {
    memset(p, 0, sizeof *p);
    p->n_weights = n_weights;
    p->weights = n_weights * sizeof(float);
    p->grads = p->weights;
    p->bn_state = n_bn * sizeof(float);
    p->arch = arch;
    p->activations = rd_arena_bytes(acts);
    p->gradients = rd_arena_bytes(grads);
    for (int i = 0; i < RD_SCRATCH_SLOTS; i++) p->scratch += scratch->bytes[i];
    p->total = p->weights + p->grads + p->bn_state + p->arch + p->activations + p->gradients + p->scratch;
    uint64_t largest = p->weights > p->bn_state ? p->weights : p->bn_state;
    for (int i = 0; i < acts->n_chunks; i++)
        if (acts->used[i] * sizeof(float) > largest) largest = acts->used[i] * sizeof(float);
    for (int i = 0; i < grads->n_chunks; i++)
        if (grads->used[i] * sizeof(float) > largest) largest = grads->used[i] * sizeof(float);
    p->largest_buffer = largest;
}

/* ---- the stem ---- */
static rd_conv_params stem_conv_params(void) { return rd_conv_dense_params(3, 3, 1, 1, 1, 1, 1, 0); }

void rd_stem_add(rd_param_registry *r, rd_stem *s, int C, int in_c) {
    s->C = C;
    s->in_c = in_c;
    rd_param_desc d = {"weight", 4, {C, in_c, 3, 3}, in_c * 9};
    s->w = rd_params_add_weight(r, &d, "stem.0.");
    s->bn = rd_params_add_bn(r, C, 1, "stem.1.");
}

void rd_stem_plan(rd_ctx *ctx, rd_stem *s, rd_arena *acts, int n, int h, int w, rd_scratch_need *need) {
    rd_ops_scratch_need sn;
    rd_tensor in_shape = rd_tensor_make(NULL, 0, n, s->in_c, h, w);
    s->conv = rd_arena_tensor(acts, n, s->C, h, w);
    s->out = rd_arena_tensor(acts, n, s->C, h, w);
    s->tmp = rd_bn_tmp_plan(acts, s->C);
    rd_conv_params p = stem_conv_params();
    rd_conv2d_scratch(ctx, &p, &in_shape, &s->conv, &sn);
    rd_scratch_merge(need, &sn);
    rd_batchnorm_scratch(ctx, &s->conv, &sn);
    rd_scratch_merge(need, &sn);
}

rd_status rd_stem_forward(rd_ctx *ctx, const rd_stem *s, const rd_vec *weights, const rd_vec *bn_state,
                          const rd_tensor *x, int train) {
    rd_conv_params p = stem_conv_params();
    rd_vec w = rd_vec_slice(*weights, s->w, (size_t)s->C * s->in_c * 9);
    RD_TRY(rd_conv2d_forward(ctx, &p, x, &w, &s->conv));
    rd_bn_state b = rd_bn_state_at(&s->bn, &s->tmp, s->C, weights, bn_state);
    return rd_bn_forward(ctx, train, &b, &s->conv, &s->out);
}

rd_status rd_stem_backward(rd_ctx *ctx, const rd_stem *s, const rd_vec *weights, const rd_vec *grads,
                           const rd_tensor *x, const rd_tensor *dout, const rd_tensor *ta) {
    rd_bn_state b = s->tmp;
    b.gamma = rd_vec_slice(*weights, s->bn.gamma, (size_t)s->C);
    b.beta = rd_vec_slice(*weights, s->bn.beta, (size_t)s->C);
    b.running_mean.mem = b.running_var.mem = NULL;
    rd_vec dgamma = rd_vec_slice(*grads, s->bn.gamma, (size_t)s->C);
    rd_vec dbeta = rd_vec_slice(*grads, s->bn.beta, (size_t)s->C);
    rd_tensor g = rd_grad_view(ta, &s->conv);
    RD_TRY(rd_batchnorm_backward(ctx, &rd_cell_bn, &b, &s->conv, &s->out, dout, NULL, &g, 0, &dgamma, &dbeta, NULL));
    rd_conv_params p = stem_conv_params();
    rd_vec w = rd_vec_slice(*weights, s->w, (size_t)s->C * s->in_c * 9);
    rd_vec gw = rd_vec_slice(*grads, s->w, (size_t)s->C * s->in_c * 9);
    return rd_conv2d_backward(ctx, &p, x, &w, &g, NULL, 0, &gw);
}

/* ---- preprocessing ---- */
/* FactorizedReduce's half h: a stride-2 1x1 conv, the second shifted one pixel. */
rd_conv_params rd_factorized_reduce_params(int shifted) {
    rd_conv_params p = rd_conv_dense_params(1, 1, 2, 2, 0, 0, 1, 1);
    if (shifted) p.pad_top = p.pad_left = -1;
    return p;
}
static rd_conv_params pointwise_params(void) { return rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 1); }

void rd_preprocess_add(rd_param_registry *r, rd_preprocess *p, int cell, int which, int factorized, int C, int C_in,
                       int affine) {
    char prefix[96];
    p->factorized = factorized;
    p->C = C;
    snprintf(prefix, sizeof prefix, "cells.%d.preprocess%d.", cell, which);
    if (factorized) {
        rd_param_desc d1 = {"conv_1.weight", 4, {C / 2, C_in, 1, 1}, C_in};
        rd_param_desc d2 = {"conv_2.weight", 4, {C / 2, C_in, 1, 1}, C_in};
        p->w[0] = rd_params_add_weight(r, &d1, prefix);
        p->w[1] = rd_params_add_weight(r, &d2, prefix);
        p->wlen[0] = p->wlen[1] = (size_t)(C / 2) * C_in;
        p->n_w = 2;
        snprintf(prefix, sizeof prefix, "cells.%d.preprocess%d.bn.", cell, which);
    } else {
        rd_param_desc d = {"op.1.weight", 4, {C, C_in, 1, 1}, C_in};
        p->w[0] = rd_params_add_weight(r, &d, prefix);
        p->wlen[0] = (size_t)C * C_in;
        p->n_w = 1;
        snprintf(prefix, sizeof prefix, "cells.%d.preprocess%d.op.2.", cell, which);
    }
    p->bn = rd_params_add_bn(r, C, affine, prefix);
}

void rd_preprocess_scratch(rd_ctx *ctx, const rd_preprocess *p, const rd_tensor *x, const rd_tensor *y,
                           rd_scratch_need *need) {
    rd_ops_scratch_need s;
    if (p->factorized) {
        rd_tensor half = rd_tensor_channels(*y, 0, p->C / 2);
        for (int h = 0; h < 2; h++) {
            rd_conv_params fr = rd_factorized_reduce_params(h);
            rd_conv2d_scratch(ctx, &fr, x, &half, &s);
            rd_scratch_merge(need, &s);
        }
    } else {
        rd_conv_params pw = pointwise_params();
        rd_conv2d_scratch(ctx, &pw, x, y, &s);
        rd_scratch_merge(need, &s);
    }
    rd_batchnorm_scratch(ctx, y, &s);
    rd_scratch_merge(need, &s);
}

rd_status rd_preprocess_forward(rd_ctx *ctx, const rd_preprocess *p, const rd_vec *weights, const rd_vec *bn_state,
                                const rd_tensor *x, const rd_tensor *y, int train) {
    if (p->factorized) {
        for (int h = 0; h < 2; h++) {
            rd_conv_params fr = rd_factorized_reduce_params(h);
            rd_tensor half = rd_tensor_channels(*y, h * (p->C / 2), p->C / 2);
            rd_vec w = rd_vec_slice(*weights, p->w[h], p->wlen[h]);
            RD_TRY(rd_conv2d_forward(ctx, &fr, x, &w, &half));
        }
    } else {
        rd_conv_params pw = pointwise_params();
        rd_vec w = rd_vec_slice(*weights, p->w[0], p->wlen[0]);
        RD_TRY(rd_conv2d_forward(ctx, &pw, x, &w, y));
    }
    rd_bn_state s = rd_bn_state_at(&p->bn, &p->tmp, p->C, weights, bn_state);
    return rd_bn_forward(ctx, train, &s, y, y);
}

rd_status rd_preprocess_backward(rd_ctx *ctx, const rd_preprocess *p, const rd_vec *weights, const rd_vec *grads,
                                 const rd_vec *bn_state, const rd_tensor *x, const rd_tensor *y, const rd_tensor *dy,
                                 const rd_tensor *dx) {
    int want = grads->mem != NULL;
    rd_bn_state s = rd_bn_state_at(&p->bn, &p->tmp, p->C, weights, bn_state);
    rd_vec dgamma, dbeta, *dgp = NULL, *dbp = NULL;
    if (p->bn.affine && want) {
        dgamma = rd_vec_slice(*grads, p->bn.gamma, (size_t)p->C);
        dbeta = rd_vec_slice(*grads, p->bn.beta, (size_t)p->C);
        dgp = &dgamma;
        dbp = &dbeta;
    }
    RD_TRY(rd_batchnorm_backward(ctx, &rd_cell_bn, &s, NULL, y, dy, NULL, dy, 0, dgp, dbp, NULL));
    rd_vec g, *gp = NULL;
    if (p->factorized) {
        for (int h = 0; h < 2; h++) {
            rd_conv_params fr = rd_factorized_reduce_params(h);
            rd_tensor half = rd_tensor_channels(*dy, h * (p->C / 2), p->C / 2);
            rd_vec w = rd_vec_slice(*weights, p->w[h], p->wlen[h]);
            if (want) {
                g = rd_vec_slice(*grads, p->w[h], p->wlen[h]);
                gp = &g;
            }
            RD_TRY(rd_conv2d_backward(ctx, &fr, x, &w, &half, dx, 1, gp));
        }
        return RD_OK;
    }
    rd_conv_params pw = pointwise_params();
    rd_vec w = rd_vec_slice(*weights, p->w[0], p->wlen[0]);
    if (want) {
        g = rd_vec_slice(*grads, p->w[0], p->wlen[0]);
        gp = &g;
    }
    return rd_conv2d_backward(ctx, &pw, x, &w, dy, dx, 1, gp);
}

void rd_preprocess_cost(const rd_preprocess *p, int h, int w, double *params, double *flops) {
    for (int i = 0; i < p->n_w; i++) {
        double n = (double)p->wlen[i];
        *params += n;
        *flops += 2 * n * h * w;
    }
    if (p->bn.affine) *params += 2.0 * p->C;
}

/* ---- initialization RNG ---- */
double rd_init_rng_normal(rd_init_rng *r) {
    double u1 = rd_init_rng_uniform(r), u2 = rd_init_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}
