/* The cell stack under the supernet and the evaluation network (cell_stack.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/cell_stack.h"

/* ---- topologies ---- */
void rd_topology_supernet(rd_cell_topology *t, int steps, int multiplier) {
    memset(t, 0, sizeof *t);
    t->steps = steps;
    t->n_edges = RD_CELL_EDGES;
    for (int e = 0; e < RD_CELL_EDGES; e++) rd_edge_endpoints(e, &t->edge_node[e], &t->edge_input[e]);
    t->n_concat = multiplier;
    for (int q = 0; q < multiplier; q++) t->concat[q] = steps - multiplier + q;
}

void rd_topology_genotype(rd_cell_topology *t, const rd_geno_cell *g) {
    memset(t, 0, sizeof *t);
    t->steps = g->steps;
    t->n_edges = 2 * g->steps;
    for (int k = 0; k < t->n_edges; k++) {
        t->edge_node[k] = k / 2;
        t->edge_input[k] = g->edges[k].input;
    }
    t->n_concat = g->n_concat;
    for (int q = 0; q < g->n_concat; q++) t->concat[q] = g->concat[q] - 2;
}

/* ---- structure ---- */
static int is_reduction(int layers, int i) { return i == layers / 3 || i == 2 * layers / 3; }

void rd_stack_add_op(rd_cell_stack *st, rd_op_inst *op, const char *prefix,
                     const char *(*rename)(rd_op_id, const char *)) {
    rd_param_desc pd[RD_OP_MAX_WEIGHTS];
    op->n_w = rd_op_params(op->id, op->C, op->stride, pd);
    for (int w = 0; w < op->n_w; w++) {
        if (rename) pd[w].suffix = rename(op->id, pd[w].suffix);
        op->w_off[w] = rd_params_add_weight(&st->params, &pd[w], prefix);
        op->w_len[w] = (size_t)pd[w].shape[0] * pd[w].shape[1] * pd[w].shape[2] * pd[w].shape[3];
    }
    const char *bn_names[RD_OP_MAX_BN];
    op->n_bn = rd_op_bn_names(op->id, op->stride, op->pool_bn, bn_names);
    for (int b = 0; b < op->n_bn; b++) {
        char bp[160];
        snprintf(bp, sizeof bp, "%s%s.", prefix, rename ? rename(op->id, bn_names[b]) : bn_names[b]);
        rd_bn_place place = rd_params_add_bn(&st->params, op->C, op->affine, bp);
        op->gamma_off[b] = place.gamma;
        op->beta_off[b] = place.beta;
        op->bn_off[b] = place.stats;
    }
}

rd_status rd_stack_build(rd_cell_stack *st, rd_ctx *ctx, const rd_stack_config *cfg, rd_stack_edge_ops edge_ops,
                         void (*add_head)(void *owner, rd_cell_stack *st), void *owner, rd_err *err) {
    st->ctx = ctx;
    st->cfg = *cfg;
    const rd_stack_config *c = &st->cfg;
    st->cells = calloc((size_t)c->layers, sizeof *st->cells);
    if (!st->cells) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    int stem_c = c->stem_multiplier * c->C;
    rd_stem_add(&st->params, &st->stem, stem_c, c->in_channels);

    int cpp = stem_c, cp = stem_c, cc = c->C, red_prev = 0;
    int h_p = c->in_h, w_p = c->in_w;
    for (int i = 0; i < c->layers; i++) {
        rd_stack_cell *cell = &st->cells[i];
        int red = is_reduction(c->layers, i);
        if (red) cc *= 2;
        const rd_cell_topology *t = cell->topo = &c->topo[red];
        cell->reduction = red;
        cell->reduction_prev = red_prev;
        cell->C = cc;
        cell->C_pp = cpp;
        cell->C_p = cp;
        cell->h = h_p;
        cell->w = w_p;
        cell->h_out = red ? h_p / 2 : h_p;
        cell->w_out = red ? w_p / 2 : w_p;
        rd_preprocess_add(&st->params, &cell->pre[0], i, 0, red_prev, cc, cpp, c->affine);
        rd_preprocess_add(&st->params, &cell->pre[1], i, 1, 0, cc, cp, c->affine);
        for (int k = 0; k < t->steps; k++) cell->concat_pos[k] = -1;
        for (int q = 0; q < t->n_concat; q++) cell->concat_pos[t->concat[q]] = q;
        for (int k = 0, gn = 0; k < t->steps; k++) cell->gnode[k] = cell->concat_pos[k] < 0 ? gn++ : -1;
        int n_ops = 0;
        for (int e = 0; e < t->n_edges; e++) {
            cell->edge_first[e] = n_ops;
            int stride = (red && t->edge_input[e] < 2) ? 2 : 1;
            n_ops += edge_ops(owner, st, i, e, stride, &cell->ops[n_ops]);
        }
        cell->edge_first[t->n_edges] = n_ops;
        red_prev = red;
        cpp = cp;
        cp = t->n_concat * cc;
        h_p = cell->h_out;
        w_p = cell->w_out;
    }
    st->c_final = cp;
    if (add_head) add_head(owner, st);
    rd_param_desc cw = {"weight", 2, {c->classes, cp, 0, 0}, cp}, cb = {"bias", 1, {c->classes, 0, 0, 0}, cp};
    st->cls_w = rd_params_add_weight(&st->params, &cw, "classifier.");
    st->cls_b = rd_params_add_weight(&st->params, &cb, "classifier.");
    size_t n_ops = 0;
    for (int i = 0; i < c->layers; i++) n_ops += (size_t)st->cells[i].edge_first[st->cells[i].topo->n_edges];
    /* per op: 3 uints as a BN stack's slice, and up to 4 rows of 5 in its edge's 1x1 groups */
    st->edge_tab = calloc(23 * n_ops + 1, sizeof *st->edge_tab);
    if (st->params.n == 0 || !st->params.init || !st->edge_tab)
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");

    rd_arenas_setup(ctx, &st->acts, &st->grad_arena);
    rd_stack_layout(st, c->batch, 0);
    if (st->acts.failed || st->grad_arena.failed)
        return rd_fail(err, RD_ERR_TOO_LARGE, "%s: one activation tensor exceeds the device's largest allocation",
                       c->what);
    return RD_OK;
}

