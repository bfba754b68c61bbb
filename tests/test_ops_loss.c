/* Softmax and cross-entropy against the host reference; backward passes
 * against central finite differences of the reference forward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

/* rows x cols: the alphas (14 edges x 8 or 15 ops), logits (64 x 10), one
 * element, and rows longer than any work-group */
static const int mats[][2] = {{14, 8}, {14, 15}, {64, 10}, {1, 1}, {3, 300}, {2, 1031}};
enum { NMATS = sizeof mats / sizeof *mats };

static double *alloc_d(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

typedef struct sm_fd { const double *r; double *y; int rows, cols; } sm_fd;
static double softmax_loss(void *user, const double *x) {
    sm_fd *f = user;
    ref_softmax(x, f->y, f->rows, f->cols);
    return tu_dot(f->r, f->y, (size_t)f->rows * f->cols);
}

START_TEST(softmax_forward_backward) {
    tu_rng rng = {31};
    for (int mi = 0; mi < NMATS; mi++) {
        int rows = mats[mi][0], cols = mats[mi][1];
        size_t n = (size_t)rows * cols;
        double *x = alloc_d(n), *y = alloc_d(n), *got = alloc_d(n), *r = alloc_d(n), *want = alloc_d(n),
               *dx0 = alloc_d(n);
        tu_fill(&rng, x, n, -3, 3);
        tu_fill(&rng, r, n, -1, 1);
        tu_fill(&rng, dx0, n, -1, 1);
        rd_vec vx = tu_vec_from(x, n), vy = tu_vec(n), vr = tu_vec_from(r, n), vdx = tu_vec_from(dx0, n);
        TU_OK(rd_softmax_forward(tu_ctx(), &vx, &vy, rows, cols));
        tu_vec_read(&vy, got);
        ref_softmax(x, y, rows, cols);
        tu_assert_close("softmax forward", got, y, n, 1e-7, 1e-5);
        /* rows sum to one */
        for (int i = 0; i < rows; i++) {
            double s = 0;
            for (int j = 0; j < cols; j++) s += got[(size_t)i * cols + j];
            ck_assert_msg(fabs(s - 1) < 1e-5, "softmax row %d sums to %.9g", i, s);
        }
        /* backward from the device's y, accumulating onto dx0, then overwriting */
        sm_fd f = {r, want, rows, cols};
        double *fd = alloc_d(n);
        tu_fd_grad(softmax_loss, &f, x, n, 1e-4, fd);
        TU_OK(rd_softmax_backward(tu_ctx(), &vy, &vr, &vdx, rows, cols, 1));
        tu_vec_read(&vdx, got);
        for (size_t i = 0; i < n; i++) want[i] = dx0[i] + fd[i];
        tu_assert_close("softmax backward accumulated", got, want, n, 1e-6, 1e-4);
        TU_OK(rd_softmax_backward(tu_ctx(), &vy, &vr, &vdx, rows, cols, 0));
        tu_vec_read(&vdx, got);
        tu_assert_close("softmax backward", got, fd, n, 1e-6, 1e-4);
        /* in place: y may be x */
        TU_OK(rd_softmax_forward(tu_ctx(), &vx, &vx, rows, cols));
        tu_vec_read(&vx, got);
        tu_assert_close("softmax in place", got, y, n, 1e-7, 1e-5);
        free(x); free(y); free(got); free(r); free(want); free(dx0); free(fd);
        tu_free_all();
    }
}
END_TEST

START_TEST(softmax_is_stable_for_large_inputs) {
    /* exp(1000) overflows float: only max subtraction gets these right */
    double x[2 * 5] = {1000, 999, 998, 1000, 990, -1000, -1001, -2000, -999, -1000.5};
    double want[10], got[10];
    rd_vec vx = tu_vec_from(x, 10), vy = tu_vec(10);
    TU_OK(rd_softmax_forward(tu_ctx(), &vx, &vy, 2, 5));
    tu_vec_read(&vy, got);
    ref_softmax(x, want, 2, 5);
    tu_assert_close("softmax large inputs", got, want, 10, 1e-7, 1e-5);
    tu_free_all();
}
END_TEST

/* int32 labels on the device (freed by the caller) */
static rd_buffer *labels_buffer(const int *labels, size_t n) {
    rd_buffer *b = NULL;
    TU_OK(rd_alloc(tu_ctx(), n * sizeof(cl_int), "labels", &b));
    cl_int rc = clEnqueueWriteBuffer(rd_ctx_queue(tu_ctx()), rd_buffer_mem(b), CL_TRUE, 0, n * sizeof(cl_int), labels,
                                     0, NULL, NULL);
    ck_assert_int_eq(rc, CL_SUCCESS);
    return b;
}

typedef struct ce_fd { const int *labels; int n, k; } ce_fd;
static double ce_loss(void *user, const double *x) {
    ce_fd *f = user;
    return ref_cross_entropy(x, f->labels, f->n, f->k, NULL);
}

START_TEST(cross_entropy_loss_grad_correct) {
    tu_rng rng = {47};
    static const int cases[][2] = {{64, 10}, {1, 10}, {5, 3}, {3, 1}, {7, 300}, {300, 7}};
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        int n = cases[ci][0], k = cases[ci][1];
        size_t nk = (size_t)n * k;
        double *x = alloc_d(nk), *got = alloc_d(nk), *want = alloc_d(nk);
        /* the labels sit at an offset inside a longer buffer; some rows are made right */
        int *labels = calloc((size_t)n + 5, sizeof *labels);
        tu_fill(&rng, x, nk, -4, 4);
        for (int i = 0; i < n + 5; i++) labels[i] = (int)tu_uniform(&rng, 0, k) % k;
        for (int i = 0; i < n; i += 3) x[(size_t)i * k + labels[i + 2]] += 6;
        rd_buffer *lb = labels_buffer(labels, (size_t)n + 5);
        rd_vec vx = tu_vec_from(x, nk), vl = tu_vec(1), vdl = tu_vec(nk), vc = tu_vec(1);
        TU_OK(rd_cross_entropy(tu_ctx(), &vx, rd_buffer_mem(lb), 2, n, k, &vl, &vdl, &vc));
        int right = -1;
        double loss, count, want_loss = ref_cross_entropy(x, labels + 2, n, k, &right), want_count = right;
        tu_vec_read(&vl, &loss);
        tu_vec_read(&vc, &count);
        tu_assert_close("cross-entropy loss", &loss, &want_loss, 1, 1e-6, 1e-5);
        tu_assert_close("cross-entropy correct", &count, &want_count, 1, 0, 0);
        ck_assert(k == 1 || right > 0);
        ce_fd f = {labels + 2, n, k};
        tu_fd_grad(ce_loss, &f, x, nk, 1e-4, want);
        tu_vec_read(&vdl, got);
        tu_assert_close("cross-entropy dlogits", got, want, nk, 1e-7, 1e-4);
        /* optional outputs skipped: loss alone, dlogits untouched */
        TU_OK(rd_vec_fill(tu_ctx(), &vdl, 7.0f));
        TU_OK(rd_cross_entropy(tu_ctx(), &vx, rd_buffer_mem(lb), 2, n, k, &vl, NULL, NULL));
        tu_vec_read(&vl, &loss);
        tu_assert_close("cross-entropy loss only", &loss, &want_loss, 1, 1e-6, 1e-5);
        tu_vec_read(&vdl, got);
        for (size_t i = 0; i < nk; i++) ck_assert(got[i] == 7.0);
        /* dlogits may overwrite the logits */
        TU_OK(rd_cross_entropy(tu_ctx(), &vx, rd_buffer_mem(lb), 2, n, k, &vl, &vx, NULL));
        tu_vec_read(&vx, got);
        tu_assert_close("cross-entropy dlogits in place", got, want, nk, 1e-7, 1e-4);
        rd_free(tu_ctx(), lb);
        free(x); free(got); free(want); free(labels);
        tu_free_all();
    }
}
END_TEST

