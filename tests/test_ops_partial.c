/* PC-DARTS' partial channel connection (src/ops/partial.c) against its host
 * reference (src/ops/ref/ref_partial.c), dense and as channel views of wider
 * tensors; the reference's backward against central finite differences of its
 * forward, the device's backward against the reference's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops_internal.h"
#include "ops/ref/ref.h"
#include "test_util.h"

typedef struct pc_case {
    ref_shape x;
    int K, stride;
    int strided;  /* x, node and their gradients are channel views of wider tensors */
    int fd;       /* check the reference's backward by finite differences (small shapes) */
} pc_case;

static const pc_case cases[] = {
    {{1, 2, 1, 1}, 2, 1, 0, 1},
    {{2, 4, 3, 5}, 2, 1, 0, 1},
    {{2, 8, 4, 6}, 4, 2, 0, 1},
    {{3, 12, 6, 6}, 4, 2, 1, 1},
    {{2, 16, 5, 7}, 4, 1, 1, 1},
    {{2, 6, 8, 8}, 3, 2, 0, 0},
    {{8, 32, 14, 14}, 4, 2, 1, 0},
    {{16, 64, 28, 28}, 4, 1, 0, 0}, /* a search batch */
};

static double *alloc_d(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

static rd_tensor make(ref_shape s, int strided) {
    if (!strided) return tu_tensor(s.n, s.c, s.h, s.w);
    return rd_tensor_channels(tu_tensor(s.n, s.c + 3, s.h, s.w), 2, s.c);
}

typedef struct pc_fd {
    const pc_case *pc;
    double *x, *t, w;
    const double *r;
    double *node;
    size_t node_len;
    int which; /* 0: x, 1: t, 2: w */
} pc_fd;

static double loss_at(void *user, const double *v) {
    pc_fd *f = user;
    const double *x = f->which == 0 ? v : f->x, *t = f->which == 1 ? v : f->t;
    double w = f->which == 2 ? v[0] : f->w;
    memset(f->node, 0, f->node_len * sizeof(double));
    ref_pc_combine_forward(x, f->pc->x, t, w, f->pc->K, f->pc->stride, f->node);
    return tu_dot(f->r, f->node, f->node_len);
}

static void run_case(const pc_case *pc, tu_rng *rng) {
    ref_shape xs = pc->x, ts = {xs.n, xs.c / pc->K, xs.h / pc->stride, xs.w / pc->stride},
              ns = {xs.n, xs.c, ts.h, ts.w};
    size_t nx = ref_numel(xs), nt = ref_numel(ts), nn = ref_numel(ns);
    if (tu_too_big(nx + nn)) return;
    double *x = alloc_d(nx), *t = alloc_d(nt), *node = alloc_d(nn), *want = alloc_d(nn), *got = alloc_d(nn > nx ? nn : nx),
           *r = alloc_d(nn), *dt = alloc_d(nt), *dx = alloc_d(nx), *dx0 = alloc_d(nx), *nans = alloc_d(nt), w = 0.37;
    tu_fill_distinct(rng, x, nx, 1.0); /* the max-pool's windows hold no ties */
    tu_fill(rng, t, nt, -1, 1);
    tu_fill(rng, node, nn, -1, 1);
    tu_fill(rng, r, nn, -1, 1);
    tu_fill(rng, dx0, nx, -1, 1);
    for (size_t i = 0; i < nt; i++) nans[i] = NAN;
    rd_tensor tx = make(xs, pc->strided), tt = tu_tensor(ts.n, ts.c, ts.h, ts.w), tn = make(ns, pc->strided);
    rd_tensor tdn = make(ns, pc->strided), tdt = tu_tensor(ts.n, ts.c, ts.h, ts.w), tdx = make(xs, pc->strided);
    tu_write(&tx, x);
    tu_write(&tt, t);
    tu_write(&tn, node);
    double wd = w;
    rd_vec vw = tu_vec_from(&wd, 1), vdw = tu_vec(1);
    w = wd; /* as the device sees it */

    /* forward accumulates into the node */
    TU_OK(rd_pc_combine_forward(tu_ctx(), &tx, &tt, &vw, pc->K, pc->stride, &tn));
    tu_read(&tn, got);
    memcpy(want, node, nn * sizeof(double));
    ref_pc_combine_forward(x, xs, t, w, pc->K, pc->stride, want);
    tu_assert_close("pc combine forward", got, want, nn, 1e-6, 1e-6);

    /* backward: dt overwritten (NaN before), dx accumulated, dw written */
    tu_write(&tdn, r);
    tu_write(&tdt, nans);
    tu_write(&tdx, dx0);
    TU_OK(rd_vec_fill(tu_ctx(), &vdw, 99.0f));
    TU_OK(rd_pc_combine_backward(tu_ctx(), &tx, &tt, &vw, pc->K, pc->stride, &tdn, &tdt, &tdx, &vdw));
    double ref_dw;
    memcpy(dx, dx0, nx * sizeof(double));
    ref_pc_combine_backward(x, xs, t, w, pc->K, pc->stride, r, dt, dx, &ref_dw);
    tu_read(&tdt, got);
    tu_assert_close("pc combine dt", got, dt, nt, 1e-6, 1e-6);
    tu_read(&tdx, got);
    tu_assert_close("pc combine dx", got, dx, nx, 1e-6, 1e-6);
    double gdw;
    tu_vec_read(&vdw, &gdw);
    tu_assert_close("pc combine dw", &gdw, &ref_dw, 1, 1e-4 * sqrt((double)nn), 1e-4);
    /* without dw: the same dt and dx */
    tu_write(&tdx, dx0);
    TU_OK(rd_pc_combine_backward(tu_ctx(), &tx, &tt, &vw, pc->K, pc->stride, &tdn, &tdt, &tdx, NULL));
    tu_read(&tdx, got);
    tu_assert_close("pc combine dx (no dw)", got, dx, nx, 1e-6, 1e-6);

    if (pc->fd) {
        /* the reference's backward (dx without the accumulated base) by finite differences */
        double *fd = alloc_d(nx > nt ? nx : nt), *scratch = alloc_d(nn);
        pc_fd f = {pc, x, t, w, r, scratch, nn, 0};
        for (size_t i = 0; i < nx; i++) dx[i] -= dx0[i];
        tu_fd_grad(loss_at, &f, x, nx, 1e-4, fd);
        tu_assert_close("pc combine dx vs finite differences", dx, fd, nx, 1e-6, 1e-5);
        f.which = 1;
        tu_fd_grad(loss_at, &f, t, nt, 1e-4, fd);
        tu_assert_close("pc combine dt vs finite differences", dt, fd, nt, 1e-6, 1e-5);
        f.which = 2;
        double wv = w;
        tu_fd_grad(loss_at, &f, &wv, 1, 1e-4, fd);
        tu_assert_close("pc combine dw vs finite differences", &ref_dw, fd, 1, 1e-6, 1e-5);
        free(fd);
        free(scratch);
    }
    free(x), free(t), free(node), free(want), free(got), free(r), free(dt), free(dx), free(dx0), free(nans);
    tu_free_all();
}

START_TEST(combine_matches_reference) {
    tu_rng rng = {17};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(&cases[i], &rng);
}
END_TEST

START_TEST(bad_shapes_are_refused) {
    rd_tensor x = tu_tensor(2, 6, 4, 4), t = tu_tensor(2, 3, 4, 4), node = tu_tensor(2, 6, 4, 4);
    rd_vec w = tu_vec(1);
    ck_assert_int_eq(rd_pc_combine_forward(tu_ctx(), &x, &t, &w, 4, 1, &node), RD_ERR_ARG); /* 4 does not divide 6 */
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(tu_ctx()), "K = 4 must divide the channels"));
    ck_assert_int_eq(rd_pc_combine_forward(tu_ctx(), &x, &t, &w, 2, 2, &node), RD_ERR_ARG); /* node not halved */
    ck_assert_int_eq(rd_pc_combine_forward(tu_ctx(), &x, &t, &w, 2, 1, &node), RD_OK);
    tu_free_all();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ops_partial");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, combine_matches_reference);
    tcase_add_test(tc, bad_shapes_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
