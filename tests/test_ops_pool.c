/* Pooling (max, average, global average) against the host reference; backward
 * passes against central finite differences of the reference forward. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

/* Each test runs once per kernel layout (CPU and GPU kernels all run on any device). */
static const char *const layouts[] = {"tiles", "rows", "items"};
static const int n_layouts = (int)(sizeof layouts / sizeof *layouts);
static void use_layout(int i) { setenv("RADARS_POOL_KERNELS", layouts[i], 1); }

/* odd sizes, batch 1 and 3, channel counts that are not multiples of anything, and rows
 * long enough for the CPU kernels' vector chunks (several per row, the last overlapping) */
static const ref_shape shapes[] = {{1, 3, 7, 7},  {3, 5, 9, 9},   {2, 17, 7, 9}, {1, 1, 1, 1},
                                   {1, 2, 2, 5}, {1, 2, 10, 37}, {2, 1, 5, 30}};
static const int ks[] = {3, 5}, strides[] = {1, 2};

static ref_shape pooled(const rd_pool_params *p, ref_shape s) {
    ref_shape o = {s.n, s.c, rd_pool_out_size(p, s.h), rd_pool_out_size(p, s.w)};
    return o;
}

START_TEST(out_size) {
    rd_pool_params p = {RD_POOL_MAX, 3, 2, 1};
    ck_assert_int_eq(rd_pool_out_size(&p, 28), 14);
    ck_assert_int_eq(rd_pool_out_size(&p, 7), 4);
    ck_assert_int_eq(rd_pool_out_size(&p, 1), 1);
    p.stride = 1;
    ck_assert_int_eq(rd_pool_out_size(&p, 9), 9);
    p.k = 5;
    p.pad = 2;
    ck_assert_int_eq(rd_pool_out_size(&p, 9), 9);
    p.stride = 2;
    ck_assert_int_eq(rd_pool_out_size(&p, 14), 7);
    ck_assert_int_eq(rd_pool_out_size(&p, 9), 5);
    p.pad = 0;  /* floor((H + 2p - k) / s) + 1 */
    ck_assert_int_eq(rd_pool_out_size(&p, 8), 2);
    ck_assert_int_eq(rd_pool_out_size(&p, 4), 0);
}
END_TEST

/* L(x) = sum(r * pool(x)) through the reference */
typedef struct fd_pool { const rd_pool_params *p; ref_shape xs, ys; const double *r; double *y; } fd_pool;
static double pool_loss(void *u, const double *x) {
    fd_pool *f = u;
    ref_pool2d(f->p, x, f->xs, f->y, f->ys);
    return tu_dot(f->r, f->y, ref_numel(f->ys));
}

START_TEST(forward_backward_vs_reference) {
    use_layout(_i);
    tu_rng r = {17};
    for (int kind = 0; kind < 2; kind++)
        for (int ki = 0; ki < 2; ki++)
            for (int si = 0; si < 2; si++)
                for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
                    rd_pool_params p = {kind ? RD_POOL_AVG : RD_POOL_MAX, ks[ki], strides[si], ks[ki] / 2};
                    ref_shape xs = shapes[sh], ys = pooled(&p, xs);
                    size_t nx = ref_numel(xs), ny = ref_numel(ys);
                    double *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *got = malloc(nx * sizeof *got),
                           *dy = malloc(ny * sizeof *dy), *dx0 = malloc(nx * sizeof *dx0),
                           *want = malloc(nx * sizeof *want);
                    /* distinct values keep the max away from ties, so finite differences are exact */
                    tu_fill_distinct(&r, x, nx, 4.0);
                    tu_fill(&r, dy, ny, -1, 1);
                    tu_fill(&r, dx0, nx, -1, 1);
                    rd_tensor tx = tu_tensor_from(x, xs.n, xs.c, xs.h, xs.w), ty = tu_tensor(ys.n, ys.c, ys.h, ys.w);
                    TU_OK(rd_pool2d_forward(tu_ctx(), &p, &tx, &ty));
                    tu_read(&ty, got);
                    ref_pool2d(&p, x, xs, y, ys);
                    char what[96];
                    snprintf(what, sizeof what, "%s k%d s%d %dx%dx%dx%d forward", kind ? "avg" : "max", p.k,
                             p.stride, xs.n, xs.c, xs.h, xs.w);
                    tu_assert_close(what, got, y, ny, kind ? 1e-6 : 0, kind ? 1e-6 : 0);

                    /* backward, once overwriting and once accumulating onto dx0 */
                    fd_pool f = {&p, xs, ys, dy, y};
                    double *xc = malloc(nx * sizeof *xc);
                    memcpy(xc, x, nx * sizeof *x);
                    tu_fd_grad(pool_loss, &f, xc, nx, 1e-4, want);
                    free(xc);
                    rd_tensor tdy = tu_tensor_from(dy, ys.n, ys.c, ys.h, ys.w), tdx = tu_tensor(xs.n, xs.c, xs.h, xs.w);
                    TU_OK(rd_fill(tu_ctx(), &tdx, 123.0f));
                    TU_OK(rd_pool2d_backward(tu_ctx(), &p, &tx, &tdy, &tdx, 0));
                    tu_read(&tdx, got);
                    snprintf(what, sizeof what, "%s k%d s%d %dx%dx%dx%d backward", kind ? "avg" : "max", p.k,
                             p.stride, xs.n, xs.c, xs.h, xs.w);
                    tu_assert_close(what, got, want, nx, 1e-5, 1e-5);
                    tu_write(&tdx, dx0);
                    TU_OK(rd_pool2d_backward(tu_ctx(), &p, &tx, &tdy, &tdx, 1));
                    tu_read(&tdx, got);
                    for (size_t i = 0; i < nx; i++) want[i] += dx0[i];
                    tu_assert_close("backward accumulate", got, want, nx, 1e-5, 1e-5);
                    free(x); free(y); free(got); free(dy); free(dx0); free(want);
                    tu_free_all();
                }
}
END_TEST

