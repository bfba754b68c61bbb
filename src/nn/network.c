/* The discrete evaluation network (DARTS' NetworkCIFAR) a genotype describes:
 * the cell stack (cell_stack.c) whose edges each hold the genotype's one op,
 * run with affine BNs, no BN after pools and a plain sum into each node; plus
 * what only this network has: drop-path scales and the auxiliary head. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radars/network.h"
#include "nn/candidate_ops.h"
#include "nn/cell_parts.h"
#include "nn/cell_stack.h"
#include "nn/nn_internal.h"

enum { AUX_MID = 128, AUX_WIDE = 768, AUX_POOL_K = 5, AUX_POOL_STRIDE = 3 };

/* AuxiliaryHeadCIFAR: ReLU, 5x5 stride-3 avg pool, 1x1 conv, BN, ReLU, 2x2 conv, BN, ReLU, linear. */
typedef struct aux_head {
    int c_in, h, w;
    size_t w1, w2, cls_w, cls_b;
    rd_bn_place bn1, bn2;
    rd_tensor relu, pool, c1, c2, r2, logits;
    rd_bn_state tmp[2];
    rd_tensor g_logits, g_r2, g_c2, g_c1, g_pool, g_relu;
} aux_head;

struct rd_network {
    rd_cell_stack st;            /* first: the stack's edges hold the genotype's ops */
    rd_network_config cfg;
    rd_stack_head head;
    aux_head aux;
    size_t n_drop_ops;           /* ops with a drop-path slot (every op of every cell) */
    rd_memory_plan plan;

    /* drop-path */
    float drop_prob;
    uint64_t drop_seed, drop_counter;
    float *drop_host;            /* n_drop_ops x batch scales, uploaded per training forward (st.side) */
    int drop_in_forward;
};

/* ---- configuration ---- */
static const char *DARTS_V2 =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

void rd_network_config_default(rd_network_config *c) {
    memset(c, 0, sizeof *c);
    c->C = 36;
    c->layers = 20;
    c->stem_multiplier = 3;
    c->in_channels = 1;
    c->in_h = c->in_w = 28;
    c->classes = 10;
    c->batch = 64;
    c->auxiliary = 0;
    c->auxiliary_weight = 0.4f;
    rd_genotype_parse(DARTS_V2, &c->genotype, NULL);
}

static int is_reduction(const rd_network_config *c, int i) { return i == c->layers / 3 || i == 2 * c->layers / 3; }

static rd_status check_cell(const rd_geno_cell *g, const char *kind, rd_err *err) {
    if (g->steps < 1 || g->steps > RD_GENO_MAX_NODES)
        return rd_fail(err, RD_ERR_ARG, "genotype %s: %d nodes, must be in [1, %d]", kind, g->steps, RD_GENO_MAX_NODES);
    for (int k = 0; k < 2 * g->steps; k++) {
        int node = k / 2;
        if ((unsigned)g->edges[k].op >= RD_OP_COUNT)
            return rd_fail(err, RD_ERR_ARG, "genotype %s: op %d of edge %d is not a known op", kind,
                           (int)g->edges[k].op, k);
        if (g->edges[k].input < 0 || g->edges[k].input >= node + 2)
            return rd_fail(err, RD_ERR_ARG, "genotype %s: edge %d (node %d) reads state %d, must be in [0, %d]", kind,
                           k, node, g->edges[k].input, node + 1);
    }
    if (g->n_concat < 1 || g->n_concat > g->steps)
        return rd_fail(err, RD_ERR_ARG, "genotype %s_concat: %d states, must be in [1, %d]", kind, g->n_concat,
                       g->steps);
    for (int q = 0; q < g->n_concat; q++) {
        int s = g->concat[q];
        if (s == 0 || s == 1)
            return rd_fail(err, RD_ERR_ARG,
                           "genotype %s_concat: state %d is a cell input; only nodes 2..%d can be concatenated", kind,
                           s, g->steps + 1);
        if (s < 2 || s >= g->steps + 2)
            return rd_fail(err, RD_ERR_ARG, "genotype %s_concat: state %d out of range [2, %d]", kind, s,
                           g->steps + 1);
        for (int r = 0; r < q; r++)
            if (g->concat[r] == s)
                return rd_fail(err, RD_ERR_ARG, "genotype %s_concat: state %d listed twice", kind, s);
    }
    return RD_OK;
}

