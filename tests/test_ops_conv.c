/* Convolution (dense, depthwise, strided, dilated, negative padding, fused
 * ReLU, strided views) against the double-precision host reference, and
 * every backward against central finite differences of that reference.
 *
 * Tolerances (float32 device vs double reference): |got - want| <=
 * atol + 1e-4 * |want| with atol = 1e-5 + 2e-7 * T, T the number of products
 * summed into one output (forward: Cin/groups*KH*KW; dx: Cout/groups*KH*KW;
 * dw: N*OH*OW). Finite differences use eps = 1e-4: the loss sum(r * y) is
 * bilinear in (x, w), so the only error is rounding (~1e-12), and inputs are
 * spread (tu_fill_distinct) so that no x lies within eps of the ReLU kink. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops_internal.h"
#include "test_util.h"

typedef struct conv_case {
    const char *name;
    rd_conv_params p;
    int n, c, h, w, out_c;
    int view;   /* x, y, dy, dx are channel slices of larger tensors (batch stride != c*h*w) */
} conv_case;

static rd_conv_params dense(int kh, int kw, int sh, int sw, int ph, int pw, int dil, int relu) {
    return rd_conv_dense_params(kh, kw, sh, sw, ph, pw, dil, relu);
}

static rd_conv_params shifted_1x1_s2(int relu) {
    /* FactorizedReduce's second conv: 1x1 stride 2 on x[:, :, 1:, 1:] */
    rd_conv_params p = dense(1, 1, 2, 2, 0, 0, 1, relu);
    p.pad_top = p.pad_left = -1;
    return p;
}

static rd_conv_params dwise(int c, int k, int s, int dil, int relu) {
    return rd_conv_depthwise_params(c, k, s, dil == 1 ? k / 2 : (k - 1) * dil / 2, dil, relu);
}

static rd_conv_params grouped(int groups, int k, int s, int pad, int relu) {
    rd_conv_params p = dense(k, k, s, s, pad, pad, 1, relu);
    p.groups = groups;
    return p;
}

