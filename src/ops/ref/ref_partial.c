/* Host reference of PC-DARTS' partial channel connection (src/ops/partial.c). */
#include <math.h>
#include <string.h>

#include "ops/ref/ref.h"

/* The bypass value of output pixel (ho, wo) of one plane (H x W). */
static double bypass(const double *plane, int ho, int wo, int stride, int W, int *at) {
    if (stride == 1) {
        *at = ho * W + wo;
        return plane[*at];
    }
    int best = 2 * ho * W + 2 * wo;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int i = (2 * ho + dy) * W + 2 * wo + dx;
            if (plane[i] > plane[best]) best = i;
        }
    *at = best;
    return plane[best];
}

/* Visits every node element: f(state, node index, value, x index or -1 for t, t index). */
typedef void (*visit_fn)(void *u, size_t node_i, double v, long x_i, size_t t_i);

static void walk(const double *x, ref_shape xs, const double *t, int K, int stride, visit_fn f, void *u) {
    int C = xs.c, q = C / K, Ho = xs.h / stride, Wo = xs.w / stride;
    size_t hw = (size_t)Ho * Wo, HW = (size_t)xs.h * xs.w;
    for (int b = 0; b < xs.n; b++)
        for (int o = 0; o < C; o++) {
            int g = o % K, j = o / K;
            for (int ho = 0; ho < Ho; ho++)
                for (int wo = 0; wo < Wo; wo++) {
                    size_t ni = ((size_t)b * C + o) * hw + (size_t)ho * Wo + wo;
                    size_t ti = ((size_t)b * q + j) * hw + (size_t)ho * Wo + wo;
                    if (g == 0) {
                        f(u, ni, t[ti], -1, ti);
                    } else {
                        const double *plane = x + ((size_t)b * C + g * q + j) * HW;
                        int at;
                        double v = bypass(plane, ho, wo, stride, xs.w, &at);
                        f(u, ni, v, (long)(((size_t)b * C + g * q + j) * HW + at), ti);
                    }
                }
        }
}

typedef struct fwd { double w, *node; } fwd;
static void add_fwd(void *u, size_t ni, double v, long xi, size_t ti) {
    (void)xi, (void)ti;
    fwd *s = u;
    s->node[ni] += s->w * v;
}

void ref_pc_combine_forward(const double *x, ref_shape xs, const double *t, double w, int K, int stride, double *node) {
    fwd s = {w, node};
    walk(x, xs, t, K, stride, add_fwd, &s);
}

typedef struct bwd { double w; const double *dnode; double *dt, *dx, dw; } bwd;
static void add_bwd(void *u, size_t ni, double v, long xi, size_t ti) {
    bwd *s = u;
    double d = s->dnode[ni];
    s->dw += d * v;
    if (xi < 0) s->dt[ti] = s->w * d;
    else s->dx[xi] += s->w * d;
}

void ref_pc_combine_backward(const double *x, ref_shape xs, const double *t, double w, int K, int stride,
                             const double *dnode, double *dt, double *dx, double *dw) {
    bwd s = {w, dnode, dt, dx, 0};
    walk(x, xs, t, K, stride, add_bwd, &s);
    if (dw) *dw = s.dw;
}
