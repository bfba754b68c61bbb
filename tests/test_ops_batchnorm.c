/* Batch normalization against the double reference: training and evaluation
 * forward, running statistics, in place, strided views, the fused mixed-op
 * accumulate, and every backward output against central finite differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

/* Each test runs once per kernel layout (CPU and GPU kernels both run on any device). */
static const char *const layouts[] = {"planes", "groups", "channels"};
static const int n_layouts = (int)(sizeof layouts / sizeof *layouts);
static void use_layout(int i) { setenv("RADARS_BN_KERNELS", layouts[i], 1); }

static const rd_bn_params BN = {1e-5f, 0.1f};

/* x[n][c][i] = offset_c + spread_c * u, u uniform in [-1, 1): channels differ in mean and scale */
static void fill_channels(tu_rng *r, double *x, ref_shape s, double offset, double spread) {
    size_t hw = (size_t)s.h * s.w;
    for (int c = 0; c < s.c; c++) {
        double o = offset + tu_uniform(r, -1, 1) * spread, sp = spread * tu_uniform(r, 0.5, 1.5);
        for (int n = 0; n < s.n; n++)
            for (size_t i = 0; i < hw; i++) x[((size_t)n * s.c + c) * hw + i] = o + sp * tu_uniform(r, -1, 1);
    }
}

static double *dalloc(size_t n) { return malloc((n ? n : 1) * sizeof(double)); }

/* A device rd_bn_state with optional affine parameters and running statistics, and
 * its host copies (rounded to float as uploaded). */
typedef struct bn_setup {
    rd_bn_state s;
    double *gamma, *beta, *rm, *rv;
} bn_setup;

static bn_setup make_state(tu_rng *r, int C, int affine, int track) {
    bn_setup b;
    memset(&b, 0, sizeof b);
    b.gamma = dalloc((size_t)C);
    b.beta = dalloc((size_t)C);
    b.rm = dalloc((size_t)C);
    b.rv = dalloc((size_t)C);
    tu_fill(r, b.gamma, (size_t)C, 0.5, 1.5);
    tu_fill(r, b.beta, (size_t)C, -0.5, 0.5);
    tu_fill(r, b.rm, (size_t)C, -0.3, 0.3);
    tu_fill(r, b.rv, (size_t)C, 0.5, 2.0);
    if (affine) {
        b.s.gamma = tu_vec_from(b.gamma, (size_t)C);
        b.s.beta = tu_vec_from(b.beta, (size_t)C);
    }
    if (track) {
        b.s.running_mean = tu_vec_from(b.rm, (size_t)C);
        b.s.running_var = tu_vec_from(b.rv, (size_t)C);
    }
    b.s.save_mean = tu_vec((size_t)C);
    b.s.save_invstd = tu_vec((size_t)C);
    return b;
}

static void free_state(bn_setup *b) {
    free(b->gamma); free(b->beta); free(b->rm); free(b->rv);
}

/* mean and 1/sqrt(biased var + eps) per channel, in double */
static void ref_stats(const double *x, ref_shape s, double eps, double *mean, double *invstd) {
    size_t hw = (size_t)s.h * s.w, m = (size_t)s.n * hw;
    for (int c = 0; c < s.c; c++) {
        double mu = 0, v = 0;
        for (int n = 0; n < s.n; n++)
            for (size_t i = 0; i < hw; i++) mu += x[((size_t)n * s.c + c) * hw + i];
        mu /= (double)m;
        for (int n = 0; n < s.n; n++)
            for (size_t i = 0; i < hw; i++) {
                double d = x[((size_t)n * s.c + c) * hw + i] - mu;
                v += d * d;
            }
        mean[c] = mu;
        invstd[c] = 1 / sqrt(v / (double)m + eps);
    }
}

/* ytol bounds y; tol the statistics (relative) */
static void check_train_forward(tu_rng *r, ref_shape s, int affine, int track, double offset, double spread,
                                double ytol, double tol) {
    size_t n = ref_numel(s), C = (size_t)s.c;
    double *x = dalloc(n), *y = dalloc(n), *got = dalloc(n), *mean = dalloc(C), *invstd = dalloc(C),
           *gotc = dalloc(C);
    fill_channels(r, x, s, offset, spread);
    bn_setup b = make_state(r, s.c, affine, track);
    rd_tensor tx = tu_tensor_from(x, s.n, s.c, s.h, s.w), ty = tu_tensor(s.n, s.c, s.h, s.w);
    TU_OK(rd_batchnorm_forward_train(tu_ctx(), &BN, &b.s, &tx, &ty, NULL, NULL));
    ref_batchnorm_train(x, s, affine ? b.gamma : NULL, affine ? b.beta : NULL, BN.eps, BN.momentum,
                        track ? b.rm : NULL, track ? b.rv : NULL, y);
    ref_stats(x, s, BN.eps, mean, invstd);
    char what[128];
    snprintf(what, sizeof what, "%dx%dx%dx%d affine %d track %d (mean %g, spread %g)", s.n, s.c, s.h, s.w, affine,
             track, offset, spread);
    tu_read(&ty, got);
    tu_assert_close(what, got, y, n, ytol, ytol);
    tu_vec_read(&b.s.save_mean, gotc);
    tu_assert_close("save_mean", gotc, mean, C, 1e-6, 1e-7);
    tu_vec_read(&b.s.save_invstd, gotc);
    tu_assert_close("save_invstd", gotc, invstd, C, 0, tol);
    if (track) {
        tu_vec_read(&b.s.running_mean, gotc);
        tu_assert_close("running_mean", gotc, b.rm, C, 1e-6, 1e-7);
        tu_vec_read(&b.s.running_var, gotc);
        tu_assert_close("running_var (unbiased)", gotc, b.rv, C, 0, tol);
    }
    free(x); free(y); free(got); free(mean); free(invstd); free(gotc);
    free_state(&b);
    tu_free_all();
}