/* Small shapes: forward vs reference, backward vs finite differences. */
static const conv_case fd_cases[] = {
    {"pw 5->17", {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0}, 3, 5, 7, 7, 17, 0},
    {"pw 17->5 relu view", {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1}, 2, 17, 9, 9, 5, 1},
    {"1x1 s2 relu", {1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1}, 2, 6, 9, 9, 3, 0},
    {"1x1 s2 shifted (FactorizedReduce)", {1, 1, 2, 2, -1, -1, 0, 0, 1, 1, 1, 1}, 2, 6, 8, 8, 3, 1},
    {"1x1 s2 shifted odd", {1, 1, 2, 2, -1, -1, 0, 0, 1, 1, 1, 0}, 1, 5, 9, 9, 4, 0},
    {"3x3 p1", {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 2, 3, 9, 9, 5, 0},
    {"3x3 p1 view", {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, 1, 5, 7, 11, 3, 1},
    {"3x3 s2 p1", {3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1}, 3, 5, 9, 9, 5, 0},
    {"3x3 s2 p1 wide", {3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0}, 1, 3, 5, 19, 5, 1},
    {"3x3 dil2 p2", {3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, 1}, 1, 3, 9, 9, 3, 0},
    {"1x7 p(0,3)", {1, 7, 1, 1, 0, 3, 0, 3, 1, 1, 1, 1}, 2, 5, 9, 9, 5, 0},
    {"1x7 p(0,3) s(1,2)", {1, 7, 1, 2, 0, 3, 0, 3, 1, 1, 1, 1}, 2, 5, 7, 9, 5, 1},
    {"7x1 p(3,0)", {7, 1, 1, 1, 3, 0, 3, 0, 1, 1, 1, 0}, 2, 5, 9, 7, 5, 0},
    {"7x1 p(3,0) s(2,1)", {7, 1, 2, 1, 3, 0, 3, 0, 1, 1, 1, 1}, 1, 5, 9, 9, 5, 1},
    {"stem 3x3 1->48", {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, 2, 1, 9, 9, 48, 0},
    {"stem 3x3 3->48", {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, 1, 3, 7, 9, 48, 0},
    {"generic 2x2 s3 groups 2", {2, 2, 3, 3, 1, 1, 0, 0, 1, 1, 2, 1}, 2, 4, 9, 8, 6, 0},
    {"generic 5x5 dense", {5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, 0}, 1, 3, 7, 7, 2, 1},
    {"dw3 s1", {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5, 1}, 3, 5, 9, 9, 5, 0},
    {"dw3 s2", {3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 5, 1}, 3, 5, 9, 9, 5, 1},
    {"dw3 s1 dil2", {3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 3, 0}, 1, 3, 9, 17, 3, 0},
    {"dw3 s2 dil2", {3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 3, 1}, 2, 3, 7, 19, 3, 1},
    {"dw5 s1", {5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 3, 1}, 2, 3, 9, 9, 3, 0},
    {"dw5 s2 dil2", {5, 5, 2, 2, 4, 4, 4, 4, 2, 2, 3, 1}, 1, 3, 9, 9, 3, 1},
    {"dw7 s1", {7, 7, 1, 1, 3, 3, 3, 3, 1, 1, 3, 0}, 2, 3, 7, 7, 3, 0},
    {"dw7 s2", {7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 3, 1}, 1, 3, 9, 17, 3, 1},
    {"dw7 s1 dil2", {7, 7, 1, 1, 6, 6, 6, 6, 2, 2, 2, 1}, 1, 2, 9, 9, 2, 0},
    {"dw5 s1 dil2 odd", {5, 5, 1, 1, 4, 4, 4, 4, 2, 2, 17, 0}, 1, 17, 7, 7, 17, 0},
    /* the largest patch a local-memory depthwise tile stages (43 x 43), over several tiles */
    {"dw7 s2 dil2 40x37", {7, 7, 2, 2, 6, 6, 6, 6, 2, 2, 2, 1}, 1, 2, 40, 37, 2, 1},
};

typedef struct conv_bufs {
    rd_tensor x, y, dy, dx;
    rd_vec w, dw;
} conv_bufs;

/* A device tensor of shape (n, c, h, w); a channel slice of a wider one when view. */
static rd_tensor make_tensor(int n, int c, int h, int w, int view) {
    if (!view) return tu_tensor(n, c, h, w);
    rd_tensor big = tu_tensor(n, c + 3, h, w);
    rd_tensor v = rd_tensor_channels(big, 2, c);
    ck_assert(!rd_tensor_is_dense(&v));
    return v;
}

typedef struct fd_user {
    const rd_conv_params *p;
    ref_shape xs, ys;
    int out_c;
    const double *x, *w, *r;
    int wrt_w;   /* 0: differentiate with respect to x, 1: w */
    double *y;
} fd_user;

static double fd_loss(void *u, const double *v) {
    fd_user *f = u;
    ref_conv2d(f->p, f->wrt_w ? f->x : v, f->xs, f->wrt_w ? v : f->w, f->out_c, f->y, f->ys);
    return tu_dot(f->r, f->y, ref_numel(f->ys));
}

static double tol_for(double terms) { return 1e-5 + 2e-7 * terms; }

static void run_fd_case(const conv_case *cc, tu_rng *rng) {
    rd_ctx *ctx = tu_ctx();
    const rd_conv_params *p = &cc->p;
    ref_shape xs = {cc->n, cc->c, cc->h, cc->w};
    ref_shape ys = {cc->n, cc->out_c, rd_conv_out_h(p, cc->h), rd_conv_out_w(p, cc->w)};
    size_t nx = ref_numel(xs), ny = ref_numel(ys), nw = rd_conv_weight_count(p, cc->c, cc->out_c);
    double *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *r = malloc(ny * sizeof *r),
           *y = malloc(ny * sizeof *y), *got = malloc((nx > nw ? (nx > ny ? nx : ny) : (nw > ny ? nw : ny)) * sizeof *got),
           *gx = malloc(nx * sizeof *gx), *gw = malloc(nw * sizeof *gw), *dx0 = malloc(nx * sizeof *dx0),
           *dw0 = malloc(nw * sizeof *dw0), *want = malloc((nx > nw ? nx : nw) * sizeof *want);
    tu_fill_distinct(rng, x, nx, 4.0);
    tu_fill(rng, w, nw, -1, 1);
    tu_fill(rng, r, ny, -1, 1);
    tu_fill(rng, dx0, nx, -1, 1);
    tu_fill(rng, dw0, nw, -1, 1);

    rd_tensor tx = make_tensor(cc->n, cc->c, cc->h, cc->w, cc->view);
    rd_tensor ty = make_tensor(ys.n, ys.c, ys.h, ys.w, cc->view);
    rd_tensor tdy = make_tensor(ys.n, ys.c, ys.h, ys.w, cc->view);
    rd_tensor tdx = make_tensor(cc->n, cc->c, cc->h, cc->w, cc->view);
    tu_write(&tx, x);
    tu_write(&tdy, r);
    rd_vec tw = tu_vec_from(w, nw), tdw = tu_vec_from(dw0, nw);
    int groups = p->groups;
    double fan_fwd = (double)(cc->c / groups) * p->kh * p->kw, fan_dx = (double)(cc->out_c / groups) * p->kh * p->kw,
           fan_dw = (double)ys.n * ys.h * ys.w;

    /* forward */
    TU_OK(rd_conv2d_forward(ctx, p, &tx, &tw, &ty));
    tu_read(&ty, got);
    ref_conv2d(p, x, xs, w, cc->out_c, y, ys);
    tu_assert_close(cc->name, got, y, ny, tol_for(fan_fwd), 1e-4);

    /* gradients of L = sum(r * y) by central differences of the reference */
    fd_user u = {p, xs, ys, cc->out_c, x, w, r, 0, y};
    tu_fd_grad(fd_loss, &u, x, nx, 1e-4, gx);
    u.wrt_w = 1;
    tu_fd_grad(fd_loss, &u, w, nw, 1e-4, gw);

    /* dx overwritten, dw accumulated onto dw0 */
    TU_OK(rd_fill(ctx, &tdx, 12345.0f));
    TU_OK(rd_conv2d_backward(ctx, p, &tx, &tw, &tdy, &tdx, 0, &tdw));
    tu_read(&tdx, got);
    tu_assert_close(cc->name, got, gx, nx, tol_for(fan_dx), 1e-4);
    tu_vec_read(&tdw, got);
    for (size_t i = 0; i < nw; i++) want[i] = dw0[i] + gw[i];
    tu_assert_close(cc->name, got, want, nw, tol_for(fan_dw), 1e-4);

    /* dx accumulated onto dx0, dw skipped */
    tu_write(&tdx, dx0);
    TU_OK(rd_conv2d_backward(ctx, p, &tx, &tw, &tdy, &tdx, 1, NULL));
    tu_read(&tdx, got);
    for (size_t i = 0; i < nx; i++) want[i] = dx0[i] + gx[i];
    tu_assert_close(cc->name, got, want, nx, tol_for(fan_dx), 1e-4);

    /* dw only (dx NULL): a second accumulation */
    TU_OK(rd_conv2d_backward(ctx, p, &tx, &tw, &tdy, NULL, 0, &tdw));
    tu_vec_read(&tdw, got);
    for (size_t i = 0; i < nw; i++) want[i] = dw0[i] + 2 * gw[i];
    tu_assert_close(cc->name, got, want, nw, 2 * tol_for(fan_dw), 1e-4);

    free(x); free(w); free(r); free(y); free(got); free(gx); free(gw); free(dx0); free(dw0); free(want);
    tu_free_all();
}

START_TEST(forward_backward_vs_reference) {
    rd_conv_set_mode(RD_CONV_AUTO); /* whatever an earlier failed test in this process left */
    tu_rng rng = {2024};
    for (size_t i = 0; i < sizeof fd_cases / sizeof *fd_cases; i++) run_fd_case(&fd_cases[i], &rng);
}
END_TEST

/* The same cases through the generic kernels: the reference path of the larger tests below. */
START_TEST(generic_path_vs_reference) {
    tu_rng rng = {77};
    rd_conv_set_mode(RD_CONV_GENERIC);
    for (size_t i = 0; i < sizeof fd_cases / sizeof *fd_cases; i += 3) run_fd_case(&fd_cases[i], &rng);
    rd_conv_set_mode(RD_CONV_AUTO);
}
END_TEST

/* Every kernel parameter radars tune may pick for the convolutions, on this device:
 * the local-memory implicit GEMM of the dense convolutions and depthwise patches (written for GPUs),
 * generic paths per family and each tile-group size, against the host reference. */
START_TEST(tuning_candidates_vs_reference) {
    rd_ctx *ctx = tu_ctx();
    rd_conv_set_mode(RD_CONV_AUTO);
    const rd_tuning saved = *rd_ctx_tuning(ctx);
    int count;
    const rd_tunable *tab = rd_tunables(&count);
    tu_rng rng = {4242};
    int runs = 0;
    for (int i = 0; i < count; i++) {
        if (strncmp(tab[i].key, "conv_", 5)) continue;
        for (int j = 0; j < tab[i].n_values; j++) {
            rd_tuning t = saved;
            *rd_tuning_field(&t, i) = tab[i].values[j];
            rd_err err = {0};
            if (rd_tuning_check(rd_ctx_device(ctx), &t, &err) != RD_OK) continue;  /* over the device's limit */
            TU_OK(rd_ctx_set_tuning(ctx, &t));
            /* both 1x1 cases (odd sizes, a view), FactorizedReduce's shifted 1x1 s2, 3x3 with stride
             * and dilation, the strided 1x7 and 7x1, the 48-channel stem (several row tiles), depthwise
             * with every stride and dilation; on a simulated device only the cases of the family
             * whose parameter changed (every family for the tile-group size). A tile (conv_rows,
             * conv_block, conv_pw_*) rebuilds and changes only its family's kernels, so only that
             * family runs under it: a launch sized with another family's tile already fails at the
             * defaults, where the families' tiles differ (depthwise 7 rows, dense 8, 1x1 4 x 32). */
            static const int picked[] = {0, 1, 3, 5, 7, 9, 11, 13, 15, 18, 21, 23, 25, 26, 28, -1},
                             pw[] = {0, 1, -1}, row[] = {3, 7, -1}, dwc[] = {21, 28, -1}, group[] = {0, 7, 21, -1},
                             block[] = {2, 7, 11, 14, -1}, all_rows[] = {2, 3, 5, 7, 9, 11, 13, 14, 15, -1},
                             all_dwc[] = {18, 21, 23, 25, 26, 28, -1};
            const char *key = tab[i].key;
            const int tile = !strcmp(key, "conv_rows") || !strcmp(key, "conv_block") || !strncmp(key, "conv_pw_", 8);
            const int *cs = !tu_small() && !tile                ? picked
                            : !strncmp(key, "conv_pw", 7)       ? pw
                            : !strcmp(key, "conv_row")          ? row
                            : !strcmp(key, "conv_dwc")          ? dwc
                            : !strcmp(key, "conv_rows")         ? (tu_small() ? dwc : all_dwc)
                            : !strcmp(key, "conv_block")        ? (tu_small() ? block : all_rows)
                                                                : group;
            for (; *cs >= 0; cs++) run_fd_case(&fd_cases[*cs], &rng);
            runs++;
        }
    }
    TU_OK(rd_ctx_set_tuning(ctx, &saved));
    ck_assert_int_ge(runs, 8);
}
END_TEST

/* DARTS-sized shapes (several column tiles per row, channel blocks, batch
 * strides): the fast kernels against the generic ones, forward and backward. */
typedef struct big_case {
    const char *name;
    rd_conv_params p;
    int n, c, h, w, out_c, view;
} big_case;

static void run_big_case(const big_case *bc, tu_rng *rng) {
    rd_ctx *ctx = tu_ctx();
    const rd_conv_params *p = &bc->p;
    int oh = rd_conv_out_h(p, bc->h), ow = rd_conv_out_w(p, bc->w);
    size_t nx = (size_t)bc->n * bc->c * bc->h * bc->w, ny = (size_t)bc->n * bc->out_c * oh * ow;
    size_t nw = rd_conv_weight_count(p, bc->c, bc->out_c);
    if (tu_too_big(nx > ny ? nx : ny)) return;
    double *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *r = malloc(ny * sizeof *r),
           *dx0 = malloc(nx * sizeof *dx0), *zero = calloc(nw, sizeof *zero), *y[2], *dx[2], *dw[2];
    for (int m = 0; m < 2; m++) {
        y[m] = malloc(ny * sizeof **y);
        dx[m] = malloc(nx * sizeof **dx);
        dw[m] = malloc(nw * sizeof **dw);
    }
    tu_fill_distinct(rng, x, nx, 4.0);
    tu_fill(rng, w, nw, -1, 1);
    tu_fill(rng, r, ny, -1, 1);
    tu_fill(rng, dx0, nx, -1, 1);
    rd_tensor tx = make_tensor(bc->n, bc->c, bc->h, bc->w, bc->view);
    rd_tensor ty = make_tensor(bc->n, bc->out_c, oh, ow, bc->view);
    rd_tensor tdy = make_tensor(bc->n, bc->out_c, oh, ow, bc->view);
    rd_tensor tdx = make_tensor(bc->n, bc->c, bc->h, bc->w, bc->view);
    tu_write(&tx, x);
    tu_write(&tdy, r);
    rd_vec tw = tu_vec_from(w, nw), tdw = tu_vec_from(zero, nw);
    double fan_fwd = (double)(bc->c / p->groups) * p->kh * p->kw,
           fan_dx = (double)(bc->out_c / p->groups) * p->kh * p->kw, fan_dw = (double)bc->n * oh * ow;
    for (int m = 0; m < 2; m++) {
        rd_conv_set_mode(m ? RD_CONV_GENERIC : RD_CONV_AUTO);
        TU_OK(rd_conv2d_forward(ctx, p, &tx, &tw, &ty));
        tu_read(&ty, y[m]);
        tu_write(&tdx, dx0);
        TU_OK(rd_vec_fill(ctx, &tdw, 0.0f));
        TU_OK(rd_conv2d_backward(ctx, p, &tx, &tw, &tdy, &tdx, 1, &tdw));
        tu_read(&tdx, dx[m]);
        tu_vec_read(&tdw, dw[m]);
    }
    rd_conv_set_mode(RD_CONV_AUTO); /* before the checks: a failure must not leave later tests generic */
    tu_assert_close(bc->name, y[0], y[1], ny, tol_for(fan_fwd), 1e-4);
    tu_assert_close(bc->name, dx[0], dx[1], nx, tol_for(fan_dx), 1e-4);
    tu_assert_close(bc->name, dw[0], dw[1], nw, tol_for(fan_dw), 1e-4);
    for (int m = 0; m < 2; m++) { free(y[m]); free(dx[m]); free(dw[m]); }
    free(x); free(w); free(r); free(dx0); free(zero);
    tu_free_all();
}

START_TEST(darts_shapes_fast_vs_generic) {
    static const big_case cases[] = {
        {"pw 16->16 28x28", {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1}, 2, 16, 28, 28, 16, 1},
        {"pw 64->32 14x14", {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1}, 3, 64, 14, 14, 32, 0},
        {"FR 1x1 s2 shifted 32->16", {1, 1, 2, 2, -1, -1, 0, 0, 1, 1, 1, 1}, 2, 32, 28, 28, 16, 1},
        {"3x3 s1 16 28x28", {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 2, 16, 28, 28, 16, 0},
        {"3x3 s2 32 28x28", {3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1}, 1, 32, 28, 28, 32, 1},
        {"1x7 s(1,2) 16 28x28", {1, 7, 1, 2, 0, 3, 0, 3, 1, 1, 1, 1}, 2, 16, 28, 28, 16, 0},
        {"7x1 s(2,1) 16 28x14", {7, 1, 2, 1, 3, 0, 3, 0, 1, 1, 1, 1}, 2, 16, 28, 14, 16, 1},
        {"stem 3->48 28x28", {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, 2, 3, 28, 28, 48, 0},
        {"dw3 s1 28x28", {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 16, 1}, 2, 16, 28, 28, 16, 1},
        {"dw3 s2 28x28", {3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 16, 1}, 2, 16, 28, 28, 16, 0},
        {"dw5 s2 dil2 28x28", {5, 5, 2, 2, 4, 4, 4, 4, 2, 2, 16, 1}, 2, 16, 28, 28, 16, 1},
        {"dw7 s1 14x14", {7, 7, 1, 1, 3, 3, 3, 3, 1, 1, 32, 1}, 2, 32, 14, 14, 32, 0},
        {"dw5 s1 dil2 7x7", {5, 5, 1, 1, 4, 4, 4, 4, 2, 2, 64, 1}, 3, 64, 7, 7, 64, 1},
    };
    tu_rng rng = {99};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_big_case(&cases[i], &rng);
}
END_TEST

START_TEST(sizes_and_scratch) {
    rd_conv_params p = dense(3, 3, 2, 2, 1, 1, 1, 0);
    ck_assert_int_eq(rd_conv_out_h(&p, 28), 14);
    ck_assert_int_eq(rd_conv_out_w(&p, 7), 4);
    rd_conv_params fr = shifted_1x1_s2(1);
    ck_assert_int_eq(rd_conv_out_h(&fr, 28), 14);
    ck_assert_int_eq(rd_conv_out_h(&fr, 9), 4);
    rd_conv_params d = dwise(16, 5, 1, 2, 1);
    ck_assert_int_eq(d.pad_top, 4);
    ck_assert_int_eq(rd_conv_out_h(&d, 14), 14);
    ck_assert_uint_eq(rd_conv_weight_count(&d, 16, 16), 16 * 25);
    ck_assert_uint_eq(rd_conv_weight_count(&p, 16, 32), 32 * 16 * 9);
    rd_conv_params g = grouped(2, 3, 1, 1, 0);
    ck_assert_uint_eq(rd_conv_weight_count(&g, 4, 6), 6 * 2 * 9);

    /* the scratch a backward uses is what rd_conv2d_scratch_bytes reports: once
     * reserved, a backward allocates nothing. With the default tiles, one input channel
     * gives few dw work-items, so the images are split into chunks whose partial sums need
     * scratch; 16 channels at 4 images: on a CPU with few cores one chunk, whose kernel adds
     * into dw itself (no scratch; forward_backward_vs_reference checks that it accumulates).
     * Other tunings (conv_row=local) may take one chunk for both. */
    rd_ctx *ctx = tu_ctx();
    for (int ci = 1; ci <= 16; ci += 15) {
        rd_scratch_release(ctx);
        rd_tensor x = tu_tensor(4, ci, 14, 14), y = tu_tensor(4, 16, 7, 7), dx = tu_tensor(4, ci, 14, 14);
        rd_vec w = tu_vec((size_t)16 * ci * 9), dw = tu_vec((size_t)16 * ci * 9);
        TU_OK(rd_fill(ctx, &x, 0.5f));
        TU_OK(rd_fill(ctx, &y, 0.25f));
        TU_OK(rd_vec_fill(ctx, &w, 0.1f));
        TU_OK(rd_vec_fill(ctx, &dw, 0.0f));
        size_t bytes = rd_conv2d_scratch_bytes(ctx, &p, &x, &y);
        if (bytes) TU_OK(rd_scratch_reserve(ctx, RD_SCRATCH_CONV0, bytes));
        rd_mem_stats before = rd_mem_get_stats(ctx);
        TU_OK(rd_conv2d_forward(ctx, &p, &x, &w, &y));
        TU_OK(rd_conv2d_backward(ctx, &p, &x, &w, &y, &dx, 0, &dw));
        TU_OK(rd_finish(ctx));
        rd_mem_stats after = rd_mem_get_stats(ctx);
        ck_assert_uint_eq(after.total_allocs, before.total_allocs);
        ck_assert_uint_eq(after.peak, before.peak);
    }
    tu_free_all();
}
END_TEST

START_TEST(shape_errors) {
    rd_ctx *ctx = tu_ctx();
    rd_conv_params p = dense(3, 3, 1, 1, 1, 1, 1, 0);
    rd_tensor x = tu_tensor(2, 3, 8, 8), y = tu_tensor(2, 4, 8, 8), bad_y = tu_tensor(2, 4, 7, 8),
              bad_n = tu_tensor(1, 4, 8, 8), dx_bad = tu_tensor(2, 3, 8, 7);
    rd_vec w = tu_vec(4 * 3 * 9), bad_w = tu_vec(4 * 3 * 9 - 1);
    ck_assert_int_eq(rd_conv2d_forward(ctx, &p, &x, &w, &bad_y), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "conv2d"));
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "2x4x7x8"));
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "2x3x8x8"));
    ck_assert_ptr_null(strchr(rd_ctx_error(ctx), '\n'));
    ck_assert_int_eq(rd_conv2d_forward(ctx, &p, &x, &w, &bad_n), RD_ERR_ARG);
    ck_assert_int_eq(rd_conv2d_forward(ctx, &p, &x, &bad_w, &y), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "conv2d"));
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "107"));
    ck_assert_int_eq(rd_conv2d_backward(ctx, &p, &x, &w, &bad_y, NULL, 0, &w), RD_ERR_ARG);
    ck_assert_int_eq(rd_conv2d_backward(ctx, &p, &x, &w, &y, &dx_bad, 0, NULL), RD_ERR_ARG);
    ck_assert_int_eq(rd_conv2d_backward(ctx, &p, &x, &w, &y, NULL, 0, &bad_w), RD_ERR_ARG);
    /* depthwise needs channels divisible by groups */
    rd_conv_params d = dwise(4, 3, 1, 1, 0);
    ck_assert_int_eq(rd_conv2d_forward(ctx, &d, &x, &w, &y), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "conv2d"));
    /* an empty output */
    rd_conv_params big = dense(9, 9, 1, 1, 0, 0, 1, 0);
    ck_assert_int_eq(rd_conv2d_forward(ctx, &big, &x, &w, &y), RD_ERR_ARG);
    p.stride_h = 0;
    ck_assert_int_eq(rd_conv2d_forward(ctx, &p, &x, &w, &y), RD_ERR_ARG);
    tu_free_all();
}
END_TEST

