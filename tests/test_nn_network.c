/* The evaluation network (DARTS' NetworkCIFAR from a genotype) against its host
 * reference (tests/ref_network.c) on tiny configs: logits and loss in training
 * and evaluation mode, running statistics, weight gradients by finite
 * differences with and without drop-path, the auxiliary head, the memory plan
 * against the allocator, configuration errors and parameter names. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radars/network.h"
#include "ref_network.h"
#include "test_util.h"

/* Every op kind, both skip strides, `none`, pools without BN, a node left out of
 * the output but read by a later node (normal state 3), and a concat in another order. */
static const char *MIXED =
    "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_3x3', 0), ('avg_pool_3x3', 2), "
    "('max_pool_3x3', 1), ('none', 3), ('conv_7x1_1x7', 3), ('skip_connect', 4)], normal_concat=[5, 2, 4], "
    "reduce=[('skip_connect', 0), ('sep_conv_5x5', 1), ('conv_3x3', 2), ('max_pool_3x3', 0), ('dil_conv_5x5', 1), "
    "('avg_pool_3x3', 3), ('conv_1x1', 4), ('skip_connect', 2)], reduce_concat=[2, 3, 4, 5])";

typedef struct fixture {
    rd_network_config cfg;
    rd_network *net;
    int n;
    double *x;
    int *labels;
    rd_tensor tx;
    cl_mem tl;
    rd_buffer *lbuf;
    double *weights, *bn_state;
    const rd_named_tensor *names;
    int n_names;
    float drop_prob;
    uint64_t drop_seed, drop_counter;
} fixture;

static void tiny_config(rd_network_config *c, const char *genotype, int in_c, int hw) {
    rd_network_config_default(c);
    c->C = 4;
    c->layers = 3;
    c->in_channels = in_c;
    c->in_h = c->in_w = hw;
    c->classes = 5;
    c->batch = 3;
    if (genotype) {
        rd_err err;
        ck_assert_msg(rd_genotype_parse(genotype, &c->genotype, &err) == RD_OK, "%s", err.msg);
    }
}

/* 1-D weights other than the classifiers' biases are BN gammas / betas: spread them
 * away from 1 / 0 so the affine parts matter. */
static int is_bn_affine(const rd_named_tensor *t) {
    return t->kind == RD_PARAM_WEIGHT && t->ndim == 1 && !strstr(t->name, "classifier.");
}

static void setup_cfg(fixture *f, const rd_network_config *cfg, unsigned seed) {
    memset(f, 0, sizeof *f);
    f->cfg = *cfg;
    TU_OK(rd_network_create(tu_ctx(), &f->cfg, seed, &f->net));
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
    f->names = rd_network_named_tensors(f->net, &f->n_names);
    rd_vec w = rd_network_weights(f->net);
    f->weights = malloc(w.len * sizeof *f->weights);
    tu_vec_read(&w, f->weights);
    for (int i = 0; i < f->n_names; i++) {
        const rd_named_tensor *t = &f->names[i];
        if (!is_bn_affine(t)) continue;
        int gamma = !strcmp(strrchr(t->name, '.'), ".weight");
        for (size_t j = 0; j < t->count; j++)
            f->weights[t->offset + j] = gamma ? tu_uniform(&r, 0.6, 1.4) : tu_uniform(&r, -0.3, 0.3);
    }
    rd_vec wv = rd_network_weights(f->net);
    float *hw = malloc(wv.len * sizeof *hw);
    for (size_t i = 0; i < wv.len; i++) hw[i] = (float)f->weights[i];
    TU_OK(rd_vec_write(tu_ctx(), &wv, hw));
    for (size_t i = 0; i < wv.len; i++) f->weights[i] = hw[i];
    free(hw);
    rd_vec b = rd_network_bn_state(f->net);
    f->bn_state = malloc(b.len * sizeof *f->bn_state);
    tu_vec_read(&b, f->bn_state);
}

static void setup(fixture *f, const char *genotype, int in_c, int hw, int auxiliary, unsigned seed) {
    rd_network_config c;
    tiny_config(&c, genotype, in_c, hw);
    c.auxiliary = auxiliary;
    setup_cfg(f, &c, seed);
}

