/* The supernet against its host reference (tests/ref_supernet.c) on tiny
 * configs: forward logits, d(loss)/d(alpha) and d(loss)/d(weights) by finite
 * differences, pruned masks, single paths, and the memory plan against the
 * allocator's measured peak. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/cell_stack.h"
#include "radars/supernet.h"
#include "ref_supernet.h"
#include "runtime/runtime.h"
#include "test_util.h"

typedef struct fixture {
    rd_supernet_config cfg;
    rd_supernet *net;
    int n;
    double *x;
    int *labels;
    rd_tensor tx;
    cl_mem tl;
    rd_buffer *lbuf;
    double *weights, *alphas;
    const rd_named_tensor *names;
    int n_names;
    rd_arch_mask active;
} fixture;

static void tiny_config(rd_supernet_config *c, const char *ops, int layers) {
    rd_supernet_config_default(c);
    c->C = 4;
    c->layers = layers;
    c->in_channels = 3;
    c->in_h = c->in_w = 8;
    c->classes = 5;
    c->batch = 3;
    ck_assert_int_eq(rd_opset_parse(ops, &c->ops, NULL), RD_OK);
}

/* The rest of the fixture of f->net (made from f->cfg): random inputs and alphas. */
static void fill_fixture(fixture *f, const rd_arch_mask *alive, const rd_arch_mask *active, unsigned seed) {
    f->n = f->cfg.batch;
    size_t nx = (size_t)f->n * f->cfg.in_channels * f->cfg.in_h * f->cfg.in_w;
    f->x = malloc(nx * sizeof *f->x);
    tu_rng r = {seed};
    tu_fill(&r, f->x, nx, -1, 1);
    f->tx = tu_tensor_from(f->x, f->n, f->cfg.in_channels, f->cfg.in_h, f->cfg.in_w);
    f->labels = malloc(f->n * sizeof *f->labels);
    for (int i = 0; i < f->n; i++) f->labels[i] = (i * 3 + 1) % f->cfg.classes;
    TU_OK(rd_alloc(tu_ctx(), f->n * sizeof(int32_t), "labels", &f->lbuf));
    f->tl = rd_buffer_mem(f->lbuf);
    ck_assert_int_eq(clEnqueueWriteBuffer(rd_ctx_queue(tu_ctx()), f->tl, CL_TRUE, 0, f->n * sizeof(int32_t),
                                          f->labels, 0, NULL, NULL), CL_SUCCESS);
    /* larger random alphas than the init, so mixed-op weights differ clearly */
    rd_vec a = rd_supernet_alphas(f->net);
    float *ha = malloc(a.len * sizeof *ha);
    for (size_t i = 0; i < a.len; i++) ha[i] = (float)tu_uniform(&r, -1, 1);
    TU_OK(rd_supernet_write_alphas(f->net, ha));
    free(ha);
    rd_vec w = rd_supernet_weights(f->net);
    f->weights = malloc(w.len * sizeof *f->weights);
    tu_vec_read(&w, f->weights);
    f->alphas = malloc(a.len * sizeof *f->alphas);
    tu_vec_read(&a, f->alphas);
    f->names = rd_supernet_named_tensors(f->net, &f->n_names);
    f->active = active ? *active : (alive ? *alive : (rd_arch_mask){{{0}}});
    if (!active && !alive) rd_arch_mask_all(&f->active, &f->cfg.ops);
}

/* The fixture of f->cfg (set by the caller): the supernet, random inputs and alphas. */
static void setup_cfg(fixture *f, const rd_arch_mask *alive, const rd_arch_mask *active, unsigned seed) {
    TU_OK(rd_supernet_create(tu_ctx(), &f->cfg, alive, active, seed, &f->net));
    fill_fixture(f, alive, active, seed);
}

static void setup_pc(fixture *f, const char *ops, int layers, const rd_arch_mask *alive, const rd_arch_mask *active,
                     unsigned seed, int C, int pc_k) {
    memset(f, 0, sizeof *f);
    tiny_config(&f->cfg, ops, layers);
    f->cfg.C = C;
    f->cfg.pc_k = pc_k;
    setup_cfg(f, alive, active, seed);
}