/* dx of max pooling by a plain scan of each window: the first maximum in scan
 * order, where a NaN always wins (PyTorch's rule: v > m || isnan(v)). */
static void scan_max_backward(const rd_pool_params *p, const double *x, ref_shape xs, const double *dy, ref_shape ys,
                              double *dx) {
    memset(dx, 0, ref_numel(xs) * sizeof *dx);
    for (int n = 0; n < xs.n; n++)
        for (int c = 0; c < xs.c; c++)
            for (int oy = 0; oy < ys.h; oy++)
                for (int ox = 0; ox < ys.w; ox++) {
                    size_t plane = ((size_t)n * xs.c + c) * xs.h * xs.w, best = SIZE_MAX;
                    double m = -INFINITY;
                    for (int iy = oy * p->stride - p->pad; iy < oy * p->stride - p->pad + p->k; iy++)
                        for (int ix = ox * p->stride - p->pad; ix < ox * p->stride - p->pad + p->k; ix++) {
                            if (iy < 0 || iy >= xs.h || ix < 0 || ix >= xs.w) continue;
                            double v = x[plane + iy * xs.w + ix];
                            if (best == SIZE_MAX || v > m || isnan(v)) {
                                m = v;
                                best = plane + iy * xs.w + ix;
                            }
                        }
                    dx[best] += dy[(((size_t)n * ys.c + c) * ys.h + oy) * ys.w + ox];
                }
}

/* Ties: the gradient goes to the first maximum of each window in scan order. */
START_TEST(max_ties_first_in_scan_order) {
    use_layout(_i);
    tu_rng r = {4};
    for (int ki = 0; ki < 2; ki++)
        for (int si = 0; si < 2; si++) {
            rd_pool_params p = {RD_POOL_MAX, ks[ki], strides[si], ks[ki] / 2};
            ref_shape xs = {2, 3, 9, 21}, ys = pooled(&p, xs);
            size_t nx = ref_numel(xs), ny = ref_numel(ys);
            double *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy), *got = malloc(nx * sizeof *got),
                   *want = malloc(nx * sizeof *want);
            /* few levels, so most windows hold their maximum more than once */
            for (size_t i = 0; i < nx; i++) x[i] = floor(tu_uniform(&r, 0, 3));
            tu_fill(&r, dy, ny, -1, 1);
            scan_max_backward(&p, x, xs, dy, ys, want);
            rd_tensor tx = tu_tensor_from(x, xs.n, xs.c, xs.h, xs.w), tdy = tu_tensor_from(dy, ys.n, ys.c, ys.h, ys.w),
                      tdx = tu_tensor(xs.n, xs.c, xs.h, xs.w);
            TU_OK(rd_pool2d_backward(tu_ctx(), &p, &tx, &tdy, &tdx, 0));
            tu_read(&tdx, got);
            tu_assert_close("max backward with ties", got, want, nx, 1e-6, 1e-6);
            free(x); free(dy); free(got); free(want);
            tu_free_all();
        }
}
END_TEST

/* NaN wins a window: the output is NaN and the window's last NaN takes dy; -inf
 * everywhere gives the first pixel the gradient. NaNs only in the first channel,
 * so that the second (no NaN: the CPU tiles' faster compare) checks -inf alone. */