/* A group of 1x1 convolutions (rd_pw_group): three slices in one buffer, each with its own
 * input and output (two of each channel slices of a "stack") and weights
 * (out of order in w), one launch per pass or, under conv_pw=local, one per slice. Forward
 * against the reference, backward against finite differences of it: dw added onto its old
 * value, dx written over x. The buffer starts as NaN, so a read outside the slices shows. */
static void run_pw_group(tu_rng *rng) {
    rd_ctx *ctx = tu_ctx();
    enum { G = 3 };
    const int n = 3, c = 12, h = 5, w = 7;   /* 3 x 6 weight-gradient tiles per slice: one chunk on a 2-core CPU */
    const size_t chw = (size_t)c * h * w, img = (size_t)n * chw, cc = (size_t)c * c;
    const rd_conv_params p = dense(1, 1, 1, 1, 0, 0, 1, 0);
    const ref_shape xs = {n, c, h, w};
    /* the buffer: an input stack of two channel slices (batch stride 2 c h w), an output stack of
     * three (3 c h w), two dense tensors D0, D1, then slack. Slice 0: D0 -> D1; slice 1: input
     * slice 0 -> output slice 0; slice 2: input slice 1 -> output slice 2. (A slice's x is read in
     * whole vectors anywhere in its span, first to last image, so no y may lie there.) */
    rd_vec buf = tu_vec(7 * img + 64);
    const uint32_t I = (uint32_t)img, S = (uint32_t)chw, w_at[G] = {2 * (uint32_t)cc, 0, (uint32_t)cc};
    uint32_t host[5 * G] = {5 * I, S, w_at[0], 6 * I, S,                /* slice 0 */
                            0, 2 * S, w_at[1], 2 * I, 3 * S,            /* slice 1 */
                            S, 2 * S, w_at[2], 2 * I + 2 * S, 3 * S};   /* slice 2 */
    rd_vec tab = tu_vec(5 * G);
    TU_OK(rd_vec_write(ctx, &tab, (const float *)(const void *)host));
    rd_pw_group grp = {buf.mem, G, n, c, h, w, tab, host};

    double *x[G], *y = malloc(img * sizeof *y), *wt = malloc(G * cc * sizeof *wt), *dw0 = malloc(G * cc * sizeof *dw0),
           *r[G], *got = malloc(img * sizeof *got), *gx = malloc(img * sizeof *gx), *gw = malloc(cc * sizeof *gw),
           *want = malloc(cc * sizeof *want);
    tu_fill(rng, wt, G * cc, -1, 1);
    tu_fill(rng, dw0, G * cc, -1, 1);
    rd_vec tw = tu_vec_from(wt, G * cc), tdw = tu_vec_from(dw0, G * cc);
    rd_tensor tx[G], ty[G];
    for (int g = 0; g < G; g++) {
        x[g] = malloc(img * sizeof **x);
        r[g] = malloc(img * sizeof **r);
        tu_fill(rng, x[g], img, -1, 1);
        tu_fill(rng, r[g], img, -1, 1);
        tx[g] = rd_tensor_make(buf.mem, host[5 * g], n, c, h, w);
        tx[g].nstride = host[5 * g + 1];
        ty[g] = rd_tensor_make(buf.mem, host[5 * g + 3], n, c, h, w);
        ty[g].nstride = host[5 * g + 4];
        tu_write(&tx[g], x[g]);
    }
    char what[64];
    TU_OK(rd_pw_group_forward(ctx, &grp, &tw));
    for (int g = 0; g < G; g++) {
        tu_read(&ty[g], got);
        ref_conv2d(&p, x[g], xs, wt + w_at[g], c, y, xs);
        snprintf(what, sizeof what, "1x1 group forward, slice %d", g);
        tu_assert_close(what, got, y, img, tol_for(c), 1e-4);
    }
    for (int g = 0; g < G; g++) tu_write(&ty[g], r[g]);   /* dy where y was */
    TU_OK(rd_pw_group_backward(ctx, &grp, &tw, &tdw));
    double *dw_got = malloc(G * cc * sizeof *dw_got);
    tu_vec_read(&tdw, dw_got);
    for (int g = 0; g < G; g++) {
        fd_user u = {&p, xs, xs, c, x[g], wt + w_at[g], r[g], 0, y};
        tu_fd_grad(fd_loss, &u, x[g], img, 1e-4, gx);
        u.wrt_w = 1;
        tu_fd_grad(fd_loss, &u, wt + w_at[g], cc, 1e-4, gw);
        tu_read(&tx[g], got);     /* dx over x */
        snprintf(what, sizeof what, "1x1 group dx, slice %d", g);
        tu_assert_close(what, got, gx, img, tol_for(c), 1e-4);
        for (size_t i = 0; i < cc; i++) want[i] = dw0[w_at[g] + i] + gw[i];
        snprintf(what, sizeof what, "1x1 group dw, slice %d", g);
        tu_assert_close(what, dw_got + w_at[g], want, cc, tol_for((double)n * h * w), 1e-4);
    }
    /* a table entry past the weights: a one-line error naming the slice */
    host[5 * 1 + 2] = (uint32_t)(G * cc - 3);
    ck_assert_int_eq(rd_pw_group_forward(ctx, &grp, &tw), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "1x1 group forward: slice 1's table entry"));
    host[5 * 1 + 2] = w_at[1];
    host[5 * 2 + 4] = (uint32_t)chw - 1;   /* a batch stride shorter than an image */
    ck_assert_int_eq(rd_pw_group_backward(ctx, &grp, &tw, NULL), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "slice 2's table entry"));
    for (int g = 0; g < G; g++) free(x[g]), free(r[g]);
    free(y), free(wt), free(dw0), free(got), free(gx), free(gw), free(want), free(dw_got);
    tu_free_all();
}

START_TEST(pw_group_vs_reference) {
    rd_ctx *ctx = tu_ctx();
    rd_conv_set_mode(RD_CONV_AUTO);
    tu_rng rng = {777};
    run_pw_group(&rng);                         /* the device's 1x1 kernels: one launch per pass on CPUs */
    const rd_tuning saved = *rd_ctx_tuning(ctx);
    rd_tuning t = saved;
    t.conv_pw = t.conv_pw == RD_CONV_LOCAL ? 1 : RD_CONV_LOCAL;   /* the other path */
    rd_err err = {0};
    if (rd_tuning_check(rd_ctx_device(ctx), &t, &err) == RD_OK) {
        TU_OK(rd_ctx_set_tuning(ctx, &t));
        run_pw_group(&rng);
        TU_OK(rd_ctx_set_tuning(ctx, &saved));
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ops_conv");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, sizes_and_scratch);
    tcase_add_test(tc, shape_errors);
    tcase_add_test(tc, forward_backward_vs_reference);
    tcase_add_test(tc, generic_path_vs_reference);
    tcase_add_test(tc, darts_shapes_fast_vs_generic);
    tcase_add_test(tc, tuning_candidates_vs_reference);
    tcase_add_test(tc, pw_group_vs_reference);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