START_TEST(train_forward_vs_reference) {
    use_layout(_i);
    tu_rng r = {31};
    /* odd sizes, batch 1 and 3, M = 2, and shapes with many chunks per channel that cross images */
    static const ref_shape shapes[] = {{1, 3, 7, 7}, {3, 5, 9, 9}, {2, 17, 5, 3}, {1, 5, 1, 2},
                                       {8, 3, 28, 28}, {3, 16, 14, 14}};
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (int affine = 0; affine < 2; affine++)
            for (int track = 0; track < 2; track++) check_train_forward(&r, shapes[si], affine, track, 0.5, 2.0, 1e-5, 1e-5);
}
END_TEST

START_TEST(large_mean_accuracy) {
    use_layout(_i);
    /* mean far from 0 against the spread: E[x^2] - E[x]^2 in float would lose the variance */
    tu_rng r = {77};
    ref_shape s = {16, 16, 28, 28};
    if (tu_too_big(ref_numel(s))) return;
    check_train_forward(&r, s, 1, 1, 5.0, 0.1, 1e-4, 1e-5);
    /* at mean 1000 the float mean itself is only within half an ulp (3e-5) of the true one,
     * which y = (x - mean) * invstd shows times invstd (up to 3.5): y within 4e-4 */
    check_train_forward(&r, s, 0, 1, 1000.0, 1.0, 4e-4, 1e-5);
    ref_shape small = {64, 4, 7, 7};
    check_train_forward(&r, small, 0, 0, 5.0, 0.1, 1e-4, 1e-5);
}
END_TEST

START_TEST(in_place_strided_fused_accumulate) {
    use_layout(_i);
    tu_rng r = {5};
    ref_shape s = {3, 5, 9, 7};
    size_t n = ref_numel(s);
    int cb = s.c + 3;
    double *x = dalloc(n), *y = dalloc(n), *acc0 = dalloc(n), *got = dalloc(n), *big = dalloc((size_t)s.n * cb * s.h * s.w);
    fill_channels(&r, x, s, 1.0, 1.0);
    tu_fill(&r, acc0, n, -1, 1);
    tu_fill(&r, big, (size_t)s.n * cb * s.h * s.w, -1, 1);
    double w = 0.37;
    for (int affine = 0; affine < 2; affine++) {
        bn_setup b = make_state(&r, s.c, affine, 1);
        /* x is a channel slice of a wider buffer, normalized in place; the node sum is another slice */
        rd_tensor bx = tu_tensor_from(big, s.n, cb, s.h, s.w), bacc = tu_tensor_from(big, s.n, cb, s.h, s.w);
        rd_tensor tx = rd_tensor_channels(bx, 2, s.c), tacc = rd_tensor_channels(bacc, 1, s.c);
        tu_write(&tx, x);
        tu_write(&tacc, acc0);
        rd_vec scale = tu_vec_from(&w, 1);
        TU_OK(rd_batchnorm_forward_train(tu_ctx(), &BN, &b.s, &tx, &tx, &scale, &tacc));
        ref_batchnorm_train(x, s, affine ? b.gamma : NULL, affine ? b.beta : NULL, BN.eps, BN.momentum, b.rm, b.rv, y);
        tu_read(&tx, got);
        tu_assert_close("in place y", got, y, n, 1e-5, 1e-5);
        for (size_t i = 0; i < n; i++) y[i] = acc0[i] + w * y[i];
        tu_read(&tacc, got);
        tu_assert_close("accum_out += scale * y", got, y, n, 1e-5, 1e-5);
        /* scale NULL adds y itself */
        tu_write(&tacc, acc0);
        tu_write(&tx, x);
        TU_OK(rd_batchnorm_forward_train(tu_ctx(), &BN, &b.s, &tx, &tx, NULL, &tacc));
        tu_read(&tacc, got);
        ref_batchnorm_train(x, s, affine ? b.gamma : NULL, affine ? b.beta : NULL, BN.eps, BN.momentum, NULL, NULL, y);
        for (size_t i = 0; i < n; i++) y[i] += acc0[i];
        tu_assert_close("accum_out += y", got, y, n, 1e-5, 1e-5);
        /* the channels outside the views are untouched */
        double *all = dalloc((size_t)s.n * cb * s.h * s.w);
        tu_read(&bx, all);
        size_t hw = (size_t)s.h * s.w;
        for (int i = 0; i < s.n; i++)
            for (int c = 0; c < cb; c++)
                if (c < 2 || c >= 2 + s.c)
                    tu_assert_close("untouched", all + ((size_t)i * cb + c) * hw, big + ((size_t)i * cb + c) * hw, hw, 0,
                                    0);
        free(all);
        free_state(&b);
        tu_free_all();
    }
    free(x); free(y); free(acc0); free(got); free(big);
}
END_TEST

