/* The discrete evaluation network (DARTS' NetworkCIFAR) a genotype describes:
 * structure, memory plan, initialization, forward and backward.
 *
 * It reuses the supernet's pieces: the candidate ops of candidate_ops.c (run
 * with affine BNs, no BN after pools, a plain sum into each node and drop-path
 * scales), the planner arena (layout() runs in PLAN mode to size the arenas
 * and in BIND mode to hand out tensors), and the supernet's memory rules: one
 * weights vector, one gradients vector, one BN-state vector. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radars/network.h"
#include "nn/candidate_ops.h"
#include "nn/cell_parts.h"
#include "nn/nn_internal.h"

enum { AUX_MID = 128, AUX_WIDE = 768, AUX_POOL_K = 5, AUX_POOL_STRIDE = 3 };
enum { LOSS_MAIN, LOSS_CORRECT, LOSS_AUX, LOSS_AUX_CORRECT, LOSS_FLOATS };

typedef struct net_cell {
    const rd_geno_cell *g;       /* the genotype's normal or reduction cell */
    int reduction, reduction_prev;
    int C, C_pp, C_p, multiplier;
    int h_pp, w_pp;              /* resolution of s0 */
    int h, w;                    /* resolution of s1 and of the preprocessed states */
    int h_out, w_out;
    rd_preprocess pre[2];        /* [0] for s0 (FactorizedReduce when the previous cell reduced), [1] for s1 */
    rd_tensor s0p, s1p;
    rd_tensor out;               /* n x multiplier*C x h_out x w_out: the concatenated states */
    rd_tensor nodes[RD_GENO_MAX_NODES];
    int concat_pos[RD_GENO_MAX_NODES]; /* node's place in the output, -1 when not concatenated */
    int gnode[RD_GENO_MAX_NODES];      /* nodes outside the output: their gradient buffer */
    rd_op_inst ops[2 * RD_GENO_MAX_NODES];
} net_cell;

struct rd_network {
    rd_ctx *ctx;
    rd_network_config cfg;
    net_cell *cells;
    int c_final;                 /* channels into the classifier */
    int aux_cell, c_aux, aux_h, aux_w;

    /* parameters */
    rd_param_registry params;    /* with each tensor's init */
    rd_stem stem;
    size_t cls_w, cls_b;
    size_t aux_w1, aux_w2, aux_cls_w, aux_cls_b;
    rd_bn_place aux_bn1, aux_bn2;
    size_t n_drop_ops;           /* ops with a drop-path slot (every op of every cell) */
    rd_buffer *weights_buf, *grads_buf, *bn_buf;
    rd_vec weights, grads, bn_state;

    /* drop-path */
    float drop_prob;
    uint64_t drop_seed, drop_counter;
    float *drop_host;            /* n_drop_ops x batch scales, uploaded per training forward */
    int drop_in_forward;