rd_status rd_network_config_check(const rd_network_config *c, rd_err *err) {
    if (c->C < 2 || c->C % 2) return rd_fail(err, RD_ERR_ARG, "C = %d: must be even and >= 2 (FactorizedReduce halves it)", c->C);
    if (c->layers < 1 || c->layers > RD_MAX_LAYERS) return rd_fail(err, RD_ERR_ARG, "layers = %d: must be in [1, %d]", c->layers, RD_MAX_LAYERS);
    if (c->stem_multiplier < 1) return rd_fail(err, RD_ERR_ARG, "stem multiplier = %d: must be >= 1", c->stem_multiplier);
    if (c->in_channels < 1 || c->in_h < 1 || c->in_w < 1) return rd_fail(err, RD_ERR_ARG, "input %dx%dx%d: must be positive", c->in_channels, c->in_h, c->in_w);
    if (c->classes < 2) return rd_fail(err, RD_ERR_ARG, "classes = %d: must be >= 2", c->classes);
    if (c->batch < 1) return rd_fail(err, RD_ERR_ARG, "batch = %d: must be >= 1", c->batch);
    if (c->auxiliary && !(c->auxiliary_weight >= 0.0f))
        return rd_fail(err, RD_ERR_ARG, "auxiliary weight = %g: must be >= 0", (double)c->auxiliary_weight);
    RD_TRY(check_cell(&c->genotype.normal, "normal", err));
    RD_TRY(check_cell(&c->genotype.reduce, "reduce", err));
    int h = c->in_h, w = c->in_w, aux_h = 0, aux_w = 0;
    for (int i = 0; i < c->layers; i++) {
        if (is_reduction(c, i)) {
            if (h % 2 || w % 2)
                return rd_fail(err, RD_ERR_ARG, "cell %d reduces a %dx%d input: reductions need even sizes", i, h, w);
            h /= 2;
            w /= 2;
        }
        if (i == 2 * c->layers / 3) {
            aux_h = h;
            aux_w = w;
        }
    }
    /* AuxiliaryHeadCIFAR's 5x5 stride-3 pool must leave exactly 2x2 for its 2x2 conv */
    if (c->auxiliary && (aux_h < 8 || aux_h > 10 || aux_w < 8 || aux_w > 10))
        return rd_fail(err, RD_ERR_ARG,
                       "auxiliary head: cell %d's output is %dx%d; the head needs 8..10 pixels there (32x32 inputs)",
                       2 * c->layers / 3, aux_h, aux_w);
    return RD_OK;
}

/* ---- structure and names ---- */
/* DARTS' operations.py builds conv_7x1_1x7 as a bare nn.Sequential (ReLU, conv 1x7,
 * conv 7x1, BN), so its tensors are `_ops.K.1.weight`, not under `.op` as the
 * candidate ops (and the search peer's modules) name them. */
static const char *darts_eval_suffix(rd_op_id op, const char *suffix) {
    return op == RD_OP_CONV_7X1_1X7 && !strncmp(suffix, "op.", 3) ? suffix + 3 : suffix;
}

/* The genotype's op on edge e, named cells.i._ops.e. */
static int edge_ops(void *owner, rd_cell_stack *st, int i, int e, int stride, rd_op_inst *op) {
    rd_network *net = owner;
    const rd_stack_cell *cell = &st->cells[i];
    const rd_geno_cell *g = cell->reduction ? &net->cfg.genotype.reduce : &net->cfg.genotype.normal;
    memset(op, 0, sizeof *op);
    op->id = g->edges[e].op;
    op->index = e;
    op->stride = stride;
    op->C = cell->C;
    op->affine = 1;
    op->drop_off = net->n_drop_ops++ * (size_t)net->cfg.batch;
    char prefix[96];
    snprintf(prefix, sizeof prefix, "cells.%d._ops.%d.", i, e);
    rd_stack_add_op(st, op, prefix, darts_eval_suffix);
    return 1;
}

static size_t add_conv(rd_cell_stack *st, const char *prefix, int out, int in, int kh, int kw) {
    rd_param_desc d = {"weight", 4, {out, in, kh, kw}, in * kh * kw};
    return rd_params_add_weight(&st->params, &d, prefix);
}

