#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rd_ctx *g_ctx;
enum { MAX_BUFS = 4096 };
static rd_buffer *g_bufs[MAX_BUFS];
static int g_nbufs;

rd_ctx *tu_ctx(void) {
    if (g_ctx) return g_ctx;
    rd_err err = {0};
    rd_ctx_options opt = {0};
    if (rd_ctx_create(&opt, &g_ctx, &err) != RD_OK) {
        fprintf(stderr, "cannot create an OpenCL context: %s\n", err.msg);
        exit(1);
    }
    /* RADARS_TEST_TUNING="wg=16 conv_group=4 ...": the suite under other kernel parameters */
    const char *tuning = getenv("RADARS_TEST_TUNING");
    if (tuning && *tuning) {
        rd_tuning t = *rd_ctx_tuning(g_ctx);
        if (rd_tuning_from_text(rd_ctx_device(g_ctx), tuning, &t, &err) != RD_OK ||
            rd_ctx_set_tuning(g_ctx, &t) != RD_OK) {
            fprintf(stderr, "RADARS_TEST_TUNING: %s\n", err.code ? err.msg : rd_ctx_error(g_ctx));
            exit(1);
        }
        char line[256];
        rd_tuning_format(&t, line, sizeof line);
        fprintf(stderr, "kernel parameters: %s\n", line);
    }
    return g_ctx;
}

void tu_ctx_free(void) {
    tu_free_all();
    rd_ctx_free(g_ctx);
    g_ctx = NULL;
}

double tu_uniform(tu_rng *r, double lo, double hi) {
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    double u = (double)(r->s >> 11) / 9007199254740992.0;
    return lo + (hi - lo) * u;
}

void tu_fill(tu_rng *r, double *x, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) x[i] = tu_uniform(r, lo, hi);
}

void tu_fill_distinct(tu_rng *r, double *x, size_t n, double scale) {
    /* a random permutation of evenly spaced values, centred on 0 */
    for (size_t i = 0; i < n; i++) x[i] = scale * ((double)i - 0.5 * (double)n + 0.37) / (double)n;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)tu_uniform(r, 0, (double)i);
        if (j >= i) j = i - 1;
        double t = x[i - 1];
        x[i - 1] = x[j];
        x[j] = t;
    }
}

/* Test buffers start as NaN, written from the host over their whole length: a
 * kernel that reads what nobody wrote shows in the comparisons on every driver. */
static rd_buffer *track(size_t bytes) {
    rd_buffer *b = NULL;
    rd_status s = rd_alloc(tu_ctx(), bytes, "test", &b);
    ck_assert_msg(s == RD_OK, "test allocation failed: %s", rd_ctx_error(tu_ctx()));
    ck_assert_msg(g_nbufs < MAX_BUFS, "too many test buffers");
    g_bufs[g_nbufs++] = b;
    size_t n = bytes / sizeof(float);
    if (n) {
        float *nan = malloc(n * sizeof *nan);
        ck_assert_ptr_nonnull(nan);
        for (size_t i = 0; i < n; i++) nan[i] = NAN;
        rd_vec v = rd_vec_make(rd_buffer_mem(b), 0, n);
        TU_OK(rd_vec_write(tu_ctx(), &v, nan));
        free(nan);
    }
    return b;
}

rd_tensor tu_tensor(int n, int c, int h, int w) {
    rd_buffer *b = track((size_t)n * c * h * w * sizeof(float));
    return rd_tensor_make(rd_buffer_mem(b), 0, n, c, h, w);
}

rd_tensor tu_tensor_from(double *x, int n, int c, int h, int w) {
    rd_tensor t = tu_tensor(n, c, h, w);
    tu_write(&t, x);
    return t;
}

rd_vec tu_vec(size_t len) {
    rd_buffer *b = track(len * sizeof(float));
    return rd_vec_make(rd_buffer_mem(b), 0, len);
}

rd_vec tu_vec_from(double *x, size_t len) {
    rd_vec v = tu_vec(len);
    float *f = malloc(len * sizeof *f + 1);
    for (size_t i = 0; i < len; i++) x[i] = f[i] = (float)x[i];
    TU_OK(rd_vec_write(tu_ctx(), &v, f));
    free(f);
    return v;
}

void tu_write(const rd_tensor *t, double *x) {
    size_t n = rd_tensor_numel(t);
    float *f = malloc(n * sizeof *f + 1);
    for (size_t i = 0; i < n; i++) x[i] = f[i] = (float)x[i];
    TU_OK(rd_tensor_write(tu_ctx(), t, f));
    free(f);
}

void tu_read(const rd_tensor *t, double *out) {
    size_t n = rd_tensor_numel(t);
    float *f = malloc(n * sizeof *f + 1);
    TU_OK(rd_tensor_read(tu_ctx(), t, f));
    for (size_t i = 0; i < n; i++) out[i] = f[i];
    free(f);
}

void tu_vec_read(const rd_vec *v, double *out) {
    float *f = malloc(v->len * sizeof *f + 1);
    TU_OK(rd_vec_read(tu_ctx(), v, f));
    for (size_t i = 0; i < v->len; i++) out[i] = f[i];
    free(f);
}

void tu_free_all(void) {
    for (int i = 0; i < g_nbufs; i++) rd_free(g_ctx, g_bufs[i]);
    g_nbufs = 0;
}

void tu_assert_close(const char *what, const double *got, const double *want, size_t n, double atol,
                     double rtol) {
    size_t worst = 0;
    double worst_excess = -1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]), allowed = atol + rtol * fabs(want[i]);
        if (!(d <= allowed) && (d - allowed > worst_excess || isnan(d))) {
            worst = i;
            worst_excess = isnan(d) ? INFINITY : d - allowed;
        }
    }
    ck_assert_msg(worst_excess < 0, "%s: element %zu of %zu: got %.7g, want %.7g (atol %g, rtol %g)", what, worst,
                  n, got[worst], want[worst], atol, rtol);
}

void tu_fd_grad(tu_scalar_fn f, void *user, double *x, size_t n, double eps, double *grad) {
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + eps;
        double fp = f(user, x);
        x[i] = keep - eps;
        double fm = f(user, x);
        x[i] = keep;
        grad[i] = (fp - fm) / (2 * eps);
    }
}

double tu_dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

int tu_small(void) {
    const char *small = getenv("RADARS_TEST_SMALL");
    return small && *small && strcmp(small, "0") != 0;
}

int tu_too_big(size_t elements) { return tu_small() && elements > TU_SMALL_ELEMENTS; }

int tu_run_suite(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    tu_ctx_free();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