static void setup(fixture *f, const char *ops, int layers, const rd_arch_mask *alive, const rd_arch_mask *active,
                  unsigned seed) {
    setup_pc(f, ops, layers, alive, active, seed, 4, 0);
}

static void teardown(fixture *f) {
    rd_supernet_free(f->net);
    rd_free(tu_ctx(), f->lbuf);
    free(f->x);
    free(f->labels);
    free(f->weights);
    free(f->alphas);
    tu_free_all();
}

static double ref_loss(fixture *f, double *logits) {
    ref_supernet r = {&f->cfg, &f->active, f->names, f->n_names, f->weights, f->alphas};
    return ref_supernet_loss(&r, f->x, f->n, f->labels, logits);
}

static void check_forward(fixture *f) {
    TU_OK(rd_supernet_forward(f->net, &f->tx, f->tl, 1));
    float loss;
    int correct;
    TU_OK(rd_supernet_read_loss(f->net, &loss, &correct));
    size_t nl = (size_t)f->n * f->cfg.classes;
    float *lg = malloc(nl * sizeof *lg);
    double *got = malloc(nl * sizeof *got), *want = malloc(nl * sizeof *want);
    TU_OK(rd_supernet_read_logits(f->net, lg));
    for (size_t i = 0; i < nl; i++) got[i] = lg[i];
    double wl = ref_loss(f, want);
    /* float32 through 2-3 cells of batch-norms: 1e-3 relative to the logits' scale */
    double scale = 0;
    for (size_t i = 0; i < nl; i++) scale = fmax(scale, fabs(want[i]));
    tu_assert_close("supernet logits", got, want, nl, 1e-3 * scale + 1e-5, 1e-3);
    double gl = loss;
    tu_assert_close("supernet loss", &gl, &wl, 1, 1e-5, 1e-4);
    free(lg);
    free(got);
    free(want);
}

static double loss_at_alphas(void *user, const double *a) {
    fixture *f = user;
    double *keep = f->alphas;
    f->alphas = (double *)a;
    double l = ref_loss(f, NULL);
    f->alphas = keep;
    return l;
}

/* Finite differences on every stride-th alpha (a stride prime to the op count reaches every op). */
static void check_alpha_grads(fixture *f, int stride) {
    TU_OK(rd_supernet_forward(f->net, &f->tx, f->tl, 1));
    TU_OK(rd_supernet_backward(f->net, RD_GRAD_ALPHAS));
    rd_vec ga = rd_supernet_alpha_grads(f->net);
    double *got = malloc(ga.len * sizeof *got), *want = malloc(ga.len * sizeof *want);
    tu_vec_read(&ga, got);
    size_t n = 0;
    double *sub_got = malloc(ga.len * sizeof *sub_got);
    for (size_t i = 0; i < ga.len; i += (size_t)stride, n++) {
        double keep = f->alphas[i];
        f->alphas[i] = keep + 1e-4;
        double lp = loss_at_alphas(f, f->alphas);
        f->alphas[i] = keep - 1e-4;
        double lm = loss_at_alphas(f, f->alphas);
        f->alphas[i] = keep;
        want[n] = (lp - lm) / 2e-4;
        sub_got[n] = got[i];
    }
    double scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    ck_assert_msg(scale > 1e-6, "alpha gradients vanish: the test would prove nothing");
    tu_assert_close("d loss / d alphas", sub_got, want, n, 2e-3 * scale, 2e-2);
    free(sub_got);
    /* dead or inactive ops get exactly zero */
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++)
            for (int k = 0; k < f->cfg.ops.count; k++)
                if (!(f->active.edge[t][e] >> k & 1))
                    ck_assert(got[((size_t)t * RD_CELL_EDGES + e) * f->cfg.ops.count + k] == 0.0);
    free(got);
    free(want);
}

static double loss_at_weights(void *user, const double *w) {
    fixture *f = user;
    double *keep = f->weights;
    f->weights = (double *)w;
    double l = ref_loss(f, NULL);
    f->weights = keep;
    return l;
}

