/* The DARTS mixed op against the host reference; backward against central
 * finite differences of the reference forward; and the alpha gradient path of
 * DARTS: softmax(alpha) -> mixed op -> projection, checked end to end. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops_internal.h"
#include "test_util.h"

static double *alloc_d(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

typedef struct mix_case {
    ref_shape s;
    int k;
    int strided;        /* ys, dys and out are channel slices of wider tensors */
    unsigned absent;    /* bit j: ys[j] is the zero op (no tensor) */
} mix_case;

static const mix_case cases[] = {
    {{1, 1, 1, 1}, 1, 0, 0},
    {{2, 3, 5, 7}, 8, 0, 1u},                 /* darts set, none at index 0 */
    {{3, 17, 9, 9}, 15, 1, 1u},               /* large set, strided */
    {{1, 65, 4, 3}, 16, 0, 0},                /* exactly one chunk */
    {{2, 3, 5, 7}, 17, 1, 1u << 16},          /* two chunks, the last absent */
    {{2, 3, 4, 5}, 33, 0, 1u | (1u << 20)},   /* three chunks */
    {{8, 16, 28, 28}, 15, 1, 1u},
    {{64, 16, 28, 28}, 8, 0, 1u},             /* a search batch: many elements per work-item */
};

/* k device tensors of shape s, dense or as slices of one (n, k*c + 1, h, w) tensor; absent ones have .mem NULL */
static void make_entries(const mix_case *mc, rd_tensor *ts, unsigned absent) {
    ref_shape s = mc->s;
    rd_tensor big = mc->strided ? tu_tensor(s.n, mc->k * s.c + 1, s.h, s.w) : tu_tensor(1, 1, 1, 1);
    for (int j = 0; j < mc->k; j++) {
        ts[j] = mc->strided ? rd_tensor_channels(big, 1 + j * s.c, s.c) : tu_tensor(s.n, s.c, s.h, s.w);
        if (j < 32 && (absent >> j & 1u)) ts[j].mem = NULL;
    }
}

static rd_tensor make_one(const mix_case *mc) {
    ref_shape s = mc->s;
    if (!mc->strided) return tu_tensor(s.n, s.c, s.h, s.w);
    return rd_tensor_channels(tu_tensor(s.n, 2 * s.c + 1, s.h, s.w), s.c, s.c);
}

typedef struct mix_fd {
    const double *const *ys;
    const double *r;
    int k;
    size_t len;
    double *out;
} mix_fd;

/* L(w) = sum(r * mixed(ys, w)) */
static double mix_loss_w(void *user, const double *w) {
    mix_fd *f = user;
    ref_mixed(f->ys, f->k, w, f->len, f->out);
    return tu_dot(f->r, f->out, f->len);
}

