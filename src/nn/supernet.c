/* The weight-sharing supernet (SEARCH.md section 1): structure, memory plan,
 * initialization, forward and backward.
 *
 * The structure (channels, resolutions, which ops live on which edge, where
 * each weight sits in the one weights vector) is fixed at creation. Memory for
 * activations and gradients is laid out by layout(), run in PLAN mode to size
 * arenas and in BIND mode to hand out tensors, for the active ops and batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/alphas.h"
#include "nn/candidate_ops.h"
#include "nn/cell_parts.h"
#include "nn/nn_internal.h"

typedef struct rd_cell {
    int reduction, reduction_prev;
    int C, C_pp, C_p;
    int h_pp, w_pp;              /* resolution of s0 */
    int h, w;                    /* resolution of s1 and of the preprocessed states */
    int h_out, w_out;
    rd_preprocess pre[2];        /* [0] for s0 (FactorizedReduce when the previous cell reduced), [1] for s1 */
    rd_tensor s0p, s1p;
    rd_tensor out;               /* n x multiplier*C x h_out x w_out: the concatenated nodes */
    rd_tensor nodes[RD_CELL_NODES];
    rd_op_inst ops[RD_CELL_EDGES][RD_MAX_OPS];
    int n_ops[RD_CELL_EDGES];    /* alive ops on each edge */
} rd_cell;

struct rd_supernet {
    rd_ctx *ctx;
    rd_supernet_config cfg;
    rd_arch_mask alive, active;
    int K;                       /* ops in the set */
    rd_cell *cells;
    uint64_t reduce_bits;
    int cmax;                    /* largest cell C: stride of the alpha partials */
    int c_final;                 /* channels into the classifier */

    /* parameters */
    rd_param_registry params;
    rd_stem stem;
    size_t cls_w, cls_b;
    rd_buffer *weights_buf, *grads_buf, *bn_buf;
    rd_vec weights, grads, bn_state;
    rd_buffer *alphas_buf, *alpha_grads_buf, *mixw_buf, *mask_buf, *partials_buf, *loss_buf;
    rd_vec alphas, alpha_grads, mixw, mask, partials, loss; /* loss: [0] mean loss, [1] correct */

    /* planned memory */
    rd_arena acts, grad_arena;
    rd_scratch_need scratch;
    int cur_n;                   /* batch the current binding is laid out for */
    rd_tensor input;             /* the last forward's input (caller's memory) */
    cl_mem labels;
    rd_tensor pooled, logits;
    rd_tensor g_out[3], g_stem, g_s0p, g_s1p, g_ta, g_tb, g_pooled, g_logits;
    rd_tensor g_nodes[RD_CELL_NODES];  /* nodes outside the output (multiplier < steps) */
    rd_memory_plan plan;
    int have_forward;
};

void rd_supernet_config_default(rd_supernet_config *c) {
    memset(c, 0, sizeof *c);
    c->C = 16;
    c->layers = 8;
    c->steps = 4;
    c->multiplier = 4;
    c->stem_multiplier = 3;
    c->in_channels = 1;
    c->in_h = c->in_w = 28;
    c->classes = 10;
    c->batch = 64;
    rd_opset_parse("darts", &c->ops, NULL);
}

rd_status rd_supernet_config_check(const rd_supernet_config *c, rd_err *err) {
    if (c->C < 2 || c->C % 2) return rd_fail(err, RD_ERR_ARG, "C = %d: must be even and >= 2 (FactorizedReduce halves it)", c->C);
    if (c->layers < 1 || c->layers > RD_MAX_LAYERS) return rd_fail(err, RD_ERR_ARG, "layers = %d: must be in [1, %d]", c->layers, RD_MAX_LAYERS);
    if (c->steps != RD_CELL_NODES) return rd_fail(err, RD_ERR_ARG, "steps = %d: only %d nodes per cell are supported", c->steps, RD_CELL_NODES);
    if (c->multiplier < 1 || c->multiplier > c->steps) return rd_fail(err, RD_ERR_ARG, "multiplier = %d: must be in [1, steps]", c->multiplier);
    if (c->stem_multiplier < 1) return rd_fail(err, RD_ERR_ARG, "stem multiplier = %d: must be >= 1", c->stem_multiplier);
    if (c->in_channels < 1 || c->in_h < 1 || c->in_w < 1) return rd_fail(err, RD_ERR_ARG, "input %dx%dx%d: must be positive", c->in_channels, c->in_h, c->in_w);
    if (c->classes < 2) return rd_fail(err, RD_ERR_ARG, "classes = %d: must be >= 2", c->classes);
    if (c->batch < 1) return rd_fail(err, RD_ERR_ARG, "batch = %d: must be >= 1", c->batch);
    if (c->ops.count < 1 || c->ops.count > RD_MAX_OPS) return rd_fail(err, RD_ERR_ARG, "op set of %d ops", c->ops.count);
    /* every reduction must see an even size: FactorizedReduce's two halves must agree */
    int h = c->in_h, w = c->in_w;
    for (int i = 0; i < c->layers; i++)
        if (i == c->layers / 3 || i == 2 * c->layers / 3) {
            if (h % 2 || w % 2)
                return rd_fail(err, RD_ERR_ARG, "cell %d reduces a %dx%d input: reductions need even sizes", i, h, w);
            h /= 2;
            w /= 2;
        }
    return RD_OK;
}