/* Two coordinates (the first and a middle one) of every stride-th named weight tensor. */
static void check_weight_grads(fixture *f, int stride) {
    TU_OK(rd_supernet_zero_grads(f->net));
    TU_OK(rd_supernet_forward(f->net, &f->tx, f->tl, 1));
    TU_OK(rd_supernet_backward(f->net, RD_GRAD_WEIGHTS));
    rd_vec gw = rd_supernet_weight_grads(f->net);
    double *got = malloc(gw.len * sizeof *got);
    tu_vec_read(&gw, got);
    int checked = 0, bad = 0;
    double worst = 0;
    char worst_name[256] = "";
    double gmax = 0;
    for (size_t i = 0; i < gw.len; i++) gmax = fmax(gmax, fabs(got[i]));
    for (int i = 0, seen = 0; i < f->n_names; i++) {
        const rd_named_tensor *t = &f->names[i];
        if (t->kind != RD_PARAM_WEIGHT) continue;
        /* always the stem and the classifier; then every stride-th tensor */
        int edge = !strncmp(t->name, "stem", 4) || !strncmp(t->name, "classifier", 10);
        if (!edge && seen++ % stride) continue;
        size_t idx[2] = {t->offset, t->offset + t->count / 2};
        for (int j = 0; j < 2; j++) {
            double *w = f->weights;
            double keep = w[idx[j]], h = 1e-4;
            w[idx[j]] = keep + h;
            double lp = loss_at_weights(f, w);
            w[idx[j]] = keep - h;
            double lm = loss_at_weights(f, w);
            w[idx[j]] = keep;
            double fd = (lp - lm) / (2 * h), g = got[idx[j]];
            double err = fabs(fd - g), tol = 2e-3 * gmax + 3e-2 * fabs(fd);
            checked++;
            if (err > tol) {
                bad++;
                if (err - tol > worst) {
                    worst = err - tol;
                    snprintf(worst_name, sizeof worst_name, "%s[%zu]: device %.6g, finite differences %.6g", t->name,
                             idx[j] - t->offset, g, fd);
                }
            }
        }
    }
    /* max-pool and ReLU kinks can fool a finite difference on an odd coordinate */
    ck_assert_msg(bad <= checked / 50, "%d of %d weight gradients off; worst %s", bad, checked, worst_name);
    free(got);
}

START_TEST(full_large_set_matches_reference) {
    fixture f;
    setup(&f, "large", 3, NULL, NULL, 11);
    check_forward(&f);
    check_alpha_grads(&f, 4);
    check_weight_grads(&f, 7); /* every op kind still appears many times */
    teardown(&f);
}
END_TEST

START_TEST(two_cells_darts_set) {
    fixture f;
    setup(&f, "darts", 2, NULL, NULL, 5);
    check_forward(&f);
    check_alpha_grads(&f, 1);
    check_weight_grads(&f, 1);
    teardown(&f);
}
END_TEST

/* Runs a training forward and backward of f; its logits, alpha and weight gradients (malloc'd). */
static void grads_of(fixture *f, double **logits, double **alpha_grads, double **weight_grads) {
    TU_OK(rd_supernet_zero_grads(f->net));
    TU_OK(rd_supernet_forward(f->net, &f->tx, f->tl, 1));
    TU_OK(rd_supernet_backward(f->net, RD_GRAD_WEIGHTS | RD_GRAD_ALPHAS));
    size_t nl = (size_t)f->n * f->cfg.classes;
    float *lg = malloc(nl * sizeof *lg);
    TU_OK(rd_supernet_read_logits(f->net, lg));
    *logits = malloc(nl * sizeof **logits);
    for (size_t i = 0; i < nl; i++) (*logits)[i] = lg[i];
    free(lg);
    rd_vec ga = rd_supernet_alpha_grads(f->net), gw = rd_supernet_weight_grads(f->net);
    *alpha_grads = malloc(ga.len * sizeof **alpha_grads);
    *weight_grads = malloc(gw.len * sizeof **weight_grads);
    tu_vec_read(&ga, *alpha_grads);
    tu_vec_read(&gw, *weight_grads);
}

