#include "ref_supernet.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ref/ref.h"
#include "ref_tensor.h"

typedef ref_t T;


static const double *W(const ref_supernet *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const double *W(const ref_supernet *r, const char *fmt, ...) {
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return ref_named(r->names, r->n_names, RD_PARAM_WEIGHT, r->weights, name);
}



static void bn(T *x) { /* in place, not affine, batch statistics */
    T y = ref_t_new(x->s.n, x->s.c, x->s.h, x->s.w);
    ref_batchnorm_train(x->d, x->s, NULL, NULL, 1e-5, 0.1, NULL, NULL, y.d);
    ref_t_free(x);
    *x = y;
}


static T factorized_reduce(const T *x, const double *w1, const double *w2, int C) {
    T y = ref_t_factorized(x, w1, w2, C);
    bn(&y);
    return y;
}

static T run_op(const ref_supernet *r, rd_op_id op, int cell, int e, int k, const T *x, int C, int s) {
    const char *name = rd_op_name(op);
    char pre[96];
    snprintf(pre, sizeof pre, "cells.%d._ops.%d._ops.%d.", cell, e, k);
    if (op == RD_OP_SKIP_CONNECT) {
        if (s == 1) {
            T y = ref_t_new(x->s.n, x->s.c, x->s.h, x->s.w);
            memcpy(y.d, x->d, ref_numel(x->s) * sizeof(double));
            return y;
        }
        return factorized_reduce(x, W(r, "%sconv_1.weight", pre), W(r, "%sconv_2.weight", pre), C);
    }
    if (strstr(name, "pool")) {
        int kk = name[strlen(name) - 1] - '0';
        rd_pool_params p = {strstr(name, "max") ? RD_POOL_MAX : RD_POOL_AVG, kk, s, kk / 2};
        T y = ref_t_new(x->s.n, C, rd_pool_out_size(&p, x->s.h), rd_pool_out_size(&p, x->s.w));
        ref_pool2d(&p, x->d, x->s, y.d, y.s);
        bn(&y);
        return y;
    }
    T rx = ref_t_relu(x);
    T y;
    if (!strncmp(name, "sep_conv", 8) || !strncmp(name, "dil_conv", 8)) {
        int kk = name[strlen(name) - 1] - '0', dil = name[0] == 'd';
        rd_conv_params dw = rd_conv_depthwise_params(C, kk, s, dil ? kk - 1 : kk / 2, dil ? 2 : 1, 0);
        T a = ref_t_conv(&rx, W(r, "%sop.1.weight", pre), C, dw);
        y = ref_t_conv(&a, W(r, "%sop.2.weight", pre), C, rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 0));
        ref_t_free(&a);
        bn(&y);
        if (!dil) {
            T r2 = ref_t_relu(&y);
            rd_conv_params dw2 = rd_conv_depthwise_params(C, kk, 1, kk / 2, 1, 0);
            T b = ref_t_conv(&r2, W(r, "%sop.5.weight", pre), C, dw2);
            ref_t_free(&y);
            y = ref_t_conv(&b, W(r, "%sop.6.weight", pre), C, rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 0));
            ref_t_free(&b); ref_t_free(&r2);
            bn(&y);
        }
    } else if (op == RD_OP_CONV_7X1_1X7) {
        T a = ref_t_conv(&rx, W(r, "%sop.1.weight", pre), C, rd_conv_dense_params(1, 7, 1, s, 0, 3, 1, 0));
        y = ref_t_conv(&a, W(r, "%sop.2.weight", pre), C, rd_conv_dense_params(7, 1, s, 1, 3, 0, 1, 0));
        ref_t_free(&a);
        bn(&y);
    } else { /* conv_1x1, conv_3x3 */
        int kk = op == RD_OP_CONV_1X1 ? 1 : 3;
        y = ref_t_conv(&rx, W(r, "%sop.1.weight", pre), C, rd_conv_dense_params(kk, kk, s, s, kk / 2, kk / 2, 1, 0));
        bn(&y);
    }
    ref_t_free(&rx);
    return y;
}

static T first_channels(const T *x, int q) {
    T y = ref_t_new(x->s.n, q, x->s.h, x->s.w);
    size_t hw = (size_t)x->s.h * x->s.w;
    for (int b = 0; b < x->s.n; b++) memcpy(y.d + (size_t)b * q * hw, x->d + (size_t)b * x->s.c * hw, q * hw * sizeof(double));
    return y;
}

static T relu_conv_bn(const T *x, const double *w, int C) {
    T r = ref_t_relu(x);
    T y = ref_t_conv(&r, w, C, rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 0));
    ref_t_free(&r);
    bn(&y);
    return y;
}