static void teardown(fixture *f) {
    rd_network_free(f->net);
    rd_free(tu_ctx(), f->lbuf);
    free(f->x);
    free(f->labels);
    free(f->weights);
    free(f->bn_state);
    tu_free_all();
}

static void set_drop(fixture *f, float prob, uint64_t seed, uint64_t counter) {
    f->drop_prob = prob;
    f->drop_seed = seed;
    f->drop_counter = counter;
    rd_network_set_drop_path(f->net, prob, seed, counter);
}

static ref_network ref_for(fixture *f, int train, double *bn_state) {
    ref_network r = {&f->cfg, f->names, f->n_names, f->weights, bn_state, train, f->drop_prob, f->drop_seed,
                     f->drop_counter};
    return r;
}

static double max_abs(const double *v, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

/* Device logits and loss of one forward against the reference. */
static void compare_forward(fixture *f, int train, const char *what) {
    if (train) rd_network_set_drop_path(f->net, f->drop_prob, f->drop_seed, f->drop_counter);
    /* evaluation reads the running statistics the device holds now */
    rd_vec bv = rd_network_bn_state(f->net);
    tu_vec_read(&bv, f->bn_state);
    size_t nb = bv.len;
    double *bn_ref = malloc(nb * sizeof *bn_ref);
    memcpy(bn_ref, f->bn_state, nb * sizeof *bn_ref);
    TU_OK(rd_network_forward(f->net, &f->tx, f->tl, train));
    float loss, aux;
    int correct;
    TU_OK(rd_network_read_loss(f->net, &loss, &aux, &correct));
    size_t nl = (size_t)f->n * f->cfg.classes;
    float *lg = malloc(nl * sizeof *lg);
    double *got = malloc(nl * sizeof *got), *want = malloc(nl * sizeof *want);
    TU_OK(rd_network_read_logits(f->net, lg));
    for (size_t i = 0; i < nl; i++) got[i] = lg[i];
    ref_network r = ref_for(f, train, bn_ref);
    double main_loss, aux_loss;
    ref_network_loss(&r, f->x, f->n, f->labels, want, &main_loss, &aux_loss);
    /* float32 through 3 cells of batch-norms: 1e-3 relative to the logits' scale */
    char name[128];
    snprintf(name, sizeof name, "%s: logits", what);
    tu_assert_close(name, got, want, nl, 1e-3 * max_abs(want, nl) + 1e-5, 1e-3);
    double gl = loss, ga = aux;
    snprintf(name, sizeof name, "%s: loss", what);
    tu_assert_close(name, &gl, &main_loss, 1, 1e-4, 1e-3);
    snprintf(name, sizeof name, "%s: auxiliary loss", what);
    tu_assert_close(name, &ga, &aux_loss, 1, 1e-4, 1e-3);
    if (train && f->cfg.auxiliary) ck_assert_msg(aux > 0, "%s: the auxiliary head did not run", what);
    if (!train) ck_assert_msg(aux == 0, "%s: auxiliary loss %g in evaluation", what, (double)aux);
    /* training updates the running statistics as PyTorch does (momentum 0.1, unbiased var) */
    if (train) {
        double *dev = malloc(nb * sizeof *dev);
        tu_vec_read(&bv, dev);
        snprintf(name, sizeof name, "%s: running statistics", what);
        tu_assert_close(name, dev, bn_ref, nb, 1e-4, 1e-3);
        free(dev);
    }
    free(bn_ref);
    free(lg);
    free(got);
    free(want);
}

static double loss_at_weights(fixture *f, double *w) {
    double *keep = f->weights;
    f->weights = w;
    ref_network r = ref_for(f, 1, NULL);
    double l = ref_network_loss(&r, f->x, f->n, f->labels, NULL, NULL, NULL);
    f->weights = keep;
    return l;
}

/* Two coordinates (the first and a middle one) of every stride-th named weight
 * tensor (always the stem, BN-free heads and classifiers) by central differences
 * of the reference's training loss (h = 1e-6: the reference is double), against the device's backward. */
static void check_weight_grads(fixture *f, int stride) {
    TU_OK(rd_network_zero_grads(f->net));
    rd_network_set_drop_path(f->net, f->drop_prob, f->drop_seed, f->drop_counter);
    TU_OK(rd_network_forward(f->net, &f->tx, f->tl, 1));
    ck_assert_int_eq(rd_network_drop_path_counter(f->net), f->drop_counter + 1);
    TU_OK(rd_network_backward(f->net));
    rd_vec gw = rd_network_weight_grads(f->net);
    double *got = malloc(gw.len * sizeof *got);
    tu_vec_read(&gw, got);
    int checked = 0, bad = 0, tensors = 0;
    double worst = 0, gmax = max_abs(got, gw.len);
    char worst_name[256] = "";
    for (int i = 0, seen = 0; i < f->n_names; i++) {
        const rd_named_tensor *t = &f->names[i];
        if (t->kind != RD_PARAM_WEIGHT) continue;
        int always = !strncmp(t->name, "stem", 4) || strstr(t->name, "classifier") || strstr(t->name, "auxiliary");
        if (!always && seen++ % stride) continue;
        tensors++;
        size_t idx[2] = {t->offset, t->offset + t->count / 2};
        for (int j = 0; j < 2; j++) {
            double *w = f->weights;
            double keep = w[idx[j]], h = 1e-6;
            w[idx[j]] = keep + h;
            double lp = loss_at_weights(f, w);
            w[idx[j]] = keep - h;
            double lm = loss_at_weights(f, w);
            w[idx[j]] = keep;
            double fd = (lp - lm) / (2 * h), g = got[idx[j]];
            double err = fabs(fd - g), tol = 5e-4 * gmax + 1e-2 * fabs(fd);
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
    printf("weight gradients: %d coordinates of %d tensors, %d off (gmax %.3g)%s%s\n", checked, tensors, bad, gmax,
           bad ? "; worst " : "", worst_name);
    ck_assert_msg(gmax > 1e-6, "weight gradients vanish: the test would prove nothing");
    /* a max-pool or ReLU kink within h can still fool a finite difference on an odd coordinate */
    ck_assert_msg(bad <= checked / 100, "%d of %d weight gradients off; worst %s", bad, checked, worst_name);
    free(got);
}

START_TEST(mixed_genotype_forward_train_and_eval) {
    fixture f;
    setup(&f, MIXED, 3, 8, 0, 11);
    compare_forward(&f, 1, "train");
    compare_forward(&f, 1, "train again"); /* running statistics moved */
    compare_forward(&f, 0, "eval");
    /* a smaller batch than planned */
    f.n = 2;
    f.tx.n = 2;
    compare_forward(&f, 1, "train, 2 images");
    compare_forward(&f, 0, "eval, 2 images");
    teardown(&f);
}
END_TEST

START_TEST(mixed_genotype_weight_grads) {
    fixture f;
    setup(&f, MIXED, 3, 8, 0, 5);
    check_weight_grads(&f, 1);
    teardown(&f);
}
END_TEST

START_TEST(drop_path_forward_and_grads) {
    fixture f;
    setup(&f, MIXED, 1, 8, 0, 7);
    set_drop(&f, 0.3f, 1234, 41);
    compare_forward(&f, 1, "drop-path train");
    ck_assert_int_eq(rd_network_drop_path_counter(f.net), 42);
    /* masks differ between counters (and something is dropped at p = 0.3) */
    int zeros = 0, differ = 0;
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 8; k++)
            for (int b = 0; b < 3; b++) {
                float s = rd_network_drop_path_scale(0.3f, 1234, 41, c, k, b);
                ck_assert(s == 0.0f || fabsf(s - 1.0f / 0.7f) < 1e-6f);
                zeros += s == 0.0f;
                differ += s != rd_network_drop_path_scale(0.3f, 1234, 42, c, k, b);
            }
    ck_assert_msg(zeros > 0 && zeros < 72 && differ > 0, "drop-path masks: %d zeros, %d differ", zeros, differ);
    ck_assert(rd_network_drop_path_scale(0.0f, 1234, 41, 0, 0, 0) == 1.0f);
    check_weight_grads(&f, 1);
    /* evaluation ignores drop-path and leaves the counter */
    uint64_t counter = rd_network_drop_path_counter(f.net);
    compare_forward(&f, 0, "drop-path eval");
    ck_assert_uint_eq(rd_network_drop_path_counter(f.net), counter);
    teardown(&f);
}
END_TEST

START_TEST(darts_v2_forward_and_grads) {
    fixture f;
    setup(&f, NULL, 1, 8, 0, 3);
    compare_forward(&f, 1, "DARTS_V2 train");
    compare_forward(&f, 0, "DARTS_V2 eval");
    set_drop(&f, 0.2f, 99, 0);
    compare_forward(&f, 1, "DARTS_V2 drop-path");
    check_weight_grads(&f, 3);
    teardown(&f);
}
END_TEST

START_TEST(auxiliary_head_32x32) {
    fixture f;
    rd_network_config c;
    tiny_config(&c, MIXED, 3, 32);
    c.auxiliary = 1;
    c.auxiliary_weight = 0.4f;
    setup_cfg(&f, &c, 21);
    compare_forward(&f, 1, "auxiliary train");
    compare_forward(&f, 0, "auxiliary eval");
    check_weight_grads(&f, 2);
    teardown(&f);
}
END_TEST

/* The plan is the allocation: create allocates exactly the plan, and forward +
 * backward (at the planned batch and a smaller one) allocate nothing more. */
START_TEST(memory_plan_matches_allocation) {
    rd_ctx *ctx = tu_ctx();
    const char *genos[] = {NULL, MIXED, MIXED, NULL};
    int hws[] = {8, 8, 32, 16}, batches[] = {2, 4, 3, 5}, aux[] = {0, 0, 1, 0}, layers[] = {3, 4, 3, 5};
    for (int i = 0; i < 4; i++) {
        rd_network_config c;
        tiny_config(&c, genos[i], 3, hws[i]);
        c.batch = batches[i];
        c.auxiliary = aux[i];
        c.layers = layers[i];
        rd_memory_plan plan;
        TU_OK(rd_network_plan(ctx, &c, &plan));
        ck_assert_uint_eq(plan.arch, 0);
        ck_assert_uint_eq(plan.total, plan.weights + plan.grads + plan.bn_state + plan.activations + plan.gradients +
                                          plan.scratch);
        rd_scratch_release(ctx);
        uint64_t base = rd_mem_get_stats(ctx).current;
        rd_mem_reset_peak(ctx);
        rd_network *net;
        TU_OK(rd_network_create(ctx, &c, 9, &net));
        uint64_t after_create = rd_mem_get_stats(ctx).current - base;
        if (after_create != plan.total) {
            printf("plan: weights %llu grads %llu bn %llu acts %llu grads %llu scratch %llu\n",
                   (unsigned long long)plan.weights, (unsigned long long)plan.grads, (unsigned long long)plan.bn_state,
                   (unsigned long long)plan.activations, (unsigned long long)plan.gradients,
                   (unsigned long long)plan.scratch);
            rd_mem_dump(ctx);
        }
        ck_assert_msg(after_create == plan.total, "case %d: create allocated %llu, planned %llu", i,
                      (unsigned long long)after_create, (unsigned long long)plan.total);
        ck_assert_uint_eq(rd_network_memory(net)->total, plan.total);
        rd_tensor x = tu_tensor(c.batch, c.in_channels, c.in_h, c.in_w);
        rd_buffer *lb;
        TU_OK(rd_alloc(ctx, c.batch * sizeof(int32_t), "labels", &lb));
        TU_OK(rd_fill(ctx, &x, 0.5f));
        int32_t zeros[16] = {0};
        clEnqueueWriteBuffer(rd_ctx_queue(ctx), rd_buffer_mem(lb), CL_TRUE, 0, c.batch * sizeof(int32_t), zeros, 0,
                             NULL, NULL);
        rd_network_set_drop_path(net, 0.2f, 1, 0);
        TU_OK(rd_network_forward(net, &x, rd_buffer_mem(lb), 1));
        TU_OK(rd_network_backward(net));
        rd_tensor x2 = rd_tensor_images(x, 0, 2);
        TU_OK(rd_network_forward(net, &x2, rd_buffer_mem(lb), 1));
        TU_OK(rd_network_backward(net));
        TU_OK(rd_network_forward(net, &x, rd_buffer_mem(lb), 0));
        TU_OK(rd_finish(ctx));
        uint64_t extra = rd_tensor_numel(&x) * 4 + c.batch * 4;
        uint64_t measured = rd_mem_get_stats(ctx).peak - base - extra;
        printf("memory plan %d (L=%d, B=%d, %dx%d, aux %d): planned %llu, measured %llu\n", i, c.layers, c.batch,
               c.in_h, c.in_w, c.auxiliary, (unsigned long long)plan.total, (unsigned long long)measured);
        ck_assert_msg(measured == plan.total, "case %d: measured peak %llu vs planned %llu", i,
                      (unsigned long long)measured, (unsigned long long)plan.total);
        double params, flops;
        rd_network_cost(net, &params, &flops);
        ck_assert(params > 0 && params <= (double)plan.n_weights && flops > params);
        rd_free(ctx, lb);
        rd_network_free(net);
        tu_free_all();
    }
}
END_TEST

START_TEST(config_errors) {
    rd_network_config c;
    rd_err err;
    rd_network_config_default(&c);
    ck_assert_int_eq(rd_network_config_check(&c, &err), RD_OK);
    /* the auxiliary head on 28x28 inputs: 7x7 at cell 2L/3 */
    c.auxiliary = 1;
    ck_assert_int_eq(rd_network_config_check(&c, &err), RD_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "auxiliary") && strstr(err.msg, "7x7"), "message: %s", err.msg);
    rd_network *net = NULL;
    ck_assert_int_eq(rd_network_create(tu_ctx(), &c, 1, &net), RD_ERR_ARG);
    ck_assert_ptr_null(net);
    rd_memory_plan plan;
    ck_assert_int_eq(rd_network_plan(tu_ctx(), &c, &plan), RD_ERR_ARG);
    /* 32x32 is fine */
    c.in_h = c.in_w = 32;
    c.in_channels = 3;
    ck_assert_int_eq(rd_network_config_check(&c, &err), RD_OK);
    /* a genotype input out of range for its node */
    rd_network_config_default(&c);
    c.genotype.normal.edges[2].input = 3; /* node 1 reads states 0..2 */
    ck_assert_int_eq(rd_network_config_check(&c, &err), RD_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "normal") && strstr(err.msg, "edge 2"), "message: %s", err.msg);
    rd_network_config_default(&c);
    c.genotype.reduce.edges[0].input = -1;
    ck_assert_int_eq(rd_network_config_check(&c, &err), RD_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "reduce"), "message: %s", err.msg);
    /* a cell input in the concat */
    rd_network_config_default(&c);
    c.genotype.normal.concat[0] = 1;
    ck_assert_int_eq(rd_network_config_check(&c, &err), RD_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "normal_concat"), "message: %s", err.msg);
    /* odd C, odd size at a reduction */
    rd_network_config_default(&c);
    c.C = 5;
    ck_assert_int_eq(rd_network_config_check(&c, &err), RD_ERR_ARG);
    rd_network_config_default(&c);
    c.in_h = 26; /* 26 -> 13 at cell 6, odd at cell 13 */
    ck_assert_int_eq(rd_network_config_check(&c, &err), RD_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "13"), "message: %s", err.msg);
    /* an input of the wrong shape is refused by forward */
    tiny_config(&c, NULL, 1, 8);
    TU_OK(rd_network_create(tu_ctx(), &c, 1, &net));
    rd_tensor x = tu_tensor(2, 3, 8, 8);
    ck_assert_int_eq(rd_network_forward(net, &x, NULL, 1), RD_ERR_ARG);
    ck_assert_int_eq(rd_network_backward(net), RD_ERR_ARG);
    rd_network_free(net);
    tu_free_all();
}
END_TEST