/* An edge's BN stack is one allocation: where it would not fit the device's largest one but
 * the ops' outputs apart do, the layout leaves the edge unstacked (each op runs its own final
 * BN). Here the normal cell's six-slice stacks are over a lowered max_alloc and the reduction
 * cells' two-slice ones (pools only) under it: both paths in one supernet, checked against the
 * reference (forward) and against the same supernet stacked everywhere (logits, alpha and
 * weight gradients: the two layouts differ only in the order of float sums). */
START_TEST(stacks_give_way_to_small_allocations) {
    rd_ctx *ctx = tu_ctx();
    const uint64_t keep_max_alloc = ctx->dev.max_alloc;
    fixture f, g;
    memset(&f, 0, sizeof f);
    tiny_config(&f.cfg, "darts", 3);
    f.cfg.in_h = f.cfg.in_w = 16;
    g = f;
    rd_arch_mask alive;
    rd_arch_mask_all(&alive, &f.cfg.ops);
    for (int e = 0; e < RD_CELL_EDGES; e++) alive.edge[1][e] = 1u << 1 | 1u << 2; /* reduction: the two pools */
    setup_cfg(&g, &alive, NULL, 13);
    /* the normal cell's nodes are 3 x 4 x 16 x 16 floats: its stacks 6 of them, its output 4 */
    ctx->dev.max_alloc = (uint64_t)f.cfg.batch * f.cfg.C * 16 * 16 * sizeof(float) * 5;
    rd_status s = rd_supernet_create(ctx, &f.cfg, &alive, NULL, 13, &f.net);
    ctx->dev.max_alloc = keep_max_alloc; /* before any assertion: the other tests share the context */
    ck_assert_msg(s == RD_OK, "supernet under a lowered max_alloc: %s", rd_ctx_error(ctx));
    fill_fixture(&f, &alive, NULL, 13);
    const rd_cell_stack *sf = rd_supernet_cell_stack(f.net), *sg = rd_supernet_cell_stack(g.net);
    int unstacked = 0, stacked = 0, stacked_g = 0;
    for (int i = 0; i < f.cfg.layers; i++)
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            if (sf->cells[i].reduction) stacked += sf->cells[i].bn_stack[e].slices == 2;
            else unstacked += sf->cells[i].bn_stack[e].slices == 0;
            stacked_g += sg->cells[i].bn_stack[e].slices > 0;
        }
    ck_assert_int_eq(unstacked, RD_CELL_EDGES);
    ck_assert_int_eq(stacked, 2 * RD_CELL_EDGES);
    ck_assert_int_eq(stacked_g, 3 * RD_CELL_EDGES);
    check_forward(&f);
    double *lf, *af, *wf, *lg, *ag, *wg;
    grads_of(&f, &lf, &af, &wf);
    grads_of(&g, &lg, &ag, &wg);
    /* the backward used up the forward's activations: a second one is refused */
    ck_assert_int_eq(rd_supernet_backward(g.net, RD_GRAD_ALPHAS), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "backward without a training-mode forward"));
    size_t na = rd_supernet_alpha_grads(f.net).len, nw = rd_supernet_weight_grads(f.net).len;
    tu_assert_close("logits, unstacked against stacked", lf, lg, (size_t)f.n * f.cfg.classes, 1e-5, 1e-4);
    double amax = 0, wmax = 0;
    for (size_t i = 0; i < na; i++) amax = fmax(amax, fabs(ag[i]));
    for (size_t i = 0; i < nw; i++) wmax = fmax(wmax, fabs(wg[i]));
    ck_assert(amax > 1e-6 && wmax > 1e-6);
    tu_assert_close("d loss / d alphas, unstacked against stacked", af, ag, na, 1e-4 * amax, 1e-3);
    tu_assert_close("d loss / d weights, unstacked against stacked", wf, wg, nw, 1e-4 * wmax, 1e-3);
    free(lf), free(af), free(wf), free(lg), free(ag), free(wg);
    rd_supernet_free(g.net);
    rd_free(ctx, g.lbuf);
    free(g.x), free(g.labels), free(g.weights), free(g.alphas);
    teardown(&f);
}
END_TEST