/* The auxiliary head's parameters, before the classifier's (DARTS' module order). */
static void add_aux_params(void *owner, rd_cell_stack *st) {
    rd_network *net = owner;
    aux_head *a = &net->aux;
    const rd_stack_cell *cell = &st->cells[net->head.cell];
    a->c_in = cell->topo->n_concat * cell->C;
    a->h = cell->h_out;
    a->w = cell->w_out;
    a->w1 = add_conv(st, "auxiliary_head.features.2.", AUX_MID, a->c_in, 1, 1);
    a->bn1 = rd_params_add_bn(&st->params, AUX_MID, 1, "auxiliary_head.features.3.");
    a->w2 = add_conv(st, "auxiliary_head.features.5.", AUX_WIDE, AUX_MID, 2, 2);
    a->bn2 = rd_params_add_bn(&st->params, AUX_WIDE, 1, "auxiliary_head.features.6.");
    /* linear: weight and bias both uniform(+-1/sqrt(in)) as PyTorch */
    int classes = net->cfg.classes;
    rd_param_desc dw = {"weight", 2, {classes, AUX_WIDE, 0, 0}, AUX_WIDE}, db = {"bias", 1, {classes, 0, 0, 0}, AUX_WIDE};
    a->cls_w = rd_params_add_weight(&st->params, &dw, "auxiliary_head.classifier.");
    a->cls_b = rd_params_add_weight(&st->params, &db, "auxiliary_head.classifier.");
}

/* ---- the auxiliary head ---- */
static rd_pool_params aux_pool_params(void) {
    rd_pool_params p = {RD_POOL_AVG, AUX_POOL_K, AUX_POOL_STRIDE, 0};
    return p;
}
static rd_conv_params aux_conv1_params(void) { return rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 0); }
static rd_conv_params aux_conv2_params(void) { return rd_conv_dense_params(2, 2, 1, 1, 0, 0, 1, 1); }

static void aux_plan(void *owner, rd_cell_stack *st, int n) {
    rd_network *net = owner;
    aux_head *a = &net->aux;
    rd_ctx *ctx = st->ctx;
    rd_arena *A = &st->acts;
    rd_ops_scratch_need s;
    rd_pool_params pp = aux_pool_params();
    rd_conv_params p1 = aux_conv1_params(), p2 = aux_conv2_params();
    int ph = rd_pool_out_size(&pp, a->h), pw = rd_pool_out_size(&pp, a->w);
    a->relu = rd_arena_tensor(A, n, a->c_in, a->h, a->w);
    a->pool = rd_arena_tensor(A, n, a->c_in, ph, pw);
    a->c1 = rd_arena_tensor(A, n, AUX_MID, ph, pw);
    a->c2 = rd_arena_tensor(A, n, AUX_WIDE, rd_conv_out_h(&p2, ph), rd_conv_out_w(&p2, pw));
    a->r2 = rd_arena_tensor(A, n, AUX_WIDE, a->c2.h, a->c2.w);
    a->logits = rd_arena_tensor(A, n, net->cfg.classes, 1, 1);
    a->tmp[0] = rd_bn_tmp_plan(A, AUX_MID);
    a->tmp[1] = rd_bn_tmp_plan(A, AUX_WIDE);
    rd_pool2d_scratch(ctx, &pp, &a->relu, &a->pool, &s);
    rd_scratch_merge(&st->scratch, &s);
    rd_conv2d_scratch(ctx, &p1, &a->pool, &a->c1, &s);
    rd_scratch_merge(&st->scratch, &s);
    rd_conv2d_scratch(ctx, &p2, &a->c1, &a->c2, &s);
    rd_scratch_merge(&st->scratch, &s);
    rd_batchnorm_scratch(ctx, &a->c1, &s);
    rd_scratch_merge(&st->scratch, &s);
    rd_batchnorm_scratch(ctx, &a->c2, &s);
    rd_scratch_merge(&st->scratch, &s);
    rd_linear_scratch(ctx, &a->r2, &a->logits, &s);
    rd_scratch_merge(&st->scratch, &s);
}

static void aux_plan_grads(void *owner, rd_cell_stack *st, int n) {
    rd_network *net = owner;
    aux_head *a = &net->aux;
    rd_arena *G = &st->grad_arena;
    a->g_logits = rd_arena_tensor(G, n, net->cfg.classes, 1, 1);
    a->g_r2 = rd_arena_tensor(G, n, AUX_WIDE, a->r2.h, a->r2.w);
    a->g_c2 = rd_arena_tensor(G, n, AUX_WIDE, a->c2.h, a->c2.w);
    a->g_c1 = rd_arena_tensor(G, n, AUX_MID, a->c1.h, a->c1.w);
    a->g_pool = rd_arena_tensor(G, n, a->c_in, a->pool.h, a->pool.w);
    a->g_relu = rd_arena_tensor(G, n, a->c_in, a->h, a->w);
}