    /* planned memory */
    rd_arena acts, grad_arena;
    rd_scratch_need scratch;
    int cur_n;
    rd_tensor input;
    cl_mem labels;
    rd_tensor pooled, logits;
    rd_vec loss, drop;           /* loss: LOSS_* floats; drop: per-image scales */
    rd_tensor aux_relu, aux_pool, aux_c1, aux_c2, aux_r2, aux_logits;
    rd_bn_state aux_tmp[2];
    rd_tensor g_out[3], g_stem, g_s0p, g_s1p, g_ta, g_tb, g_pooled, g_logits;
    rd_tensor g_nodes[RD_GENO_MAX_NODES];
    rd_tensor g_aux_logits, g_aux_r2, g_aux_c2, g_aux_c1, g_aux_pool, g_aux_relu;
    rd_memory_plan plan;
    int have_forward, aux_in_forward;
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

static size_t add_conv(rd_network *net, const char *prefix, int out, int in, int kh, int kw) {
    rd_param_desc d = {"weight", 4, {out, in, kh, kw}, in * kh * kw};
    return rd_params_add_weight(&net->params, &d, prefix);
}


/* Linear layer: weight and bias both uniform(+-1/sqrt(in)) as PyTorch. */
static void add_linear(rd_network *net, const char *prefix, int out, int in, size_t *w, size_t *b) {
    rd_param_desc dw = {"weight", 2, {out, in, 0, 0}, in}, db = {"bias", 1, {out, 0, 0, 0}, in};
    *w = rd_params_add_weight(&net->params, &dw, prefix);
    *b = rd_params_add_weight(&net->params, &db, prefix);
}

static rd_status build_structure(rd_network *net, rd_err *err) {
    const rd_network_config *c = &net->cfg;
    net->cells = calloc((size_t)c->layers, sizeof *net->cells);
    if (!net->cells) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    int stem_c = c->stem_multiplier * c->C;
    rd_stem_add(&net->params, &net->stem, stem_c, c->in_channels);

    int cpp = stem_c, cp = stem_c, cc = c->C, red_prev = 0;
    int h_pp = c->in_h, w_pp = c->in_w, h_p = c->in_h, w_p = c->in_w;
    size_t drop_slot = 0;
    net->aux_cell = 2 * c->layers / 3;
    for (int i = 0; i < c->layers; i++) {
        net_cell *cell = &net->cells[i];
        int red = is_reduction(c, i);
        if (red) cc *= 2;
        cell->g = red ? &c->genotype.reduce : &c->genotype.normal;
        cell->reduction = red;
        cell->reduction_prev = red_prev;
        cell->C = cc;
        cell->C_pp = cpp;
        cell->C_p = cp;
        cell->multiplier = cell->g->n_concat;
        cell->h_pp = h_pp;
        cell->w_pp = w_pp;
        cell->h = h_p;
        cell->w = w_p;
        cell->h_out = red ? h_p / 2 : h_p;
        cell->w_out = red ? w_p / 2 : w_p;
        char prefix[96];
        rd_preprocess_add(&net->params, &cell->pre[0], i, 0, red_prev, cc, cpp, 1);
        rd_preprocess_add(&net->params, &cell->pre[1], i, 1, 0, cc, cp, 1);

        for (int k = 0; k < cell->g->steps; k++) cell->concat_pos[k] = -1;
        for (int q = 0; q < cell->g->n_concat; q++) cell->concat_pos[cell->g->concat[q] - 2] = q;
        for (int k = 0, gn = 0; k < cell->g->steps; k++) cell->gnode[k] = cell->concat_pos[k] < 0 ? gn++ : -1;

        for (int k = 0; k < 2 * cell->g->steps; k++) {
            int input = cell->g->edges[k].input;
            int stride = (red && input < 2) ? 2 : 1;
            rd_op_inst *op = &cell->ops[k];
            memset(op, 0, sizeof *op);
            op->id = cell->g->edges[k].op;
            op->k = k;
            op->stride = stride;
            op->C = cc;
            op->affine = 1;
            op->pool_bn = 0;
            op->drop_off = drop_slot++ * (size_t)c->batch;
            rd_param_desc pd[RD_OP_MAX_WEIGHTS];
            op->n_w = rd_op_params(op->id, cc, stride, pd);
            snprintf(prefix, sizeof prefix, "cells.%d._ops.%d.", i, k);
            for (int w = 0; w < op->n_w; w++) {
                pd[w].suffix = darts_eval_suffix(op->id, pd[w].suffix);
                op->w_off[w] = rd_params_add_weight(&net->params, &pd[w], prefix);
                op->w_len[w] = (size_t)pd[w].shape[0] * pd[w].shape[1] * pd[w].shape[2] * pd[w].shape[3];
            }
            const char *bn_names[RD_OP_MAX_BN];
            op->n_bn = rd_op_bn_names(op->id, stride, op->pool_bn, bn_names);
            for (int b = 0; b < op->n_bn; b++) {
                char bp[128];
                snprintf(bp, sizeof bp, "%s%s.", prefix, darts_eval_suffix(op->id, bn_names[b]));
                rd_bn_place ab = rd_params_add_bn(&net->params, cc, 1, bp);
                op->gamma_off[b] = ab.gamma;
                op->beta_off[b] = ab.beta;
                op->bn_off[b] = ab.stats;
            }
        }
        red_prev = red;
        cpp = cp;
        cp = cell->multiplier * cc;
        h_pp = h_p;
        w_pp = w_p;
        h_p = cell->h_out;
        w_p = cell->w_out;
        if (i == net->aux_cell) {
            net->c_aux = cp;
            net->aux_h = h_p;
            net->aux_w = w_p;
        }
    }
    net->n_drop_ops = drop_slot;
    net->c_final = cp;
    if (c->auxiliary) {
        net->aux_w1 = add_conv(net, "auxiliary_head.features.2.", AUX_MID, net->c_aux, 1, 1);
        net->aux_bn1 = rd_params_add_bn(&net->params, AUX_MID, 1, "auxiliary_head.features.3.");
        net->aux_w2 = add_conv(net, "auxiliary_head.features.5.", AUX_WIDE, AUX_MID, 2, 2);
        net->aux_bn2 = rd_params_add_bn(&net->params, AUX_WIDE, 1, "auxiliary_head.features.6.");
        add_linear(net, "auxiliary_head.classifier.", c->classes, AUX_WIDE, &net->aux_cls_w, &net->aux_cls_b);
    }
    add_linear(net, "classifier.", c->classes, cp, &net->cls_w, &net->cls_b);
    if (net->params.n == 0 || !net->params.init) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    return RD_OK;
}

/* ---- memory layout: the one function that both plans and binds ---- */
static rd_tensor cell_input(const rd_network *net, int i, int which /* 0: s0, 1: s1 */) {
    int src = which ? i - 1 : i - 2;
    return src < 0 ? net->stem.out : net->cells[src].out;
}

static const rd_tensor *cell_state(const net_cell *cell, int s) {
    return s == 0 ? &cell->s0p : s == 1 ? &cell->s1p : &cell->nodes[s - 2];
}

static rd_pool_params aux_pool_params(void) {
    rd_pool_params p = {RD_POOL_AVG, AUX_POOL_K, AUX_POOL_STRIDE, 0};
    return p;
}
static rd_conv_params aux_conv1_params(void) { return rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 0); }
static rd_conv_params aux_conv2_params(void) { return rd_conv_dense_params(2, 2, 1, 1, 0, 0, 1, 1); }