START_TEST(max_nan_and_infinities) {
    use_layout(_i);
    tu_rng r = {6};
    for (int ki = 0; ki < 2; ki++)
        for (int si = 0; si < 2; si++) {
            rd_pool_params p = {RD_POOL_MAX, ks[ki], strides[si], ks[ki] / 2};
            ref_shape xs = {1, 2, 11, 19}, ys = pooled(&p, xs);
            size_t nx = ref_numel(xs), ny = ref_numel(ys);
            double *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *dy = malloc(ny * sizeof *dy),
                   *got = malloc(nx * sizeof *got), *want = malloc(nx * sizeof *want);
            tu_fill_distinct(&r, x, nx, 4.0);
            for (size_t i = 0; i < nx; i++) {
                double u = tu_uniform(&r, 0, 1);
                if (u < 0.04 && i < nx / 2) x[i] = NAN;
                else if (u < 0.5 && i >= nx / 2) x[i] = -INFINITY;  /* whole windows of -inf in the second channel */
            }
            tu_fill(&r, dy, ny, -1, 1);
            rd_tensor tx = tu_tensor_from(x, xs.n, xs.c, xs.h, xs.w), ty = tu_tensor(ys.n, ys.c, ys.h, ys.w);
            TU_OK(rd_pool2d_forward(tu_ctx(), &p, &tx, &ty));
            tu_read(&ty, got);
            ref_pool2d(&p, x, xs, y, ys);
            for (size_t i = 0; i < ny; i++)
                ck_assert_msg(isnan(got[i]) ? isnan(y[i]) : got[i] == y[i], "max forward with NaN: output %zu: got %g, want %g",
                              i, got[i], y[i]);
            scan_max_backward(&p, x, xs, dy, ys, want);
            rd_tensor tdy = tu_tensor_from(dy, ys.n, ys.c, ys.h, ys.w), tdx = tu_tensor(xs.n, xs.c, xs.h, xs.w);
            TU_OK(rd_pool2d_backward(tu_ctx(), &p, &tx, &tdy, &tdx, 0));
            tu_read(&tdx, got);
            tu_assert_close("max backward with NaN and -inf", got, want, nx, 1e-6, 1e-6);
            free(x); free(y); free(dy); free(got); free(want);
            tu_free_all();
        }
}
END_TEST

/* x, y, dy and dx as channel slices of larger buffers (batch strides). */
START_TEST(strided_views) {
    use_layout(_i);
    tu_rng r = {8};
    for (int kind = 0; kind < 2; kind++) {
        rd_pool_params p = {kind ? RD_POOL_AVG : RD_POOL_MAX, 3, 2, 1};
        ref_shape xs = {3, 5, 9, 7}, ys = pooled(&p, xs);
        size_t nx = ref_numel(xs), ny = ref_numel(ys);
        int cx = xs.c + 4, cy = ys.c + 3;
        size_t nbx = (size_t)xs.n * cx * xs.h * xs.w, nby = (size_t)ys.n * cy * ys.h * ys.w;
        double *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *dy = malloc(ny * sizeof *dy),
               *got = malloc(nbx * sizeof *got), *want = malloc(nx * sizeof *want), *bigx = malloc(nbx * sizeof *bigx),
               *bigy = malloc(nby * sizeof *bigy), *bigdx = malloc(nbx * sizeof *bigdx);
        tu_fill_distinct(&r, x, nx, 4.0);
        tu_fill(&r, dy, ny, -1, 1);
        tu_fill(&r, bigx, nbx, -1, 1);
        tu_fill(&r, bigy, nby, -1, 1);
        tu_fill(&r, bigdx, nbx, -1, 1);
        rd_tensor bx = tu_tensor_from(bigx, xs.n, cx, xs.h, xs.w), by = tu_tensor_from(bigy, ys.n, cy, ys.h, ys.w),
                  bdy = tu_tensor(ys.n, cy, ys.h, ys.w), bdx = tu_tensor_from(bigdx, xs.n, cx, xs.h, xs.w);
        rd_tensor tx = rd_tensor_channels(bx, 2, xs.c), ty = rd_tensor_channels(by, 1, ys.c),
                  tdy = rd_tensor_channels(bdy, 3, ys.c), tdx = rd_tensor_channels(bdx, 4, xs.c);
        tu_write(&tx, x);
        tu_write(&tdy, dy);
        TU_OK(rd_pool2d_forward(tu_ctx(), &p, &tx, &ty));
        ref_pool2d(&p, x, xs, y, ys);
        tu_read(&ty, got);
        tu_assert_close("strided forward", got, y, ny, 1e-6, 1e-6);
        fd_pool f = {&p, xs, ys, dy, y};
        tu_fd_grad(pool_loss, &f, x, nx, 1e-4, want);
        TU_OK(rd_pool2d_backward(tu_ctx(), &p, &tx, &tdy, &tdx, 0));
        tu_read(&tdx, got);
        tu_assert_close("strided backward", got, want, nx, 1e-5, 1e-5);
        /* the channels around the views are untouched */
        double *rest = malloc(nby * sizeof *rest);
        tu_read(&by, rest);
        for (int n = 0; n < ys.n; n++)
            for (int c = 0; c < cy; c++) {
                if (c >= 1 && c < 1 + ys.c) continue;
                size_t o = ((size_t)n * cy + c) * ys.h * ys.w;
                tu_assert_close("untouched y channels", rest + o, bigy + o, (size_t)ys.h * ys.w, 0, 0);
            }
        tu_read(&bdx, got);
        for (int n = 0; n < xs.n; n++)
            for (int c = 0; c < 4; c++) {
                size_t o = ((size_t)n * cx + c) * xs.h * xs.w;
                tu_assert_close("untouched dx channels", got + o, bigdx + o, (size_t)xs.h * xs.w, 0, 0);
            }
        free(rest);
        free(x); free(y); free(dy); free(got); free(want); free(bigx); free(bigy); free(bigdx);
        tu_free_all();
    }
}
END_TEST