START_TEST(cross_entropy_large_logits_and_bad_labels) {
    /* logits far beyond exp's float range still give a finite loss */
    double x[2 * 3] = {1000, 0, -1000, 500, 520, 510};
    int labels[2] = {1, 1};
    rd_buffer *lb = labels_buffer(labels, 2);
    rd_vec vx = tu_vec_from(x, 6), vl = tu_vec(1), vc = tu_vec(1), vdl = tu_vec(6);
    TU_OK(rd_cross_entropy(tu_ctx(), &vx, rd_buffer_mem(lb), 0, 2, 3, &vl, &vdl, &vc));
    double loss, count, want = ref_cross_entropy(x, labels, 2, 3, NULL);
    tu_vec_read(&vl, &loss);
    tu_vec_read(&vc, &count);
    tu_assert_close("cross-entropy large logits", &loss, &want, 1, 1e-4, 1e-6);
    ck_assert(count == 1.0);
    rd_free(tu_ctx(), lb);
    /* a label outside [0, k) makes the loss and that row of dlogits NaN */
    int bad[2] = {0, 3};
    lb = labels_buffer(bad, 2);
    TU_OK(rd_cross_entropy(tu_ctx(), &vx, rd_buffer_mem(lb), 0, 2, 3, &vl, &vdl, &vc));
    double dl[6];
    tu_vec_read(&vl, &loss);
    tu_vec_read(&vdl, dl);
    ck_assert_msg(isnan(loss), "loss %g with label 3 of 3 classes", loss);
    ck_assert(!isnan(dl[0]) && isnan(dl[3]));
    ck_assert(isnan(ref_cross_entropy(x, bad, 2, 3, NULL)));
    rd_free(tu_ctx(), lb);
    /* a NaN or infinite logit, in a row whose label is elsewhere, makes the loss not finite */
    int good[2] = {0, 1};
    lb = labels_buffer(good, 2);
    const double poison[] = {NAN, INFINITY, -INFINITY};
    for (int pi = 0; pi < 3; pi++) {
        double xp[6] = {0.5, 0.25, -1, 2, 1, 0};
        xp[5] = poison[pi];
        rd_vec vxp = tu_vec_from(xp, 6);
        TU_OK(rd_cross_entropy(tu_ctx(), &vxp, rd_buffer_mem(lb), 0, 2, 3, &vl, NULL, NULL));
        tu_vec_read(&vl, &loss);
        double ref = ref_cross_entropy(xp, good, 2, 3, NULL);
        if (pi < 2) ck_assert_msg(!isfinite(loss), "loss %g with logit %g", loss, poison[pi]);
        else ck_assert_msg(isfinite(loss) && fabs(loss - ref) < 1e-5, "loss %g (want %g) with a -inf logit", loss, ref);
    }
    rd_free(tu_ctx(), lb);
    tu_free_all();
}
END_TEST