static void layout(rd_network *net, int n, int bind) {
    rd_ctx *ctx = net->ctx;
    const rd_network_config *c = &net->cfg;
    rd_arena *A = &net->acts, *G = &net->grad_arena;
    rd_arena_begin(A, bind);
    rd_arena_begin(G, bind);
    memset(&net->scratch, 0, sizeof net->scratch);
    rd_ops_scratch_need s;

    int stem_c = c->stem_multiplier * c->C;
    rd_stem_plan(ctx, &net->stem, A, n, c->in_h, c->in_w, &net->scratch);

    size_t max_out = (size_t)n * stem_c * c->in_h * c->in_w, max_state = 0, max_temp = 0;
    int max_gnodes = 0;
    for (int i = 0; i < c->layers; i++) {
        net_cell *cell = &net->cells[i];
        int C = cell->C;
        cell->s0p = rd_arena_tensor(A, n, C, cell->h, cell->w);
        cell->s1p = rd_arena_tensor(A, n, C, cell->h, cell->w);
        for (int p = 0; p < 2; p++) cell->pre[p].tmp = rd_bn_tmp_plan(A, C);
        cell->out = rd_arena_tensor(A, n, cell->multiplier * C, cell->h_out, cell->w_out);
        int gnodes = 0;
        for (int k = 0; k < cell->g->steps; k++) {
            if (cell->concat_pos[k] >= 0) {
                cell->nodes[k] = rd_tensor_channels(cell->out, cell->concat_pos[k] * C, C);
            } else {
                cell->nodes[k] = rd_arena_tensor(A, n, C, cell->h_out, cell->w_out);
                gnodes++;
            }
        }
        if (gnodes > max_gnodes) max_gnodes = gnodes;
        /* preprocess scratch */
        rd_tensor s0 = cell_input(net, i, 0), s1 = cell_input(net, i, 1);
        s0.n = s1.n = n;
        rd_preprocess_scratch(ctx, &cell->pre[0], &s0, &cell->s0p, &net->scratch);
        rd_preprocess_scratch(ctx, &cell->pre[1], &s1, &cell->s1p, &net->scratch);
        /* the genotype's ops */
        for (int k = 0; k < 2 * cell->g->steps; k++) {
            rd_op_inst *op = &cell->ops[k];
            rd_tensor x = *cell_state(cell, cell->g->edges[k].input);
            int ho = op->stride == 2 ? cell->h_out : x.h, wo = op->stride == 2 ? cell->w_out : x.w;
            rd_op_plan(ctx, op, &x, ho, wo, A, &net->scratch);
            size_t t = rd_op_temp_floats(op, &x, ho, wo);
            if (t > max_temp) max_temp = t;
        }
        size_t out_f = rd_tensor_numel(&cell->out), st = (size_t)n * C * cell->h * cell->w;
        if (out_f > max_out) max_out = out_f;
        if (st > max_state) max_state = st;
        if (c->auxiliary && i == net->aux_cell) {
            rd_pool_params pp = aux_pool_params();
            rd_conv_params p1 = aux_conv1_params(), p2 = aux_conv2_params();
            int ph = rd_pool_out_size(&pp, net->aux_h), pw2 = rd_pool_out_size(&pp, net->aux_w);
            net->aux_relu = rd_arena_tensor(A, n, net->c_aux, net->aux_h, net->aux_w);
            net->aux_pool = rd_arena_tensor(A, n, net->c_aux, ph, pw2);
            net->aux_c1 = rd_arena_tensor(A, n, AUX_MID, ph, pw2);
            net->aux_c2 = rd_arena_tensor(A, n, AUX_WIDE, rd_conv_out_h(&p2, ph), rd_conv_out_w(&p2, pw2));
            net->aux_r2 = rd_arena_tensor(A, n, AUX_WIDE, net->aux_c2.h, net->aux_c2.w);
            net->aux_logits = rd_arena_tensor(A, n, c->classes, 1, 1);
            net->aux_tmp[0] = rd_bn_tmp_plan(A, AUX_MID);
            net->aux_tmp[1] = rd_bn_tmp_plan(A, AUX_WIDE);
            rd_pool2d_scratch(ctx, &pp, &net->aux_relu, &net->aux_pool, &s);
            rd_scratch_merge(&net->scratch, &s);
            rd_conv2d_scratch(ctx, &p1, &net->aux_pool, &net->aux_c1, &s);
            rd_scratch_merge(&net->scratch, &s);
            rd_conv2d_scratch(ctx, &p2, &net->aux_c1, &net->aux_c2, &s);
            rd_scratch_merge(&net->scratch, &s);
            rd_batchnorm_scratch(ctx, &net->aux_c1, &s);
            rd_scratch_merge(&net->scratch, &s);
            rd_batchnorm_scratch(ctx, &net->aux_c2, &s);
            rd_scratch_merge(&net->scratch, &s);
            rd_linear_scratch(ctx, &net->aux_r2, &net->aux_logits, &s);
            rd_scratch_merge(&net->scratch, &s);
        }
    }
    net->pooled = rd_arena_tensor(A, n, net->c_final, 1, 1);
    net->logits = rd_arena_tensor(A, n, c->classes, 1, 1);
    net->loss = rd_arena_vec(A, LOSS_FLOATS);
    net->drop = rd_arena_vec(A, net->n_drop_ops * (size_t)c->batch);

    /* gradients: three rotating cell-output gradients, the stem's, the preprocessed
     * states', two op temporaries, nodes outside the outputs, the heads' */
    for (int r = 0; r < 3; r++) net->g_out[r] = rd_arena_flat(G, max_out);
    net->g_stem = rd_arena_tensor(G, n, stem_c, c->in_h, c->in_w);
    net->g_s0p = rd_arena_flat(G, max_state);
    net->g_s1p = rd_arena_flat(G, max_state);
    if (max_temp < max_state) max_temp = max_state;
    if (max_temp < (size_t)n * stem_c * c->in_h * c->in_w) max_temp = (size_t)n * stem_c * c->in_h * c->in_w;
    net->g_ta = rd_arena_flat(G, max_temp);
    net->g_tb = rd_arena_flat(G, max_temp);
    for (int k = 0; k < max_gnodes; k++) net->g_nodes[k] = rd_arena_flat(G, max_out);
    net->g_pooled = rd_arena_tensor(G, n, net->c_final, 1, 1);
    net->g_logits = rd_arena_tensor(G, n, c->classes, 1, 1);
    if (c->auxiliary) {
        net->g_aux_logits = rd_arena_tensor(G, n, c->classes, 1, 1);
        net->g_aux_r2 = rd_arena_tensor(G, n, AUX_WIDE, net->aux_r2.h, net->aux_r2.w);
        net->g_aux_c2 = rd_arena_tensor(G, n, AUX_WIDE, net->aux_c2.h, net->aux_c2.w);
        net->g_aux_c1 = rd_arena_tensor(G, n, AUX_MID, net->aux_c1.h, net->aux_c1.w);
        net->g_aux_pool = rd_arena_tensor(G, n, net->c_aux, net->aux_pool.h, net->aux_pool.w);
        net->g_aux_relu = rd_arena_tensor(G, n, net->c_aux, net->aux_h, net->aux_w);
    }
    rd_classifier_scratch(ctx, &net->pooled, &net->logits, &net->scratch);
    net->cur_n = n;
}