START_TEST(pruned_masks_and_single_paths) {
    rd_opset set;
    rd_opset_parse("large", &set, NULL);
    rd_arch_mask alive;
    tu_rng r = {3};
    /* a different random survivor set on every edge (never empty) */
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            rd_edge_mask m = 0;
            while (!m) m = (rd_edge_mask)(tu_uniform(&r, 0, 1) * 32768) & 0x7fff;
            alive.edge[t][e] = m;
        }
    fixture f;
    setup(&f, "large", 3, &alive, NULL, 7);
    check_forward(&f);
    check_alpha_grads(&f, 4);
    /* a single path inside it */
    rd_arch_mask path;
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            rd_edge_mask m = alive.edge[t][e];
            path.edge[t][e] = m & (~m + 1); /* lowest alive op */
        }
    TU_OK(rd_supernet_set_active(f.net, &path));
    f.active = path;
    check_forward(&f);
    check_weight_grads(&f, 1);
    /* an active op that is not alive is refused */
    rd_arch_mask bad = path;
    bad.edge[0][0] = ~alive.edge[0][0] & 0x7fff;
    if (bad.edge[0][0]) ck_assert_int_eq(rd_supernet_set_active(f.net, &bad), RD_ERR_ARG);
    teardown(&f);
}
END_TEST

/* PC-DARTS: 1/K of the channels through the ops, the rest bypassing them (a max-pool on
 * reduction edges), channels shuffled, edges normalised by their betas; d(loss)/d(alphas)
 * and d(loss)/d(betas) (the arch vector's tail) by finite differences. */
START_TEST(partial_channels_match_reference) {
    fixture f;
    setup_pc(&f, "darts", 3, NULL, NULL, 13, 4, 2);
    check_forward(&f);
    check_alpha_grads(&f, 1);
    check_weight_grads(&f, 3);
    teardown(&f);
    setup_pc(&f, "large", 3, NULL, NULL, 21, 8, 4);
    if (!tu_small()) { /* a slow device: the darts set above ran the same kernels partially */
        check_forward(&f);
        check_alpha_grads(&f, 3);
        check_weight_grads(&f, 9);
    }
    int found = 0;
    for (int j = 0; j < f.n_names; j++)
        found += !strcmp(f.names[j].name, "betas_normal") || !strcmp(f.names[j].name, "betas_reduce") ||
                 (!strcmp(f.names[j].name, "cells.0._ops.0._ops.4.op.1.weight") && f.names[j].shape[0] == 2);
    ck_assert_int_eq(found, 3); /* PC-DARTS' names; sep_conv_3x3's depthwise conv over C/K = 2 channels */
    teardown(&f);
}
END_TEST

START_TEST(names_follow_pytorch_darts) {
    fixture f;
    setup(&f, "darts", 3, NULL, NULL, 1);
    const char *expected[] = {"stem.0.weight", "stem.1.weight", "stem.1.bias", "stem.1.running_mean",
                              "cells.0.preprocess0.op.1.weight", "cells.0.preprocess1.op.2.running_var",
                              "cells.0._ops.0._ops.4.op.1.weight", "cells.0._ops.0._ops.4.op.7.running_mean",
                              "cells.0._ops.13._ops.1.1.running_mean", "cells.1._ops.0._ops.3.conv_1.weight",
                              "cells.1._ops.0._ops.3.bn.running_var", "cells.2.preprocess0.conv_2.weight",
                              "cells.2.preprocess0.bn.running_mean", "classifier.weight", "classifier.bias",
                              "alphas_normal", "alphas_reduce"};
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++) {
        int found = 0;
        for (int j = 0; j < f.n_names; j++) found |= !strcmp(f.names[j].name, expected[i]);
        ck_assert_msg(found, "no tensor named %s", expected[i]);
    }
    teardown(&f);
}
END_TEST