/* ---- memory layout: the one function that both plans and binds ---- */
static rd_tensor cell_input(const rd_cell_stack *st, int i, int which /* 0: s0, 1: s1 */) {
    int src = which ? i - 1 : i - 2;
    return src < 0 ? st->stem.out : st->cells[src].out;
}

static const rd_tensor *cell_state(const rd_stack_cell *cell, int s) {
    return s == 0 ? &cell->s0p : s == 1 ? &cell->s1p : &cell->nodes[s - 2];
}

static int edge_stride(const rd_stack_cell *cell, int e) {
    return cell->reduction && cell->topo->edge_input[e] < 2 ? 2 : 1;
}

/* What edge e's ops read: its input state, or with PC-DARTS its first C/pc_k channels. */
static rd_tensor edge_ops_input(const rd_cell_stack *st, const rd_stack_cell *cell, int e) {
    rd_tensor x = *cell_state(cell, cell->topo->edge_input[e]);
    return st->cfg.pc_k > 1 ? rd_tensor_channels(x, 0, x.c / st->cfg.pc_k) : x;
}

/* Edge e's 1x1 groups (rd_edge_pw), where its final BNs are stacked: rows for each sep and dil
 * conv, reserved in the edge table whether or not the groups end up used (so the plan and the
 * binding agree); used when every tensor of them lies in one allocation and fits uint offsets. */
static void plan_pw_groups(rd_cell_stack *st, rd_stack_cell *cell, int e, int n, size_t *n_tab) {
    rd_edge_pw *pw = &cell->pw[e];
    memset(pw, 0, sizeof *pw);
    if (!cell->bn_stack[e].slices) return;
    const rd_op_inst *ops[RD_STACK_MAX_CELL_OPS];
    int n_ops = 0, n_sep = 0;
    for (int o = cell->edge_first[e]; o < cell->edge_first[e + 1]; o++) {
        const rd_op_inst *op = &cell->ops[o];
        if (op->stack_slot < 0 || !rd_op_pw_groupable(op)) continue;
        ops[n_ops++] = op;
        n_sep += rd_op_get_info(op->id)->kind == RD_KIND_SEP;
    }
    if (!n_ops) return;
    /* the four groups' rows, one after the other: fwd[0], fwd[1], bwd[0], bwd[1] */
    uint32_t *f0 = st->edge_tab + *n_tab, *f1 = f0 + 5 * n_ops, *b0 = f1 + 5 * n_sep, *b1 = b0 + 5 * n_ops;
    *n_tab += 10 * (size_t)(n_ops + n_sep);
    const rd_tensor *a1 = &ops[0]->act[1];
    int ok = 1, s = 0;
    for (int i = 0; i < n_ops; i++) {
        const int sep = rd_op_get_info(ops[i]->id)->kind == RD_KIND_SEP;
        ok &= rd_op_pw_rows(ops[i], f0 + 5 * i, sep ? f1 + 5 * s : NULL, b0 + 5 * i, sep ? b1 + 5 * s : NULL);
        for (int k = 0; k < ops[i]->n_act; k++) ok &= ops[i]->act[k].mem == ops[0]->act[0].mem;
        s += sep;
    }
    rd_pw_group *gs[4] = {&pw->fwd[0], &pw->fwd[1], &pw->bwd[0], &pw->bwd[1]};
    const uint32_t *rows[4] = {f0, f1, b0, b1};
    const int slices[4] = {n_ops, n_sep, n_ops, n_sep};
    for (int k = 0; k < 4; k++) gs[k]->host = rows[k];
    if (!ok) return;
    for (int k = 0; k < 4; k++) {
        gs[k]->buf = ops[0]->act[0].mem;
        gs[k]->slices = slices[k];
        gs[k]->n = n;
        gs[k]->c = a1->c;
        gs[k]->h = a1->h;
        gs[k]->w = a1->w;
    }
}