/* ---- structure ---- */
static rd_status build_structure(rd_supernet *net, const rd_arch_mask *alive, rd_err *err) {
    const rd_supernet_config *c = &net->cfg;
    net->K = c->ops.count;
    if (alive) net->alive = *alive;
    else rd_arch_mask_all(&net->alive, &c->ops);
    rd_edge_mask all = (net->K >= 32) ? 0xffffffffu : ((1u << net->K) - 1);
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            if (net->alive.edge[t][e] & ~all)
                return rd_fail(err, RD_ERR_ARG, "op mask of %s edge %d names ops beyond the %d of the set",
                               t ? "reduction" : "normal", e, net->K);
            if (!net->alive.edge[t][e])
                return rd_fail(err, RD_ERR_ARG, "%s edge %d has no op alive", t ? "reduction" : "normal", e);
        }
    net->active = net->alive;
    net->cells = calloc((size_t)c->layers, sizeof *net->cells);
    if (!net->cells) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");

    int stem_c = c->stem_multiplier * c->C;
    rd_stem_add(&net->params, &net->stem, stem_c, c->in_channels);

    int cpp = stem_c, cp = stem_c, cc = c->C, red_prev = 0;
    int h_pp = c->in_h, w_pp = c->in_w, h_p = c->in_h, w_p = c->in_w;
    net->cmax = 0;
    for (int i = 0; i < c->layers; i++) {
        rd_cell *cell = &net->cells[i];
        int red = (i == c->layers / 3 || i == 2 * c->layers / 3);
        if (red) cc *= 2;
        cell->reduction = red;
        cell->reduction_prev = red_prev;
        cell->C = cc;
        cell->C_pp = cpp;
        cell->C_p = cp;
        cell->h_pp = h_pp;
        cell->w_pp = w_pp;
        cell->h = h_p;
        cell->w = w_p;
        cell->h_out = red ? h_p / 2 : h_p;
        cell->w_out = red ? w_p / 2 : w_p;
        if (red) net->reduce_bits |= 1ull << i;
        if (cc > net->cmax) net->cmax = cc;
        char prefix[96];
        rd_preprocess_add(&net->params, &cell->pre[0], i, 0, red_prev, cc, cpp, 0);
        rd_preprocess_add(&net->params, &cell->pre[1], i, 1, 0, cc, cp, 0);
        /* edges */
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            int node, input;
            rd_edge_endpoints(e, &node, &input);
            int stride = (red && input < 2) ? 2 : 1;
            for (int k = 0; k < net->K; k++) {
                if (!(net->alive.edge[red][e] & (1u << k))) continue;
                rd_op_inst *op = &cell->ops[e][cell->n_ops[e]++];
                memset(op, 0, sizeof *op);
                op->id = c->ops.ops[k];
                op->k = k;
                op->stride = stride;
                op->C = cc;
                op->mix_slot = ((size_t)red * RD_CELL_EDGES + e) * net->K + k;
                op->partial_off = (((size_t)i * RD_CELL_EDGES + e) * net->K + k) * (size_t)0; /* set below */
                rd_param_desc pd[RD_OP_MAX_WEIGHTS];
                op->n_w = rd_op_params(op->id, cc, stride, pd);
                snprintf(prefix, sizeof prefix, "cells.%d._ops.%d._ops.%d.", i, e, k);
                for (int w = 0; w < op->n_w; w++) {
                    op->w_off[w] = rd_params_add_weight(&net->params, &pd[w], prefix);
                    op->w_len[w] = (size_t)pd[w].shape[0] * pd[w].shape[1] * pd[w].shape[2] * pd[w].shape[3];
                }
                const char *bn_names[RD_OP_MAX_BN];
                op->pool_bn = 1;
                op->n_bn = rd_op_bn_names(op->id, stride, op->pool_bn, bn_names);
                for (int b = 0; b < op->n_bn; b++) {
                    char bp[128];
                    snprintf(bp, sizeof bp, "%s%s.", prefix, bn_names[b]);
                    op->bn_off[b] = rd_params_add_bn(&net->params, cc, 0, bp).stats;
                }
            }
        }
        red_prev = red;
        cpp = cp;
        cp = c->multiplier * cc;
        h_pp = h_p;
        w_pp = w_p;
        h_p = cell->h_out;
        w_p = cell->w_out;
    }
    /* alpha partial offsets need cmax, known only now */
    for (int i = 0; i < c->layers; i++)
        for (int e = 0; e < RD_CELL_EDGES; e++)
            for (int o = 0; o < net->cells[i].n_ops[e]; o++) {
                rd_op_inst *op = &net->cells[i].ops[e][o];
                op->partial_off = (((size_t)i * RD_CELL_EDGES + e) * net->K + op->k) * (size_t)net->cmax;
            }
    net->c_final = cp;
    rd_param_desc cw = {"weight", 2, {c->classes, cp, 0, 0}, cp}, cb = {"bias", 1, {c->classes, 0, 0, 0}, cp};
    net->cls_w = rd_params_add_weight(&net->params, &cw, "classifier.");
    net->cls_b = rd_params_add_weight(&net->params, &cb, "classifier.");
    size_t arch = (size_t)2 * RD_CELL_EDGES * net->K;
    int ashape[2] = {RD_CELL_EDGES, net->K};
    rd_params_add_name(&net->params, RD_PARAM_ALPHAS, 0, 2, ashape, RD_INIT_ZERO, "alphas_normal");
    rd_params_add_name(&net->params, RD_PARAM_ALPHAS, arch / 2, 2, ashape, RD_INIT_ZERO, "alphas_reduce");
    if (net->params.n == 0) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    return RD_OK;
}