static void run_case(const mix_case *mc, tu_rng *rng) {
    int k = mc->k;
    size_t len = ref_numel(mc->s);
    if (tu_too_big(len)) return;
    rd_tensor *ys = calloc(k, sizeof *ys), *dys = calloc(k, sizeof *dys);
    double **ys_h = calloc(k, sizeof *ys_h), *w = alloc_d(k), *r = alloc_d(len), *want = alloc_d(len),
           *got = alloc_d(len), *base = alloc_d(len), *nans = alloc_d(len), *dw = alloc_d(k), *fd = alloc_d(k);
    for (size_t i = 0; i < len; i++) nans[i] = NAN;
    make_entries(mc, ys, mc->absent);
    for (int j = 0; j < k; j++) {
        if (!ys[j].mem) continue;
        ys_h[j] = alloc_d(len);
        tu_fill(rng, ys_h[j], len, -1, 1);
        tu_write(&ys[j], ys_h[j]);
    }
    tu_fill(rng, w, k, 0, 1);
    tu_fill(rng, r, len, -1, 1);
    tu_fill(rng, base, len, -1, 1);
    rd_vec vw = tu_vec_from(w, k), vdw = tu_vec(k);
    rd_tensor out = make_one(mc), dout = make_one(mc);

    /* forward, overwriting (out starts as NaN) and accumulating */
    tu_write(&out, nans);
    TU_OK(rd_mixed_forward(tu_ctx(), ys, k, &vw, &out, 0));
    tu_read(&out, got);
    ref_mixed((const double *const *)ys_h, k, w, len, want);
    tu_assert_close("mixed forward", got, want, len, 1e-5, 1e-5);
    tu_write(&out, base);
    TU_OK(rd_mixed_forward(tu_ctx(), ys, k, &vw, &out, 1));
    tu_read(&out, got);
    for (size_t i = 0; i < len; i++) want[i] += base[i];
    tu_assert_close("mixed forward accumulated", got, want, len, 1e-5, 1e-5);

    /* backward: dw against finite differences of L(w); dys (NaN before: overwritten) for
     * every entry but 1, which is not wanted */
    tu_write(&dout, r);
    make_entries(mc, dys, mc->absent | (k > 1 ? 2u : 0u));
    for (int j = 0; j < k; j++)
        if (dys[j].mem) tu_write(&dys[j], nans);
    TU_OK(rd_vec_fill(tu_ctx(), &vdw, 99.0f));
    TU_OK(rd_mixed_backward(tu_ctx(), ys, k, &vw, &dout, dys, 0, &vdw));
    tu_vec_read(&vdw, dw);
    mix_fd f = {(const double *const *)ys_h, r, k, len, want};
    tu_fd_grad(mix_loss_w, &f, w, k, 1e-3, fd);
    tu_assert_close("mixed dw", dw, fd, k, 1e-4 * sqrt((double)len), 1e-4);
    for (int j = 0; j < k; j++)
        if (!ys[j].mem) ck_assert_msg(dw[j] == 0, "dw[%d] of an absent entry is %g", j, dw[j]);
    /* dys[j][i]: central differences of the reference forward in ys[j][i]; the op is element-wise,
     * so L restricted to element i is r[i] * ref_mixed(ys + i, w, len 1) */
    double *one = alloc_d(k);
    const double **at = calloc(k, sizeof *at);
    for (int j = 0; j < k; j++) {
        if (!dys[j].mem) continue;
        tu_read(&dys[j], got);
        double *y = ys_h[j] ? ys_h[j] : alloc_d(len);  /* an absent ys entry is zeros */
        for (size_t i = 0; i < len; i++) {
            for (int q = 0; q < k; q++) at[q] = q == j ? y + i : (ys_h[q] ? ys_h[q] + i : NULL);
            double keep = y[i], lp, lm, out1;
            y[i] = keep + 1e-3;
            ref_mixed(at, k, w, 1, &out1);
            lp = r[i] * out1;
            y[i] = keep - 1e-3;
            ref_mixed(at, k, w, 1, &out1);
            lm = r[i] * out1;
            y[i] = keep;
            want[i] = (lp - lm) / 2e-3;
        }
        if (!ys_h[j]) free(y);
        tu_assert_close("mixed dys", got, want, len, 1e-5, 1e-4);
    }
    /* accumulating into dys; dw is written again, not accumulated */
    for (int j = 0; j < k; j++)
        if (dys[j].mem) tu_write(&dys[j], base);
    TU_OK(rd_mixed_backward(tu_ctx(), ys, k, &vw, &dout, dys, 1, &vdw));
    for (int j = 0; j < k; j++) {
        if (!dys[j].mem) continue;
        tu_read(&dys[j], got);
        for (size_t i = 0; i < len; i++) want[i] = base[i] + w[j] * r[i];
        tu_assert_close("mixed dys accumulated", got, want, len, 1e-5, 1e-5);
    }
    tu_vec_read(&vdw, got);
    tu_assert_close("mixed dw written", got, dw, k, 0, 0);

    for (int j = 0; j < k; j++) free(ys_h[j]);
    free(ys); free(dys); free(ys_h); free(w); free(r); free(want); free(got); free(base); free(nans); free(dw);
    free(fd); free(one); free(at);
    tu_free_all();
}

