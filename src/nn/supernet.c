/* The weight-sharing supernet (SEARCH.md section 1): the cell stack
 * (cell_stack.c) whose edges hold every alive op of the set, mixed by the
 * softmax of the alphas over the active ops; the alphas, their gradients and
 * the op masks.
 *
 * Which ops are alive is fixed at creation; the active ones (a subset) can
 * change, and the stack then lays its memory out again for them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radars/genotype.h"
#include "nn/alphas.h"
#include "nn/candidate_ops.h"
#include "nn/cell_parts.h"
#include "nn/cell_stack.h"
#include "nn/nn_internal.h"

struct rd_supernet {
    rd_cell_stack st;            /* first: the stack's edges hold every alive op of the set */
    rd_supernet_config cfg;
    rd_arch_mask alive, active;
    int K;                       /* ops in the set */
    uint64_t reduce_bits;
    int cmax;                    /* largest cell C: stride of the alpha partials */
    rd_buffer *alphas_buf, *alpha_grads_buf, *mixw_buf, *mask_buf, *partials_buf, *edge_w_buf, *edge_partials_buf;
    rd_vec alphas, alpha_grads, mixw, mask, partials; /* alphas, alpha_grads: PC-DARTS' betas after the alphas */
    rd_vec edge_w, edge_partials;                     /* PC-DARTS: normalised betas, their partial gradients */
    rd_memory_plan plan;
};

rd_cell_stack *rd_supernet_cell_stack(rd_supernet *net) { return &net->st; }

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
    if (c->pc_k < 0 || c->pc_k > 16 || (c->pc_k > 1 && c->C % c->pc_k))
        return rd_fail(err, RD_ERR_ARG, "PC-DARTS' K = %d: must be in [0, 16] and divide C = %d", c->pc_k, c->C);
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
static rd_status check_masks(rd_supernet *net, const rd_arch_mask *alive, rd_err *err) {
    net->K = net->cfg.ops.count;
    if (alive) net->alive = *alive;
    else rd_arch_mask_all(&net->alive, &net->cfg.ops);
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
    return RD_OK;
}

/* A mixed op: every alive op of the set on edge e, named cells.i._ops.e._ops.k. */
static int edge_ops(void *owner, rd_cell_stack *st, int i, int e, int stride, rd_op_inst *ops) {
    rd_supernet *net = owner;
    const rd_stack_cell *cell = &st->cells[i];
    int red = cell->reduction, n = 0;
    for (int k = 0; k < net->K; k++) {
        if (!(net->alive.edge[red][e] & (1u << k))) continue;
        rd_op_inst *op = &ops[n++];
        memset(op, 0, sizeof *op);
        op->id = net->cfg.ops.ops[k];
        op->index = k;
        op->stride = stride;
        op->C = net->cfg.pc_k > 1 ? cell->C / net->cfg.pc_k : cell->C; /* PC-DARTS: 1/K of the channels */
        op->pool_bn = 1;
        op->mix_slot = ((size_t)red * RD_CELL_EDGES + e) * net->K + k;
        char prefix[96];
        snprintf(prefix, sizeof prefix, "cells.%d._ops.%d._ops.%d.", i, e, k);
        rd_stack_add_op(st, op, prefix, NULL);
    }
    return n;
}