/* ---- memory layout: the one function that both plans and binds ---- */
static rd_tensor cell_input(const rd_supernet *net, int i, int which /* 0: s0, 1: s1 */) {
    int src = which ? i - 1 : i - 2;
    return src < 0 ? net->stem.out : net->cells[src].out;
}

static void layout(rd_supernet *net, int n, int bind) {
    rd_ctx *ctx = net->ctx;
    const rd_supernet_config *c = &net->cfg;
    rd_arena *A = &net->acts, *G = &net->grad_arena;
    rd_arena_begin(A, bind);
    rd_arena_begin(G, bind);
    memset(&net->scratch, 0, sizeof net->scratch);

    int stem_c = c->stem_multiplier * c->C;
    rd_stem_plan(ctx, &net->stem, A, n, c->in_h, c->in_w, &net->scratch);

    size_t max_out = (size_t)n * stem_c * c->in_h * c->in_w, max_state = 0, max_temp = 0;
    for (int i = 0; i < c->layers; i++) {
        rd_cell *cell = &net->cells[i];
        int C = cell->C;
        cell->s0p = rd_arena_tensor(A, n, C, cell->h, cell->w);
        cell->s1p = rd_arena_tensor(A, n, C, cell->h, cell->w);
        for (int p = 0; p < 2; p++) cell->pre[p].tmp = rd_bn_tmp_plan(A, C);
        cell->out = rd_arena_tensor(A, n, c->multiplier * C, cell->h_out, cell->w_out);
        for (int k = 0; k < c->steps; k++) {
            int in_out = k >= c->steps - c->multiplier;
            cell->nodes[k] = in_out ? rd_tensor_channels(cell->out, (k - (c->steps - c->multiplier)) * C, C)
                                    : rd_arena_tensor(A, n, C, cell->h_out, cell->w_out);
        }
        /* preprocess scratch */
        rd_tensor s0 = cell_input(net, i, 0), s1 = cell_input(net, i, 1);
        s0.n = s1.n = n;
        rd_preprocess_scratch(ctx, &cell->pre[0], &s0, &cell->s0p, &net->scratch);
        rd_preprocess_scratch(ctx, &cell->pre[1], &s1, &cell->s1p, &net->scratch);
        /* ops of active edges */
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            int node, input;
            rd_edge_endpoints(e, &node, &input);
            rd_tensor x = input == 0 ? cell->s0p : input == 1 ? cell->s1p : cell->nodes[input - 2];
            for (int o = 0; o < cell->n_ops[e]; o++) {
                rd_op_inst *op = &cell->ops[e][o];
                if (!(net->active.edge[cell->reduction][e] & (1u << op->k))) {
                    op->n_act = 0;
                    continue;
                }
                int ho = op->stride == 2 ? cell->h_out : x.h, wo = op->stride == 2 ? cell->w_out : x.w;
                rd_op_plan(ctx, op, &x, ho, wo, A, &net->scratch);
                size_t t = rd_op_temp_floats(op, &x, ho, wo);
                if (t > max_temp) max_temp = t;
            }
        }
        size_t out_f = rd_tensor_numel(&cell->out), st = (size_t)n * C * cell->h * cell->w;
        if (out_f > max_out) max_out = out_f;
        if (st > max_state) max_state = st;
    }
    net->pooled = rd_arena_tensor(A, n, net->c_final, 1, 1);
    net->logits = rd_arena_tensor(A, n, c->classes, 1, 1);

    /* gradients: three rotating cell-output gradients, the stem's, the preprocessed
     * states', and two op temporaries */
    for (int r = 0; r < 3; r++) net->g_out[r] = rd_arena_flat(G, max_out);
    net->g_stem = rd_arena_tensor(G, n, stem_c, c->in_h, c->in_w);
    net->g_s0p = rd_arena_flat(G, max_state);
    net->g_s1p = rd_arena_flat(G, max_state);
    if (max_temp < max_state) max_temp = max_state; /* stem BN backward uses ta too */
    if (max_temp < (size_t)n * stem_c * c->in_h * c->in_w) max_temp = (size_t)n * stem_c * c->in_h * c->in_w;
    net->g_ta = rd_arena_flat(G, max_temp);
    net->g_tb = rd_arena_flat(G, max_temp);
    for (int k = 0; k < c->steps - c->multiplier; k++) net->g_nodes[k] = rd_arena_flat(G, max_out);
    net->g_pooled = rd_arena_tensor(G, n, net->c_final, 1, 1);
    net->g_logits = rd_arena_tensor(G, n, c->classes, 1, 1);
    rd_classifier_scratch(ctx, &net->pooled, &net->logits, &net->scratch);
    net->cur_n = n;
}