static void expect_arg_error(rd_status s, const char *needle) {
    ck_assert_int_eq(s, RD_ERR_ARG);
    const char *msg = rd_ctx_error(tu_ctx());
    ck_assert_msg(strstr(msg, needle) != NULL, "message '%s' lacks '%s'", msg, needle);
    ck_assert_msg(strchr(msg, '\n') == NULL, "message '%s' is not one line", msg);
}

START_TEST(loss_errors) {
    rd_ctx *ctx = tu_ctx();
    rd_vec a = tu_vec(112), b = tu_vec(111), one = tu_vec(1), two = tu_vec(2);
    expect_arg_error(rd_softmax_forward(ctx, &a, &b, 14, 8), "softmax: y has 111 floats, expected 112");
    expect_arg_error(rd_softmax_forward(ctx, &a, &a, 0, 8), "softmax: 0 x 8 is not a matrix");
    expect_arg_error(rd_softmax_backward(ctx, &a, &b, &a, 14, 8, 0), "softmax backward: dy has 111 floats");
    int labels[4] = {0, 1, 2, 3};
    rd_buffer *lb = labels_buffer(labels, 4);
    rd_vec logits = tu_vec(40);
    TU_OK(rd_cross_entropy(ctx, &logits, rd_buffer_mem(lb), 0, 4, 10, &one, NULL, NULL));
    expect_arg_error(rd_cross_entropy(ctx, &logits, rd_buffer_mem(lb), 1, 4, 10, &one, NULL, NULL),
                     "cross_entropy: labels [1, 5) pass the end of their buffer (4 int32)");
    expect_arg_error(rd_cross_entropy(ctx, &logits, rd_buffer_mem(lb), 0, 4, 9, &one, NULL, NULL),
                     "cross_entropy: logits has 40 floats, expected 36");
    expect_arg_error(rd_cross_entropy(ctx, &logits, rd_buffer_mem(lb), 0, 4, 10, &two, NULL, NULL),
                     "cross_entropy: loss has 2 floats");
    expect_arg_error(rd_cross_entropy(ctx, &logits, rd_buffer_mem(lb), 0, 4, 10, &one, &a, NULL),
                     "cross_entropy: dlogits has 112 floats");
    expect_arg_error(rd_cross_entropy(ctx, &logits, rd_buffer_mem(lb), 0, 4, 10, &one, NULL, &two),
                     "cross_entropy: correct has 2 floats");
    expect_arg_error(rd_cross_entropy(ctx, &logits, NULL, 0, 4, 10, &one, NULL, NULL),
                     "cross_entropy: labels have no device memory");
    rd_free(ctx, lb);
    tu_free_all();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ops_loss");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, softmax_forward_backward);
    tcase_add_test(tc, softmax_is_stable_for_large_inputs);
    tcase_add_test(tc, cross_entropy_loss_grad_correct);
    tcase_add_test(tc, cross_entropy_large_logits_and_bad_labels);
    tcase_add_test(tc, loss_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