static rd_status build_structure(rd_supernet *net, rd_ctx *ctx, const rd_arch_mask *alive, rd_err *err) {
    const rd_supernet_config *c = &net->cfg;
    RD_TRY(check_masks(net, alive, err));
    rd_stack_config sc;
    memset(&sc, 0, sizeof sc);
    sc.what = "supernet";
    sc.C = c->C;
    sc.layers = c->layers;
    sc.stem_multiplier = c->stem_multiplier;
    sc.in_channels = c->in_channels;
    sc.in_h = c->in_h;
    sc.in_w = c->in_w;
    sc.classes = c->classes;
    sc.batch = c->batch;
    sc.pc_k = c->pc_k;
    for (int t = 0; t < 2; t++) rd_topology_supernet(&sc.topo[t], c->steps, c->multiplier);
    net->st.active = &net->active;
    RD_TRY(rd_stack_build(&net->st, ctx, &sc, edge_ops, NULL, net, err));
    /* alpha partial sums: C floats per op of every edge of every cell, at the largest C's stride */
    net->cmax = 0;
    for (int i = 0; i < c->layers; i++) {
        if (net->st.cells[i].C > net->cmax) net->cmax = net->st.cells[i].C;
        if (net->st.cells[i].reduction) net->reduce_bits |= 1ull << i;
    }
    for (int i = 0; i < c->layers; i++) {
        rd_stack_cell *cell = &net->st.cells[i];
        for (int e = 0; e < RD_CELL_EDGES; e++)
            for (int o = cell->edge_first[e]; o < cell->edge_first[e + 1]; o++)
                cell->ops[o].partial_off = (((size_t)i * RD_CELL_EDGES + e) * net->K + cell->ops[o].index) *
                                           (size_t)net->cmax;
    }
    size_t arch = (size_t)2 * RD_CELL_EDGES * net->K;
    int ashape[2] = {RD_CELL_EDGES, net->K};
    if (!rd_params_add_name(&net->st.params, RD_PARAM_ALPHAS, 0, 2, ashape, RD_INIT_ZERO, "alphas_normal") ||
        !rd_params_add_name(&net->st.params, RD_PARAM_ALPHAS, arch / 2, 2, ashape, RD_INIT_ZERO, "alphas_reduce"))
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    int bshape[1] = {RD_CELL_EDGES}; /* PC-DARTS' names */
    if (c->pc_k > 1 &&
        (!rd_params_add_name(&net->st.params, RD_PARAM_ALPHAS, arch, 1, bshape, RD_INIT_ZERO, "betas_normal") ||
         !rd_params_add_name(&net->st.params, RD_PARAM_ALPHAS, arch + RD_CELL_EDGES, 1, bshape, RD_INIT_ZERO,
                             "betas_reduce")))
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    return RD_OK;
}

static int is_pc(const rd_supernet *net) { return net->cfg.pc_k > 1; }
/* Floats of the alphas, and of the architecture vector (alphas, then PC-DARTS' betas). */
static size_t n_alphas(const rd_supernet *net) { return (size_t)2 * RD_CELL_EDGES * net->K; }
static size_t n_arch(const rd_supernet *net) { return n_alphas(net) + (is_pc(net) ? 2 * RD_CELL_EDGES : 0); }
static size_t n_edge_partials(const rd_supernet *net) { return (size_t)net->cfg.layers * RD_CELL_EDGES; }

static uint64_t arch_bytes(const rd_supernet *net) {
    size_t a = n_alphas(net);
    size_t partial = (size_t)net->cfg.layers * RD_CELL_EDGES * net->K * net->cmax;
    /* arch vector and its gradient, mixed weights, mask, partials; each its own buffer
     * (PC-DARTS: and the normalised betas, their partials) */
    size_t pc = is_pc(net) ? 2 * RD_CELL_EDGES + n_edge_partials(net) : 0;
    return (uint64_t)(2 * n_arch(net) + 2 * a + partial + pc) * sizeof(float);
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
    net->cfg = *cfg;
    RD_TRY(rd_supernet_config_check(cfg, err));
    RD_TRY(build_structure(net, ctx, alive, err));
    if (active) {
        RD_TRY(check_active(net, active, err));
        net->active = *active;
        rd_stack_layout(&net->st, cfg->batch, 0);
    }
    rd_stack_memory_plan(&net->st, arch_bytes(net), &net->plan);
    net->plan.n_arch = n_arch(net);
    return RD_OK;
}

static void net_release(rd_supernet *net, int allocated) {
    if (allocated) {
        rd_buffer *bufs[] = {net->alphas_buf, net->alpha_grads_buf, net->mixw_buf,         net->mask_buf,
                             net->partials_buf, net->edge_w_buf,      net->edge_partials_buf};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) rd_free(net->st.ctx, bufs[i]);
    } else {
        net->st.ctx = NULL; /* nothing allocated */
    }
    rd_stack_release(&net->st);
}