void rd_stack_layout(rd_cell_stack *st, int n, int bind) {
    rd_ctx *ctx = st->ctx;
    const rd_stack_config *c = &st->cfg;
    rd_arena *A = &st->acts, *G = &st->grad_arena;
    rd_arena_begin(A, bind);
    rd_arena_begin(G, bind);
    memset(&st->scratch, 0, sizeof st->scratch);

    int stem_c = c->stem_multiplier * c->C;
    rd_stem_plan(ctx, &st->stem, A, n, c->in_h, c->in_w, &st->scratch);

    size_t max_out = (size_t)n * stem_c * c->in_h * c->in_w, max_state = 0, max_temp = 0, max_pc = 0, max_ws = 0,
           n_tab = 0;
    int max_gnodes = 0;
    for (int i = 0; i < c->layers; i++) {
        rd_stack_cell *cell = &st->cells[i];
        const rd_cell_topology *t = cell->topo;
        int C = cell->C;
        cell->s0p = rd_arena_tensor(A, n, C, cell->h, cell->w);
        cell->s1p = rd_arena_tensor(A, n, C, cell->h, cell->w);
        for (int p = 0; p < 2; p++) cell->pre[p].tmp = rd_bn_tmp_plan(A, C);
        cell->out = rd_arena_tensor(A, n, t->n_concat * C, cell->h_out, cell->w_out);
        int gnodes = 0;
        for (int k = 0; k < t->steps; k++) {
            if (cell->concat_pos[k] >= 0) {
                cell->nodes[k] = rd_tensor_channels(cell->out, cell->concat_pos[k] * C, C);
            } else {
                cell->nodes[k] = rd_arena_tensor(A, n, C, cell->h_out, cell->w_out);
                gnodes++;
            }
        }
        if (gnodes > max_gnodes) max_gnodes = gnodes;
        rd_tensor s0 = cell_input(st, i, 0), s1 = cell_input(st, i, 1);
        s0.n = s1.n = n;
        rd_preprocess_scratch(ctx, &cell->pre[0], &s0, &cell->s0p, &st->scratch);
        rd_preprocess_scratch(ctx, &cell->pre[1], &s1, &cell->s1p, &st->scratch);
        for (int e = 0; e < t->n_edges; e++) {
            rd_tensor x = edge_ops_input(st, cell, e);
            int stride = edge_stride(cell, e), ho = stride == 2 ? cell->h_out : x.h, wo = stride == 2 ? cell->w_out : x.w;
            /* two or more active ops ending with a BN: one stack (one reduction launch, not one each),
             * unless it would not fit one allocation where the ops' outputs apart do */
            rd_bn_stack *bs = &cell->bn_stack[e];
            bs->slices = 0;
            for (int o = cell->edge_first[e]; o < cell->edge_first[e + 1]; o++) {
                rd_op_inst *op = &cell->ops[o];
                op->bn_stack = NULL;
                op->stack_slot = -1;
                if (rd_stack_op_active(st, cell, e, op) && rd_op_stackable(op)) op->stack_slot = bs->slices++;
            }
            if (bs->slices >= 2 && (size_t)n * bs->slices * x.c * ho * wo <= A->chunk_limit) {
                bs->t = rd_arena_tensor(A, n, bs->slices * x.c, ho, wo);
                bs->tmp = rd_bn_tmp_plan(A, bs->slices * x.c);
                bs->tab.host = st->edge_tab + n_tab; /* .dev: a slice of edge_tab_dev, below */
                size_t f = rd_batchnorm_stack_floats(ctx, &bs->t);
                if (f > max_ws) max_ws = f;
                for (int o = cell->edge_first[e]; o < cell->edge_first[e + 1]; o++) {
                    rd_op_inst *op = &cell->ops[o];
                    if (op->stack_slot < 0) continue;
                    op->bn_stack = bs;
                    uint32_t *row = st->edge_tab + n_tab + 3 * op->stack_slot;
                    row[0] = (uint32_t)op->mix_slot;
                    row[1] = (uint32_t)op->bn_off[op->n_bn - 1];
                    row[2] = (uint32_t)op->partial_off;
                }
                n_tab += 3 * (size_t)bs->slices;
            } else {
                bs->slices = 0;
                for (int o = cell->edge_first[e]; o < cell->edge_first[e + 1]; o++) cell->ops[o].stack_slot = -1;
            }
            for (int o = cell->edge_first[e]; o < cell->edge_first[e + 1]; o++) {
                rd_op_inst *op = &cell->ops[o];
                if (!rd_stack_op_active(st, cell, e, op)) {
                    op->n_act = 0;
                    continue;
                }
                rd_op_plan(ctx, op, &x, ho, wo, A, &st->scratch);
                size_t tf = rd_op_temp_floats(op, &x, ho, wo);
                if (tf > max_temp) max_temp = tf;
            }
            plan_pw_groups(st, cell, e, n, &n_tab);
            if (c->pc_k > 1) {
                cell->pc_mix[e] = rd_arena_tensor(A, n, x.c, ho, wo);
                if (rd_tensor_numel(&cell->pc_mix[e]) > max_pc) max_pc = rd_tensor_numel(&cell->pc_mix[e]);
            }
        }
        size_t out_f = rd_tensor_numel(&cell->out), sf = (size_t)n * C * cell->h * cell->w;
        if (out_f > max_out) max_out = out_f;
        if (sf > max_state) max_state = sf;
        if (st->head && i == st->head->cell) st->head->plan(st->head->owner, st, n);
    }
    st->pooled = rd_arena_tensor(A, n, st->c_final, 1, 1);
    st->logits = rd_arena_tensor(A, n, c->classes, 1, 1);
    st->loss = rd_arena_vec(A, RD_LOSS_FLOATS);
    if (c->side_floats) st->side = rd_arena_vec(A, c->side_floats);
    memset(&st->bn_stack_ws, 0, sizeof st->bn_stack_ws);
    memset(&st->edge_tab_dev, 0, sizeof st->edge_tab_dev);
    if (max_ws) st->bn_stack_ws = rd_arena_vec(A, max_ws);
    if (n_tab) {  /* every stack's and group's table in one vector: one upload per binding */
        st->edge_tab_dev = rd_arena_vec(A, n_tab);
        for (int i = 0; i < c->layers; i++)
            for (int e = 0; e < st->cells[i].topo->n_edges; e++) {
                rd_bn_stack *bs = &st->cells[i].bn_stack[e];
                if (bs->slices)
                    bs->tab.dev = rd_vec_slice(st->edge_tab_dev, (size_t)(bs->tab.host - st->edge_tab),
                                               3 * (size_t)bs->slices);
                rd_pw_group *gs[4] = {&st->cells[i].pw[e].fwd[0], &st->cells[i].pw[e].fwd[1],
                                      &st->cells[i].pw[e].bwd[0], &st->cells[i].pw[e].bwd[1]};
                for (int k = 0; k < 4; k++)
                    if (gs[k]->slices)
                        gs[k]->tab = rd_vec_slice(st->edge_tab_dev, (size_t)(gs[k]->host - st->edge_tab),
                                                  5 * (size_t)gs[k]->slices);
            }
    }

    /* gradients: three rotating cell-output gradients, the stem's, the preprocessed
     * states', two op temporaries, nodes outside the outputs, the head's */
    for (int r = 0; r < 3; r++) st->g_out[r] = rd_arena_flat(G, max_out);
    st->g_stem = rd_arena_tensor(G, n, stem_c, c->in_h, c->in_w);
    st->g_s0p = rd_arena_flat(G, max_state);
    st->g_s1p = rd_arena_flat(G, max_state);
    if (max_temp < max_state) max_temp = max_state; /* the stem's BN backward uses ta too */
    if (max_temp < (size_t)n * stem_c * c->in_h * c->in_w) max_temp = (size_t)n * stem_c * c->in_h * c->in_w;
    st->g_ta = rd_arena_flat(G, max_temp);
    st->g_tb = rd_arena_flat(G, max_temp);
    for (int k = 0; k < max_gnodes; k++) st->g_nodes[k] = rd_arena_flat(G, max_out);
    if (c->pc_k > 1) {
        st->g_pc = rd_arena_flat(G, max_pc);
        rd_ops_scratch_need pn;
        rd_pc_combine_scratch(ctx, &pn);
        rd_scratch_merge(&st->scratch, &pn);
    }
    st->g_pooled = rd_arena_tensor(G, n, st->c_final, 1, 1);
    st->g_logits = rd_arena_tensor(G, n, c->classes, 1, 1);
    if (st->head) st->head->plan_grads(st->head->owner, st, n);
    rd_classifier_scratch(ctx, &st->pooled, &st->logits, &st->scratch);
    st->cur_n = n;
}

