/* Element-wise ops, copies and sums against the host reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static const ref_shape shapes[] = {{1, 1, 1, 1}, {2, 3, 5, 7}, {3, 17, 9, 9}, {1, 65, 4, 3}};

START_TEST(relu_forward_backward) {
    tu_rng r = {11};
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        ref_shape s = shapes[si];
        size_t n = ref_numel(s);
        double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *got = malloc(n * sizeof *got),
               *dy = malloc(n * sizeof *dy), *dx0 = malloc(n * sizeof *dx0);
        tu_fill_distinct(&r, x, n, 2.0);
        tu_fill(&r, dy, n, -1, 1);
        tu_fill(&r, dx0, n, -1, 1);
        rd_tensor tx = tu_tensor_from(x, s.n, s.c, s.h, s.w), ty = tu_tensor(s.n, s.c, s.h, s.w);
        TU_OK(rd_relu_forward(tu_ctx(), &tx, &ty));
        tu_read(&ty, got);
        ref_relu(x, y, n);
        tu_assert_close("relu forward", got, y, n, 0, 0);
        /* backward, accumulating onto dx0: compare with finite differences of sum(dy * relu(x)) */
        rd_tensor tdy = tu_tensor_from(dy, s.n, s.c, s.h, s.w), tdx = tu_tensor_from(dx0, s.n, s.c, s.h, s.w);
        TU_OK(rd_relu_backward(tu_ctx(), &tx, &tdy, &tdx, 1));
        tu_read(&tdx, got);
        for (size_t i = 0; i < n; i++) {
            double yp = x[i] + 1e-6 > 0 ? x[i] + 1e-6 : 0, ym = x[i] - 1e-6 > 0 ? x[i] - 1e-6 : 0;
            y[i] = dx0[i] + dy[i] * (yp - ym) / 2e-6;
        }
        tu_assert_close("relu backward", got, y, n, 1e-5, 1e-5);
        free(x); free(y); free(got); free(dy); free(dx0);
        tu_free_all();
    }
}
END_TEST

START_TEST(strided_views_concat_slice_axpy) {
    /* two parts written into one concatenated buffer as views, then copied back out */
    tu_rng r = {5};
    int n = 3, c1 = 5, c2 = 7, h = 4, w = 3;
    size_t n1 = (size_t)n * c1 * h * w, n2 = (size_t)n * c2 * h * w;
    double *a = malloc(n1 * sizeof *a), *b = malloc(n2 * sizeof *b), *cat = malloc((n1 + n2) * sizeof *cat),
           *got = malloc((n1 + n2) * sizeof *got);
    tu_fill(&r, a, n1, -1, 1);
    tu_fill(&r, b, n2, -1, 1);
    rd_tensor ta = tu_tensor_from(a, n, c1, h, w), tb = tu_tensor_from(b, n, c2, h, w);
    rd_tensor ty = tu_tensor(n, c1 + c2, h, w);
    rd_tensor parts[2] = {ta, tb};
    TU_OK(rd_concat_channels(tu_ctx(), parts, 2, &ty));
    tu_read(&ty, got);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < c1 + c2; c++)
            for (int j = 0; j < h * w; j++)
                cat[((size_t)i * (c1 + c2) + c) * h * w + j] =
                    c < c1 ? a[((size_t)i * c1 + c) * h * w + j] : b[((size_t)i * c2 + c - c1) * h * w + j];
    tu_assert_close("concat", got, cat, n1 + n2, 0, 0);
    /* a strided view reads back as the slice */
    rd_tensor view = rd_tensor_channels(ty, c1, c2);
    ck_assert(!rd_tensor_is_dense(&view));
    tu_read(&view, got);
    tu_assert_close("channel view", got, b, n2, 0, 0);
    rd_tensor sl = tu_tensor(n, c2, h, w);
    TU_OK(rd_slice_channels(tu_ctx(), &ty, c1, &sl));
    tu_read(&sl, got);
    tu_assert_close("slice", got, b, n2, 0, 0);
    /* axpy into a strided view: y += 2 * b */
    TU_OK(rd_axpy(tu_ctx(), 2.0f, &tb, &view, 1));
    tu_read(&view, got);
    for (size_t i = 0; i < n2; i++) cat[i] = 3 * b[i];
    tu_assert_close("axpy strided", got, cat, n2, 1e-6, 1e-6);
    /* and the other channels were not touched */
    rd_tensor first = rd_tensor_channels(ty, 0, c1);
    tu_read(&first, got);
    tu_assert_close("untouched channels", got, a, n1, 0, 0);
    /* a bad shape is refused with a message naming the op */
    rd_tensor bad = tu_tensor(n, c2 + 1, h, w);
    ck_assert_int_eq(rd_axpy(tu_ctx(), 1.0f, &tb, &bad, 1), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(tu_ctx()), "axpy"));
    free(a); free(b); free(cat); free(got);
    tu_free_all();
}
END_TEST

/* Scales read on the device: drop-path's per image (rd_scale_images) and the mixed-op weight's one
 * for all (rd_axpy_dev, the weight at offset 1 of its vector; its reference: every image's scale
 * that weight), dense and into a strided view, overwrite and accumulate. */