static void fill_plan(rd_network *net) {
    rd_memory_plan_fill(&net->plan, net->params.n_weights, net->params.n_bn, 0, &net->acts, &net->grad_arena,
                        &net->scratch);
}

static rd_status net_init(rd_network *net, rd_ctx *ctx, const rd_network_config *cfg, rd_err *err) {
    memset(net, 0, sizeof *net);
    net->ctx = ctx;
    net->cfg = *cfg;
    RD_TRY(rd_network_config_check(cfg, err));
    RD_TRY(build_structure(net, err));
    rd_arenas_setup(ctx, &net->acts, &net->grad_arena);
    layout(net, cfg->batch, 0);
    if (net->acts.failed || net->grad_arena.failed)
        return rd_fail(err, RD_ERR_TOO_LARGE, "network: one activation tensor exceeds the device's largest allocation");
    fill_plan(net);
    return RD_OK;
}

static void net_release(rd_network *net) {
    if (net->ctx) {
        rd_arena_free(net->ctx, &net->acts);
        rd_arena_free(net->ctx, &net->grad_arena);
        rd_buffer *bufs[] = {net->weights_buf, net->grads_buf, net->bn_buf};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) rd_free(net->ctx, bufs[i]);
    }
    free(net->cells);
    rd_params_free(&net->params);
    free(net->drop_host);
}

