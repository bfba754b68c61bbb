/* The weight-sharing supernet (SEARCH.md section 1): structure, memory plan,
 * initialization, forward and backward.
 *
 * The structure (channels, resolutions, which ops live on which edge, where
 * each weight sits in the one weights vector) is fixed at creation. Memory for
 * activations and gradients is laid out by layout(), run in PLAN mode to size
 * arenas and in BIND mode to hand out tensors, for the active ops and batch. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/alphas.h"
#include "nn/candidate_ops.h"
#include "nn/nn_internal.h"

typedef struct rd_cell {
    int reduction, reduction_prev;
    int C, C_pp, C_p;
    int h_pp, w_pp;              /* resolution of s0 */
    int h, w;                    /* resolution of s1 and of the preprocessed states */
    int h_out, w_out;
    /* preprocess: [0] for s0 (FactorizedReduce when the previous cell reduced), [1] for s1 */
    size_t pre_w[2][2], pre_wlen[2][2];
    int pre_nw[2];
    size_t pre_bn[2];
    rd_bn_state pre_tmp[2];
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
    size_t n_weights, n_bn;
    size_t stem_w, stem_gamma, stem_beta, stem_bn, cls_w, cls_b;
    rd_named_tensor *names;
    int n_names, cap_names;
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
    rd_tensor stem_conv, stem_out, pooled, logits;
    rd_bn_state stem_tmp;
    rd_tensor g_out[3], g_stem, g_s0p, g_s1p, g_ta, g_tb, g_pooled, g_logits;
    rd_tensor g_nodes[RD_CELL_NODES];  /* nodes outside the output (multiplier < steps) */
    rd_memory_plan plan;
    int have_forward;
};