START_TEST(supernet_shape_and_scratch) {
    use_layout(_i);
    /* one DARTS shape: 28x28 -> 14x14, the arg-max scratch is one byte per output, none for
     * the tiles (their arg-max stays in __local memory; these tiles fit OpenCL's least 32 KiB) */
    tu_rng r = {21};
    rd_pool_params p = {RD_POOL_MAX, 3, 2, 1};
    ref_shape xs = {4, 16, 28, 28}, ys = pooled(&p, xs);
    if (tu_too_big(ref_numel(xs))) return;
    size_t nx = ref_numel(xs), ny = ref_numel(ys);
    double *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *got = malloc(ny * sizeof *got);
    tu_fill(&r, x, nx, -3, 3);
    rd_tensor tx = tu_tensor_from(x, xs.n, xs.c, xs.h, xs.w), ty = tu_tensor(ys.n, ys.c, ys.h, ys.w);
    ck_assert_uint_eq(rd_pool2d_scratch_bytes(tu_ctx(), &p, &tx, &ty), strcmp(layouts[_i], "tiles") ? ny : 0);
    rd_pool_params avg = p;
    avg.kind = RD_POOL_AVG;
    ck_assert_uint_eq(rd_pool2d_scratch_bytes(tu_ctx(), &avg, &tx, &ty), 0);
    TU_OK(rd_pool2d_forward(tu_ctx(), &p, &tx, &ty));
    tu_read(&ty, got);
    ref_pool2d(&p, x, xs, y, ys);
    tu_assert_close("28x28 max forward", got, y, ny, 0, 0);
    TU_OK(rd_pool2d_forward(tu_ctx(), &avg, &tx, &ty));
    tu_read(&ty, got);
    ref_pool2d(&avg, x, xs, y, ys);
    tu_assert_close("28x28 avg forward", got, y, ny, 1e-6, 1e-6);
    free(x); free(y); free(got);
    tu_free_all();
}
END_TEST

typedef struct fd_gap { ref_shape xs; const double *r; double *y; } fd_gap;
static double gap_loss(void *u, const double *x) {
    fd_gap *f = u;
    ref_global_avgpool(x, f->xs, f->y);
    return tu_dot(f->r, f->y, (size_t)f->xs.n * f->xs.c);
}

