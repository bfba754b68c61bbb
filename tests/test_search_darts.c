/* The DARTS step: the second-order (unrolled) architect gradient against finite
 * PyTorch autograd's exact gradient of the unrolled objective
 * L_val(w - xi (g_train(w, a) + wd w), a) (finite differences of that objective
 * are useless: ReLU and max-pool make g_train jump); the first-order one against
 * d L_val / d a; weights left untouched. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radars/search.h"
#include "test_util.h"

typedef struct fx {
    rd_supernet *net;
    rd_darts *d;
    rd_search_config cfg;
    rd_batch train, valid;
    rd_buffer *bufs[4];
} fx;

static void make_batch(rd_batch *b, rd_buffer **bx, rd_buffer **bl, int n, tu_rng *r) {
    rd_ctx *ctx = tu_ctx();
    TU_OK(rd_tensor_alloc(ctx, n, 1, 16, 16, "x", bx, &b->x));
    double x[4 * 256];
    tu_fill(r, x, (size_t)n * 256, -1, 1);
    tu_write(&b->x, x);
    TU_OK(rd_alloc(ctx, n * sizeof(int32_t), "labels", bl));
    int32_t lab[4] = {0, 3, 1, 2};
    clEnqueueWriteBuffer(rd_ctx_queue(ctx), rd_buffer_mem(*bl), CL_TRUE, 0, n * sizeof(int32_t), lab, 0, NULL, NULL);
    b->labels = rd_buffer_mem(*bl);
    b->n = n;
}

static void setup(fx *f, const char *order) {
    memset(f, 0, sizeof *f);
    char o[64];
    snprintf(o, sizeof o, "search.order=%s", order);
    const char *sets[] = {o, "search.w_weight_decay=3e-4"};
    rd_err err;
    ck_assert_int_eq(rd_search_config_load(&f->cfg, NULL, sets, 2, &err), RD_OK);
    rd_supernet_config c;
    rd_supernet_config_default(&c);
    c.C = 4;
    c.layers = 3;
    c.in_channels = 1;
    c.in_h = c.in_w = 16;
    c.classes = 4;
    c.batch = 4;
    TU_OK(rd_supernet_create(tu_ctx(), &c, NULL, NULL, 3, &f->net));
    TU_OK(rd_darts_create(tu_ctx(), f->net, &f->cfg, &f->d));
    tu_rng r = {17};
    make_batch(&f->train, &f->bufs[0], &f->bufs[1], 4, &r);
    make_batch(&f->valid, &f->bufs[2], &f->bufs[3], 4, &r);
    rd_vec a = rd_supernet_alphas(f->net);
    float ha[2 * RD_CELL_EDGES * 8];
    for (size_t i = 0; i < a.len; i++) ha[i] = (float)tu_uniform(&r, -0.5, 0.5);
    TU_OK(rd_supernet_write_alphas(f->net, ha));
}

static void teardown(fx *f) {
    rd_darts_free(f->d);
    rd_supernet_free(f->net);
    for (int i = 0; i < 4; i++) rd_free(tu_ctx(), f->bufs[i]);
    tu_free_all();
}

static int have_torch(void) { return system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0; }

static void write_batch(const rd_batch *b, const char *xpath, const char *ypath) {
    rd_ctx *ctx = tu_ctx();
    size_t nx = rd_tensor_numel(&b->x);
    float *x = malloc(nx * sizeof *x);
    int32_t y[4];
    TU_OK(rd_tensor_read(ctx, &b->x, x));
    clEnqueueReadBuffer(rd_ctx_queue(ctx), b->labels, CL_TRUE, 0, b->n * sizeof(int32_t), y, 0, NULL, NULL);
    FILE *f = fopen(xpath, "wb");
    fwrite(x, sizeof *x, nx, f);
    fclose(f);
    f = fopen(ypath, "wb");
    fwrite(y, sizeof *y, (size_t)b->n, f);
    fclose(f);
    free(x);
}

/* PyTorch's exact unrolled gradient (autograd's Hessian-vector product, in double). */
static void torch_grad(fx *f, float xi, const char *mode, double *out, size_t n) {
    char dir[] = "/tmp/radars-unrolled-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ckpt[256], xt[256], yt[256], xv[256], yv[256], res[256], cmd[4096];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", dir);
    snprintf(xt, sizeof xt, "%s/xt", dir);
    snprintf(yt, sizeof yt, "%s/yt", dir);
    snprintf(xv, sizeof xv, "%s/xv", dir);
    snprintf(yv, sizeof yv, "%s/yv", dir);
    snprintf(res, sizeof res, "%s/grad", dir);
    rd_checkpoint_parts parts = {f->net, NULL, NULL, NULL, NULL, NULL, 0};
    rd_err err;
    ck_assert_msg(rd_checkpoint_save(ckpt, &parts, &err) == RD_OK, "%s", err.msg);
    write_batch(&f->train, xt, yt);
    write_batch(&f->valid, xv, yv);
    const char *src = getenv("RADARS_SOURCE_DIR");
    const rd_supernet_config *c = rd_supernet_get_config(f->net);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/torch_unrolled.py %s/../shared/peers/torch_darts_ref.py %s %s %s %s %s "
             "%d %d %d %d %d %d darts %g %g %s > %s",
             src, src, ckpt, xt, yt, xv, yv, c->batch, c->in_channels, c->in_h, c->C, c->layers, c->classes, xi,
             f->cfg.w_weight_decay, mode, res);
    ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
    FILE *r = fopen(res, "r");
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(fscanf(r, "%lf", &out[i]), 1);
    fclose(r);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(second_order_matches_autograd) {
    const char *src = getenv("RADARS_SOURCE_DIR");
    if (!src || !have_torch()) {
        printf("second order: skipped (needs RADARS_SOURCE_DIR and python3-torch)\n");
        return;
    }
    fx f;
    setup(&f, "second");
    rd_ctx *ctx = tu_ctx();
    rd_vec a = rd_supernet_alphas(f.net), wv = rd_supernet_weights(f.net);
    size_t na = a.len;
    float *w = malloc(wv.len * sizeof *w), *w_after = malloc(wv.len * sizeof *w);
    TU_OK(rd_vec_read(ctx, &wv, w));
    float xi = 0.1f; /* larger than DARTS' 0.025, so the second-order term is clearly visible */
    double *want = malloc(na * sizeof *want), *want1 = malloc(na * sizeof *want1), *got = malloc(na * sizeof *got);
    double *exact = malloc(na * sizeof *exact);
    torch_grad(&f, xi, "darts", want, na);
    torch_grad(&f, xi, "exact", exact, na);
    torch_grad(&f, 0, "exact", want1, na);
    rd_vec out = tu_vec(na);
    TU_OK(rd_darts_arch_grad(f.d, &f.train, &f.valid, xi, &out));
    TU_OK(rd_vec_read(ctx, &wv, w_after));
    ck_assert_msg(memcmp(w, w_after, wv.len * sizeof *w) == 0, "the unrolled step did not restore the weights");
    tu_vec_read(&out, got);
    double scale = 0, diff12 = 0;
    for (size_t i = 0; i < na; i++) scale = fmax(scale, fabs(want[i]));
    for (size_t i = 0; i < na; i++) diff12 = fmax(diff12, fabs(want[i] - want1[i]));
    double dev = 0, dev_exact = 0;
    for (size_t i = 0; i < na; i++) dev = fmax(dev, fabs(got[i] - want[i]));
    for (size_t i = 0; i < na; i++) dev_exact = fmax(dev_exact, fabs(got[i] - exact[i]));
    printf("second order: largest |PyTorch (DARTS' finite-difference HVP, double) - radars-cl| %.3g, "
           "|exact HVP - radars-cl| %.3g, |second - first order| %.3g, scale %.3g\n", dev, dev_exact, diff12, scale);
    ck_assert_msg(diff12 > 0.1 * scale, "second- and first-order gradients nearly coincide: the test would prove nothing");
    /* the same algorithm (DARTS' finite-difference Hessian-vector product) in PyTorch, double precision */
    tu_assert_close("unrolled architect gradient", got, want, na, 0.02 * scale, 0.02);
    f.cfg.order = RD_DARTS_FIRST_ORDER;
    TU_OK(rd_darts_arch_grad(f.d, &f.train, &f.valid, xi, &out));
    tu_vec_read(&out, got);
    tu_assert_close("first-order architect gradient vs PyTorch", got, want1, na, 1e-3 * scale, 1e-3);
    free(w); free(w_after); free(want); free(want1); free(got); free(exact);
    teardown(&f);
}
END_TEST