static rd_bn_state aux_state(const rd_network *net, int which) {
    const aux_head *a = &net->aux;
    return rd_bn_state_at(which ? &a->bn2 : &a->bn1, &a->tmp[which], which ? AUX_WIDE : AUX_MID, &net->st.weights,
                          &net->st.bn_state);
}

static rd_status aux_forward(void *owner, rd_cell_stack *st, const rd_tensor *feat, int n) {
    rd_network *net = owner;
    aux_head *a = &net->aux;
    rd_ctx *ctx = st->ctx;
    int classes = net->cfg.classes;
    rd_pool_params pp = aux_pool_params();
    rd_conv_params p1 = aux_conv1_params(), p2 = aux_conv2_params();
    RD_TRY(rd_relu_forward(ctx, feat, &a->relu));
    RD_TRY(rd_pool2d_forward(ctx, &pp, &a->relu, &a->pool));
    rd_vec w1 = rd_vec_slice(st->weights, a->w1, (size_t)AUX_MID * a->c_in);
    RD_TRY(rd_conv2d_forward(ctx, &p1, &a->pool, &w1, &a->c1));
    rd_bn_state s1 = aux_state(net, 0);
    RD_TRY(rd_batchnorm_forward_train(ctx, &rd_cell_bn, &s1, &a->c1, &a->c1, NULL, NULL));
    rd_vec w2 = rd_vec_slice(st->weights, a->w2, (size_t)AUX_WIDE * AUX_MID * 4);
    RD_TRY(rd_conv2d_forward(ctx, &p2, &a->c1, &w2, &a->c2));
    rd_bn_state s2 = aux_state(net, 1);
    RD_TRY(rd_batchnorm_forward_train(ctx, &rd_cell_bn, &s2, &a->c2, &a->c2, NULL, NULL));
    RD_TRY(rd_relu_forward(ctx, &a->c2, &a->r2));
    rd_vec cw = rd_vec_slice(st->weights, a->cls_w, (size_t)classes * AUX_WIDE);
    rd_vec cb = rd_vec_slice(st->weights, a->cls_b, (size_t)classes);
    RD_TRY(rd_linear_forward(ctx, &a->r2, &cw, &cb, &a->logits));
    rd_vec logits = rd_tensor_as_vec(&a->logits), dlogits = rd_tensor_as_vec(&a->g_logits);
    rd_vec loss = rd_vec_slice(st->loss, RD_LOSS_AUX, 1), correct = rd_vec_slice(st->loss, RD_LOSS_AUX_CORRECT, 1);
    RD_TRY(rd_cross_entropy(ctx, &logits, st->labels, 0, n, classes, &loss, &dlogits, &correct));
    return rd_vec_scale(ctx, &dlogits, net->cfg.auxiliary_weight);
}

/* In-place BN backward on dy (y: the BN output), accumulating gamma / beta gradients. */
static rd_status bn_bwd(rd_network *net, int which, const rd_tensor *y, const rd_tensor *dy) {
    const rd_bn_place *b = which ? &net->aux.bn2 : &net->aux.bn1;
    size_t C = which ? AUX_WIDE : AUX_MID;
    rd_bn_state s = aux_state(net, which);
    rd_vec dg = rd_vec_slice(net->st.grads, b->gamma, C), db = rd_vec_slice(net->st.grads, b->beta, C);
    return rd_batchnorm_backward(net->st.ctx, &rd_cell_bn, &s, NULL, y, dy, NULL, dy, 0, &dg, &db, NULL);
}

