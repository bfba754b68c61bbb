/* Fully connected layer against the host reference; backward against central
 * finite differences of L = sum(r * linear(x, w, b)). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

typedef struct lin_case { int n, c, h, w, m; } lin_case;
/* batch 1, K not a multiple of the work-group size, global-pooled N x C x 1 x 1 */
static const lin_case cases[] = {
    {1, 5, 1, 1, 1}, {3, 13, 3, 2, 10}, {2, 65, 1, 1, 17}, {64, 16, 1, 1, 10}, {5, 257, 1, 1, 3},
};

/* The scalar of the finite differences: which of x, w, b varies. */
typedef struct lin_fd {
    double *x, *w, *b, *r, *y;
    int n, k, m, which;  /* 0: x, 1: w, 2: b */
} lin_fd;

static double lin_loss(void *user, const double *v) {
    lin_fd *f = user;
    ref_linear(f->which == 0 ? v : f->x, f->n, f->k, f->which == 1 ? v : f->w, f->which == 2 ? v : f->b, f->m,
               f->y);
    return tu_dot(f->r, f->y, (size_t)f->n * f->m);
}

static double *alloc_d(size_t n) { return malloc((n ? n : 1) * sizeof(double)); }

/* One case; strided places x and y as channel slices of wider tensors. */
static void run_case(const lin_case *cs, int with_bias, int strided, tu_rng *rng) {
    int n = cs->n, m = cs->m, k = cs->c * cs->h * cs->w;
    size_t nx = (size_t)n * k, nw = (size_t)m * k, ny = (size_t)n * m;
    double *x = alloc_d(nx), *w = alloc_d(nw), *b = alloc_d(m), *y = alloc_d(ny), *got = alloc_d(nx + nw),
           *r = alloc_d(ny), *want = alloc_d(nx + nw), *dx0 = alloc_d(nx), *dw0 = alloc_d(nw), *db0 = alloc_d(m);
    tu_fill(rng, x, nx, -1, 1);
    tu_fill(rng, w, nw, -1, 1);
    tu_fill(rng, b, m, -1, 1);
    tu_fill(rng, r, ny, -1, 1);
    tu_fill(rng, dx0, nx, -1, 1);
    tu_fill(rng, dw0, nw, -1, 1);
    tu_fill(rng, db0, m, -1, 1);

    rd_tensor tx, ty, tdy, tdx;
    if (strided) {
        /* x = channels [2, 2 + c) of an n x (c + 3) x h x w tensor, y = channels [1, 1 + m) of n x (m + 2) */
        rd_tensor bigx = tu_tensor(n, cs->c + 3, cs->h, cs->w), bigy = tu_tensor(n, m + 2, 1, 1);
        rd_tensor bigdy = tu_tensor(n, m + 2, 1, 1), bigdx = tu_tensor(n, cs->c + 3, cs->h, cs->w);
        tx = rd_tensor_channels(bigx, 2, cs->c);
        ty = rd_tensor_channels(bigy, 1, m);
        tdy = rd_tensor_channels(bigdy, 1, m);
        tdx = rd_tensor_channels(bigdx, 2, cs->c);
        tu_write(&tx, x);
        tu_write(&tdy, r);
    } else {
        tx = tu_tensor_from(x, n, cs->c, cs->h, cs->w);
        ty = tu_tensor(n, m, 1, 1);
        tdy = tu_tensor_from(r, n, m, 1, 1);
        tdx = tu_tensor(n, cs->c, cs->h, cs->w);
    }
    rd_vec vw = tu_vec_from(w, nw), vb = tu_vec_from(b, m);
    for (int i = 0; i < m; i++) b[i] = with_bias ? b[i] : 0;

    /* forward */
    TU_OK(rd_linear_forward(tu_ctx(), &tx, &vw, with_bias ? &vb : NULL, &ty));
    tu_read(&ty, got);
    ref_linear(x, n, k, w, b, m, y);
    tu_assert_close("linear forward", got, y, ny, 1e-5, 1e-5);

    /* backward, overwriting dx (filled with NaN first: it must not be read) */
    double *nans = alloc_d(nx);
    for (size_t i = 0; i < nx; i++) nans[i] = NAN;
    tu_write(&tdx, nans);
    free(nans);
    rd_vec vdw = tu_vec_from(dw0, nw), vdb = tu_vec_from(db0, m);
    TU_OK(rd_linear_backward(tu_ctx(), &tx, &vw, &tdy, &tdx, 0, &vdw, with_bias ? &vdb : NULL));
    lin_fd f = {x, w, b, r, y, n, k, m, 0};
    tu_read(&tdx, got);
    tu_fd_grad(lin_loss, &f, x, nx, 1e-3, want);
    tu_assert_close("linear dx", got, want, nx, 1e-4, 1e-4);
    /* dw accumulates onto dw0 */
    tu_vec_read(&vdw, got);
    f.which = 1;
    tu_fd_grad(lin_loss, &f, w, nw, 1e-3, want);
    for (size_t i = 0; i < nw; i++) want[i] += dw0[i];
    tu_assert_close("linear dw", got, want, nw, 1e-4, 1e-4);
    tu_vec_read(&vdb, got);
    if (with_bias) {
        f.which = 2;
        tu_fd_grad(lin_loss, &f, b, m, 1e-3, want);
        for (int i = 0; i < m; i++) want[i] += db0[i];
    } else {
        memcpy(want, db0, m * sizeof *want);  /* untouched */
    }
    tu_assert_close("linear db", got, want, m, 1e-4, 1e-4);

    /* dx accumulates onto dx0 when asked; dw and db may be skipped */
    tu_write(&tdx, dx0);
    TU_OK(rd_linear_backward(tu_ctx(), &tx, &vw, &tdy, &tdx, 1, NULL, NULL));
    tu_read(&tdx, got);
    f.which = 0;
    tu_fd_grad(lin_loss, &f, x, nx, 1e-3, want);
    for (size_t i = 0; i < nx; i++) want[i] += dx0[i];
    tu_assert_close("linear dx accumulated", got, want, nx, 1e-4, 1e-4);

    free(x); free(w); free(b); free(y); free(got); free(r); free(want); free(dx0); free(dw0); free(db0);
    tu_free_all();
}