void rd_stack_memory_plan(const rd_cell_stack *st, uint64_t arch, rd_memory_plan *plan) {
    rd_memory_plan_fill(plan, st->params.n_weights, st->params.n_bn, arch, &st->acts, &st->grad_arena, &st->scratch);
}

/* ---- allocation ---- */
static rd_status alloc_vec(rd_ctx *ctx, size_t len, const char *what, rd_buffer **buf, rd_vec *v) {
    RD_TRY(rd_alloc(ctx, (len ? len : 1) * sizeof(float), what, buf));
    *v = rd_vec_make(rd_buffer_mem(*buf), 0, len);
    return RD_OK;
}

/* Allocates the arenas for the current plan and binds every tensor, then reserves scratch. */
static rd_status bind(rd_cell_stack *st, int n) {
    RD_TRY(rd_arena_allocate(st->ctx, &st->acts, "activations"));
    RD_TRY(rd_arena_allocate(st->ctx, &st->grad_arena, "gradients"));
    rd_stack_layout(st, n, 1);
    /* the BN stacks' and 1x1 groups' tables (they change with the active ops and the layout):
     * uint bits, copied as they are */
    RD_TRY(rd_vec_write(st->ctx, &st->edge_tab_dev, (const float *)(const void *)st->edge_tab));
    return rd_scratch_reserve_all(st->ctx, &st->scratch);
}