static rd_status aux_backward(void *owner, rd_cell_stack *st, const rd_tensor *feat, const rd_tensor *dfeat) {
    rd_network *net = owner;
    aux_head *a = &net->aux;
    rd_ctx *ctx = st->ctx;
    size_t classes = (size_t)net->cfg.classes, n1 = (size_t)AUX_MID * a->c_in, n2 = (size_t)AUX_WIDE * AUX_MID * 4;
    rd_vec cw = rd_vec_slice(st->weights, a->cls_w, classes * AUX_WIDE);
    rd_vec gw = rd_vec_slice(st->grads, a->cls_w, classes * AUX_WIDE), gb = rd_vec_slice(st->grads, a->cls_b, classes);
    RD_TRY(rd_linear_backward(ctx, &a->r2, &cw, &a->g_logits, &a->g_r2, 0, &gw, &gb));
    RD_TRY(rd_relu_backward(ctx, &a->c2, &a->g_r2, &a->g_c2, 0));
    RD_TRY(bn_bwd(net, 1, &a->c2, &a->g_c2));
    rd_conv_params p1 = aux_conv1_params(), p2 = aux_conv2_params();
    rd_vec w2 = rd_vec_slice(st->weights, a->w2, n2), g2 = rd_vec_slice(st->grads, a->w2, n2);
    RD_TRY(rd_conv2d_backward(ctx, &p2, &a->c1, &w2, &a->g_c2, &a->g_c1, 0, &g2));
    RD_TRY(bn_bwd(net, 0, &a->c1, &a->g_c1));
    rd_vec w1 = rd_vec_slice(st->weights, a->w1, n1), g1 = rd_vec_slice(st->grads, a->w1, n1);
    RD_TRY(rd_conv2d_backward(ctx, &p1, &a->pool, &w1, &a->g_c1, &a->g_pool, 0, &g1));
    rd_pool_params pp = aux_pool_params();
    RD_TRY(rd_pool2d_backward(ctx, &pp, &a->relu, &a->g_pool, &a->g_relu, 0));
    return rd_relu_backward(ctx, feat, &a->g_relu, dfeat, 1);
}

/* ---- creation ---- */
static rd_status net_init(rd_network *net, rd_ctx *ctx, const rd_network_config *cfg, rd_err *err) {
    net->cfg = *cfg;
    RD_TRY(rd_network_config_check(cfg, err));
    rd_stack_config sc;
    memset(&sc, 0, sizeof sc);
    sc.what = "network";
    sc.C = cfg->C;
    sc.layers = cfg->layers;
    sc.stem_multiplier = cfg->stem_multiplier;
    sc.in_channels = cfg->in_channels;
    sc.in_h = cfg->in_h;
    sc.in_w = cfg->in_w;
    sc.classes = cfg->classes;
    sc.batch = cfg->batch;
    sc.affine = 1;
    rd_topology_genotype(&sc.topo[0], &cfg->genotype.normal);
    rd_topology_genotype(&sc.topo[1], &cfg->genotype.reduce);
    /* every op of every cell has a drop-path slot of batch scales */
    for (int i = 0; i < cfg->layers; i++) sc.side_floats += (size_t)sc.topo[is_reduction(cfg, i)].n_edges * cfg->batch;
    if (cfg->auxiliary) {
        rd_stack_head h = {net, 2 * cfg->layers / 3, aux_plan, aux_plan_grads, aux_forward, aux_backward};
        net->head = h;
        net->st.head = &net->head;
    }
    RD_TRY(rd_stack_build(&net->st, ctx, &sc, edge_ops, cfg->auxiliary ? add_aux_params : NULL, net, err));
    rd_stack_memory_plan(&net->st, 0, &net->plan);
    return RD_OK;
}