START_TEST(linear_dense) {
    tu_rng rng = {101};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(&cases[i], 1, 0, &rng);
}
END_TEST

START_TEST(linear_strided_and_no_bias) {
    tu_rng rng = {202};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        run_case(&cases[i], 0, 1, &rng);
        run_case(&cases[i], 1, 1, &rng);
    }
}
END_TEST

static void expect_arg_error(rd_status s, const char *needle) {
    ck_assert_int_eq(s, RD_ERR_ARG);
    const char *msg = rd_ctx_error(tu_ctx());
    ck_assert_msg(strstr(msg, needle) != NULL, "message '%s' lacks '%s'", msg, needle);
    ck_assert_msg(strchr(msg, '\n') == NULL, "message '%s' is not one line", msg);
}

START_TEST(linear_errors) {
    rd_ctx *ctx = tu_ctx();
    rd_tensor x = tu_tensor(4, 6, 1, 1), y = tu_tensor(4, 3, 1, 1), dx = tu_tensor(4, 6, 1, 1);
    rd_vec w = tu_vec(18), b = tu_vec(3), wbad = tu_vec(17), bbad = tu_vec(4);
    TU_OK(rd_linear_forward(ctx, &x, &w, &b, &y));
    expect_arg_error(rd_linear_forward(ctx, &x, &wbad, &b, &y), "linear: w has 17 floats, expected 18");
    expect_arg_error(rd_linear_forward(ctx, &x, &w, &bbad, &y), "linear: b has 4 floats");
    rd_tensor y_batch = tu_tensor(5, 3, 1, 1), y_spatial = tu_tensor(4, 3, 2, 1);
    expect_arg_error(rd_linear_forward(ctx, &x, &w, &b, &y_batch), "linear: y is 5x3x1x1");
    expect_arg_error(rd_linear_forward(ctx, &x, &w, &b, &y_spatial), "linear: y is 4x3x2x1");
    rd_tensor dx_bad = tu_tensor(4, 3, 2, 1);  /* same K, other shape */
    expect_arg_error(rd_linear_backward(ctx, &x, &w, &y, &dx_bad, 0, NULL, NULL), "linear backward: x");
    expect_arg_error(rd_linear_backward(ctx, &x, &w, &y, &dx, 0, &wbad, NULL), "linear backward: dw has 17");
    expect_arg_error(rd_linear_backward(ctx, &x, &w, &y, &dx, 0, NULL, &bbad), "linear backward: db has 4");
    rd_tensor none = x;
    none.mem = NULL;
    expect_arg_error(rd_linear_forward(ctx, &none, &w, &b, &y), "linear: x has no device memory");
    tu_free_all();
}
END_TEST

START_TEST(linear_scratch_is_counted) {
    /* the GEMM temporaries live in scratch: after a reservation of the reported size, no allocation */
    rd_ctx *ctx = tu_ctx();
    rd_tensor x = tu_tensor(64, 256, 1, 1), y = tu_tensor(64, 10, 1, 1), dx = tu_tensor(64, 256, 1, 1);
    rd_vec w = tu_vec(2560), dw = tu_vec(2560), b = tu_vec(10), db = tu_vec(10);
    size_t bytes = rd_linear_scratch_bytes(ctx, &x, &y);
    TU_OK(rd_scratch_reserve(ctx, RD_SCRATCH_GEMM, bytes ? bytes : sizeof(float)));
    rd_mem_stats s0 = rd_mem_get_stats(ctx);
    TU_OK(rd_vec_fill(ctx, &w, 0.5f));
    TU_OK(rd_linear_forward(ctx, &x, &w, &b, &y));
    TU_OK(rd_linear_backward(ctx, &x, &w, &y, &dx, 0, &dw, &db));
    TU_OK(rd_finish(ctx));
    rd_mem_stats s1 = rd_mem_get_stats(ctx);
    ck_assert_uint_eq(s1.total_allocs, s0.total_allocs);
    tu_free_all();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ops_linear");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, linear_dense);
    tcase_add_test(tc, linear_strided_and_no_bias);
    tcase_add_test(tc, linear_errors);
    tcase_add_test(tc, linear_scratch_is_counted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