START_TEST(eval_mode) {
    use_layout(_i);
    tu_rng r = {12};
    static const ref_shape shapes[] = {{1, 3, 7, 7}, {3, 17, 5, 9}, {1, 1, 1, 1}};
    for (size_t si = 0; si < 3; si++)
        for (int affine = 0; affine < 2; affine++) {
            ref_shape s = shapes[si];
            size_t n = ref_numel(s);
            double *x = dalloc(n), *y = dalloc(n), *got = dalloc(n);
            fill_channels(&r, x, s, 0.3, 1.5);
            bn_setup b = make_state(&r, s.c, affine, 1);
            rd_tensor tx = tu_tensor_from(x, s.n, s.c, s.h, s.w), ty = tu_tensor(s.n, s.c, s.h, s.w);
            TU_OK(rd_batchnorm_forward_eval(tu_ctx(), &BN, &b.s, &tx, &ty));
            ref_batchnorm_eval(x, s, affine ? b.gamma : NULL, affine ? b.beta : NULL, BN.eps, b.rm, b.rv, y);
            tu_read(&ty, got);
            tu_assert_close("eval", got, y, n, 1e-5, 1e-5);
            TU_OK(rd_batchnorm_forward_eval(tu_ctx(), &BN, &b.s, &tx, &tx));
            tu_read(&tx, got);
            tu_assert_close("eval in place", got, y, n, 1e-5, 1e-5);
            /* running statistics are not touched */
            double rm[17];
            tu_vec_read(&b.s.running_mean, rm);
            tu_assert_close("running_mean unchanged", rm, b.rm, (size_t)s.c, 0, 0);
            /* without running statistics: batch statistics, as PyTorch's track_running_stats=False */
            if (ref_numel(s) / (size_t)s.c >= 2) {
                rd_bn_state untracked = b.s;
                untracked.running_mean.mem = untracked.running_var.mem = NULL;
                tu_write(&tx, x);
                TU_OK(rd_batchnorm_forward_eval(tu_ctx(), &BN, &untracked, &tx, &ty));
                ref_batchnorm_train(x, s, affine ? b.gamma : NULL, affine ? b.beta : NULL, BN.eps, BN.momentum, NULL,
                                    NULL, y);
                tu_read(&ty, got);
                tu_assert_close("eval without running statistics", got, y, n, 1e-5, 1e-5);
            }
            free(x); free(y); free(got);
            free_state(&b);
            tu_free_all();
        }
}
END_TEST

/* L = scale * sum(r * BN(x; gamma, beta)) through the reference, as a function of
 * the concatenation [x, gamma, beta]. */
typedef struct fd_bn { ref_shape s; int affine; const double *r; double scale; double *y; } fd_bn;
static double bn_loss(void *u, const double *v) {
    fd_bn *f = u;
    size_t n = ref_numel(f->s);
    const double *g = f->affine ? v + n : NULL, *b = f->affine ? v + n + f->s.c : NULL;
    ref_batchnorm_train(v, f->s, g, b, BN.eps, BN.momentum, NULL, NULL, f->y);
    return f->scale * tu_dot(f->r, f->y, n);
}

/* Per-channel sum of r * y. */
static void channel_dot(const double *r, const double *y, ref_shape s, double *out) {
    size_t hw = (size_t)s.h * s.w;
    for (int c = 0; c < s.c; c++) {
        out[c] = 0;
        for (int n = 0; n < s.n; n++)
            for (size_t i = 0; i < hw; i++) out[c] += r[((size_t)n * s.c + c) * hw + i] * y[((size_t)n * s.c + c) * hw + i];
    }
}

/* Runs forward then backward on the device and compares dx, dgamma, dbeta and dot_out
 * with finite differences (want_grad = d/d[x, gamma, beta] of bn_loss, given). */
typedef struct bwd_case { int from_y, affine, with_scale, accumulate, dx_is_dy; } bwd_case;