rd_status rd_supernet_plan(rd_ctx *ctx, const rd_supernet_config *cfg, const rd_arch_mask *alive,
                           const rd_arch_mask *active, rd_memory_plan *plan) {
    rd_supernet *net = calloc(1, sizeof *net);
    if (!net) return rd_fail(rd_ctx_err(ctx), RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status s = net_init(net, ctx, cfg, alive, active, rd_ctx_err(ctx));
    if (s == RD_OK) *plan = net->plan;
    net_release(net, 0);
    free(net);
    return s;
}

/* ---- initialization (PyTorch defaults, deterministic per seed; the alphas draw last) ---- */
static rd_status init_values(rd_supernet *net, uint64_t seed) {
    rd_init_rng r = {seed};
    RD_TRY(rd_stack_init_values(&net->st, &r));
    size_t na = n_arch(net); /* PC-DARTS: the betas draw after the alphas, 1e-3 N(0, 1) as they do */
    float *alphas = calloc(na, sizeof *alphas);
    if (!alphas) return rd_fail(&net->st.ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < na; i++) alphas[i] = (float)(1e-3 * rd_init_rng_normal(&r));
    rd_status s = rd_vec_write(net->st.ctx, &net->alphas, alphas);
    free(alphas);
    if (s == RD_OK && net->mask.mem) s = rd_supernet_update_weights_softmax(net);
    return s;
}

static rd_status upload_mask(rd_supernet *net) {
    size_t na = (size_t)2 * RD_CELL_EDGES * net->K;
    float *m = calloc(na, sizeof *m);
    if (!m) return rd_fail(&net->st.ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++)
            for (int k = 0; k < net->K; k++)
                m[((size_t)t * RD_CELL_EDGES + e) * net->K + k] = (net->active.edge[t][e] >> k) & 1 ? 1.0f : 0.0f;
    rd_status s = rd_vec_write(net->st.ctx, &net->mask, m);
    free(m);
    if (s == RD_OK) s = rd_supernet_update_weights_softmax(net);
    return s;
}

static rd_status alloc_arch(rd_supernet *net) {
    rd_ctx *ctx = net->st.ctx;
    size_t na = n_alphas(net), narch = n_arch(net), pc = is_pc(net);
    size_t np = (size_t)net->cfg.layers * RD_CELL_EDGES * net->K * net->cmax;
    struct { size_t len; const char *what; rd_buffer **buf; rd_vec *v; } vecs[] = {
        {narch, "alphas", &net->alphas_buf, &net->alphas},
        {narch, "alpha gradients", &net->alpha_grads_buf, &net->alpha_grads},
        {na, "mixed-op weights", &net->mixw_buf, &net->mixw},
        {na, "op mask", &net->mask_buf, &net->mask},
        {np, "alpha partial sums", &net->partials_buf, &net->partials},
        {pc ? 2 * RD_CELL_EDGES : 0, "edge weights", &net->edge_w_buf, &net->edge_w},
        {pc ? n_edge_partials(net) : 0, "edge-weight partial sums", &net->edge_partials_buf, &net->edge_partials},
    };
    for (size_t i = 0; i < sizeof vecs / sizeof *vecs; i++) {
        if (!vecs[i].len) continue;
        RD_TRY(rd_alloc(ctx, vecs[i].len * sizeof(float), vecs[i].what, vecs[i].buf));
        *vecs[i].v = rd_vec_make(rd_buffer_mem(*vecs[i].buf), 0, vecs[i].len);
    }
    return RD_OK;
}

rd_status rd_supernet_create(rd_ctx *ctx, const rd_supernet_config *cfg, const rd_arch_mask *alive,
                             const rd_arch_mask *active, uint64_t seed, rd_supernet **out) {
    *out = NULL;
    rd_supernet *net = calloc(1, sizeof *net);
    if (!net) return rd_fail(&ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status s = net_init(net, ctx, cfg, alive, active, &ctx->err);
    if (s == RD_OK) s = alloc_arch(net);
    if (s == RD_OK) s = rd_stack_allocate(&net->st);
    if (s == RD_OK) s = init_values(net, seed);
    if (s == RD_OK) s = upload_mask(net);
    if (s != RD_OK) {
        net_release(net, 1);
        free(net);
        return s;
    }
    *out = net;
    return RD_OK;
}

void rd_supernet_free(rd_supernet *net) {
    if (!net) return;
    net_release(net, 1);
    free(net);
}

const rd_supernet_config *rd_supernet_get_config(const rd_supernet *net) { return &net->cfg; }
const rd_arch_mask *rd_supernet_alive(const rd_supernet *net) { return &net->alive; }
rd_ctx *rd_supernet_context(const rd_supernet *net) { return net->st.ctx; }
const rd_arch_mask *rd_supernet_active(const rd_supernet *net) { return &net->active; }
const rd_memory_plan *rd_supernet_memory(const rd_supernet *net) { return &net->plan; }
rd_vec rd_supernet_weights(const rd_supernet *net) { return net->st.weights; }
rd_vec rd_supernet_weight_grads(const rd_supernet *net) { return net->st.grads; }
rd_vec rd_supernet_bn_state(const rd_supernet *net) { return net->st.bn_state; }
rd_vec rd_supernet_alphas(const rd_supernet *net) { return net->alphas; }
rd_vec rd_supernet_alpha_grads(const rd_supernet *net) { return net->alpha_grads; }
const rd_named_tensor *rd_supernet_named_tensors(const rd_supernet *net, int *count) {
    *count = net->st.params.n;
    return net->st.params.names;
}

rd_status rd_supernet_zero_grads(rd_supernet *net) { return rd_vec_fill(net->st.ctx, &net->st.grads, 0.0f); }

static rd_vec alphas_only(const rd_supernet *net) { return rd_vec_slice(net->alphas, 0, n_alphas(net)); }
static rd_vec betas(const rd_vec *arch, const rd_supernet *net) {
    return rd_vec_slice(*arch, n_alphas(net), 2 * RD_CELL_EDGES);
}

rd_status rd_supernet_update_weights_softmax(rd_supernet *net) {
    rd_vec a = alphas_only(net);
    RD_TRY(rd_alphas_softmax(net->st.ctx, &a, &net->mask, &net->mixw, net->K));
    if (!is_pc(net)) return RD_OK;
    rd_vec b = betas(&net->alphas, net);
    return rd_edge_softmax(net->st.ctx, &b, &net->edge_w);
}

rd_status rd_supernet_read_alphas(rd_supernet *net, float *alphas, float *softmax) {
    rd_vec a = alphas_only(net);
    if (alphas) RD_TRY(rd_vec_read(net->st.ctx, &a, alphas));
    if (softmax) RD_TRY(rd_vec_read(net->st.ctx, &net->mixw, softmax));
    return RD_OK;
}

rd_status rd_supernet_write_alphas(rd_supernet *net, const float *alphas) {
    rd_vec a = alphas_only(net);
    RD_TRY(rd_vec_write(net->st.ctx, &a, alphas));
    if (!net->mask.mem) return RD_OK;
    return rd_supernet_update_weights_softmax(net);
}

rd_status rd_supernet_derive_weights(rd_supernet *net, float *weights) {
    RD_TRY(rd_vec_read(net->st.ctx, &net->mixw, weights));
    if (!is_pc(net)) return RD_OK;
    /* the betas scaled as rd_checkpoint_genotype scales them: one rule for the run and its checkpoint */
    float b[2 * RD_CELL_EDGES];
    rd_vec bv = betas(&net->alphas, net);
    RD_TRY(rd_vec_read(net->st.ctx, &bv, b));
    rd_genotype_beta_scale(b, &net->cfg.ops, weights);
    return RD_OK;
}

rd_status rd_supernet_set_active(rd_supernet *net, const rd_arch_mask *active) {
    rd_arch_mask a = active ? *active : net->alive;
    RD_TRY(check_active(net, &a, &net->st.ctx->err));
    net->active = a;
    net->st.have_forward = 0;
    int n = net->st.cur_n;
    rd_stack_layout(&net->st, n, 0);
    RD_TRY(rd_stack_bind_batch(&net->st, n));
    return upload_mask(net);
}

/* ---- forward and backward: the stack's, with the mixed-op weights and alpha partials ---- */
static rd_op_exec exec_for(const rd_supernet *net, int train, unsigned grads) {
    rd_op_exec e = rd_stack_exec(&net->st, train, grads & RD_GRAD_WEIGHTS);
    e.mix_weights = net->mixw;
    e.edge_weights = net->edge_w;
    if (grads & RD_GRAD_ALPHAS) {
        e.alpha_partials = net->partials;
        e.edge_partials = net->edge_partials;
    }
    return e;
}

rd_status rd_supernet_forward(rd_supernet *net, const rd_tensor *x, cl_mem labels, int train) {
    rd_op_exec e = exec_for(net, train, 0);
    return rd_stack_forward(&net->st, &e, x, labels);
}

rd_status rd_supernet_backward(rd_supernet *net, unsigned what) {
    rd_ctx *ctx = net->st.ctx;
    rd_op_exec e = exec_for(net, 1, what);
    if ((what & RD_GRAD_ALPHAS) && net->st.have_forward) RD_TRY(rd_vec_fill(ctx, &net->partials, 0.0f));
    rd_status s = rd_stack_backward(&net->st, &e);
    /* the BN stacks and 1x1 groups write gradients where the forward's activations were:
     * a second backward needs a new forward (refused, not silently wrong) */
    net->st.have_forward = 0;
    RD_TRY(s);
    if (what & RD_GRAD_ALPHAS) {
        rd_vec ga = rd_vec_slice(net->alpha_grads, 0, n_alphas(net));
        RD_TRY(rd_alphas_grad(ctx, &net->partials, &net->mixw, &net->mask, &ga, net->K, net->cmax, net->cfg.layers,
                              net->reduce_bits));
        if (is_pc(net)) {
            rd_vec gb = betas(&net->alpha_grads, net);
            RD_TRY(rd_edge_softmax_grad(ctx, &net->edge_partials, &net->edge_w, &gb, net->cfg.layers,
                                        net->reduce_bits));
        }
    }
    return RD_OK;
}

rd_status rd_supernet_read_loss(rd_supernet *net, float *loss, int *correct) {
    return rd_stack_read_loss(&net->st, loss, NULL, correct);
}

rd_status rd_supernet_read_logits(rd_supernet *net, float *out) {
    return rd_tensor_read(net->st.ctx, &net->st.logits, out);
}

void rd_supernet_active_cost(const rd_supernet *net, double *params, double *flops) {
    rd_stack_cost(&net->st, params, flops);
}

rd_status rd_supernet_read_gate_grads(rd_supernet *net, float *out) {
    size_t np = net->partials.len, na = n_alphas(net);
    float *p = malloc(np * sizeof *p);
    if (!p) return rd_fail(&net->st.ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status s = rd_vec_read(net->st.ctx, &net->partials, p);
    if (s == RD_OK) {
        memset(out, 0, na * sizeof *out);
        for (int i = 0; i < net->cfg.layers; i++) {
            int t = net->st.cells[i].reduction;
            for (int e = 0; e < RD_CELL_EDGES; e++)
                for (int k = 0; k < net->K; k++) {
                    const float *q = p + (((size_t)i * RD_CELL_EDGES + e) * net->K + k) * net->cmax;
                    double sum = 0;
                    for (int c = 0; c < net->cmax; c++) sum += q[c];
                    out[((size_t)t * RD_CELL_EDGES + e) * net->K + k] += (float)sum;
                }
        }
    }
    free(p);
    return s;
}