static const rd_named_tensor *find_name(const rd_named_tensor *names, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i].name, name)) return &names[i];
    return NULL;
}

START_TEST(names_follow_pytorch_darts) {
    fixture f;
    setup(&f, MIXED, 3, 32, 1, 1);
    struct { const char *name; rd_param_kind kind; int ndim, s0, s1, s2, s3; } expected[] = {
        {"stem.0.weight", RD_PARAM_WEIGHT, 4, 12, 3, 3, 3},
        {"stem.1.weight", RD_PARAM_WEIGHT, 1, 12, 0, 0, 0},
        {"stem.1.bias", RD_PARAM_WEIGHT, 1, 12, 0, 0, 0},
        {"stem.1.running_mean", RD_PARAM_BN_STATE, 1, 12, 0, 0, 0},
        {"stem.1.running_var", RD_PARAM_BN_STATE, 1, 12, 0, 0, 0},
        {"cells.0.preprocess0.op.1.weight", RD_PARAM_WEIGHT, 4, 4, 12, 1, 1},
        {"cells.0.preprocess0.op.2.bias", RD_PARAM_WEIGHT, 1, 4, 0, 0, 0},
        {"cells.0.preprocess1.op.2.running_var", RD_PARAM_BN_STATE, 1, 4, 0, 0, 0},
        {"cells.0._ops.0.op.1.weight", RD_PARAM_WEIGHT, 4, 4, 1, 3, 3},   /* sep_conv_3x3 depthwise */
        {"cells.0._ops.0.op.6.weight", RD_PARAM_WEIGHT, 4, 4, 4, 1, 1},
        {"cells.0._ops.0.op.7.weight", RD_PARAM_WEIGHT, 1, 4, 0, 0, 0},
        {"cells.0._ops.2.op.3.running_mean", RD_PARAM_BN_STATE, 1, 4, 0, 0, 0}, /* dil_conv_3x3 */
        {"cells.0._ops.6.1.weight", RD_PARAM_WEIGHT, 4, 4, 4, 1, 7},      /* conv_7x1_1x7: DARTS' bare Sequential */
        {"cells.0._ops.6.2.weight", RD_PARAM_WEIGHT, 4, 4, 4, 7, 1},
        {"cells.0._ops.6.3.running_mean", RD_PARAM_BN_STATE, 1, 4, 0, 0, 0},
        {"cells.1._ops.0.conv_1.weight", RD_PARAM_WEIGHT, 4, 4, 8, 1, 1}, /* skip stride 2 */
        {"cells.1._ops.0.bn.weight", RD_PARAM_WEIGHT, 1, 8, 0, 0, 0},
        {"cells.1._ops.2.op.1.weight", RD_PARAM_WEIGHT, 4, 8, 8, 3, 3},   /* conv_3x3 */
        {"cells.1._ops.6.op.2.running_var", RD_PARAM_BN_STATE, 1, 8, 0, 0, 0}, /* conv_1x1 */
        {"cells.1.preprocess0.op.1.weight", RD_PARAM_WEIGHT, 4, 8, 12, 1, 1},
        {"cells.2.preprocess0.conv_1.weight", RD_PARAM_WEIGHT, 4, 8, 12, 1, 1}, /* after a reduction */
        {"cells.2.preprocess0.conv_2.weight", RD_PARAM_WEIGHT, 4, 8, 12, 1, 1},
        {"cells.2.preprocess0.bn.running_mean", RD_PARAM_BN_STATE, 1, 16, 0, 0, 0},
        {"cells.2.preprocess1.op.1.weight", RD_PARAM_WEIGHT, 4, 16, 32, 1, 1},
        {"auxiliary_head.features.2.weight", RD_PARAM_WEIGHT, 4, 128, 64, 1, 1},
        {"auxiliary_head.features.3.bias", RD_PARAM_WEIGHT, 1, 128, 0, 0, 0},
        {"auxiliary_head.features.5.weight", RD_PARAM_WEIGHT, 4, 768, 128, 2, 2},
        {"auxiliary_head.features.6.running_var", RD_PARAM_BN_STATE, 1, 768, 0, 0, 0},
        {"auxiliary_head.classifier.weight", RD_PARAM_WEIGHT, 2, 5, 768, 0, 0},
        {"auxiliary_head.classifier.bias", RD_PARAM_WEIGHT, 1, 5, 0, 0, 0},
        {"classifier.weight", RD_PARAM_WEIGHT, 2, 5, 64, 0, 0},
        {"classifier.bias", RD_PARAM_WEIGHT, 1, 5, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++) {
        const rd_named_tensor *t = find_name(f.names, f.n_names, expected[i].name);
        ck_assert_msg(t, "no tensor named %s", expected[i].name);
        int shape[4] = {expected[i].s0, expected[i].s1, expected[i].s2, expected[i].s3};
        ck_assert_msg(t->kind == expected[i].kind && t->ndim == expected[i].ndim, "%s: kind %d ndim %d",
                      t->name, t->kind, t->ndim);
        for (int d = 0; d < t->ndim; d++)
            ck_assert_msg(t->shape[d] == shape[d], "%s: dim %d is %d, expected %d", t->name, d, t->shape[d], shape[d]);
    }
    /* pools, identities and `none` have no parameters; no BN after pools; no num_batches_tracked */
    const char *absent[] = {"cells.0._ops.3.1.running_mean", "cells.0._ops.4.1.weight", "cells.0._ops.1.conv_1.weight",
                            "cells.0._ops.5.op.1.weight", "cells.1._ops.7.conv_1.weight"};
    for (size_t i = 0; i < sizeof absent / sizeof *absent; i++)
        ck_assert_msg(!find_name(f.names, f.n_names, absent[i]), "unexpected tensor %s", absent[i]);
    /* names unique, tensors tile their vectors exactly */
    size_t wsum = 0, bsum = 0;
    for (int i = 0; i < f.n_names; i++) {
        ck_assert_msg(!strstr(f.names[i].name, "num_batches_tracked"), "%s", f.names[i].name);
        for (int j = 0; j < i; j++) ck_assert_msg(strcmp(f.names[i].name, f.names[j].name), "%s twice", f.names[i].name);
        if (f.names[i].kind == RD_PARAM_WEIGHT) wsum += f.names[i].count;
        else bsum += f.names[i].count;
    }
    ck_assert_uint_eq(wsum, rd_network_weights(f.net).len);
    ck_assert_uint_eq(bsum, rd_network_bn_state(f.net).len);
    /* DARTS counts parameters without the auxiliary head */
    double params, flops;
    rd_network_cost(f.net, &params, &flops);
    size_t aux = 0;
    for (int i = 0; i < f.n_names; i++)
        if (f.names[i].kind == RD_PARAM_WEIGHT && strstr(f.names[i].name, "auxiliary")) aux += f.names[i].count;
    ck_assert_msg(fabs(params - (double)(wsum - aux)) < 0.5, "params %.0f, expected %zu", params, wsum - aux);
    teardown(&f);
}
END_TEST

/* DARTS' published evaluation network: DARTS_V2, C 36, 20 cells, CIFAR-10 with the
 * auxiliary head; its train.py logs "param size = 3.349342MB" (auxiliary head excluded). */
START_TEST(darts_v2_cifar10_parameter_count) {
    rd_network_config c;
    rd_network_config_default(&c);
    c.in_channels = 3;
    c.in_h = c.in_w = 32;
    c.batch = 2;
    c.auxiliary = 1;
    rd_network *net;
    TU_OK(rd_network_create(tu_ctx(), &c, 1, &net));
    double params, flops;
    rd_network_cost(net, &params, &flops);
    printf("DARTS_V2 CIFAR-10: %.0f parameters, %.1f MFLOPs per image\n", params, flops / 1e6);
    ck_assert_msg(params == 3349342.0, "%.0f parameters, DARTS has 3349342", params);
    rd_network_free(net);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_network");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, names_follow_pytorch_darts);
    tcase_add_test(tc, config_errors);
    tcase_add_test(tc, mixed_genotype_forward_train_and_eval);
    tcase_add_test(tc, mixed_genotype_weight_grads);
    tcase_add_test(tc, drop_path_forward_and_grads);
    tcase_add_test(tc, darts_v2_forward_and_grads);
    tcase_add_test(tc, auxiliary_head_32x32);
    tcase_add_test(tc, memory_plan_matches_allocation);
    tcase_add_test(tc, darts_v2_cifar10_parameter_count);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