static const rd_bn_params BN = {1e-5f, 0.1f};

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
static int add_name(rd_supernet *net, rd_param_kind kind, size_t off, int ndim, const int *shape, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int add_name(rd_supernet *net, rd_param_kind kind, size_t off, int ndim, const int *shape, const char *fmt, ...) {
    if (net->n_names == net->cap_names) {
        int cap = net->cap_names ? 2 * net->cap_names : 256;
        rd_named_tensor *grown = realloc(net->names, (size_t)cap * sizeof *grown);
        if (!grown) return 0;
        net->names = grown;
        net->cap_names = cap;
    }
    rd_named_tensor *t = &net->names[net->n_names++];
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

static size_t add_weight(rd_supernet *net, const rd_param_desc *d, const char *prefix) {
    size_t off = net->n_weights, count = 1;
    for (int i = 0; i < d->ndim; i++) count *= (size_t)d->shape[i];
    net->n_weights += count;
    add_name(net, RD_PARAM_WEIGHT, off, d->ndim, d->shape, "%s%s", prefix, d->suffix);
    return off;
}

/* running mean then running var, C each */
static size_t add_bn(rd_supernet *net, int C, const char *prefix) {
    size_t off = net->n_bn;
    int shape[1] = {C};
    add_name(net, RD_PARAM_BN_STATE, off, 1, shape, "%srunning_mean", prefix);
    add_name(net, RD_PARAM_BN_STATE, off + (size_t)C, 1, shape, "%srunning_var", prefix);
    net->n_bn += 2 * (size_t)C;
    return off;
}

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
    rd_param_desc stem = {"weight", 4, {stem_c, c->in_channels, 3, 3}, c->in_channels * 9};
    net->stem_w = add_weight(net, &stem, "stem.0.");
    rd_param_desc gamma = {"weight", 1, {stem_c, 0, 0, 0}, 0}, beta = {"bias", 1, {stem_c, 0, 0, 0}, 0};
    net->stem_gamma = add_weight(net, &gamma, "stem.1.");
    net->stem_beta = add_weight(net, &beta, "stem.1.");
    net->stem_bn = add_bn(net, stem_c, "stem.1.");

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
        /* preprocess0 */
        if (red_prev) {
            rd_param_desc d1 = {"conv_1.weight", 4, {cc / 2, cpp, 1, 1}, cpp}, d2 = {"conv_2.weight", 4, {cc / 2, cpp, 1, 1}, cpp};
            snprintf(prefix, sizeof prefix, "cells.%d.preprocess0.", i);
            cell->pre_w[0][0] = add_weight(net, &d1, prefix);
            cell->pre_w[0][1] = add_weight(net, &d2, prefix);
            cell->pre_wlen[0][0] = cell->pre_wlen[0][1] = (size_t)(cc / 2) * cpp;
            cell->pre_nw[0] = 2;
            snprintf(prefix, sizeof prefix, "cells.%d.preprocess0.bn.", i);
            cell->pre_bn[0] = add_bn(net, cc, prefix);
        } else {
            rd_param_desc d = {"op.1.weight", 4, {cc, cpp, 1, 1}, cpp};
            snprintf(prefix, sizeof prefix, "cells.%d.preprocess0.", i);
            cell->pre_w[0][0] = add_weight(net, &d, prefix);
            cell->pre_wlen[0][0] = (size_t)cc * cpp;
            cell->pre_nw[0] = 1;
            snprintf(prefix, sizeof prefix, "cells.%d.preprocess0.op.2.", i);
            cell->pre_bn[0] = add_bn(net, cc, prefix);
        }
        rd_param_desc d = {"op.1.weight", 4, {cc, cp, 1, 1}, cp};
        snprintf(prefix, sizeof prefix, "cells.%d.preprocess1.", i);
        cell->pre_w[1][0] = add_weight(net, &d, prefix);
        cell->pre_wlen[1][0] = (size_t)cc * cp;
        cell->pre_nw[1] = 1;
        snprintf(prefix, sizeof prefix, "cells.%d.preprocess1.op.2.", i);
        cell->pre_bn[1] = add_bn(net, cc, prefix);
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
                    op->w_off[w] = add_weight(net, &pd[w], prefix);
                    op->w_len[w] = (size_t)pd[w].shape[0] * pd[w].shape[1] * pd[w].shape[2] * pd[w].shape[3];
                }
                const char *bn_names[RD_OP_MAX_BN];
                op->pool_bn = 1;
                op->n_bn = rd_op_bn_names(op->id, stride, op->pool_bn, bn_names);
                for (int b = 0; b < op->n_bn; b++) {
                    char bp[128];
                    snprintf(bp, sizeof bp, "%s%s.", prefix, bn_names[b]);
                    op->bn_off[b] = add_bn(net, cc, bp);
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
    net->cls_w = add_weight(net, &cw, "classifier.");
    net->cls_b = add_weight(net, &cb, "classifier.");
    size_t arch = (size_t)2 * RD_CELL_EDGES * net->K;
    int ashape[2] = {RD_CELL_EDGES, net->K};
    add_name(net, RD_PARAM_ALPHAS, 0, 2, ashape, "alphas_normal");
    add_name(net, RD_PARAM_ALPHAS, arch / 2, 2, ashape, "alphas_reduce");
    if (net->n_names == 0) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    return RD_OK;
}

/* ---- memory layout: the one function that both plans and binds ---- */
static void merge_need(rd_scratch_need *need, const rd_ops_scratch_need *s) {
    for (int i = 0; i < RD_SCRATCH_SLOTS; i++)
        if (s->bytes[i] > need->bytes[i]) need->bytes[i] = s->bytes[i];
}

static rd_tensor cell_input(const rd_supernet *net, int i, int which /* 0: s0, 1: s1 */) {
    int src = which ? i - 1 : i - 2;
    return src < 0 ? net->stem_out : net->cells[src].out;
}

static void layout(rd_supernet *net, int n, int bind) {
    rd_ctx *ctx = net->ctx;
    const rd_supernet_config *c = &net->cfg;
    rd_arena *A = &net->acts, *G = &net->grad_arena;
    rd_arena_begin(A, bind);
    rd_arena_begin(G, bind);
    memset(&net->scratch, 0, sizeof net->scratch);
    rd_ops_scratch_need s;

    int stem_c = c->stem_multiplier * c->C;
    rd_tensor in_shape = rd_tensor_make(NULL, 0, n, c->in_channels, c->in_h, c->in_w);
    net->stem_conv = rd_arena_tensor(A, n, stem_c, c->in_h, c->in_w);
    net->stem_out = rd_arena_tensor(A, n, stem_c, c->in_h, c->in_w);
    net->stem_tmp.save_mean = rd_arena_vec(A, (size_t)stem_c);
    net->stem_tmp.save_invstd = rd_arena_vec(A, (size_t)stem_c);
    rd_conv_params stem = rd_conv_dense_params(3, 3, 1, 1, 1, 1, 1, 0);
    rd_conv2d_scratch(ctx, &stem, &in_shape, &net->stem_conv, &s);
    merge_need(&net->scratch, &s);
    rd_batchnorm_scratch(ctx, &net->stem_conv, &s);
    merge_need(&net->scratch, &s);

    size_t max_out = (size_t)n * stem_c * c->in_h * c->in_w, max_state = 0, max_temp = 0;
    for (int i = 0; i < c->layers; i++) {
        rd_cell *cell = &net->cells[i];
        int C = cell->C;
        cell->s0p = rd_arena_tensor(A, n, C, cell->h, cell->w);
        cell->s1p = rd_arena_tensor(A, n, C, cell->h, cell->w);
        for (int p = 0; p < 2; p++) {
            cell->pre_tmp[p].save_mean = rd_arena_vec(A, (size_t)C);
            cell->pre_tmp[p].save_invstd = rd_arena_vec(A, (size_t)C);
        }
        cell->out = rd_arena_tensor(A, n, c->multiplier * C, cell->h_out, cell->w_out);
        for (int k = 0; k < c->steps; k++) {
            int in_out = k >= c->steps - c->multiplier;
            cell->nodes[k] = in_out ? rd_tensor_channels(cell->out, (k - (c->steps - c->multiplier)) * C, C)
                                    : rd_arena_tensor(A, n, C, cell->h_out, cell->w_out);
        }
        /* preprocess scratch */
        rd_tensor s0 = cell_input(net, i, 0), s1 = cell_input(net, i, 1);
        s0.n = s1.n = n;
        if (cell->reduction_prev) {
            rd_conv_params fr = rd_conv_dense_params(1, 1, 2, 2, 0, 0, 1, 1);
            rd_tensor half = rd_tensor_channels(cell->s0p, 0, C / 2);
            rd_conv2d_scratch(ctx, &fr, &s0, &half, &s);
            merge_need(&net->scratch, &s);
            fr.pad_top = fr.pad_left = -1;
            rd_conv2d_scratch(ctx, &fr, &s0, &half, &s);
            merge_need(&net->scratch, &s);
        } else {
            rd_conv_params pw = rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 1);
            rd_conv2d_scratch(ctx, &pw, &s0, &cell->s0p, &s);
            merge_need(&net->scratch, &s);
        }
        rd_conv_params pw = rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 1);
        rd_conv2d_scratch(ctx, &pw, &s1, &cell->s1p, &s);
        merge_need(&net->scratch, &s);
        rd_batchnorm_scratch(ctx, &cell->s1p, &s);
        merge_need(&net->scratch, &s);
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
    for (int r = 0; r < 3; r++) {
        rd_vec v = rd_arena_vec(G, max_out);
        net->g_out[r] = rd_tensor_make(v.mem, v.off, 1, 1, 1, (int)max_out);
    }
    net->g_stem = rd_arena_tensor(G, n, stem_c, c->in_h, c->in_w);
    rd_vec v0 = rd_arena_vec(G, max_state), v1 = rd_arena_vec(G, max_state);
    net->g_s0p = rd_tensor_make(v0.mem, v0.off, 1, 1, 1, (int)max_state);
    net->g_s1p = rd_tensor_make(v1.mem, v1.off, 1, 1, 1, (int)max_state);
    if (max_temp < max_state) max_temp = max_state; /* stem BN backward uses ta too */
    if (max_temp < (size_t)n * stem_c * c->in_h * c->in_w) max_temp = (size_t)n * stem_c * c->in_h * c->in_w;
    rd_vec ta = rd_arena_vec(G, max_temp), tb = rd_arena_vec(G, max_temp);
    net->g_ta = rd_tensor_make(ta.mem, ta.off, 1, 1, 1, (int)max_temp);
    net->g_tb = rd_tensor_make(tb.mem, tb.off, 1, 1, 1, (int)max_temp);
    for (int k = 0; k < c->steps - c->multiplier; k++) {
        rd_vec v = rd_arena_vec(G, max_out);
        net->g_nodes[k] = rd_tensor_make(v.mem, v.off, 1, 1, 1, (int)max_out);
    }
    net->g_pooled = rd_arena_tensor(G, n, net->c_final, 1, 1);
    net->g_logits = rd_arena_tensor(G, n, c->classes, 1, 1);
    /* classifier, and the weight step's gradient clip */
    rd_linear_scratch(ctx, &net->pooled, &net->logits, &s);
    merge_need(&net->scratch, &s);
    rd_clip_grad_norm_scratch(ctx, &s);
    merge_need(&net->scratch, &s);
    rd_reduce_scratch(ctx, &s);
    merge_need(&net->scratch, &s);
    net->cur_n = n;
}