START_TEST(mixed_forward_backward) {
    /* the device's own choices, then a GPU's (16 entries per pass, coalesced walk) and a
     * CPU's (8, contiguous) on whatever device this is, and odd mixtures */
    static const int choices[][2] = {{0, 0}, {16, 1}, {8, 2}, {3, 1}, {16, 2}};
    tu_rng rng = {71};
    for (size_t ci = 0; ci < sizeof choices / sizeof *choices; ci++) {
        /* small (Oclgrind, a "GPU"): the device's own choice covers {16, 1}, {3, 1} the odd passes */
        if (tu_small() && (ci == 1 || ci == 4)) continue;
        rd_mixed_pass_override = choices[ci][0];
        rd_mixed_walk_override = choices[ci][1];
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(&cases[i], &rng);
    }
    rd_mixed_pass_override = rd_mixed_walk_override = 0;
}
END_TEST

/* ---- the alpha gradient path: L(alpha) = sum_e sum(r_e * mixed(ys_e, softmax(alpha)[e])) ---- */
enum { EDGES = 14 };
typedef struct alpha_fd {
    int ops;
    size_t len;
    double **ys;       /* [EDGES * ops], NULL for the zero op */
    double *r;         /* [EDGES * len] */
    double *wts, *out;
} alpha_fd;

static double alpha_loss(void *user, const double *alpha) {
    alpha_fd *f = user;
    ref_softmax(alpha, f->wts, EDGES, f->ops);
    double l = 0;
    for (int e = 0; e < EDGES; e++) {
        ref_mixed((const double *const *)f->ys + (size_t)e * f->ops, f->ops, f->wts + (size_t)e * f->ops, f->len,
                  f->out);
        l += tu_dot(f->r + e * f->len, f->out, f->len);
    }
    return l;
}

static void alpha_path(int ops, tu_rng *rng) {
    ref_shape s = {2, 3, 4, 5};
    size_t len = ref_numel(s), na = (size_t)EDGES * ops;
    double *alpha = alloc_d(na), *r = alloc_d(EDGES * len), *got = alloc_d(na), *fd = alloc_d(na),
           *wts = alloc_d(na), *out = alloc_d(len);
    double **ys_h = calloc(na, sizeof *ys_h);
    rd_tensor *ys = calloc(na, sizeof *ys), *outs = calloc(EDGES, sizeof *outs), *douts = calloc(EDGES, sizeof *douts);
    tu_fill(rng, alpha, na, -1e-3 * 50, 1e-3 * 50);  /* DARTS starts alphas near 0 */
    tu_fill(rng, r, EDGES * len, -1, 1);
    for (size_t q = 0; q < na; q++) {
        if (q % ops == 0) continue;  /* op 0 of every edge is "none" */
        ys_h[q] = alloc_d(len);
        tu_fill(rng, ys_h[q], len, -1, 1);
        ys[q] = tu_tensor_from(ys_h[q], s.n, s.c, s.h, s.w);
    }
    rd_vec va = tu_vec_from(alpha, na), vw = tu_vec(na), vdw = tu_vec(na), vda = tu_vec(na);
    rd_ctx *ctx = tu_ctx();
    TU_OK(rd_softmax_forward(ctx, &va, &vw, EDGES, ops));
    for (int e = 0; e < EDGES; e++) {
        rd_vec we = rd_vec_slice(vw, (size_t)e * ops, ops), dwe = rd_vec_slice(vdw, (size_t)e * ops, ops);
        outs[e] = tu_tensor(s.n, s.c, s.h, s.w);
        douts[e] = tu_tensor_from(r + e * len, s.n, s.c, s.h, s.w);
        TU_OK(rd_mixed_forward(ctx, ys + (size_t)e * ops, ops, &we, &outs[e], 0));
        /* the loss is a projection, so d out_e = r_e; only the alpha gradient is wanted here */
        TU_OK(rd_mixed_backward(ctx, ys + (size_t)e * ops, ops, &we, &douts[e], NULL, 0, &dwe));
    }
    TU_OK(rd_softmax_backward(ctx, &vw, &vdw, &vda, EDGES, ops, 0));
    tu_vec_read(&vda, got);
    alpha_fd f = {ops, len, ys_h, r, wts, out};
    /* the device's forward agrees with the reference's loss */
    double want_l = alpha_loss(&f, alpha), l = 0;
    for (int e = 0; e < EDGES; e++) {
        tu_read(&outs[e], out);
        l += tu_dot(r + e * len, out, len);
    }
    tu_assert_close("alpha path loss", &l, &want_l, 1, 1e-4, 1e-5);
    tu_fd_grad(alpha_loss, &f, alpha, na, 1e-4, fd);
    tu_assert_close("d loss / d alpha", got, fd, na, 1e-5, 1e-4);
    for (size_t q = 0; q < na; q++) free(ys_h[q]);
    free(alpha); free(r); free(got); free(fd); free(wts); free(out); free(ys_h); free(ys); free(outs); free(douts);
    tu_free_all();
}