START_TEST(first_order_is_the_validation_gradient) {
    fx f;
    setup(&f, "first");
    rd_vec a = rd_supernet_alphas(f.net);
    rd_vec out = tu_vec(a.len);
    TU_OK(rd_darts_arch_grad(f.d, &f.train, &f.valid, 0.025f, &out));
    double *got = malloc(a.len * sizeof *got), *want = malloc(a.len * sizeof *want);
    tu_vec_read(&out, got);
    TU_OK(rd_supernet_forward(f.net, &f.valid.x, f.valid.labels, 1));
    TU_OK(rd_supernet_backward(f.net, RD_GRAD_ALPHAS));
    rd_vec ga = rd_supernet_alpha_grads(f.net);
    tu_vec_read(&ga, want);
    tu_assert_close("first-order architect gradient", got, want, a.len, 1e-7, 1e-5);
    /* a full step moves the alphas against the gradient (Adam's first step: -lr * sign) */
    float before[2 * RD_CELL_EDGES * 8], after[2 * RD_CELL_EDGES * 8];
    TU_OK(rd_supernet_read_alphas(f.net, before, NULL));
    rd_step_stats st;
    TU_OK(rd_darts_step(f.d, &f.train, &f.valid, 0.025f, &st));
    TU_OK(rd_supernet_read_alphas(f.net, after, NULL));
    int moved = 0;
    for (size_t i = 0; i < a.len; i++)
        if (fabs(want[i]) > 1e-6) {
            double step = after[i] - before[i];
            ck_assert_msg(step * want[i] < 0, "alpha %zu moved with its gradient", i);
            moved++;
        }
    ck_assert_int_gt(moved, 0);
    ck_assert(isfinite(st.train_loss) && isfinite(st.valid_loss));
    free(got);
    free(want);
    teardown(&f);
}
END_TEST

