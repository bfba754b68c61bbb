#include "ref_tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ref_t ref_t_new(int n, int c, int h, int w) {
    ref_t t = {calloc((size_t)n * c * h * w, sizeof(double)), {n, c, h, w}};
    return t;
}

void ref_t_free(ref_t *t) {
    free(t->d);
    t->d = NULL;
}

ref_t ref_t_copy(const ref_t *x) {
    ref_t y = ref_t_new(x->s.n, x->s.c, x->s.h, x->s.w);
    memcpy(y.d, x->d, ref_numel(x->s) * sizeof(double));
    return y;
}

ref_t ref_t_relu(const ref_t *x) {
    ref_t y = ref_t_new(x->s.n, x->s.c, x->s.h, x->s.w);
    ref_relu(x->d, y.d, ref_numel(x->s));
    return y;
}

ref_t ref_t_conv(const ref_t *x, const double *w, int out_c, rd_conv_params p) {
    p.relu_in = 0;
    ref_t y = ref_t_new(x->s.n, out_c, rd_conv_out_h(&p, x->s.h), rd_conv_out_w(&p, x->s.w));
    ref_conv2d(&p, x->d, x->s, w, out_c, y.d, y.s);
    return y;
}

ref_t ref_t_factorized(const ref_t *x, const double *w1, const double *w2, int C) {
    ref_t r = ref_t_relu(x);
    rd_conv_params p = rd_conv_dense_params(1, 1, 2, 2, 0, 0, 1, 0);
    ref_t a = ref_t_conv(&r, w1, C / 2, p);
    p.pad_top = p.pad_left = -1;
    ref_t b = ref_t_conv(&r, w2, C / 2, p);
    ref_t y = ref_t_new(a.s.n, C, a.s.h, a.s.w);
    size_t hw = (size_t)a.s.h * a.s.w, half = (size_t)(C / 2) * hw;
    for (int n = 0; n < a.s.n; n++) {
        memcpy(y.d + (size_t)n * C * hw, a.d + n * half, half * sizeof(double));
        memcpy(y.d + (size_t)n * C * hw + half, b.d + n * half, half * sizeof(double));
    }
    ref_t_free(&r);
    ref_t_free(&a);
    ref_t_free(&b);
    return y;
}

void ref_t_add(ref_t *node, const ref_t *y, double scale) {
    size_t n = ref_numel(node->s);
    for (size_t i = 0; i < n; i++) node->d[i] += scale * y->d[i];
}

double *ref_named(const rd_named_tensor *names, int n_names, rd_param_kind kind, const double *values,
                  const char *name) {
    for (int i = 0; i < n_names; i++)
        if (names[i].kind == kind && !strcmp(names[i].name, name)) return (double *)values + names[i].offset;
    fprintf(stderr, "test reference: no tensor named %s\n", name);
    abort();
}