rd_status rd_network_plan(rd_ctx *ctx, const rd_network_config *cfg, rd_memory_plan *plan) {
    rd_network *net = calloc(1, sizeof *net);
    if (!net) return rd_fail(rd_ctx_err(ctx), RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status s = net_init(net, ctx, cfg, rd_ctx_err(ctx));
    if (s == RD_OK) *plan = net->plan;
    net->st.ctx = NULL; /* nothing allocated */
    rd_stack_release(&net->st);
    free(net);
    return s;
}

rd_status rd_network_create(rd_ctx *ctx, const rd_network_config *cfg, uint64_t seed, rd_network **out) {
    *out = NULL;
    rd_network *net = calloc(1, sizeof *net);
    if (!net) return rd_fail(&ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status s = net_init(net, ctx, cfg, &ctx->err);
    if (s == RD_OK) {
        net->drop_host = calloc(net->st.cfg.side_floats + 1, sizeof *net->drop_host);
        if (!net->drop_host) s = rd_fail(&ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    if (s == RD_OK) s = rd_stack_allocate(&net->st);
    rd_init_rng r = {seed};
    if (s == RD_OK) s = rd_stack_init_values(&net->st, &r);
    if (s != RD_OK) {
        rd_network_free(net);
        return s;
    }
    *out = net;
    return RD_OK;
}

void rd_network_free(rd_network *net) {
    if (!net) return;
    rd_stack_release(&net->st);
    free(net->drop_host);
    free(net);
}

const rd_network_config *rd_network_get_config(const rd_network *net) { return &net->cfg; }
rd_ctx *rd_network_context(const rd_network *net) { return net->st.ctx; }
const rd_memory_plan *rd_network_memory(const rd_network *net) { return &net->plan; }
rd_vec rd_network_weights(const rd_network *net) { return net->st.weights; }
rd_vec rd_network_weight_grads(const rd_network *net) { return net->st.grads; }
rd_vec rd_network_bn_state(const rd_network *net) { return net->st.bn_state; }
rd_status rd_network_zero_grads(rd_network *net) { return rd_vec_fill(net->st.ctx, &net->st.grads, 0.0f); }
const rd_named_tensor *rd_network_named_tensors(const rd_network *net, int *count) {
    *count = net->st.params.n;
    return net->st.params.names;
}

/* ---- drop-path ---- */
float rd_network_drop_path_scale(float prob, uint64_t seed, uint64_t counter, int cell, int op, int image) {
    if (!(prob > 0.0f)) return 1.0f;
    uint64_t h = rd_mix64(seed);
    h = rd_splitmix64_mix(h ^ (counter + 0x632be59bd9b4e019ull));
    h = rd_splitmix64_mix(h ^ ((uint64_t)(uint32_t)cell << 40 | (uint64_t)(uint32_t)op << 24 | (uint64_t)(uint32_t)image));
    double u = (double)(h >> 11) * (1.0 / 9007199254740992.0);
    double keep = 1.0 - (double)prob;
    return u < keep ? (float)(1.0 / keep) : 0.0f;
}

void rd_network_set_drop_path(rd_network *net, float prob, uint64_t seed, uint64_t counter) {
    /* a probability of 1 would scale by infinity: clamp into [0, 0.999] */
    if (!(prob > 0.0f)) prob = 0.0f;
    if (prob > 0.999f) prob = 0.999f;
    net->drop_prob = prob;
    net->drop_seed = seed;
    net->drop_counter = counter;
}

uint64_t rd_network_drop_path_counter(const rd_network *net) { return net->drop_counter; }

/* This forward's scales for n images, uploaded once (the op rows of images >= n are 0). */
static rd_status upload_drop_scales(rd_network *net, int n) {
    const rd_network_config *c = &net->cfg;
    for (int i = 0; i < c->layers; i++) {
        const rd_stack_cell *cell = &net->st.cells[i];
        for (int k = 0; k < cell->topo->n_edges; k++) {
            float *row = net->drop_host + cell->ops[k].drop_off;
            for (int b = 0; b < c->batch; b++)
                row[b] = b < n ? rd_network_drop_path_scale(net->drop_prob, net->drop_seed, net->drop_counter, i, k, b)
                               : 0.0f;
        }
    }
    return rd_vec_write(net->st.ctx, &net->st.side, net->drop_host);
}

/* ---- forward and backward: the stack's, with plain node sums and drop-path ---- */
static rd_op_exec exec_for(const rd_network *net, int train, int grads) {
    rd_op_exec e = rd_stack_exec(&net->st, train, grads);
    e.plain_sum = 1;
    if (train && net->drop_in_forward) e.drop_scales = net->st.side;
    return e;
}

rd_status rd_network_forward(rd_network *net, const rd_tensor *x, cl_mem labels, int train) {
    RD_TRY(rd_stack_check_input(&net->st, x));
    net->drop_in_forward = train && net->drop_prob > 0.0f;
    if (net->drop_in_forward) {
        /* the scales live in the activations arena: bind for this batch first */
        RD_TRY(rd_stack_bind_batch(&net->st, x->n));
        RD_TRY(upload_drop_scales(net, x->n));
    }
    if (train) net->drop_counter++;
    rd_op_exec e = exec_for(net, train, 0);
    return rd_stack_forward(&net->st, &e, x, labels);
}

rd_status rd_network_backward(rd_network *net) {
    rd_op_exec e = exec_for(net, 1, 1);
    return rd_stack_backward(&net->st, &e);
}

rd_status rd_network_read_loss(rd_network *net, float *loss, float *aux_loss, int *correct) {
    return rd_stack_read_loss(&net->st, loss, aux_loss, correct);
}

rd_status rd_network_read_logits(rd_network *net, float *out) {
    return rd_tensor_read(net->st.ctx, &net->st.logits, out);
}

void rd_network_cost(const rd_network *net, double *params, double *flops) { rd_stack_cost(&net->st, params, flops); }