static uint64_t arch_bytes(const rd_supernet *net) {
    size_t a = (size_t)2 * RD_CELL_EDGES * net->K;
    size_t partial = (size_t)net->cfg.layers * RD_CELL_EDGES * net->K * net->cmax;
    /* alphas, grads, mixed weights, mask, partials, loss; each its own buffer (rounded as rd_alloc does) */
    return (uint64_t)(4 * a + partial + 2) * sizeof(float);
}

static void fill_plan(rd_supernet *net) {
    rd_memory_plan *p = &net->plan;
    memset(p, 0, sizeof *p);
    p->n_weights = net->n_weights;
    p->weights = net->n_weights * sizeof(float);
    p->grads = p->weights;
    p->bn_state = net->n_bn * sizeof(float);
    p->arch = arch_bytes(net);
    p->activations = rd_arena_bytes(&net->acts);
    p->gradients = rd_arena_bytes(&net->grad_arena);
    for (int i = 0; i < RD_SCRATCH_SLOTS; i++) p->scratch += net->scratch.bytes[i];
    p->total = p->weights + p->grads + p->bn_state + p->arch + p->activations + p->gradients + p->scratch;
    uint64_t largest = p->weights > p->bn_state ? p->weights : p->bn_state;
    for (int i = 0; i < net->acts.n_chunks; i++)
        if (net->acts.used[i] * sizeof(float) > largest) largest = net->acts.used[i] * sizeof(float);
    for (int i = 0; i < net->grad_arena.n_chunks; i++)
        if (net->grad_arena.used[i] * sizeof(float) > largest) largest = net->grad_arena.used[i] * sizeof(float);
    p->largest_buffer = largest;
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
    size_t limit = rd_ctx_device(ctx)->max_alloc / sizeof(float);
    limit -= limit % RD_ALIGN_FLOATS;
    net->acts.chunk_limit = net->grad_arena.chunk_limit = limit;
    net->acts.name = "activations";
    net->grad_arena.name = "gradients";
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
    free(net->names);
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
typedef struct rng { uint64_t s; } rng;
static uint64_t rng_next(rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_uniform(rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
static double rng_normal(rng *r) {
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

static rd_status init_values(rd_supernet *net, uint64_t seed) {
    rd_ctx *ctx = net->ctx;
    float *w = calloc(net->n_weights ? net->n_weights : 1, sizeof *w);
    float *bn = calloc(net->n_bn ? net->n_bn : 1, sizeof *bn);
    size_t na = (size_t)2 * RD_CELL_EDGES * net->K;
    float *alphas = calloc(na, sizeof *alphas);
    if (!w || !bn || !alphas) {
        free(w); free(bn); free(alphas);
        return rd_fail(&ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    rng r = {seed};
    for (int i = 0; i < net->n_names; i++) {
        const rd_named_tensor *t = &net->names[i];
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
            for (size_t j = 0; j < t->count; j++) w[t->offset + j] = (float)((2 * rng_uniform(&r) - 1) * bound);
        } else if (t->kind == RD_PARAM_BN_STATE) {
            float v = strstr(t->name, "running_var") ? 1.0f : 0.0f;
            for (size_t j = 0; j < t->count; j++) bn[t->offset + j] = v;
        }
    }
    for (size_t i = 0; i < na; i++) alphas[i] = (float)(1e-3 * rng_normal(&r));
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
    /* an unused slot stays unallocated (a reservation of 0 bytes would still allocate) */
    for (int i = 0; i < RD_SCRATCH_SLOTS; i++)
        if (net->scratch.bytes[i]) RD_TRY(rd_scratch_reserve(net->ctx, i, net->scratch.bytes[i]));
    return RD_OK;
}

rd_status rd_supernet_create(rd_ctx *ctx, const rd_supernet_config *cfg, const rd_arch_mask *alive,
                             const rd_arch_mask *active, uint64_t seed, rd_supernet **out) {
    *out = NULL;
    rd_supernet *net = calloc(1, sizeof *net);
    if (!net) return rd_fail(&ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status s = net_init(net, ctx, cfg, alive, active, &ctx->err);
    size_t na = (size_t)2 * RD_CELL_EDGES * net->K;
    size_t np = (size_t)cfg->layers * RD_CELL_EDGES * net->K * net->cmax;
    if (s == RD_OK) s = alloc_vec(ctx, net->n_weights, "weights", &net->weights_buf, &net->weights);
    if (s == RD_OK) s = alloc_vec(ctx, net->n_weights, "weight gradients", &net->grads_buf, &net->grads);
    if (s == RD_OK) s = alloc_vec(ctx, net->n_bn, "batch-norm running statistics", &net->bn_buf, &net->bn_state);
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
    *count = net->n_names;
    return net->names;
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
    e.bn = BN;
    e.train = train;
    return e;
}

static rd_bn_state pre_bn_state(const rd_supernet *net, const rd_cell *cell, int p) {
    rd_bn_state s = cell->pre_tmp[p];
    s.gamma.mem = s.beta.mem = NULL;
    s.running_mean = rd_vec_slice(net->bn_state, cell->pre_bn[p], (size_t)cell->C);
    s.running_var = rd_vec_slice(net->bn_state, cell->pre_bn[p] + (size_t)cell->C, (size_t)cell->C);
    return s;
}

static rd_status bn_fwd(rd_ctx *ctx, int train, const rd_bn_state *s, const rd_tensor *x, const rd_tensor *y) {
    if (train) return rd_batchnorm_forward_train(ctx, &BN, s, x, y, NULL, NULL);
    return rd_batchnorm_forward_eval(ctx, &BN, s, x, y);
}

static rd_status preprocess_forward(rd_supernet *net, const rd_cell *cell, int p, const rd_tensor *x,
                                    const rd_tensor *y, int train) {
    rd_ctx *ctx = net->ctx;
    if (p == 0 && cell->reduction_prev) {
        for (int h = 0; h < 2; h++) {
            rd_conv_params fr = rd_conv_dense_params(1, 1, 2, 2, 0, 0, 1, 1);
            if (h) fr.pad_top = fr.pad_left = -1;
            rd_tensor half = rd_tensor_channels(*y, h * (cell->C / 2), cell->C / 2);
            rd_vec w = rd_vec_slice(net->weights, cell->pre_w[0][h], cell->pre_wlen[0][h]);
            RD_TRY(rd_conv2d_forward(ctx, &fr, x, &w, &half));
        }
    } else {
        rd_conv_params pw = rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 1);
        rd_vec w = rd_vec_slice(net->weights, cell->pre_w[p][0], cell->pre_wlen[p][0]);
        RD_TRY(rd_conv2d_forward(ctx, &pw, x, &w, y));
    }
    rd_bn_state s = pre_bn_state(net, cell, p);
    return bn_fwd(ctx, train, &s, y, y);
}

static rd_status cell_forward(rd_supernet *net, int i, const rd_op_exec *e) {
    rd_ctx *ctx = net->ctx;
    rd_cell *cell = &net->cells[i];
    rd_tensor s0 = cell_input(net, i, 0), s1 = cell_input(net, i, 1);
    RD_TRY(preprocess_forward(net, cell, 0, &s0, &cell->s0p, e->train));
    RD_TRY(preprocess_forward(net, cell, 1, &s1, &cell->s1p, e->train));
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
    int stem_c = c->stem_multiplier * c->C;
    rd_conv_params stem = rd_conv_dense_params(3, 3, 1, 1, 1, 1, 1, 0);
    rd_vec sw = rd_vec_slice(net->weights, net->stem_w, (size_t)stem_c * c->in_channels * 9);
    RD_TRY(rd_conv2d_forward(ctx, &stem, x, &sw, &net->stem_conv));
    rd_bn_state sb = net->stem_tmp;
    sb.gamma = rd_vec_slice(net->weights, net->stem_gamma, (size_t)stem_c);
    sb.beta = rd_vec_slice(net->weights, net->stem_beta, (size_t)stem_c);
    sb.running_mean = rd_vec_slice(net->bn_state, net->stem_bn, (size_t)stem_c);
    sb.running_var = rd_vec_slice(net->bn_state, net->stem_bn + (size_t)stem_c, (size_t)stem_c);
    RD_TRY(bn_fwd(ctx, train, &sb, &net->stem_conv, &net->stem_out));
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
static rd_tensor grad_view(const rd_tensor *buf, const rd_tensor *like) {
    return rd_tensor_make(buf->mem, buf->off, like->n, like->c, like->h, like->w);
}

static rd_status preprocess_backward(rd_supernet *net, const rd_cell *cell, int p, const rd_tensor *x,
                                     const rd_tensor *y, const rd_tensor *dy, const rd_tensor *dx, unsigned what) {
    rd_ctx *ctx = net->ctx;
    rd_bn_state s = pre_bn_state(net, cell, p);
    RD_TRY(rd_batchnorm_backward(ctx, &BN, &s, NULL, y, dy, NULL, dy, 0, NULL, NULL, NULL));
    rd_vec g, *gp = NULL;
    if (p == 0 && cell->reduction_prev) {
        for (int h = 0; h < 2; h++) {
            rd_conv_params fr = rd_conv_dense_params(1, 1, 2, 2, 0, 0, 1, 1);
            if (h) fr.pad_top = fr.pad_left = -1;
            rd_tensor half = rd_tensor_channels(*dy, h * (cell->C / 2), cell->C / 2);
            rd_vec w = rd_vec_slice(net->weights, cell->pre_w[0][h], cell->pre_wlen[0][h]);
            if (what & RD_GRAD_WEIGHTS) {
                g = rd_vec_slice(net->grads, cell->pre_w[0][h], cell->pre_wlen[0][h]);
                gp = &g;
            }
            RD_TRY(rd_conv2d_backward(ctx, &fr, x, &w, &half, dx, 1, gp));
        }
        return RD_OK;
    }
    rd_conv_params pw = rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 1);
    rd_vec w = rd_vec_slice(net->weights, cell->pre_w[p][0], cell->pre_wlen[p][0]);
    if (what & RD_GRAD_WEIGHTS) {
        g = rd_vec_slice(net->grads, cell->pre_w[p][0], cell->pre_wlen[p][0]);
        gp = &g;
    }
    return rd_conv2d_backward(ctx, &pw, x, &w, dy, dx, 1, gp);
}

static rd_status cell_backward(rd_supernet *net, int i, const rd_op_exec *e, const rd_tensor *dout,
                               const rd_tensor *ds0, const rd_tensor *ds1, unsigned what) {
    rd_ctx *ctx = net->ctx;
    rd_cell *cell = &net->cells[i];
    const rd_supernet_config *c = &net->cfg;
    rd_tensor dstate[2 + RD_CELL_NODES];
    dstate[0] = grad_view(&net->g_s0p, &cell->s0p);
    dstate[1] = grad_view(&net->g_s1p, &cell->s1p);
    RD_TRY(rd_fill(ctx, &dstate[0], 0.0f));
    RD_TRY(rd_fill(ctx, &dstate[1], 0.0f));
    for (int k = 0; k < c->steps; k++) {
        int first = c->steps - c->multiplier;
        if (k >= first) {
            dstate[2 + k] = rd_tensor_channels(*dout, (k - first) * cell->C, cell->C);
        } else {
            dstate[2 + k] = grad_view(&net->g_nodes[k], &cell->nodes[k]);
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
    RD_TRY(preprocess_backward(net, cell, 1, &s1, &cell->s1p, &dstate[1], ds1, what));
    return preprocess_backward(net, cell, 0, &s0, &cell->s0p, &dstate[0], ds0, what);
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
    rd_tensor dlast = grad_view(&net->g_out[(L - 1) % 3], &net->cells[L - 1].out);
    RD_TRY(rd_global_avgpool_backward(ctx, &net->g_pooled, &dlast, 0));
    RD_TRY(rd_fill(ctx, &net->g_stem, 0.0f));
    if (L >= 2) {
        rd_tensor d = grad_view(&net->g_out[(L - 2) % 3], &net->cells[L - 2].out);
        RD_TRY(rd_fill(ctx, &d, 0.0f));
    }
    for (int i = L - 1; i >= 0; i--) {
        rd_tensor dout = grad_view(&net->g_out[i % 3], &net->cells[i].out);
        rd_tensor ds1 = i >= 1 ? grad_view(&net->g_out[(i - 1) % 3], &net->cells[i - 1].out) : net->g_stem;
        rd_tensor ds0 = i >= 2 ? grad_view(&net->g_out[(i - 2) % 3], &net->cells[i - 2].out) : net->g_stem;
        if (i >= 2) RD_TRY(rd_fill(ctx, &ds0, 0.0f)); /* cell i is the first to add into d(out[i-2]) */
        RD_TRY(cell_backward(net, i, &e, &dout, &ds0, &ds1, what));
    }
    if (what & RD_GRAD_WEIGHTS) {
        int stem_c = c->stem_multiplier * c->C;
        rd_bn_state sb = net->stem_tmp;
        sb.gamma = rd_vec_slice(net->weights, net->stem_gamma, (size_t)stem_c);
        sb.beta = rd_vec_slice(net->weights, net->stem_beta, (size_t)stem_c);
        sb.running_mean.mem = sb.running_var.mem = NULL;
        rd_vec dgamma = rd_vec_slice(net->grads, net->stem_gamma, (size_t)stem_c);
        rd_vec dbeta = rd_vec_slice(net->grads, net->stem_beta, (size_t)stem_c);
        rd_tensor g = grad_view(&net->g_ta, &net->stem_conv);
        RD_TRY(rd_batchnorm_backward(ctx, &BN, &sb, &net->stem_conv, &net->stem_out, &net->g_stem, NULL, &g, 0,
                                     &dgamma, &dbeta, NULL));
        rd_conv_params stem = rd_conv_dense_params(3, 3, 1, 1, 1, 1, 1, 0);
        rd_vec sw = rd_vec_slice(net->weights, net->stem_w, (size_t)stem_c * c->in_channels * 9);
        rd_vec sg = rd_vec_slice(net->grads, net->stem_w, (size_t)stem_c * c->in_channels * 9);
        RD_TRY(rd_conv2d_backward(ctx, &stem, &net->input, &sw, &g, NULL, 0, &sg));
    }
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
        for (int q = 0; q < 2; q++)
            for (int w = 0; w < cell->pre_nw[q]; w++) {
                double n = (double)cell->pre_wlen[q][w];
                p += n;
                f += 2 * n * cell->h * cell->w;
            }
        for (int e = 0; e < RD_CELL_EDGES; e++)
            for (int o = 0; o < cell->n_ops[e]; o++) {
                const rd_op_inst *op = &cell->ops[e][o];
                if (!(net->active.edge[cell->reduction][e] & (1u << op->k))) continue;
                int node, input;
                rd_edge_endpoints(e, &node, &input);
                /* inputs 0, 1 are at the cell's input size, nodes at its output size */
                int hi = input < 2 ? cell->h : cell->h_out, wi = input < 2 ? cell->w : cell->w_out;
                int ho = op->stride == 2 ? cell->h_out : hi, wo = op->stride == 2 ? cell->w_out : wi;
                for (int w = 0; w < op->n_w; w++) {
                    double n = (double)op->w_len[w];
                    int first_of_71 = op->id == RD_OP_CONV_7X1_1X7 && w == 0;
                    p += n;
                    f += 2 * n * (first_of_71 ? hi : ho) * wo;
                }
            }
    }
    double cls = (double)c->classes * net->c_final;
    p += cls + c->classes;
    f += 2 * cls;
    *params = p;
    *flops = f;
}