/* The plan is the allocation: measured peak of create + forward + backward equals the prediction. */
START_TEST(memory_plan_matches_measured_peak) {
    rd_ctx *ctx = tu_ctx();
    const char *sets[] = {"darts", "large", "large", "none,skip_connect,sep_conv_3x3", "darts", "large", "darts", "large"};
    int layers[] = {2, 3, 3, 3, 4, 5, 3, 4}, batches[] = {2, 3, 8, 4, 5, 2, 4, 3}, cs[] = {4, 4, 6, 8, 4, 4, 8, 8};
    int pc[] = {0, 0, 0, 0, 0, 0, 4, 2}; /* the last two: PC-DARTS */
    for (int i = 0; i < 8; i++) {
        /* a slow device runs one case of each kind: plain, pruned, own op set, PC-DARTS */
        if (tu_small() && i != 0 && i != 2 && i != 3 && i != 6) continue;
        rd_supernet_config c;
        tiny_config(&c, sets[i], layers[i]);
        c.batch = batches[i];
        c.C = cs[i];
        c.pc_k = pc[i];
        c.in_h = c.in_w = i == 5 ? 16 : 8;
        rd_arch_mask alive;
        rd_arch_mask_all(&alive, &c.ops);
        if (i == 2) /* pruned: every edge keeps a different half */
            for (int t = 0; t < 2; t++)
                for (int e = 0; e < RD_CELL_EDGES; e++) alive.edge[t][e] = (e + t) % 2 ? 0x5555 & 0x7fff : 0x2aaa;
        rd_memory_plan plan;
        TU_OK(rd_supernet_plan(ctx, &c, &alive, NULL, &plan));
        rd_scratch_release(ctx);
        uint64_t base = rd_mem_get_stats(ctx).current;
        rd_mem_reset_peak(ctx);
        rd_supernet *net;
        TU_OK(rd_supernet_create(ctx, &c, &alive, NULL, 9, &net));
        rd_tensor x = tu_tensor(c.batch, c.in_channels, c.in_h, c.in_w);
        rd_buffer *lb;
        TU_OK(rd_alloc(ctx, c.batch * sizeof(int32_t), "labels", &lb));
        TU_OK(rd_fill(ctx, &x, 0.5f));
        int32_t zeros[16] = {0};
        clEnqueueWriteBuffer(rd_ctx_queue(ctx), rd_buffer_mem(lb), CL_TRUE, 0, c.batch * sizeof(int32_t), zeros, 0,
                             NULL, NULL);
        TU_OK(rd_supernet_forward(net, &x, rd_buffer_mem(lb), 1));
        TU_OK(rd_supernet_backward(net, RD_GRAD_WEIGHTS | RD_GRAD_ALPHAS));
        TU_OK(rd_finish(ctx));
        uint64_t extra = rd_tensor_numel(&x) * 4 + c.batch * 4;
        uint64_t measured = rd_mem_get_stats(ctx).peak - base - extra;
        double ratio = (double)measured / plan.total;
        printf("memory plan %d (%s, L=%d, B=%d, C=%d): predicted %llu, measured %llu (%.4f)\n", i, sets[i], layers[i],
               c.batch, c.C, (unsigned long long)plan.total, (unsigned long long)measured, ratio);
        ck_assert_msg(ratio >= 0.9 && ratio <= 1.1, "case %d: measured %llu vs predicted %llu", i,
                      (unsigned long long)measured, (unsigned long long)plan.total);
        rd_free(ctx, lb);
        rd_supernet_free(net);
        tu_free_all();
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_supernet");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, names_follow_pytorch_darts);
    tcase_add_test(tc, two_cells_darts_set);
    tcase_add_test(tc, full_large_set_matches_reference);
    tcase_add_test(tc, pruned_masks_and_single_paths);
    tcase_add_test(tc, stacks_give_way_to_small_allocations);
    tcase_add_test(tc, partial_channels_match_reference);
    tcase_add_test(tc, memory_plan_matches_measured_peak);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