rd_status rd_network_plan(rd_ctx *ctx, const rd_network_config *cfg, rd_memory_plan *plan) {
    rd_network *net = calloc(1, sizeof *net);
    if (!net) return rd_fail(rd_ctx_err(ctx), RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status s = net_init(net, ctx, cfg, rd_ctx_err(ctx));
    if (s == RD_OK) *plan = net->plan;
    net->ctx = NULL; /* nothing allocated */
    net_release(net);
    free(net);
    return s;
}

/* ---- initialization (PyTorch defaults, deterministic per seed) ---- */
static rd_status init_values(rd_network *net, uint64_t seed) {
    rd_ctx *ctx = net->ctx;
    size_t n_weights = net->params.n_weights, n_bn = net->params.n_bn;
    float *w = calloc(n_weights ? n_weights : 1, sizeof *w);
    float *bn = calloc(n_bn ? n_bn : 1, sizeof *bn);
    if (!w || !bn) {
        free(w);
        free(bn);
        return rd_fail(&ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    rd_init_rng r = {seed};
    for (int i = 0; i < net->params.n; i++) {
        const rd_named_tensor *t = &net->params.names[i];
        float *dst = (t->kind == RD_PARAM_WEIGHT ? w : bn) + t->offset, init = net->params.init[i];
        for (size_t j = 0; j < t->count; j++)
            dst[j] = init > 0 ? (float)((2 * rd_init_rng_uniform(&r) - 1) * init) : init == RD_INIT_ONE ? 1.0f : 0.0f;
    }
    rd_status s = rd_vec_write(ctx, &net->weights, w);
    if (s == RD_OK) s = rd_vec_write(ctx, &net->bn_state, bn);
    free(w);
    free(bn);
    return s;
}

static rd_status alloc_vec(rd_ctx *ctx, size_t len, const char *what, rd_buffer **buf, rd_vec *v) {
    RD_TRY(rd_alloc(ctx, (len ? len : 1) * sizeof(float), what, buf));
    *v = rd_vec_make(rd_buffer_mem(*buf), 0, len);
    return RD_OK;
}

/* Allocates the arenas for the current plan and binds every tensor, then reserves scratch. */
static rd_status bind(rd_network *net, int n) {
    RD_TRY(rd_arena_allocate(net->ctx, &net->acts, "activations"));
    RD_TRY(rd_arena_allocate(net->ctx, &net->grad_arena, "gradients"));
    layout(net, n, 1);
    return rd_scratch_reserve_all(net->ctx, &net->scratch);
}

rd_status rd_network_create(rd_ctx *ctx, const rd_network_config *cfg, uint64_t seed, rd_network **out) {
    *out = NULL;
    rd_network *net = calloc(1, sizeof *net);
    if (!net) return rd_fail(&ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status s = net_init(net, ctx, cfg, &ctx->err);
    if (s == RD_OK) {
        net->drop_host = calloc(net->n_drop_ops * (size_t)cfg->batch + 1, sizeof *net->drop_host);
        if (!net->drop_host) s = rd_fail(&ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    if (s == RD_OK) s = alloc_vec(ctx, net->params.n_weights, "weights", &net->weights_buf, &net->weights);
    if (s == RD_OK) s = alloc_vec(ctx, net->params.n_weights, "weight gradients", &net->grads_buf, &net->grads);
    if (s == RD_OK) s = alloc_vec(ctx, net->params.n_bn, "batch-norm running statistics", &net->bn_buf, &net->bn_state);
    if (s == RD_OK) s = bind(net, cfg->batch);
    if (s == RD_OK) s = init_values(net, seed);
    if (s == RD_OK) s = rd_network_zero_grads(net);
    if (s == RD_OK) s = rd_vec_fill(ctx, &net->loss, 0.0f);
    if (s != RD_OK) {
        net_release(net);
        free(net);
        return s;
    }
    *out = net;
    return RD_OK;
}

void rd_network_free(rd_network *net) {
    if (!net) return;
    net_release(net);
    free(net);
}

const rd_network_config *rd_network_get_config(const rd_network *net) { return &net->cfg; }
rd_ctx *rd_network_context(const rd_network *net) { return net->ctx; }
const rd_memory_plan *rd_network_memory(const rd_network *net) { return &net->plan; }
rd_vec rd_network_weights(const rd_network *net) { return net->weights; }
rd_vec rd_network_weight_grads(const rd_network *net) { return net->grads; }
rd_vec rd_network_bn_state(const rd_network *net) { return net->bn_state; }
rd_status rd_network_zero_grads(rd_network *net) { return rd_vec_fill(net->ctx, &net->grads, 0.0f); }
const rd_named_tensor *rd_network_named_tensors(const rd_network *net, int *count) {
    *count = net->params.n;
    return net->params.names;
}

/* ---- drop-path ---- */
float rd_network_drop_path_scale(float prob, uint64_t seed, uint64_t counter, int cell, int op, int image) {
    if (!(prob > 0.0f)) return 1.0f;
    uint64_t h = rd_splitmix64_mix(seed + 0x9e3779b97f4a7c15ull);
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
        const net_cell *cell = &net->cells[i];
        for (int k = 0; k < 2 * cell->g->steps; k++) {
            float *row = net->drop_host + cell->ops[k].drop_off;
            for (int b = 0; b < c->batch; b++)
                row[b] = b < n ? rd_network_drop_path_scale(net->drop_prob, net->drop_seed, net->drop_counter, i, k, b)
                               : 0.0f;
        }
    }
    return rd_vec_write(net->ctx, &net->drop, net->drop_host);
}

/* ---- forward ---- */
static rd_op_exec exec_for(const rd_network *net, int train, int grads) {
    rd_op_exec e;
    memset(&e, 0, sizeof e);
    e.weights = net->weights;
    if (grads) e.weight_grads = net->grads;
    e.bn_state = net->bn_state;
    e.bn = rd_cell_bn;
    e.train = train;
    e.plain_sum = 1;
    if (train && net->drop_in_forward) e.drop_scales = net->drop;
    return e;
}

static rd_bn_state affine_state(const rd_network *net, const rd_bn_place *b, const rd_bn_state *tmp, int C) {
    return rd_bn_state_at(b, tmp, C, &net->weights, &net->bn_state);
}

/* In-place BN backward on dy (y: the BN output), accumulating gamma / beta gradients. */
static rd_status bn_bwd(rd_network *net, const rd_bn_place *b, const rd_bn_state *tmp, int C, const rd_tensor *y,
                        const rd_tensor *dy) {
    rd_bn_state s = affine_state(net, b, tmp, C);
    rd_vec dg = rd_vec_slice(net->grads, b->gamma, (size_t)C), db = rd_vec_slice(net->grads, b->beta, (size_t)C);
    return rd_batchnorm_backward(net->ctx, &rd_cell_bn, &s, NULL, y, dy, NULL, dy, 0, &dg, &db, NULL);
}

static rd_status cell_forward(rd_network *net, int i, const rd_op_exec *e) {
    rd_ctx *ctx = net->ctx;
    net_cell *cell = &net->cells[i];
    rd_tensor s0 = cell_input(net, i, 0), s1 = cell_input(net, i, 1);
    RD_TRY(rd_preprocess_forward(ctx, &cell->pre[0], &net->weights, &net->bn_state, &s0, &cell->s0p, e->train));
    RD_TRY(rd_preprocess_forward(ctx, &cell->pre[1], &net->weights, &net->bn_state, &s1, &cell->s1p, e->train));
    RD_TRY(rd_fill(ctx, &cell->out, 0.0f));
    for (int k = 0; k < cell->g->steps; k++)
        if (cell->concat_pos[k] < 0) RD_TRY(rd_fill(ctx, &cell->nodes[k], 0.0f));
    for (int k = 0; k < 2 * cell->g->steps; k++)
        RD_TRY(rd_op_forward(ctx, e, &cell->ops[k], cell_state(cell, cell->g->edges[k].input), &cell->nodes[k / 2]));
    return RD_OK;
}

static rd_bn_state aux_state(const rd_network *net, int which) {
    return affine_state(net, which ? &net->aux_bn2 : &net->aux_bn1, &net->aux_tmp[which], which ? AUX_WIDE : AUX_MID);
}

/* AuxiliaryHeadCIFAR on the output of cell 2L/3, its loss and (weighted) logit gradient. */
static rd_status aux_forward(rd_network *net, const rd_tensor *feat, int n) {
    rd_ctx *ctx = net->ctx;
    const rd_network_config *c = &net->cfg;
    rd_pool_params pp = aux_pool_params();
    rd_conv_params p1 = aux_conv1_params(), p2 = aux_conv2_params();
    RD_TRY(rd_relu_forward(ctx, feat, &net->aux_relu));
    RD_TRY(rd_pool2d_forward(ctx, &pp, &net->aux_relu, &net->aux_pool));
    rd_vec w1 = rd_vec_slice(net->weights, net->aux_w1, (size_t)AUX_MID * net->c_aux);
    RD_TRY(rd_conv2d_forward(ctx, &p1, &net->aux_pool, &w1, &net->aux_c1));
    rd_bn_state s1 = aux_state(net, 0);
    RD_TRY(rd_batchnorm_forward_train(ctx, &rd_cell_bn, &s1, &net->aux_c1, &net->aux_c1, NULL, NULL));
    rd_vec w2 = rd_vec_slice(net->weights, net->aux_w2, (size_t)AUX_WIDE * AUX_MID * 4);
    RD_TRY(rd_conv2d_forward(ctx, &p2, &net->aux_c1, &w2, &net->aux_c2));
    rd_bn_state s2 = aux_state(net, 1);
    RD_TRY(rd_batchnorm_forward_train(ctx, &rd_cell_bn, &s2, &net->aux_c2, &net->aux_c2, NULL, NULL));
    RD_TRY(rd_relu_forward(ctx, &net->aux_c2, &net->aux_r2));
    rd_vec cw = rd_vec_slice(net->weights, net->aux_cls_w, (size_t)c->classes * AUX_WIDE);
    rd_vec cb = rd_vec_slice(net->weights, net->aux_cls_b, (size_t)c->classes);
    RD_TRY(rd_linear_forward(ctx, &net->aux_r2, &cw, &cb, &net->aux_logits));
    rd_vec logits = rd_tensor_as_vec(&net->aux_logits), dlogits = rd_tensor_as_vec(&net->g_aux_logits);
    rd_vec loss = rd_vec_slice(net->loss, LOSS_AUX, 1), correct = rd_vec_slice(net->loss, LOSS_AUX_CORRECT, 1);
    RD_TRY(rd_cross_entropy(ctx, &logits, net->labels, 0, n, c->classes, &loss, &dlogits, &correct));
    return rd_vec_scale(ctx, &dlogits, c->auxiliary_weight);
}

rd_status rd_network_forward(rd_network *net, const rd_tensor *x, cl_mem labels, int train) {
    rd_ctx *ctx = net->ctx;
    const rd_network_config *c = &net->cfg;
    if (x->c != c->in_channels || x->h != c->in_h || x->w != c->in_w || x->n < 1 || x->n > c->batch) {
        char s[64];
        return rd_fail(&ctx->err, RD_ERR_ARG, "network forward: input %s, expected up to %dx%dx%dx%d",
                       rd_tensor_shape_str(x, s, sizeof s), c->batch, c->in_channels, c->in_h, c->in_w);
    }
    net->have_forward = 0;
    if (x->n != net->cur_n) {
        layout(net, x->n, 0);
        RD_TRY(bind(net, x->n));
    }
    net->input = *x;
    net->labels = labels;
    net->drop_in_forward = train && net->drop_prob > 0.0f;
    if (net->drop_in_forward) RD_TRY(upload_drop_scales(net, x->n));
    if (train) net->drop_counter++;
    net->aux_in_forward = train && c->auxiliary;
    rd_op_exec e = exec_for(net, train, 0);
    RD_TRY(rd_stem_forward(ctx, &net->stem, &net->weights, &net->bn_state, x, train));
    for (int i = 0; i < c->layers; i++) {
        RD_TRY(cell_forward(net, i, &e));
        if (net->aux_in_forward && i == net->aux_cell) RD_TRY(aux_forward(net, &net->cells[i].out, x->n));
    }
    RD_TRY(rd_global_avgpool_forward(ctx, &net->cells[c->layers - 1].out, &net->pooled));
    rd_vec cw = rd_vec_slice(net->weights, net->cls_w, (size_t)c->classes * net->c_final);
    rd_vec cb = rd_vec_slice(net->weights, net->cls_b, (size_t)c->classes);
    RD_TRY(rd_linear_forward(ctx, &net->pooled, &cw, &cb, &net->logits));
    rd_vec logits = rd_tensor_as_vec(&net->logits), dlogits = rd_tensor_as_vec(&net->g_logits);
    rd_vec loss = rd_vec_slice(net->loss, LOSS_MAIN, 1), correct = rd_vec_slice(net->loss, LOSS_CORRECT, 1);
    RD_TRY(rd_cross_entropy(ctx, &logits, labels, 0, x->n, c->classes, &loss, &dlogits, &correct));
    if (!net->aux_in_forward) {
        rd_vec aux = rd_vec_slice(net->loss, LOSS_AUX, 2);
        RD_TRY(rd_vec_fill(ctx, &aux, 0.0f));
    }
    net->have_forward = train ? 1 : 0;
    return RD_OK;
}

/* ---- backward ---- */
static rd_vec grad_slice(const rd_network *net, size_t off, size_t len) { return rd_vec_slice(net->grads, off, len); }

static rd_status cell_backward(rd_network *net, int i, const rd_op_exec *e, const rd_tensor *dout,
                               const rd_tensor *ds0, const rd_tensor *ds1) {
    rd_ctx *ctx = net->ctx;
    net_cell *cell = &net->cells[i];
    rd_tensor dstate[2 + RD_GENO_MAX_NODES];
    dstate[0] = rd_grad_view(&net->g_s0p, &cell->s0p);
    dstate[1] = rd_grad_view(&net->g_s1p, &cell->s1p);
    RD_TRY(rd_fill(ctx, &dstate[0], 0.0f));
    RD_TRY(rd_fill(ctx, &dstate[1], 0.0f));
    for (int k = 0; k < cell->g->steps; k++) {
        if (cell->concat_pos[k] >= 0) {
            dstate[2 + k] = rd_tensor_channels(*dout, cell->concat_pos[k] * cell->C, cell->C);
        } else {
            dstate[2 + k] = rd_grad_view(&net->g_nodes[cell->gnode[k]], &cell->nodes[k]);
            RD_TRY(rd_fill(ctx, &dstate[2 + k], 0.0f));
        }
    }
    /* ops of later nodes first: a node's gradient is complete before the ops that produced it run */
    for (int k = 2 * cell->g->steps - 1; k >= 0; k--) {
        int input = cell->g->edges[k].input;
        RD_TRY(rd_op_backward(ctx, e, &cell->ops[k], cell_state(cell, input), &dstate[2 + k / 2], &dstate[input],
                              &net->g_ta, &net->g_tb));
    }
    rd_tensor s0 = cell_input(net, i, 0), s1 = cell_input(net, i, 1);
    RD_TRY(rd_preprocess_backward(ctx, &cell->pre[1], &net->weights, &net->grads, &net->bn_state, &s1, &cell->s1p,
                                  &dstate[1], ds1));
    return rd_preprocess_backward(ctx, &cell->pre[0], &net->weights, &net->grads, &net->bn_state, &s0, &cell->s0p,
                                  &dstate[0], ds0);
}

/* The auxiliary head's backward, adding into the gradient of its input (dfeat). */
static rd_status aux_backward(rd_network *net, const rd_tensor *feat, const rd_tensor *dfeat) {
    rd_ctx *ctx = net->ctx;
    const rd_network_config *c = &net->cfg;
    rd_vec cw = rd_vec_slice(net->weights, net->aux_cls_w, (size_t)c->classes * AUX_WIDE);
    rd_vec gw = grad_slice(net, net->aux_cls_w, (size_t)c->classes * AUX_WIDE);
    rd_vec gb = grad_slice(net, net->aux_cls_b, (size_t)c->classes);
    RD_TRY(rd_linear_backward(ctx, &net->aux_r2, &cw, &net->g_aux_logits, &net->g_aux_r2, 0, &gw, &gb));
    RD_TRY(rd_relu_backward(ctx, &net->aux_c2, &net->g_aux_r2, &net->g_aux_c2, 0));
    RD_TRY(bn_bwd(net, &net->aux_bn2, &net->aux_tmp[1], AUX_WIDE, &net->aux_c2, &net->g_aux_c2));
    rd_conv_params p1 = aux_conv1_params(), p2 = aux_conv2_params();
    rd_vec w2 = rd_vec_slice(net->weights, net->aux_w2, (size_t)AUX_WIDE * AUX_MID * 4);
    rd_vec g2 = grad_slice(net, net->aux_w2, (size_t)AUX_WIDE * AUX_MID * 4);
    RD_TRY(rd_conv2d_backward(ctx, &p2, &net->aux_c1, &w2, &net->g_aux_c2, &net->g_aux_c1, 0, &g2));
    RD_TRY(bn_bwd(net, &net->aux_bn1, &net->aux_tmp[0], AUX_MID, &net->aux_c1, &net->g_aux_c1));
    rd_vec w1 = rd_vec_slice(net->weights, net->aux_w1, (size_t)AUX_MID * net->c_aux);
    rd_vec g1 = grad_slice(net, net->aux_w1, (size_t)AUX_MID * net->c_aux);
    RD_TRY(rd_conv2d_backward(ctx, &p1, &net->aux_pool, &w1, &net->g_aux_c1, &net->g_aux_pool, 0, &g1));
    rd_pool_params pp = aux_pool_params();
    RD_TRY(rd_pool2d_backward(ctx, &pp, &net->aux_relu, &net->g_aux_pool, &net->g_aux_relu, 0));
    return rd_relu_backward(ctx, feat, &net->g_aux_relu, dfeat, 1);
}

rd_status rd_network_backward(rd_network *net) {
    rd_ctx *ctx = net->ctx;
    const rd_network_config *c = &net->cfg;
    if (!net->have_forward)
        return rd_fail(&ctx->err, RD_ERR_ARG, "network backward without a training-mode forward");
    rd_op_exec e = exec_for(net, 1, 1);
    int L = c->layers;
    rd_vec cw = rd_vec_slice(net->weights, net->cls_w, (size_t)c->classes * net->c_final);
    rd_vec gw = grad_slice(net, net->cls_w, (size_t)c->classes * net->c_final);
    rd_vec gb = grad_slice(net, net->cls_b, (size_t)c->classes);
    RD_TRY(rd_linear_backward(ctx, &net->pooled, &cw, &net->g_logits, &net->g_pooled, 0, &gw, &gb));
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
        /* d(out[i]) is complete here (cells i+1, i+2 are done): the head adds its share */
        if (net->aux_in_forward && i == net->aux_cell) RD_TRY(aux_backward(net, &net->cells[i].out, &dout));
        RD_TRY(cell_backward(net, i, &e, &dout, &ds0, &ds1));
    }
    return rd_stem_backward(ctx, &net->stem, &net->weights, &net->grads, &net->input, &net->g_stem, &net->g_ta);
}

rd_status rd_network_read_loss(rd_network *net, float *loss, float *aux_loss, int *correct) {
    float v[LOSS_FLOATS];
    RD_TRY(rd_vec_read(net->ctx, &net->loss, v));
    if (loss) *loss = v[LOSS_MAIN];
    if (aux_loss) *aux_loss = v[LOSS_AUX];
    if (correct) *correct = (int)lrintf(v[LOSS_CORRECT]);
    return RD_OK;
}

rd_status rd_network_read_logits(rd_network *net, float *out) { return rd_tensor_read(net->ctx, &net->logits, out); }

void rd_network_cost(const rd_network *net, double *params, double *flops) {
    const rd_network_config *c = &net->cfg;
    int stem_c = c->stem_multiplier * c->C;
    double p = 0, f = 0, stem_w = (double)stem_c * c->in_channels * 9;
    p += stem_w + 2.0 * stem_c;
    f += 2 * stem_w * c->in_h * c->in_w;
    for (int i = 0; i < c->layers; i++) {
        const net_cell *cell = &net->cells[i];
        for (int q = 0; q < 2; q++) rd_preprocess_cost(&cell->pre[q], cell->h, cell->w, &p, &f);
        for (int k = 0; k < 2 * cell->g->steps; k++) {
            const rd_op_inst *op = &cell->ops[k];
            int input = cell->g->edges[k].input;
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