static uint64_t arch_bytes(const rd_supernet *net) {
    size_t a = (size_t)2 * RD_CELL_EDGES * net->K;
    size_t partial = (size_t)net->cfg.layers * RD_CELL_EDGES * net->K * net->cmax;
    /* alphas, grads, mixed weights, mask, partials, loss; each its own buffer (rounded as rd_alloc does) */
    return (uint64_t)(4 * a + partial + 2) * sizeof(float);
}

static void fill_plan(rd_supernet *net) {
    rd_memory_plan_fill(&net->plan, net->params.n_weights, net->params.n_bn, arch_bytes(net), &net->acts,
                        &net->grad_arena, &net->scratch);
}

static rd_status check_active(const rd_supernet *net, const rd_arch_mask *a, rd_err *err) {
    if (!rd_arch_mask_subset(a, &net->alive))
        return rd_fail(err, RD_ERR_ARG, "active ops must be a subset of the alive ops");
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++)
            if (!a->edge[t][e])
                return rd_fail(err, RD_ERR_ARG, "%s edge %d has no active op", t ? "reduction" : "normal", e);
    return RD_OK;
}

static rd_status net_init(rd_supernet *net, rd_ctx *ctx, const rd_supernet_config *cfg, const rd_arch_mask *alive,
                          const rd_arch_mask *active, rd_err *err) {
    memset(net, 0, sizeof *net);
    net->ctx = ctx;
    net->cfg = *cfg;
    RD_TRY(rd_supernet_config_check(cfg, err));
    RD_TRY(build_structure(net, alive, err));
    if (active) {
        RD_TRY(check_active(net, active, err));
        net->active = *active;
    }
    rd_arenas_setup(ctx, &net->acts, &net->grad_arena);
    layout(net, cfg->batch, 0);
    if (net->acts.failed || net->grad_arena.failed)
        return rd_fail(err, RD_ERR_TOO_LARGE, "supernet: one activation tensor exceeds the device's largest allocation");
    fill_plan(net);
    return RD_OK;
}

static void net_release(rd_supernet *net) {
    if (net->ctx) {
        rd_arena_free(net->ctx, &net->acts);
        rd_arena_free(net->ctx, &net->grad_arena);
        rd_buffer *bufs[] = {net->weights_buf, net->grads_buf, net->bn_buf, net->alphas_buf, net->alpha_grads_buf,
                             net->mixw_buf, net->mask_buf, net->partials_buf, net->loss_buf};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) rd_free(net->ctx, bufs[i]);
    }
    free(net->cells);
    rd_params_free(&net->params);
}