rd_status rd_stack_allocate(rd_cell_stack *st) {
    rd_ctx *ctx = st->ctx;
    RD_TRY(alloc_vec(ctx, st->params.n_weights, "weights", &st->weights_buf, &st->weights));
    RD_TRY(alloc_vec(ctx, st->params.n_weights, "weight gradients", &st->grads_buf, &st->grads));
    RD_TRY(alloc_vec(ctx, st->params.n_bn, "batch-norm running statistics", &st->bn_buf, &st->bn_state));
    return bind(st, st->cfg.batch);
}

rd_status rd_stack_bind_batch(rd_cell_stack *st, int n) {
    if (n == st->cur_n && st->acts.bind) return RD_OK;
    rd_stack_layout(st, n, 0);
    return bind(st, n);
}

rd_status rd_stack_init_values(rd_cell_stack *st, rd_init_rng *r) {
    rd_ctx *ctx = st->ctx;
    size_t n_weights = st->params.n_weights, n_bn = st->params.n_bn;
    float *w = calloc(n_weights ? n_weights : 1, sizeof *w);
    float *bn = calloc(n_bn ? n_bn : 1, sizeof *bn);
    if (!w || !bn) {
        free(w);
        free(bn);
        return rd_fail(&ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    for (int i = 0; i < st->params.n; i++) {
        const rd_named_tensor *t = &st->params.names[i];
        if (t->kind != RD_PARAM_WEIGHT && t->kind != RD_PARAM_BN_STATE) continue;
        float *dst = (t->kind == RD_PARAM_WEIGHT ? w : bn) + t->offset;
        double init = st->params.init[i];
        for (size_t j = 0; j < t->count; j++)
            dst[j] = init > 0 ? (float)((2 * rd_init_rng_uniform(r) - 1) * init) : init == RD_INIT_ONE ? 1.0f : 0.0f;
    }
    rd_status s = rd_vec_write(ctx, &st->weights, w);
    if (s == RD_OK) s = rd_vec_write(ctx, &st->bn_state, bn);
    if (s == RD_OK) s = rd_vec_fill(ctx, &st->grads, 0.0f);
    if (s == RD_OK) s = rd_vec_fill(ctx, &st->loss, 0.0f);
    free(w);
    free(bn);
    return s;
}

void rd_stack_release(rd_cell_stack *st) {
    if (st->ctx) {
        rd_arena_free(st->ctx, &st->acts);
        rd_arena_free(st->ctx, &st->grad_arena);
        rd_free(st->ctx, st->weights_buf);
        rd_free(st->ctx, st->grads_buf);
        rd_free(st->ctx, st->bn_buf);
    }
    free(st->cells);
    free(st->edge_tab);
    rd_params_free(&st->params);
    memset(st, 0, sizeof *st);
}

/* ---- forward ---- */
rd_op_exec rd_stack_exec(const rd_cell_stack *st, int train, int weight_grads) {
    rd_op_exec e;
    memset(&e, 0, sizeof e);
    e.weights = st->weights;
    if (weight_grads) e.weight_grads = st->grads;
    e.bn_state = st->bn_state;
    e.bn_stack_ws = st->bn_stack_ws;
    e.bn = rd_cell_bn;
    e.train = train;
    return e;
}

/* Whether op runs in its edge's 1x1 groups (rd_ops_forward_grouped / _backward_grouped). */
static int pw_grouped(const rd_stack_cell *cell, int ed, const rd_op_inst *op, const rd_op_exec *e) {
    return cell->pw[ed].fwd[0].slices && op->stack_slot >= 0 && rd_op_pw_groupable(op) &&
           rd_bn_stack_runs(op->bn_stack, e);
}

static rd_status cell_forward(rd_cell_stack *st, int i, const rd_op_exec *e) {
    rd_ctx *ctx = st->ctx;
    rd_stack_cell *cell = &st->cells[i];
    const rd_cell_topology *t = cell->topo;
    rd_tensor s0 = cell_input(st, i, 0), s1 = cell_input(st, i, 1);
    RD_TRY(rd_preprocess_forward(ctx, &cell->pre[0], &st->weights, &st->bn_state, &s0, &cell->s0p, e->train));
    RD_TRY(rd_preprocess_forward(ctx, &cell->pre[1], &st->weights, &st->bn_state, &s1, &cell->s1p, e->train));
    RD_TRY(rd_fill(ctx, &cell->out, 0.0f));
    for (int k = 0; k < t->steps; k++)
        if (cell->concat_pos[k] < 0) RD_TRY(rd_fill(ctx, &cell->nodes[k], 0.0f));
    int pc = st->cfg.pc_k > 1;
    for (int ed = 0; ed < t->n_edges; ed++) {
        const rd_tensor *x = cell_state(cell, t->edge_input[ed]);
        rd_tensor xo = edge_ops_input(st, cell, ed);
        /* PC-DARTS: the ops sum into the edge's own tensor, then it joins the bypass into the node */
        const rd_tensor *into = pc ? &cell->pc_mix[ed] : &cell->nodes[t->edge_node[ed]];
        if (pc) RD_TRY(rd_fill(ctx, into, 0.0f));
        const rd_bn_stack *bs = &cell->bn_stack[ed];
        const rd_op_inst *grouped[RD_STACK_MAX_CELL_OPS];
        int n_grouped = 0;
        for (int o = cell->edge_first[ed]; o < cell->edge_first[ed + 1]; o++) {
            const rd_op_inst *op = &cell->ops[o];
            if (!rd_stack_op_active(st, cell, ed, op)) continue;
            if (pw_grouped(cell, ed, op, e)) grouped[n_grouped++] = op;
            else RD_TRY(rd_op_forward(ctx, e, op, &xo, into));
        }
        if (n_grouped) RD_TRY(rd_ops_forward_grouped(ctx, e, grouped, n_grouped, &cell->pw[ed], &xo));
        if (rd_bn_stack_runs(bs, e)) { /* the final BNs rd_op_forward left to the stack */
            RD_TRY(rd_batchnorm_stack_stats(ctx, &bs->t, &e->bn_stack_ws));
            RD_TRY(rd_batchnorm_stack_forward(ctx, &e->bn, &bs->t, bs->slices, &e->bn_stack_ws, &bs->tmp.save_mean,
                                              &bs->tmp.save_invstd, &e->bn_state, &e->mix_weights, &bs->tab, into));
        }
        if (pc) {
            rd_vec w = rd_vec_slice(e->edge_weights, (size_t)cell->reduction * RD_CELL_EDGES + ed, 1);
            RD_TRY(rd_pc_combine_forward(ctx, x, into, &w, st->cfg.pc_k, edge_stride(cell, ed),
                                         &cell->nodes[t->edge_node[ed]]));
        }
    }
    return RD_OK;
}

rd_status rd_stack_check_input(rd_cell_stack *st, const rd_tensor *x) {
    const rd_stack_config *c = &st->cfg;
    if (x->c != c->in_channels || x->h != c->in_h || x->w != c->in_w || x->n < 1 || x->n > c->batch) {
        char s[64];
        return rd_fail(&st->ctx->err, RD_ERR_ARG, "%s forward: input %s, expected up to %dx%dx%dx%d", c->what,
                       rd_tensor_shape_str(x, s, sizeof s), c->batch, c->in_channels, c->in_h, c->in_w);
    }
    return RD_OK;
}

rd_status rd_stack_forward(rd_cell_stack *st, const rd_op_exec *e, const rd_tensor *x, cl_mem labels) {
    rd_ctx *ctx = st->ctx;
    const rd_stack_config *c = &st->cfg;
    RD_TRY(rd_stack_check_input(st, x));
    st->have_forward = 0;
    RD_TRY(rd_stack_bind_batch(st, x->n));
    st->input = *x;
    st->labels = labels;
    st->head_in_forward = e->train && st->head;
    RD_TRY(rd_stem_forward(ctx, &st->stem, &st->weights, &st->bn_state, x, e->train));
    for (int i = 0; i < c->layers; i++) {
        RD_TRY(cell_forward(st, i, e));
        if (st->head_in_forward && i == st->head->cell)
            RD_TRY(st->head->forward(st->head->owner, st, &st->cells[i].out, x->n));
    }
    RD_TRY(rd_global_avgpool_forward(ctx, &st->cells[c->layers - 1].out, &st->pooled));
    rd_vec cw = rd_vec_slice(st->weights, st->cls_w, (size_t)c->classes * st->c_final);
    rd_vec cb = rd_vec_slice(st->weights, st->cls_b, (size_t)c->classes);
    RD_TRY(rd_linear_forward(ctx, &st->pooled, &cw, &cb, &st->logits));
    rd_vec logits = rd_tensor_as_vec(&st->logits), dlogits = rd_tensor_as_vec(&st->g_logits);
    rd_vec loss = rd_vec_slice(st->loss, RD_LOSS_MAIN, 1), correct = rd_vec_slice(st->loss, RD_LOSS_CORRECT, 1);
    RD_TRY(rd_cross_entropy(ctx, &logits, labels, 0, x->n, c->classes, &loss, &dlogits, &correct));
    st->have_forward = e->train;
    return RD_OK;
}

rd_status rd_stack_read_loss(rd_cell_stack *st, float *loss, float *aux_loss, int *correct) {
    float v[RD_LOSS_FLOATS];
    RD_TRY(rd_vec_read(st->ctx, &st->loss, v));
    if (loss) *loss = v[RD_LOSS_MAIN];
    if (aux_loss) *aux_loss = st->head_in_forward ? v[RD_LOSS_AUX] : 0.0f; /* no head ran: no loss written */
    if (correct) *correct = (int)lrintf(v[RD_LOSS_CORRECT]);
    return RD_OK;
}

/* ---- backward ---- */
static rd_status cell_backward(rd_cell_stack *st, int i, const rd_op_exec *e, const rd_tensor *dout,
                               const rd_tensor *ds0, const rd_tensor *ds1) {
    rd_ctx *ctx = st->ctx;
    rd_stack_cell *cell = &st->cells[i];
    const rd_cell_topology *t = cell->topo;
    rd_tensor dstate[2 + RD_STACK_MAX_NODES];
    dstate[0] = rd_grad_view(&st->g_s0p, &cell->s0p);
    dstate[1] = rd_grad_view(&st->g_s1p, &cell->s1p);
    RD_TRY(rd_fill(ctx, &dstate[0], 0.0f));
    RD_TRY(rd_fill(ctx, &dstate[1], 0.0f));
    for (int k = 0; k < t->steps; k++) {
        if (cell->concat_pos[k] >= 0) {
            dstate[2 + k] = rd_tensor_channels(*dout, cell->concat_pos[k] * cell->C, cell->C);
        } else {
            dstate[2 + k] = rd_grad_view(&st->g_nodes[cell->gnode[k]], &cell->nodes[k]);
            RD_TRY(rd_fill(ctx, &dstate[2 + k], 0.0f));
        }
    }
    /* later edges first: a node's gradient is complete before the ops that read it run */
    int pc = st->cfg.pc_k > 1;
    for (int ed = t->n_edges - 1; ed >= 0; ed--) {
        int input = t->edge_input[ed];
        rd_tensor xo = edge_ops_input(st, cell, ed), dxo = dstate[input], dmix = dstate[2 + t->edge_node[ed]];
        if (pc) {
            /* the bypass's share goes to dx at once, the ops' share through d(pc_mix) */
            size_t slot = (size_t)cell->reduction * RD_CELL_EDGES + ed, part = (size_t)i * RD_CELL_EDGES + ed;
            rd_vec w = rd_vec_slice(e->edge_weights, slot, 1), dw;
            if (e->edge_partials.mem) dw = rd_vec_slice(e->edge_partials, part, 1);
            dmix = rd_grad_view(&st->g_pc, &cell->pc_mix[ed]);
            RD_TRY(rd_pc_combine_backward(ctx, cell_state(cell, input), &cell->pc_mix[ed], &w, st->cfg.pc_k,
                                          edge_stride(cell, ed), &dstate[2 + t->edge_node[ed]], &dmix,
                                          &dstate[input], e->edge_partials.mem ? &dw : NULL));
            dxo = rd_tensor_channels(dstate[input], 0, xo.c);
        }
        const rd_bn_stack *bs = &cell->bn_stack[ed];
        if (rd_bn_stack_runs(bs, e)) { /* every final BN's backward, in place: the ops read d(pre-BN) there */
            RD_TRY(rd_batchnorm_stack_grad_sums(ctx, &bs->t, &dmix, &e->bn_stack_ws));
            RD_TRY(rd_batchnorm_stack_backward(ctx, &bs->t, bs->slices, &e->bn_stack_ws, &bs->tmp.save_invstd, &dmix,
                                               &e->mix_weights, &bs->tab, &e->alpha_partials));
        }
        const rd_op_inst *grouped[RD_STACK_MAX_CELL_OPS];
        int n_grouped = 0;
        for (int o = cell->edge_first[ed]; o < cell->edge_first[ed + 1]; o++) {
            const rd_op_inst *op = &cell->ops[o];
            if (!rd_stack_op_active(st, cell, ed, op)) continue;
            if (pw_grouped(cell, ed, op, e)) grouped[n_grouped++] = op;
            else RD_TRY(rd_op_backward(ctx, e, op, &xo, &dmix, &dxo, &st->g_ta, &st->g_tb));
        }
        if (n_grouped) RD_TRY(rd_ops_backward_grouped(ctx, e, grouped, n_grouped, &cell->pw[ed], &xo, &dxo));
    }
    rd_tensor s0 = cell_input(st, i, 0), s1 = cell_input(st, i, 1);
    /* e->weight_grads is empty unless weight gradients are wanted */
    RD_TRY(rd_preprocess_backward(ctx, &cell->pre[1], &st->weights, &e->weight_grads, &st->bn_state, &s1, &cell->s1p,
                                  &dstate[1], ds1));
    return rd_preprocess_backward(ctx, &cell->pre[0], &st->weights, &e->weight_grads, &st->bn_state, &s0, &cell->s0p,
                                  &dstate[0], ds0);
}

rd_status rd_stack_backward(rd_cell_stack *st, const rd_op_exec *e) {
    rd_ctx *ctx = st->ctx;
    const rd_stack_config *c = &st->cfg;
    if (!st->have_forward)
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s backward without a training-mode forward", c->what);
    int L = c->layers, want_w = e->weight_grads.mem != NULL;
    rd_vec cw = rd_vec_slice(st->weights, st->cls_w, (size_t)c->classes * st->c_final);
    rd_vec gw, gb;
    if (want_w) {
        gw = rd_vec_slice(st->grads, st->cls_w, (size_t)c->classes * st->c_final);
        gb = rd_vec_slice(st->grads, st->cls_b, (size_t)c->classes);
    }
    RD_TRY(rd_linear_backward(ctx, &st->pooled, &cw, &st->g_logits, &st->g_pooled, 0, want_w ? &gw : NULL,
                              want_w ? &gb : NULL));
    rd_tensor dlast = rd_grad_view(&st->g_out[(L - 1) % 3], &st->cells[L - 1].out);
    RD_TRY(rd_global_avgpool_backward(ctx, &st->g_pooled, &dlast, 0));
    RD_TRY(rd_fill(ctx, &st->g_stem, 0.0f));
    if (L >= 2) {
        rd_tensor d = rd_grad_view(&st->g_out[(L - 2) % 3], &st->cells[L - 2].out);
        RD_TRY(rd_fill(ctx, &d, 0.0f));
    }
    for (int i = L - 1; i >= 0; i--) {
        rd_tensor dout = rd_grad_view(&st->g_out[i % 3], &st->cells[i].out);
        rd_tensor ds1 = i >= 1 ? rd_grad_view(&st->g_out[(i - 1) % 3], &st->cells[i - 1].out) : st->g_stem;
        rd_tensor ds0 = i >= 2 ? rd_grad_view(&st->g_out[(i - 2) % 3], &st->cells[i - 2].out) : st->g_stem;
        if (i >= 2) RD_TRY(rd_fill(ctx, &ds0, 0.0f)); /* cell i is the first to add into d(out[i-2]) */
        /* d(out[i]) is complete here (cells i+1, i+2 are done): the head adds its share */
        if (st->head_in_forward && i == st->head->cell)
            RD_TRY(st->head->backward(st->head->owner, st, &st->cells[i].out, &dout));
        RD_TRY(cell_backward(st, i, e, &dout, &ds0, &ds1));
    }
    if (want_w) RD_TRY(rd_stem_backward(ctx, &st->stem, &st->weights, &st->grads, &st->input, &st->g_stem, &st->g_ta));
    return RD_OK;
}

/* ---- cost ---- */
void rd_stack_cost(const rd_cell_stack *st, double *params, double *flops) {
    const rd_stack_config *c = &st->cfg;
    int stem_c = c->stem_multiplier * c->C;
    double p = 0, f = 0, stem_w = (double)stem_c * c->in_channels * 9;
    p += stem_w + 2.0 * stem_c;
    f += 2 * stem_w * c->in_h * c->in_w;
    for (int i = 0; i < c->layers; i++) {
        const rd_stack_cell *cell = &st->cells[i];
        const rd_cell_topology *t = cell->topo;
        for (int q = 0; q < 2; q++) rd_preprocess_cost(&cell->pre[q], cell->h, cell->w, &p, &f);
        for (int e = 0; e < t->n_edges; e++) {
            /* inputs 0, 1 are at the cell's input size, nodes at its output size */
            int input = t->edge_input[e];
            int hi = input < 2 ? cell->h : cell->h_out, wi = input < 2 ? cell->w : cell->w_out;
            for (int o = cell->edge_first[e]; o < cell->edge_first[e + 1]; o++)
                if (rd_stack_op_active(st, cell, e, &cell->ops[o]))
                    rd_op_cost(&cell->ops[o], hi, wi, cell->h_out, cell->w_out, &p, &f);
        }
    }
    double cls = (double)c->classes * st->c_final;
    p += cls + c->classes;
    f += 2 * cls;
    *params = p;
    *flops = f;
}