START_TEST(global_avgpool) {
    tu_rng r = {9};
    static const ref_shape gs[] = {{1, 3, 7, 7}, {3, 17, 8, 8}, {2, 5, 1, 1}, {2, 4, 9, 5}};
    for (size_t si = 0; si < sizeof gs / sizeof *gs; si++) {
        ref_shape xs = gs[si];
        size_t nx = ref_numel(xs), ny = (size_t)xs.n * xs.c;
        double *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *got = malloc(nx * sizeof *got),
               *dy = malloc(ny * sizeof *dy), *dx0 = malloc(nx * sizeof *dx0), *want = malloc(nx * sizeof *want);
        tu_fill(&r, x, nx, -2, 2);
        tu_fill(&r, dy, ny, -1, 1);
        tu_fill(&r, dx0, nx, -1, 1);
        rd_tensor tx = tu_tensor_from(x, xs.n, xs.c, xs.h, xs.w), ty = tu_tensor(xs.n, xs.c, 1, 1);
        TU_OK(rd_global_avgpool_forward(tu_ctx(), &tx, &ty));
        tu_read(&ty, got);
        ref_global_avgpool(x, xs, y);
        tu_assert_close("global avgpool forward", got, y, ny, 1e-6, 1e-6);
        fd_gap f = {xs, dy, y};
        tu_fd_grad(gap_loss, &f, x, nx, 1e-3, want);
        rd_tensor tdy = tu_tensor_from(dy, xs.n, xs.c, 1, 1), tdx = tu_tensor_from(dx0, xs.n, xs.c, xs.h, xs.w);
        TU_OK(rd_global_avgpool_backward(tu_ctx(), &tdy, &tdx, 0));
        tu_read(&tdx, got);
        tu_assert_close("global avgpool backward", got, want, nx, 1e-6, 1e-5);
        tu_write(&tdx, dx0);
        TU_OK(rd_global_avgpool_backward(tu_ctx(), &tdy, &tdx, 1));
        tu_read(&tdx, got);
        for (size_t i = 0; i < nx; i++) want[i] += dx0[i];
        tu_assert_close("global avgpool backward accumulate", got, want, nx, 1e-6, 1e-5);
        /* a strided output: y as channels of a wider buffer */
        rd_tensor wide = tu_tensor(xs.n, xs.c + 2, 1, 1), view = rd_tensor_channels(wide, 1, xs.c);
        TU_OK(rd_global_avgpool_forward(tu_ctx(), &tx, &view));
        tu_read(&view, got);
        ref_global_avgpool(x, xs, y);  /* the finite differences left y at a perturbed x */
        tu_assert_close("global avgpool strided", got, y, ny, 1e-6, 1e-6);
        free(x); free(y); free(got); free(dy); free(dx0); free(want);
        tu_free_all();
    }
}
END_TEST

START_TEST(errors) {
    rd_ctx *ctx = tu_ctx();
    rd_pool_params p = {RD_POOL_MAX, 3, 2, 1};
    rd_tensor x = tu_tensor(2, 3, 9, 9), y = tu_tensor(2, 3, 5, 5), wrong = tu_tensor(2, 3, 4, 5);
    TU_OK(rd_pool2d_forward(ctx, &p, &x, &y));
    ck_assert_int_eq(rd_pool2d_forward(ctx, &p, &x, &wrong), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "max_pool"));
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "2x3x4x5"));
    ck_assert_int_eq(rd_pool2d_backward(ctx, &p, &x, &wrong, &x, 0), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "max_pool backward"));
    rd_tensor dx_wrong = tu_tensor(2, 3, 9, 8);
    ck_assert_int_eq(rd_pool2d_backward(ctx, &p, &x, &y, &dx_wrong, 0), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "dx"));
    rd_pool_params bad = {RD_POOL_AVG, 3, 1, 2};  /* padding above k/2 */
    ck_assert_int_eq(rd_pool2d_forward(ctx, &bad, &x, &y), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "avg_pool"));
    bad.pad = 1;
    bad.stride = 0;
    ck_assert_int_eq(rd_pool2d_forward(ctx, &bad, &x, &y), RD_ERR_ARG);
    rd_pool_params nopad = {RD_POOL_MAX, 5, 1, 0};
    rd_tensor tiny = tu_tensor(1, 1, 3, 3), one = tu_tensor(1, 1, 1, 1);
    ck_assert_int_eq(rd_pool2d_forward(ctx, &nopad, &tiny, &one), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "smaller than"));
    rd_tensor gy = tu_tensor(2, 4, 1, 1);
    ck_assert_int_eq(rd_global_avgpool_forward(ctx, &x, &gy), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "global_avgpool"));
    ck_assert_int_eq(rd_global_avgpool_backward(ctx, &gy, &x, 0), RD_ERR_ARG);
    tu_free_all();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ops_pool");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, out_size);
    tcase_add_loop_test(tc, forward_backward_vs_reference, 0, n_layouts);
    tcase_add_loop_test(tc, max_ties_first_in_scan_order, 0, n_layouts);
    tcase_add_loop_test(tc, max_nan_and_infinities, 0, n_layouts);
    tcase_add_loop_test(tc, strided_views, 0, n_layouts);
    tcase_add_loop_test(tc, supernet_shape_and_scratch, 0, n_layouts);
    tcase_add_test(tc, global_avgpool);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