static void check_backward(tu_rng *r, ref_shape s, bwd_case k, const double *x, const double *dy,
                           const double *want_grad, bn_setup *b, double scale_value) {
    /* scale_value is a copy: uploading rounds it in place */
    size_t n = ref_numel(s), C = (size_t)s.c;
    double *got = dalloc(n), *dx0 = dalloc(n), *dg0 = dalloc(C), *db0 = dalloc(C), *gotc = dalloc(C),
           *wantc = dalloc(C), *y = dalloc(n);
    tu_fill(r, dx0, n, -1, 1);
    tu_fill(r, dg0, C, -1, 1);
    tu_fill(r, db0, C, -1, 1);
    double *xc = dalloc(n), *dyc = dalloc(n);
    memcpy(xc, x, n * sizeof *x);
    memcpy(dyc, dy, n * sizeof *dy);
    rd_tensor tx = tu_tensor_from(xc, s.n, s.c, s.h, s.w), ty = tu_tensor(s.n, s.c, s.h, s.w);
    TU_OK(rd_batchnorm_forward_train(tu_ctx(), &BN, &b->s, &tx, &ty, NULL, NULL));
    rd_tensor tdy = tu_tensor_from(dyc, s.n, s.c, s.h, s.w);
    rd_tensor tdx = k.dx_is_dy ? tdy : tu_tensor_from(dx0, s.n, s.c, s.h, s.w);
    rd_vec dg = tu_vec_from(dg0, C), db = tu_vec_from(db0, C), dot = tu_vec(C);
    rd_vec sc = tu_vec_from(&scale_value, 1);
    TU_OK(rd_batchnorm_backward(tu_ctx(), &BN, &b->s, k.from_y ? NULL : &tx, &ty, &tdy, k.with_scale ? &sc : NULL,
                                &tdx, k.accumulate, k.affine ? &dg : NULL, k.affine ? &db : NULL, &dot));
    char what[160];
    snprintf(what, sizeof what, "%dx%dx%dx%d from %s affine %d scale %d acc %d dx=dy %d", s.n, s.c, s.h, s.w,
             k.from_y ? "y" : "x", k.affine, k.with_scale, k.accumulate, k.dx_is_dy);
    /* want_grad was computed with the scale; without it the upstream gradient is dy itself */
    double f = k.with_scale ? 1 : 1 / scale_value;
    double *want = dalloc(n);
    for (size_t i = 0; i < n; i++) want[i] = f * want_grad[i] + (k.accumulate ? (k.dx_is_dy ? dy[i] : dx0[i]) : 0);
    tu_read(&tdx, got);
    char w2[200];
    snprintf(w2, sizeof w2, "dx, %s", what);
    tu_assert_close(w2, got, want, n, 3e-5, 1e-4);
    if (k.affine) {
        for (size_t c = 0; c < C; c++) wantc[c] = dg0[c] + f * want_grad[n + c];
        tu_vec_read(&dg, gotc);
        snprintf(w2, sizeof w2, "dgamma, %s", what);
        tu_assert_close(w2, gotc, wantc, C, 3e-5, 1e-4);
        for (size_t c = 0; c < C; c++) wantc[c] = db0[c] + f * want_grad[n + C + c];
        tu_vec_read(&db, gotc);
        snprintf(w2, sizeof w2, "dbeta, %s", what);
        tu_assert_close(w2, gotc, wantc, C, 3e-5, 1e-4);
    }
    /* dot_out: sum of dy * y per channel with dy unscaled */
    ref_batchnorm_train(x, s, k.affine ? b->gamma : NULL, k.affine ? b->beta : NULL, BN.eps, BN.momentum, NULL, NULL,
                        y);
    channel_dot(dy, y, s, wantc);
    tu_vec_read(&dot, gotc);
    snprintf(w2, sizeof w2, "dot_out, %s", what);
    tu_assert_close(w2, gotc, wantc, C, 1e-4, 1e-4);
    if (!k.dx_is_dy) {  /* no dx (dy intact): dot written again, dgamma and dbeta accumulated a second time */
        TU_OK(rd_vec_fill(tu_ctx(), &dot, 0.0f));
        TU_OK(rd_batchnorm_backward(tu_ctx(), &BN, &b->s, k.from_y ? NULL : &tx, &ty, &tdy,
                                    k.with_scale ? &sc : NULL, NULL, 0, k.affine ? &dg : NULL, k.affine ? &db : NULL,
                                    &dot));
        tu_vec_read(&dot, gotc);
        snprintf(w2, sizeof w2, "dot_out without dx, %s", what);
        tu_assert_close(w2, gotc, wantc, C, 1e-4, 1e-4);
        if (k.affine) {
            for (size_t c = 0; c < C; c++) wantc[c] = dg0[c] + 2 * f * want_grad[n + c];
            tu_vec_read(&dg, gotc);
            snprintf(w2, sizeof w2, "dgamma without dx, %s", what);
            tu_assert_close(w2, gotc, wantc, C, 6e-5, 1e-4);
            for (size_t c = 0; c < C; c++) wantc[c] = db0[c] + 2 * f * want_grad[n + C + c];
            tu_vec_read(&db, gotc);
            snprintf(w2, sizeof w2, "dbeta without dx, %s", what);
            tu_assert_close(w2, gotc, wantc, C, 6e-5, 1e-4);
        }
    }
    free(got); free(dx0); free(dg0); free(db0); free(gotc); free(wantc); free(y); free(xc); free(dyc); free(want);
}