rd_status rd_supernet_plan(rd_ctx *ctx, const rd_supernet_config *cfg, const rd_arch_mask *alive,
                           const rd_arch_mask *active, rd_memory_plan *plan) {
    rd_supernet *net = calloc(1, sizeof *net);
    if (!net) return rd_fail(rd_ctx_err(ctx), RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status s = net_init(net, ctx, cfg, alive, active, rd_ctx_err(ctx));
    if (s == RD_OK) *plan = net->plan;
    net->ctx = NULL; /* nothing allocated */
    net_release(net);
    free(net);
    return s;
}

/* ---- initialization (PyTorch defaults, deterministic per seed) ---- */
static rd_status init_values(rd_supernet *net, uint64_t seed) {
    rd_ctx *ctx = net->ctx;
    size_t n_weights = net->params.n_weights, n_bn = net->params.n_bn;
    float *w = calloc(n_weights ? n_weights : 1, sizeof *w);
    float *bn = calloc(n_bn ? n_bn : 1, sizeof *bn);
    size_t na = (size_t)2 * RD_CELL_EDGES * net->K;
    float *alphas = calloc(na, sizeof *alphas);
    if (!w || !bn || !alphas) {
        free(w); free(bn); free(alphas);
        return rd_fail(&ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    rd_init_rng r = {seed};
    for (int i = 0; i < net->params.n; i++) {
        const rd_named_tensor *t = &net->params.names[i];
        if (t->kind == RD_PARAM_WEIGHT) {
            const char *leaf = strrchr(t->name, '.');
            int is_bn_affine = !strncmp(t->name, "stem.1.", 7);
            if (is_bn_affine) {
                float v = !strcmp(leaf, ".weight") ? 1.0f : 0.0f;
                for (size_t j = 0; j < t->count; j++) w[t->offset + j] = v;
                continue;
            }
            /* kaiming_uniform(a=sqrt(5)) for weights, and the matching bias bound: 1/sqrt(fan_in) */
            int fan_in = t->ndim == 4 ? t->shape[1] * t->shape[2] * t->shape[3] : net->c_final;
            double bound = 1.0 / sqrt((double)fan_in);
            for (size_t j = 0; j < t->count; j++) w[t->offset + j] = (float)((2 * rd_init_rng_uniform(&r) - 1) * bound);
        } else if (t->kind == RD_PARAM_BN_STATE) {
            float v = strstr(t->name, "running_var") ? 1.0f : 0.0f;
            for (size_t j = 0; j < t->count; j++) bn[t->offset + j] = v;
        }
    }
    for (size_t i = 0; i < na; i++) alphas[i] = (float)(1e-3 * rd_init_rng_normal(&r));
    rd_status s = rd_vec_write(ctx, &net->weights, w);
    if (s == RD_OK) s = rd_vec_write(ctx, &net->bn_state, bn);
    if (s == RD_OK) s = rd_supernet_write_alphas(net, alphas);
    free(w);
    free(bn);
    free(alphas);
    return s;
}

static rd_status upload_mask(rd_supernet *net) {
    size_t na = (size_t)2 * RD_CELL_EDGES * net->K;
    float *m = calloc(na, sizeof *m);
    if (!m) return rd_fail(&net->ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++)
            for (int k = 0; k < net->K; k++)
                m[((size_t)t * RD_CELL_EDGES + e) * net->K + k] = (net->active.edge[t][e] >> k) & 1 ? 1.0f : 0.0f;
    rd_status s = rd_vec_write(net->ctx, &net->mask, m);
    free(m);
    if (s == RD_OK) s = rd_supernet_update_weights_softmax(net);
    return s;
}

static rd_status alloc_vec(rd_ctx *ctx, size_t len, const char *what, rd_buffer **buf, rd_vec *v) {
    RD_TRY(rd_alloc(ctx, len * sizeof(float), what, buf));
    *v = rd_vec_make(rd_buffer_mem(*buf), 0, len);
    return RD_OK;
}

/* Allocates the arenas for the current plan and binds every tensor, then reserves scratch. */
static rd_status bind(rd_supernet *net, int n) {
    RD_TRY(rd_arena_allocate(net->ctx, &net->acts, "activations"));
    RD_TRY(rd_arena_allocate(net->ctx, &net->grad_arena, "gradients"));
    layout(net, n, 1);
    return rd_scratch_reserve_all(net->ctx, &net->scratch);
}

rd_status rd_supernet_create(rd_ctx *ctx, const rd_supernet_config *cfg, const rd_arch_mask *alive,
                             const rd_arch_mask *active, uint64_t seed, rd_supernet **out) {
    *out = NULL;
    rd_supernet *net = calloc(1, sizeof *net);
    if (!net) return rd_fail(&ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status s = net_init(net, ctx, cfg, alive, active, &ctx->err);
    size_t na = (size_t)2 * RD_CELL_EDGES * net->K;
    size_t np = (size_t)cfg->layers * RD_CELL_EDGES * net->K * net->cmax;
    if (s == RD_OK) s = alloc_vec(ctx, net->params.n_weights, "weights", &net->weights_buf, &net->weights);
    if (s == RD_OK) s = alloc_vec(ctx, net->params.n_weights, "weight gradients", &net->grads_buf, &net->grads);
    if (s == RD_OK) s = alloc_vec(ctx, net->params.n_bn, "batch-norm running statistics", &net->bn_buf, &net->bn_state);
    if (s == RD_OK) s = alloc_vec(ctx, na, "alphas", &net->alphas_buf, &net->alphas);
    if (s == RD_OK) s = alloc_vec(ctx, na, "alpha gradients", &net->alpha_grads_buf, &net->alpha_grads);
    if (s == RD_OK) s = alloc_vec(ctx, na, "mixed-op weights", &net->mixw_buf, &net->mixw);
    if (s == RD_OK) s = alloc_vec(ctx, na, "op mask", &net->mask_buf, &net->mask);
    if (s == RD_OK) s = alloc_vec(ctx, np, "alpha partial sums", &net->partials_buf, &net->partials);
    if (s == RD_OK) s = alloc_vec(ctx, 2, "loss", &net->loss_buf, &net->loss);
    if (s == RD_OK) s = bind(net, cfg->batch);
    if (s == RD_OK) s = init_values(net, seed);
    if (s == RD_OK) s = upload_mask(net);
    if (s == RD_OK) s = rd_supernet_zero_grads(net);
    if (s != RD_OK) {
        net_release(net);
        free(net);
        return s;
    }
    *out = net;
    return RD_OK;
}

void rd_supernet_free(rd_supernet *net) {
    if (!net) return;
    net_release(net);
    free(net);
}

const rd_supernet_config *rd_supernet_get_config(const rd_supernet *net) { return &net->cfg; }
const rd_arch_mask *rd_supernet_alive(const rd_supernet *net) { return &net->alive; }
rd_ctx *rd_supernet_context(const rd_supernet *net) { return net->ctx; }
const rd_arch_mask *rd_supernet_active(const rd_supernet *net) { return &net->active; }
const rd_memory_plan *rd_supernet_memory(const rd_supernet *net) { return &net->plan; }
rd_vec rd_supernet_weights(const rd_supernet *net) { return net->weights; }
rd_vec rd_supernet_weight_grads(const rd_supernet *net) { return net->grads; }
rd_vec rd_supernet_bn_state(const rd_supernet *net) { return net->bn_state; }
rd_vec rd_supernet_alphas(const rd_supernet *net) { return net->alphas; }
rd_vec rd_supernet_alpha_grads(const rd_supernet *net) { return net->alpha_grads; }
const rd_named_tensor *rd_supernet_named_tensors(const rd_supernet *net, int *count) {
    *count = net->params.n;
    return net->params.names;
}

rd_status rd_supernet_zero_grads(rd_supernet *net) { return rd_vec_fill(net->ctx, &net->grads, 0.0f); }

rd_status rd_supernet_update_weights_softmax(rd_supernet *net) {
    return rd_alphas_softmax(net->ctx, &net->alphas, &net->mask, &net->mixw, net->K);
}

rd_status rd_supernet_read_alphas(rd_supernet *net, float *alphas, float *softmax) {
    if (alphas) RD_TRY(rd_vec_read(net->ctx, &net->alphas, alphas));
    if (softmax) RD_TRY(rd_vec_read(net->ctx, &net->mixw, softmax));
    return RD_OK;
}

rd_status rd_supernet_write_alphas(rd_supernet *net, const float *alphas) {
    RD_TRY(rd_vec_write(net->ctx, &net->alphas, alphas));
    if (!net->mask.mem) return RD_OK;
    return rd_supernet_update_weights_softmax(net);
}

rd_status rd_supernet_set_active(rd_supernet *net, const rd_arch_mask *active) {
    rd_arch_mask a = active ? *active : net->alive;
    RD_TRY(check_active(net, &a, &net->ctx->err));
    net->active = a;
    net->have_forward = 0;
    layout(net, net->cur_n, 0);
    RD_TRY(bind(net, net->cur_n));
    return upload_mask(net);
}

/* ---- forward ---- */
static rd_op_exec exec_for(const rd_supernet *net, int train, unsigned grads) {
    rd_op_exec e;
    memset(&e, 0, sizeof e);
    e.weights = net->weights;
    if (grads & RD_GRAD_WEIGHTS) e.weight_grads = net->grads;
    e.bn_state = net->bn_state;
    e.mix_weights = net->mixw;
    if (grads & RD_GRAD_ALPHAS) e.alpha_partials = net->partials;
    e.bn = rd_cell_bn;
    e.train = train;
    return e;
}

static rd_status cell_forward(rd_supernet *net, int i, const rd_op_exec *e) {
    rd_ctx *ctx = net->ctx;
    rd_cell *cell = &net->cells[i];
    rd_tensor s0 = cell_input(net, i, 0), s1 = cell_input(net, i, 1);
    RD_TRY(rd_preprocess_forward(ctx, &cell->pre[0], &net->weights, &net->bn_state, &s0, &cell->s0p, e->train));
    RD_TRY(rd_preprocess_forward(ctx, &cell->pre[1], &net->weights, &net->bn_state, &s1, &cell->s1p, e->train));
    RD_TRY(rd_fill(ctx, &cell->out, 0.0f));
    for (int k = 0; k < net->cfg.steps - net->cfg.multiplier; k++) RD_TRY(rd_fill(ctx, &cell->nodes[k], 0.0f));
    for (int e_i = 0; e_i < RD_CELL_EDGES; e_i++) {
        int node, input;
        rd_edge_endpoints(e_i, &node, &input);
        const rd_tensor *x = input == 0 ? &cell->s0p : input == 1 ? &cell->s1p : &cell->nodes[input - 2];
        for (int o = 0; o < cell->n_ops[e_i]; o++) {
            const rd_op_inst *op = &cell->ops[e_i][o];
            if (!(net->active.edge[cell->reduction][e_i] & (1u << op->k))) continue;
            RD_TRY(rd_op_forward(ctx, e, op, x, &cell->nodes[node]));
        }
    }
    return RD_OK;
}

rd_status rd_supernet_forward(rd_supernet *net, const rd_tensor *x, cl_mem labels, int train) {
    rd_ctx *ctx = net->ctx;
    const rd_supernet_config *c = &net->cfg;
    if (x->c != c->in_channels || x->h != c->in_h || x->w != c->in_w || x->n < 1 || x->n > c->batch) {
        char s[64];
        return rd_fail(&ctx->err, RD_ERR_ARG, "supernet forward: input %s, expected up to %dx%dx%dx%d",
                       rd_tensor_shape_str(x, s, sizeof s), c->batch, c->in_channels, c->in_h, c->in_w);
    }
    if (x->n != net->cur_n) {
        layout(net, x->n, 0);
        RD_TRY(bind(net, x->n));
    }
    net->input = *x;
    net->labels = labels;
    rd_op_exec e = exec_for(net, train, 0);
    RD_TRY(rd_stem_forward(ctx, &net->stem, &net->weights, &net->bn_state, x, train));
    for (int i = 0; i < c->layers; i++) RD_TRY(cell_forward(net, i, &e));
    RD_TRY(rd_global_avgpool_forward(ctx, &net->cells[c->layers - 1].out, &net->pooled));
    rd_vec cw = rd_vec_slice(net->weights, net->cls_w, (size_t)c->classes * net->c_final);
    rd_vec cb = rd_vec_slice(net->weights, net->cls_b, (size_t)c->classes);
    RD_TRY(rd_linear_forward(ctx, &net->pooled, &cw, &cb, &net->logits));
    rd_vec logits = rd_tensor_as_vec(&net->logits), dlogits = rd_tensor_as_vec(&net->g_logits);
    rd_vec loss = rd_vec_slice(net->loss, 0, 1), correct = rd_vec_slice(net->loss, 1, 1);
    RD_TRY(rd_cross_entropy(ctx, &logits, labels, 0, x->n, c->classes, &loss, &dlogits, &correct));
    net->have_forward = train ? 1 : 0;
    return RD_OK;
}

/* ---- backward ---- */
static rd_status cell_backward(rd_supernet *net, int i, const rd_op_exec *e, const rd_tensor *dout,
                               const rd_tensor *ds0, const rd_tensor *ds1) {
    rd_ctx *ctx = net->ctx;
    rd_cell *cell = &net->cells[i];
    const rd_supernet_config *c = &net->cfg;
    rd_tensor dstate[2 + RD_CELL_NODES];
    dstate[0] = rd_grad_view(&net->g_s0p, &cell->s0p);
    dstate[1] = rd_grad_view(&net->g_s1p, &cell->s1p);
    RD_TRY(rd_fill(ctx, &dstate[0], 0.0f));
    RD_TRY(rd_fill(ctx, &dstate[1], 0.0f));
    for (int k = 0; k < c->steps; k++) {
        int first = c->steps - c->multiplier;
        if (k >= first) {
            dstate[2 + k] = rd_tensor_channels(*dout, (k - first) * cell->C, cell->C);
        } else {
            dstate[2 + k] = rd_grad_view(&net->g_nodes[k], &cell->nodes[k]);
            RD_TRY(rd_fill(ctx, &dstate[2 + k], 0.0f));
        }
    }
    for (int e_i = RD_CELL_EDGES - 1; e_i >= 0; e_i--) {
        int node, input;
        rd_edge_endpoints(e_i, &node, &input);
        const rd_tensor *x = input == 0 ? &cell->s0p : input == 1 ? &cell->s1p : &cell->nodes[input - 2];
        for (int o = 0; o < cell->n_ops[e_i]; o++) {
            const rd_op_inst *op = &cell->ops[e_i][o];
            if (!(net->active.edge[cell->reduction][e_i] & (1u << op->k))) continue;
            RD_TRY(rd_op_backward(ctx, e, op, x, &dstate[2 + node], &dstate[input], &net->g_ta, &net->g_tb));
        }
    }
    rd_tensor s0 = cell_input(net, i, 0), s1 = cell_input(net, i, 1);
    /* e->weight_grads is empty unless weight gradients are wanted */
    RD_TRY(rd_preprocess_backward(ctx, &cell->pre[1], &net->weights, &e->weight_grads, &net->bn_state, &s1, &cell->s1p,
                                  &dstate[1], ds1));
    return rd_preprocess_backward(ctx, &cell->pre[0], &net->weights, &e->weight_grads, &net->bn_state, &s0, &cell->s0p,
                                  &dstate[0], ds0);
}

rd_status rd_supernet_backward(rd_supernet *net, unsigned what) {
    rd_ctx *ctx = net->ctx;
    const rd_supernet_config *c = &net->cfg;
    if (!net->have_forward)
        return rd_fail(&ctx->err, RD_ERR_ARG, "supernet backward without a training-mode forward");
    rd_op_exec e = exec_for(net, 1, what);
    int L = c->layers;
    if (what & RD_GRAD_ALPHAS) RD_TRY(rd_vec_fill(ctx, &net->partials, 0.0f));
    /* classifier and global pooling */
    rd_vec cw = rd_vec_slice(net->weights, net->cls_w, (size_t)c->classes * net->c_final);
    rd_vec gw, gb, *gwp = NULL, *gbp = NULL;
    if (what & RD_GRAD_WEIGHTS) {
        gw = rd_vec_slice(net->grads, net->cls_w, (size_t)c->classes * net->c_final);
        gb = rd_vec_slice(net->grads, net->cls_b, (size_t)c->classes);
        gwp = &gw;
        gbp = &gb;
    }
    RD_TRY(rd_linear_backward(ctx, &net->pooled, &cw, &net->g_logits, &net->g_pooled, 0, gwp, gbp));
    rd_tensor dlast = rd_grad_view(&net->g_out[(L - 1) % 3], &net->cells[L - 1].out);
    RD_TRY(rd_global_avgpool_backward(ctx, &net->g_pooled, &dlast, 0));
    RD_TRY(rd_fill(ctx, &net->g_stem, 0.0f));
    if (L >= 2) {
        rd_tensor d = rd_grad_view(&net->g_out[(L - 2) % 3], &net->cells[L - 2].out);
        RD_TRY(rd_fill(ctx, &d, 0.0f));
    }
    for (int i = L - 1; i >= 0; i--) {
        rd_tensor dout = rd_grad_view(&net->g_out[i % 3], &net->cells[i].out);
        rd_tensor ds1 = i >= 1 ? rd_grad_view(&net->g_out[(i - 1) % 3], &net->cells[i - 1].out) : net->g_stem;
        rd_tensor ds0 = i >= 2 ? rd_grad_view(&net->g_out[(i - 2) % 3], &net->cells[i - 2].out) : net->g_stem;
        if (i >= 2) RD_TRY(rd_fill(ctx, &ds0, 0.0f)); /* cell i is the first to add into d(out[i-2]) */
        RD_TRY(cell_backward(net, i, &e, &dout, &ds0, &ds1));
    }
    if (what & RD_GRAD_WEIGHTS)
        RD_TRY(rd_stem_backward(ctx, &net->stem, &net->weights, &net->grads, &net->input, &net->g_stem, &net->g_ta));
    if (what & RD_GRAD_ALPHAS)
        RD_TRY(rd_alphas_grad(ctx, &net->partials, &net->mixw, &net->mask, &net->alpha_grads, net->K, net->cmax, L,
                              net->reduce_bits));
    return RD_OK;
}

rd_status rd_supernet_read_loss(rd_supernet *net, float *loss, int *correct) {
    float v[2];
    RD_TRY(rd_vec_read(net->ctx, &net->loss, v));
    if (loss) *loss = v[0];
    if (correct) *correct = (int)lrintf(v[1]);
    return RD_OK;
}

rd_status rd_supernet_read_logits(rd_supernet *net, float *out) {
    return rd_tensor_read(net->ctx, &net->logits, out);
}

void rd_supernet_active_cost(const rd_supernet *net, double *params, double *flops) {
    const rd_supernet_config *c = &net->cfg;
    int stem_c = c->stem_multiplier * c->C;
    double p = 0, f = 0, stem_w = (double)stem_c * c->in_channels * 9;
    p += stem_w + 2.0 * stem_c;
    f += 2 * stem_w * c->in_h * c->in_w;
    for (int i = 0; i < c->layers; i++) {
        const rd_cell *cell = &net->cells[i];
        for (int q = 0; q < 2; q++) rd_preprocess_cost(&cell->pre[q], cell->h, cell->w, &p, &f);
        for (int e = 0; e < RD_CELL_EDGES; e++)
            for (int o = 0; o < cell->n_ops[e]; o++) {
                const rd_op_inst *op = &cell->ops[e][o];
                if (!(net->active.edge[cell->reduction][e] & (1u << op->k))) continue;
                int node, input;
                rd_edge_endpoints(e, &node, &input);
                /* inputs 0, 1 are at the cell's input size, nodes at its output size */
                int hi = input < 2 ? cell->h : cell->h_out, wi = input < 2 ? cell->w : cell->w_out;
                rd_op_cost(op, hi, wi, cell->h_out, cell->w_out, &p, &f);
            }
    }
    double cls = (double)c->classes * net->c_final;
    p += cls + c->classes;
    f += 2 * cls;
    *params = p;
    *flops = f;
}