/* The architecture warm-up's step (no validation batch): the weights move, the alphas do not. */
START_TEST(warmup_step_leaves_the_alphas) {
    fx f;
    setup(&f, "first");
    rd_vec a = rd_supernet_alphas(f.net), w = rd_supernet_weights(f.net);
    double *a0 = malloc(a.len * sizeof *a0), *a1 = malloc(a.len * sizeof *a1);
    double *w0 = malloc(w.len * sizeof *w0), *w1 = malloc(w.len * sizeof *w1);
    tu_vec_read(&a, a0);
    tu_vec_read(&w, w0);
    rd_step_stats st;
    TU_OK(rd_darts_step(f.d, &f.train, NULL, 0.025f, &st));
    tu_vec_read(&a, a1);
    tu_vec_read(&w, w1);
    for (size_t i = 0; i < a.len; i++) ck_assert_msg(a0[i] == a1[i], "alpha %zu moved in the warm-up", i);
    size_t moved = 0;
    for (size_t i = 0; i < w.len; i++) moved += w0[i] != w1[i];
    ck_assert_msg(moved > w.len / 2, "only %zu of %zu weights moved", moved, w.len);
    ck_assert_int_eq(st.n_valid, 0);
    ck_assert_int_eq(st.n_train, f.train.n);
    ck_assert(isfinite(st.train_loss) && st.train_loss > 0);
    free(a0); free(a1); free(w0); free(w1);
    teardown(&f);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("search_darts");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, first_order_is_the_validation_gradient);
    tcase_add_test(tc, warmup_step_leaves_the_alphas);
    tcase_add_test(tc, second_order_matches_autograd);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