START_TEST(backward_vs_finite_differences) {
    use_layout(_i);
    tu_rng r = {41};
    static const ref_shape shapes[] = {{1, 3, 7, 7}, {3, 5, 9, 9}, {2, 17, 3, 5}};
    double scale_value = 0.37;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (int affine = 0; affine < 2; affine++) {
            ref_shape s = shapes[si];
            size_t n = ref_numel(s), C = (size_t)s.c, nv = n + 2 * C;
            double *v = dalloc(nv), *dy = dalloc(n), *grad = dalloc(nv), *y = dalloc(n);
            fill_channels(&r, v, s, 0.5, 1.5);
            tu_fill(&r, dy, n, -1, 1);
            bn_setup b = make_state(&r, s.c, affine, 1);
            memcpy(v + n, b.gamma, C * sizeof *v);
            memcpy(v + n + C, b.beta, C * sizeof *v);
            /* inputs rounded to float before the reference sees them */
            for (size_t i = 0; i < n; i++) { v[i] = (float)v[i]; dy[i] = (float)dy[i]; }
            fd_bn f = {s, affine, dy, scale_value, y};
            tu_fd_grad(bn_loss, &f, v, affine ? nv : n, 1e-4, grad);
            /* every combination of the four flags on the first shape; on a slow device the other
             * shapes run 5 of the 16, in which every pair of flags takes all four value pairs */
            static const int pairwise[] = {0x0, 0x7, 0xb, 0xd, 0xe};
            int combos = tu_small() && si > 0 ? 5 : 16;
            for (int j = 0; j < combos; j++) {
                int m = combos == 16 ? j : pairwise[j];
                bwd_case k = {m >> 3 & 1, affine, m >> 2 & 1, m >> 1 & 1, m & 1};
                check_backward(&r, s, k, v, dy, grad, &b, scale_value);
            }
            free(v); free(dy); free(grad); free(y);
            free_state(&b);
            tu_free_all();
        }
}
END_TEST

/* Backward over many chunks per channel, with strided views, against the closed form in
 * double (which the finite-difference test above pins down on small shapes). */
START_TEST(backward_large_strided) {
    use_layout(_i);
    tu_rng r = {93};
    ref_shape s = {8, 5, 28, 28};
    if (tu_too_big(ref_numel(s))) return;
    size_t n = ref_numel(s), C = (size_t)s.c, hw = (size_t)s.h * s.w;
    int cb = s.c + 2;
    size_t nb = (size_t)s.n * cb * hw;
    double *x = dalloc(n), *dy = dalloc(n), *y = dalloc(n), *got = dalloc(n), *want = dalloc(n), *mean = dalloc(C),
           *invstd = dalloc(C), *gotc = dalloc(C), *wantc = dalloc(C), *fill = dalloc(nb);
    fill_channels(&r, x, s, 3.0, 0.5);
    tu_fill(&r, dy, n, -1, 1);
    tu_fill(&r, fill, nb, -1, 1);
    bn_setup b = make_state(&r, s.c, 1, 1);
    double w = 0.6;
    rd_tensor bx = tu_tensor_from(fill, s.n, cb, s.h, s.w), by = tu_tensor_from(fill, s.n, cb, s.h, s.w),
              bdy = tu_tensor_from(fill, s.n, cb, s.h, s.w), bdx = tu_tensor_from(fill, s.n, cb, s.h, s.w);
    rd_tensor tx = rd_tensor_channels(bx, 1, s.c), ty = rd_tensor_channels(by, 2, s.c),
              tdy = rd_tensor_channels(bdy, 0, s.c), tdx = rd_tensor_channels(bdx, 1, s.c);
    tu_write(&tx, x);
    tu_write(&tdy, dy);
    rd_vec sc = tu_vec_from(&w, 1), dg = tu_vec(C), db = tu_vec(C), dot = tu_vec(C);
    TU_OK(rd_vec_fill(tu_ctx(), &dg, 0.0f));
    TU_OK(rd_vec_fill(tu_ctx(), &db, 0.0f));
    TU_OK(rd_batchnorm_forward_train(tu_ctx(), &BN, &b.s, &tx, &ty, NULL, NULL));
    ref_batchnorm_train(x, s, b.gamma, b.beta, BN.eps, BN.momentum, NULL, NULL, y);
    ref_stats(x, s, BN.eps, mean, invstd);
    for (int from_y = 0; from_y < 2; from_y++) {
        TU_OK(rd_batchnorm_backward(tu_ctx(), &BN, &b.s, from_y ? NULL : &tx, &ty, &tdy, &sc, &tdx, 0, &dg, &db, &dot));
        for (int c = 0; c < s.c; c++) {
            double A = 0, B = 0, M = (double)s.n * hw;
            for (int i = 0; i < s.n; i++)
                for (size_t j = 0; j < hw; j++) {
                    size_t o = ((size_t)i * s.c + c) * hw + j;
                    A += dy[o];
                    B += dy[o] * (x[o] - mean[c]) * invstd[c];
                }
            for (int i = 0; i < s.n; i++)
                for (size_t j = 0; j < hw; j++) {
                    size_t o = ((size_t)i * s.c + c) * hw + j;
                    double xh = (x[o] - mean[c]) * invstd[c];
                    want[o] = w * b.gamma[c] * invstd[c] * (dy[o] - A / M - xh * B / M);
                }
            wantc[c] = (from_y + 1) * w * B;  /* dgamma accumulated over both calls */
        }
        tu_read(&tdx, got);
        tu_assert_close(from_y ? "large dx from y" : "large dx from x", got, want, n, 1e-4, 1e-3);
        tu_vec_read(&dg, gotc);
        tu_assert_close("large dgamma", gotc, wantc, C, 1e-3, 1e-4);
        channel_dot(dy, y, s, wantc);
        tu_vec_read(&dot, gotc);
        tu_assert_close("large dot_out", gotc, wantc, C, 1e-3, 1e-4);
    }
    free(x); free(dy); free(y); free(got); free(want); free(mean); free(invstd); free(gotc); free(wantc); free(fill);
    free_state(&b);
    tu_free_all();
}
END_TEST