START_TEST(device_scales_vs_reference) {
    tu_rng r = {17};
    for (int dev_w = 0; dev_w < 2; dev_w++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
            ref_shape sh = shapes[si];
            size_t n = ref_numel(sh);
            const char *what = dev_w ? "axpy_dev" : "scale images";
            double *x = malloc(n * sizeof *x), *y0 = malloc(n * sizeof *y0), *want = malloc(n * sizeof *want),
                   *got = malloc(n * sizeof *got), *s = malloc((size_t)sh.n * sizeof *s);
            tu_fill(&r, x, n, -1, 1);
            tu_fill(&r, y0, n, -1, 1);
            double w[2] = {0.0, tu_uniform(&r, 0.1, 0.9)};
            for (int b = 0; b < sh.n; b++) s[b] = dev_w ? w[1] : b % 2 ? 0.0 : tu_uniform(&r, 0.5, 2.0);
            rd_tensor tx = tu_tensor_from(x, sh.n, sh.c, sh.h, sh.w);
            rd_vec ts = tu_vec_from(s, (size_t)sh.n), tw = rd_vec_slice(tu_vec_from(w, 2), 1, 1);
            for (int acc = 0; acc < 2; acc++) {
                /* y is the second half of a wider tensor: a strided view */
                rd_tensor wide = tu_tensor(sh.n, 2 * sh.c, sh.h, sh.w);
                rd_tensor ty = rd_tensor_channels(wide, sh.c, sh.c);
                tu_write(&ty, y0);
                TU_OK(dev_w ? rd_axpy_dev(tu_ctx(), &tw, &tx, &ty, acc)
                            : rd_scale_images(tu_ctx(), &ts, &tx, &ty, acc));
                tu_read(&ty, got);
                memcpy(want, y0, n * sizeof *want);
                ref_scale_images(s, x, sh, want, acc);
                char label[64];
                snprintf(label, sizeof label, "%s%s", what, acc ? " (accumulate)" : "");
                tu_assert_close(label, got, want, n, 1e-6, 1e-6);
            }
            if (!dev_w) {
                /* in place */
                TU_OK(rd_scale_images(tu_ctx(), &ts, &tx, &tx, 0));
                tu_read(&tx, got);
                ref_scale_images(s, x, sh, want, 0);
                tu_assert_close("scale images in place", got, want, n, 1e-6, 1e-6);
                /* one scale per image: a vector of another length is refused */
                rd_vec wrong = tu_vec((size_t)sh.n + 1);
                ck_assert_int_eq(rd_scale_images(tu_ctx(), &wrong, &tx, &tx, 0), RD_ERR_ARG);
            }
            free(x); free(y0); free(want); free(got); free(s);
            tu_free_all();
        }
}
END_TEST

START_TEST(zero_op_and_fill) {
    int strides[] = {1, 2};
    for (int si = 0; si < 2; si++) {
        int s = strides[si];
        rd_tensor x = tu_tensor(2, 3, 7, 5);
        int oh = rd_zero_out_size(7, s), ow = rd_zero_out_size(5, s);
        ck_assert_int_eq(oh, s == 1 ? 7 : 4);
        ck_assert_int_eq(ow, s == 1 ? 5 : 3);
        rd_tensor y = tu_tensor(2, 3, oh, ow);
        TU_OK(rd_fill(tu_ctx(), &y, 7.0f));
        TU_OK(rd_zero_forward(tu_ctx(), s, &x, &y));
        size_t n = rd_tensor_numel(&y);
        double *got = malloc(n * sizeof *got), *zero = calloc(n, sizeof *zero);
        tu_read(&y, got);
        tu_assert_close("zero op", got, zero, n, 0, 0);
        rd_tensor wrong = tu_tensor(2, 3, oh + 1, ow);
        ck_assert_int_eq(rd_zero_forward(tu_ctx(), s, &x, &wrong), RD_ERR_ARG);
        free(got); free(zero);
        tu_free_all();
    }
}
END_TEST

START_TEST(sums) {
    tu_rng r = {3};
    size_t lens[] = {1, 63, 64, 1000, 100003};
    for (size_t li = 0; li < 5; li++) {
        size_t n = lens[li];
        double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        tu_fill(&r, x, n, -1, 1);
        tu_fill(&r, y, n, -1, 1);
        rd_vec v = tu_vec_from(x, n), out = tu_vec(1);
        TU_OK(rd_vec_sumsq(tu_ctx(), &v, &out));
        double got, want = tu_dot(x, x, n);
        tu_vec_read(&out, &got);
        tu_assert_close("sumsq", &got, &want, 1, 1e-5, 1e-5);
        rd_tensor a = tu_tensor_from(x, 1, 1, 1, (int)n), b = tu_tensor_from(y, 1, 1, 1, (int)n);
        TU_OK(rd_tensor_dot(tu_ctx(), &a, &b, &out));
        want = tu_dot(x, y, n);
        tu_vec_read(&out, &got);
        tu_assert_close("dot", &got, &want, 1, 1e-5, 1e-5);
        free(x); free(y);
        tu_free_all();
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ops_elementwise");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, relu_forward_backward);
    tcase_add_test(tc, strided_views_concat_slice_axpy);
    tcase_add_test(tc, device_scales_vs_reference);
    tcase_add_test(tc, zero_op_and_fill);
    tcase_add_test(tc, sums);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