START_TEST(alpha_gradient_path) {
    tu_rng rng = {83};
    rd_mixed_pass_override = rd_mixed_walk_override = 0;  /* a failed test before may have left others */
    alpha_path(8, &rng);
    alpha_path(15, &rng);
}
END_TEST

static void expect_arg_error(rd_status s, const char *needle) {
    ck_assert_int_eq(s, RD_ERR_ARG);
    const char *msg = rd_ctx_error(tu_ctx());
    ck_assert_msg(strstr(msg, needle) != NULL, "message '%s' lacks '%s'", msg, needle);
    ck_assert_msg(strchr(msg, '\n') == NULL, "message '%s' is not one line", msg);
}

START_TEST(mixed_errors) {
    rd_ctx *ctx = tu_ctx();
    rd_tensor ys[4], dys[4], out = tu_tensor(2, 3, 4, 5);
    for (int j = 0; j < 4; j++) ys[j] = dys[j] = tu_tensor(2, 3, 4, 5);
    rd_vec w = tu_vec(4), w3 = tu_vec(3);
    TU_OK(rd_mixed_forward(ctx, ys, 4, &w, &out, 0));
    expect_arg_error(rd_mixed_forward(ctx, ys, 4, &w3, &out, 0), "mixed: w has 3 floats, expected 4");
    expect_arg_error(rd_mixed_forward(ctx, ys, 0, &w, &out, 0), "mixed: k = 0 entries");
    ys[3] = tu_tensor(2, 3, 5, 4);
    expect_arg_error(rd_mixed_forward(ctx, ys, 4, &w, &out, 0), "mixed: ys[3] 2x3x5x4 and out 2x3x4x5 differ");
    ys[3].mem = NULL;  /* absent: its shape does not matter */
    TU_OK(rd_mixed_forward(ctx, ys, 4, &w, &out, 0));
    TU_OK(rd_mixed_backward(ctx, ys, 4, &w, &out, dys, 0, &w));
    dys[1] = tu_tensor(2, 4, 4, 5);
    expect_arg_error(rd_mixed_backward(ctx, ys, 4, &w, &out, dys, 0, &w),
                     "mixed backward: dys[1] 2x4x4x5 and dout 2x3x4x5 differ");
    dys[1].mem = NULL;
    expect_arg_error(rd_mixed_backward(ctx, ys, 4, &w, &out, dys, 0, &w3), "mixed backward: dw has 3 floats");
    tu_free_all();
}
END_TEST

START_TEST(mixed_scratch_is_counted) {
    rd_ctx *ctx = tu_ctx();
    int n = tu_small() ? 2 : 4, hw = tu_small() ? 7 : 14;
    rd_tensor ys[15], dys[15], out = tu_tensor(n, 16, hw, hw);
    for (int j = 0; j < 15; j++) ys[j] = dys[j] = tu_tensor(n, 16, hw, hw);
    rd_vec w = tu_vec(15), dw = tu_vec(15);
    TU_OK(rd_scratch_reserve(ctx, 2, rd_mixed_scratch_bytes(ctx, 15)));
    rd_mem_stats s0 = rd_mem_get_stats(ctx);
    TU_OK(rd_mixed_forward(ctx, ys, 15, &w, &out, 0));
    TU_OK(rd_mixed_backward(ctx, ys, 15, &w, &out, dys, 0, &dw));
    TU_OK(rd_finish(ctx));
    ck_assert_uint_eq(rd_mem_get_stats(ctx).total_allocs, s0.total_allocs);
    tu_free_all();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ops_mixed");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, mixed_forward_backward);
    tcase_add_test(tc, alpha_gradient_path);
    tcase_add_test(tc, mixed_errors);
    tcase_add_test(tc, mixed_scratch_is_counted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