START_TEST(errors) {
    rd_ctx *ctx = tu_ctx();
    tu_rng r = {1};
    bn_setup b = make_state(&r, 5, 1, 1);
    rd_tensor x = tu_tensor(2, 5, 3, 3), y = tu_tensor(2, 5, 3, 3), wrong = tu_tensor(2, 5, 3, 4);
    TU_OK(rd_batchnorm_forward_train(ctx, &BN, &b.s, &x, &y, NULL, NULL));
    ck_assert_int_eq(rd_batchnorm_forward_train(ctx, &BN, &b.s, &x, &wrong, NULL, NULL), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "batchnorm forward: y is 2x5x3x4"));
    ck_assert_int_eq(rd_batchnorm_forward_train(ctx, &BN, &b.s, &x, &y, NULL, &wrong), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "accum_out"));
    rd_bn_state bad = b.s;
    bad.save_mean = tu_vec(4);
    ck_assert_int_eq(rd_batchnorm_forward_train(ctx, &BN, &bad, &x, &y, NULL, NULL), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "save_mean has 4 floats, expected 5"));
    bad = b.s;
    bad.running_var = tu_vec(6);
    ck_assert_int_eq(rd_batchnorm_forward_train(ctx, &BN, &bad, &x, &y, NULL, NULL), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "running_var"));
    bad = b.s;
    bad.beta.mem = NULL;
    ck_assert_int_eq(rd_batchnorm_forward_train(ctx, &BN, &bad, &x, &y, NULL, NULL), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "gamma and beta"));
    rd_vec two = tu_vec(2);
    ck_assert_int_eq(rd_batchnorm_forward_train(ctx, &BN, &b.s, &x, &y, &two, &y), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "scale has 2 floats"));
    rd_tensor one = tu_tensor(1, 5, 1, 1);
    ck_assert_int_eq(rd_batchnorm_forward_train(ctx, &BN, &b.s, &one, &one, NULL, NULL), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "at least 2"));
    bad = b.s;
    bad.running_mean.mem = NULL;
    ck_assert_int_eq(rd_batchnorm_forward_eval(ctx, &BN, &bad, &x, &y), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "running_mean and running_var"));
    rd_bn_params badp = {-1.0f, 0.1f};
    ck_assert_int_eq(rd_batchnorm_forward_train(ctx, &badp, &b.s, &x, &y, NULL, NULL), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "eps"));
    /* backward */
    ck_assert_int_eq(rd_batchnorm_backward(ctx, &BN, &b.s, &x, NULL, &wrong, NULL, &x, 0, NULL, NULL, NULL),
                     RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "batchnorm backward: dy"));
    ck_assert_int_eq(rd_batchnorm_backward(ctx, &BN, &b.s, NULL, NULL, &y, NULL, &x, 0, NULL, NULL, NULL),
                     RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "neither x nor y"));
    ck_assert_int_eq(rd_batchnorm_backward(ctx, &BN, &b.s, &x, NULL, &y, NULL, &x, 0, NULL, NULL, &two), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "dot_out has 2 floats, expected 5"));
    bad = b.s;
    bad.gamma.mem = bad.beta.mem = NULL;
    rd_vec dg = tu_vec(5);
    ck_assert_int_eq(rd_batchnorm_backward(ctx, &BN, &bad, &x, NULL, &y, NULL, &x, 0, &dg, NULL, NULL), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "not affine"));
    free_state(&b);
    tu_free_all();
}
END_TEST