double ref_supernet_loss(const ref_supernet *r, const double *x, int n, const int *labels, double *logits) {
    const rd_supernet_config *c = r->cfg;
    int K = c->ops.count, stem_c = c->stem_multiplier * c->C;
    /* mixed-op weights: softmax over the active ops */
    double *mw = calloc((size_t)2 * RD_CELL_EDGES * K, sizeof(double));
    for (int row = 0; row < 2 * RD_CELL_EDGES; row++) {
        rd_edge_mask m = r->active->edge[row / RD_CELL_EDGES][row % RD_CELL_EDGES];
        double mx = -INFINITY, s = 0;
        for (int k = 0; k < K; k++)
            if (m >> k & 1) mx = fmax(mx, r->alphas[row * K + k]);
        for (int k = 0; k < K; k++)
            if (m >> k & 1) s += mw[row * K + k] = exp(r->alphas[row * K + k] - mx);
        for (int k = 0; k < K; k++) mw[row * K + k] /= s;
    }
    /* PC-DARTS: each node's edges weighted by the softmax of their betas (after the alphas) */
    double ew[2 * RD_CELL_EDGES];
    for (int t = 0; t < 2 && c->pc_k > 1; t++)
        for (int node = 0, first = 0; node < c->steps; first += node + 2, node++) {
            const double *b = r->alphas + (size_t)2 * RD_CELL_EDGES * K + t * RD_CELL_EDGES + first;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < node + 2; j++) mx = fmax(mx, b[j]);
            for (int j = 0; j < node + 2; j++) sum += exp(b[j] - mx);
            for (int j = 0; j < node + 2; j++) ew[t * RD_CELL_EDGES + first + j] = exp(b[j] - mx) / sum;
        }
    T in = {(double *)x, {n, c->in_channels, c->in_h, c->in_w}};
    T sc = ref_t_conv(&in, W(r, "stem.0.weight"), stem_c, rd_conv_dense_params(3, 3, 1, 1, 1, 1, 1, 0));
    T stem = ref_t_new(n, stem_c, c->in_h, c->in_w);
    ref_batchnorm_train(sc.d, sc.s, W(r, "stem.1.weight"), W(r, "stem.1.bias"), 1e-5, 0.1, NULL, NULL, stem.d);
    ref_t_free(&sc);
    T outs[RD_MAX_LAYERS];
    int cc = c->C, red_prev = 0;
    for (int i = 0; i < c->layers; i++) {
        int red = i == c->layers / 3 || i == 2 * c->layers / 3;
        if (red) cc *= 2;
        const T *s0 = i >= 2 ? &outs[i - 2] : &stem, *s1 = i >= 1 ? &outs[i - 1] : &stem;
        T st[2 + RD_CELL_NODES];
        if (red_prev) st[0] = factorized_reduce(s0, W(r, "cells.%d.preprocess0.conv_1.weight", i),
                                                W(r, "cells.%d.preprocess0.conv_2.weight", i), cc);
        else st[0] = relu_conv_bn(s0, W(r, "cells.%d.preprocess0.op.1.weight", i), cc);
        st[1] = relu_conv_bn(s1, W(r, "cells.%d.preprocess1.op.1.weight", i), cc);
        int ho = red ? st[1].s.h / 2 : st[1].s.h, wo = red ? st[1].s.w / 2 : st[1].s.w;
        int e = 0, pc = c->pc_k > 1, qc = pc ? cc / c->pc_k : cc;
        for (int node = 0; node < c->steps; node++) {
            st[2 + node] = ref_t_new(n, cc, ho, wo);
            for (int j = 0; j < node + 2; j++, e++) {
                int s = red && j < 2 ? 2 : 1;
                /* PC-DARTS: the ops see the first qc channels and sum into their own tensor */
                T xa = pc ? first_channels(&st[j], qc) : st[j];
                T mix = pc ? ref_t_new(n, qc, ho, wo) : st[2 + node];
                for (int k = 0; k < K; k++) {
                    if (!(r->active->edge[red][e] >> k & 1) || c->ops.ops[k] == RD_OP_NONE) continue;
                    T y = run_op(r, c->ops.ops[k], i, e, k, &xa, qc, s);
                    ref_t_add(&mix, &y, mw[((size_t)red * RD_CELL_EDGES + e) * K + k]);
                    ref_t_free(&y);
                }
                if (pc) {
                    ref_pc_combine_forward(st[j].d, st[j].s, mix.d, ew[red * RD_CELL_EDGES + e], c->pc_k, s, st[2 + node].d);
                    ref_t_free(&xa);
                    ref_t_free(&mix);
                }
            }
        }
        /* concat of the last multiplier nodes */
        int m = c->multiplier;
        outs[i] = ref_t_new(n, m * cc, ho, wo);
        size_t hw = (size_t)ho * wo;
        for (int b = 0; b < n; b++)
            for (int q = 0; q < m; q++)
                memcpy(outs[i].d + ((size_t)b * m * cc + (size_t)q * cc) * hw,
                       st[2 + c->steps - m + q].d + (size_t)b * cc * hw, cc * hw * sizeof(double));
        for (int q = 0; q < 2 + c->steps; q++) ref_t_free(&st[q]);
        red_prev = red;
    }
    T *last = &outs[c->layers - 1];
    double *pooled = calloc((size_t)n * last->s.c, sizeof(double));
    ref_global_avgpool(last->d, last->s, pooled);
    double *lg = calloc((size_t)n * c->classes, sizeof(double));
    ref_linear(pooled, n, last->s.c, W(r, "classifier.weight"), W(r, "classifier.bias"), c->classes, lg);
    int correct;
    double loss = ref_cross_entropy(lg, labels, n, c->classes, &correct);
    if (logits) memcpy(logits, lg, (size_t)n * c->classes * sizeof(double));
    free(lg);
    free(pooled);
    for (int i = 0; i < c->layers; i++) ref_t_free(&outs[i]);
    ref_t_free(&stem);
    free(mw);
    return loss;
}