START_TEST(scratch_bytes) {
    use_layout(_i);
    /* the scratch fits the coefficients and at least one partial per channel, and the
     * op runs inside a slot reserved at that size (no growth) */
    rd_ctx *ctx = tu_ctx();
    rd_tensor x = tu_small() ? tu_tensor(4, 16, 9, 9) : tu_tensor(16, 16, 28, 28);
    size_t bytes = rd_batchnorm_scratch_bytes(ctx, &x);
    ck_assert_uint_ge(bytes, (5 + 2) * 16 * sizeof(float));
    TU_OK(rd_scratch_reserve(ctx, 2, bytes));
    tu_rng r = {2};
    bn_setup b = make_state(&r, 16, 0, 0);
    TU_OK(rd_fill(ctx, &x, 1.0f));
    rd_mem_stats before = rd_mem_get_stats(ctx);
    TU_OK(rd_batchnorm_forward_train(ctx, &BN, &b.s, &x, &x, NULL, NULL));
    TU_OK(rd_batchnorm_backward(ctx, &BN, &b.s, NULL, &x, &x, NULL, &x, 0, NULL, NULL, NULL));
    TU_OK(rd_finish(ctx));
    ck_assert_uint_eq(rd_mem_get_stats(ctx).total_allocs, before.total_allocs);
    free_state(&b);
    tu_free_all();
}
END_TEST

/* A stack: three BNs over the channel slices of one tensor, run at once (the mixed
 * op's final BNs), each slice against the reference (forward: y, the node sum, the
 * running statistics) and finite differences (backward: the gradient written in place,
 * dot). The table puts the slices' scales, running statistics and dots out of order. */
START_TEST(stack_vs_reference) {
    use_layout(_i);
    tu_rng r = {77};
    enum { G = 3 };
    ref_shape s = {3, 5, 9, 7};
    size_t n = ref_numel(s), C = (size_t)s.c, hw = (size_t)s.h * s.w;
    double *x[G], *rm[G], *rv[G], *y = dalloc(n), *got = dalloc(n), *acc0 = dalloc(n), *want = dalloc(n),
                                 *dy = dalloc(n), *grad = dalloc(n), *wantc = dalloc(C), *all = dalloc(G * n);
    double scales_h[5] = {0.37, 9, -0.6, 9, 1.25}, run_h[2 * G * 5 + 7];
    uint32_t tab_h[3 * G] = {0, 7 + 4 * 5, 2 + 1 * 5, 4, 7 + 2 * 5, 2 + 2 * 5, 2, 7, 2};
    tu_fill(&r, acc0, n, -1, 1);
    tu_fill(&r, dy, n, -1, 1);
    tu_fill(&r, run_h, 2 * G * C + 7, 0.5, 1.5);
    for (size_t i = 0; i < n; i++) dy[i] = (float)dy[i];
    memcpy(want, acc0, n * sizeof *want);
    for (int g = 0; g < G; g++) {
        x[g] = dalloc(n);
        fill_channels(&r, x[g], s, 2.0 * g - 1, 1.0 + g);
        for (size_t i = 0; i < n; i++) x[g][i] = (float)x[g][i];
        for (int i = 0; i < s.n; i++)
            memcpy(all + ((size_t)i * G + g) * C * hw, x[g] + (size_t)i * C * hw, C * hw * sizeof *all);
        rm[g] = dalloc(C);
        rv[g] = dalloc(C);
        for (size_t c = 0; c < C; c++) {
            rm[g][c] = (float)run_h[tab_h[3 * g + 1] + c];
            rv[g][c] = (float)run_h[tab_h[3 * g + 1] + C + c];
        }
    }
    float tab_bits[3 * G];
    memcpy(tab_bits, tab_h, sizeof tab_bits);
    rd_bn_stack_tab tab = {tu_vec(3 * G), tab_h};
    TU_OK(rd_vec_write(tu_ctx(), &tab.dev, tab_bits));
    rd_tensor stack = tu_tensor_from(all, s.n, G * s.c, s.h, s.w), node = tu_tensor_from(acc0, s.n, s.c, s.h, s.w);
    rd_tensor tdy = tu_tensor_from(dy, s.n, s.c, s.h, s.w);
    rd_vec ws = tu_vec(rd_batchnorm_stack_floats(tu_ctx(), &stack) + 3); /* larger than needed is fine */
    rd_vec save_mean = tu_vec(G * C), save_invstd = tu_vec(G * C), scales = tu_vec_from(scales_h, 5),
           running = tu_vec_from(run_h, 2 * G * C + 7), dots = tu_vec(G * C + 2);
    TU_OK(rd_batchnorm_stack_stats(tu_ctx(), &stack, &ws));
    TU_OK(rd_batchnorm_stack_forward(tu_ctx(), &BN, &stack, G, &ws, &save_mean, &save_invstd, &running, &scales,
                                     &tab, &node));
    double *run_got = dalloc(2 * G * C + 7);
    tu_vec_read(&running, run_got);
    char what[64];
    for (int g = 0; g < G; g++) {
        ref_batchnorm_train(x[g], s, NULL, NULL, BN.eps, BN.momentum, rm[g], rv[g], y);
        rd_tensor slice = rd_tensor_channels(stack, g * s.c, s.c);
        tu_read(&slice, got);
        snprintf(what, sizeof what, "stack slice %d: y in place", g);
        tu_assert_close(what, got, y, n, 1e-5, 1e-5);
        for (size_t i = 0; i < n; i++) want[i] += scales_h[tab_h[3 * g]] * y[i];
        snprintf(what, sizeof what, "stack slice %d: running_mean", g);
        tu_assert_close(what, run_got + tab_h[3 * g + 1], rm[g], C, 1e-5, 1e-5);
        snprintf(what, sizeof what, "stack slice %d: running_var", g);
        tu_assert_close(what, run_got + tab_h[3 * g + 1] + C, rv[g], C, 1e-5, 1e-5);
    }
    tu_read(&node, got);
    tu_assert_close("stack: node += sum of scale * y", got, want, n, 1e-5, 1e-5);

    TU_OK(rd_batchnorm_stack_grad_sums(tu_ctx(), &stack, &tdy, &ws));
    TU_OK(rd_batchnorm_stack_backward(tu_ctx(), &stack, G, &ws, &save_invstd, &tdy, &scales, &tab, &dots));
    double *dots_got = dalloc(G * C + 2);
    tu_vec_read(&dots, dots_got);
    for (int g = 0; g < G; g++) {
        fd_bn f = {s, 0, dy, scales_h[tab_h[3 * g]], y};
        tu_fd_grad(bn_loss, &f, x[g], n, 1e-4, grad);
        rd_tensor slice = rd_tensor_channels(stack, g * s.c, s.c);
        tu_read(&slice, got);
        snprintf(what, sizeof what, "stack slice %d: dx in place", g);
        tu_assert_close(what, got, grad, n, 3e-5, 1e-4);
        ref_batchnorm_train(x[g], s, NULL, NULL, BN.eps, BN.momentum, NULL, NULL, y);
        channel_dot(dy, y, s, wantc);
        snprintf(what, sizeof what, "stack slice %d: dot", g);
        tu_assert_close(what, dots_got + tab_h[3 * g + 2], wantc, C, 1e-4, 1e-4);
    }
    /* misuse: slices that do not divide the channels, a short ws, a table entry past its vector */
    rd_ctx *ctx = tu_ctx();
    ck_assert_int_eq(rd_batchnorm_stack_forward(ctx, &BN, &stack, 4, &ws, &save_mean, &save_invstd, &running,
                                                &scales, &tab, &node), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "of 4 of a 15-channel stack"));
    rd_vec short_ws = rd_vec_slice(ws, 0, 10);
    ck_assert_int_eq(rd_batchnorm_stack_stats(ctx, &stack, &short_ws), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "ws has 10 floats"));
    tab_h[3] = 5;
    ck_assert_int_eq(rd_batchnorm_stack_forward(ctx, &BN, &stack, G, &ws, &save_mean, &save_invstd, &running,
                                                &scales, &tab, &node), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "slice 1's table entry (5, 17, 12) is outside its vectors"));
    for (int g = 0; g < G; g++) {
        free(x[g]); free(rm[g]); free(rv[g]);
    }
    free(y); free(got); free(acc0); free(want); free(dy); free(grad); free(wantc); free(all); free(run_got);
    free(dots_got);
    tu_free_all();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ops_batchnorm");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, train_forward_vs_reference, 0, n_layouts);
    tcase_add_loop_test(tc, large_mean_accuracy, 0, n_layouts);
    tcase_add_loop_test(tc, in_place_strided_fused_accumulate, 0, n_layouts);
    tcase_add_loop_test(tc, eval_mode, 0, n_layouts);
    tcase_add_loop_test(tc, backward_vs_finite_differences, 0, n_layouts);
    tcase_add_loop_test(tc, backward_large_strided, 0, n_layouts);
    tcase_add_loop_test(tc, stack_vs_reference, 0, n_layouts);
    tcase_add_test(tc, errors);
    tcase_add_loop_test(tc, scratch_bytes, 0, n_layouts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
