#include "ref_network.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_tensor.h"

typedef ref_t T;


static double *find(const ref_network *r, rd_param_kind kind, const char *name) {
    return ref_named(r->names, r->n_names, kind, kind == RD_PARAM_WEIGHT ? r->weights : r->bn_state, name);
}

static const double *W(const ref_network *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const double *W(const ref_network *r, const char *fmt, ...) {
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return find(r, RD_PARAM_WEIGHT, name);
}



/* Affine BN in place: batch statistics (and running updates) in training, running statistics otherwise. */
static void bn(const ref_network *r, T *x, const char *prefix) {
    char name[160];
    T y = ref_t_new(x->s.n, x->s.c, x->s.h, x->s.w);
    const double *g = W(r, "%sweight", prefix), *b = W(r, "%sbias", prefix);
    double *rm = NULL, *rv = NULL;
    if (r->bn_state) {
        snprintf(name, sizeof name, "%srunning_mean", prefix);
        rm = find(r, RD_PARAM_BN_STATE, name);
        snprintf(name, sizeof name, "%srunning_var", prefix);
        rv = find(r, RD_PARAM_BN_STATE, name);
    }
    if (r->train) ref_batchnorm_train(x->d, x->s, g, b, 1e-5, 0.1, rm, rv, y.d);
    else ref_batchnorm_eval(x->d, x->s, g, b, 1e-5, rm, rv, y.d);
    ref_t_free(x);
    *x = y;
}


/* ReLU, two 1x1 stride-2 convs (the second on x[:, :, 1:, 1:]), concat, BN. */
static T factorized_reduce(const ref_network *r, const T *x, const char *prefix, int C) {
    T y = ref_t_factorized(x, W(r, "%sconv_1.weight", prefix), W(r, "%sconv_2.weight", prefix), C);
    char bp[160];
    snprintf(bp, sizeof bp, "%sbn.", prefix);
    bn(r, &y, bp);
    return y;
}

static T relu_conv_bn(const ref_network *r, const T *x, const char *prefix, int C) {
    char name[160];
    T rx = ref_t_relu(x);
    snprintf(name, sizeof name, "%sop.1.weight", prefix);
    T y = ref_t_conv(&rx, W(r, "%s", name), C, rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 0));
    ref_t_free(&rx);
    snprintf(name, sizeof name, "%sop.2.", prefix);
    bn(r, &y, name);
    return y;
}

/* DARTS' OPS with affine BNs and no BN after pools; y.d == NULL for `none`. */
static T run_op(const ref_network *r, rd_op_id op, int cell, int k, const T *x, int C, int s) {
    const char *name = rd_op_name(op);
    char pre[96], bp[128];
    snprintf(pre, sizeof pre, "cells.%d._ops.%d.", cell, k);
    if (op == RD_OP_NONE) {
        T none = {NULL, {0, 0, 0, 0}};
        return none;
    }
    if (op == RD_OP_SKIP_CONNECT) return s == 1 ? ref_t_copy(x) : factorized_reduce(r, x, pre, C);
    if (strstr(name, "pool")) {
        int kk = name[strlen(name) - 1] - '0';
        rd_pool_params p = {strstr(name, "max") ? RD_POOL_MAX : RD_POOL_AVG, kk, s, kk / 2};
        T y = ref_t_new(x->s.n, C, rd_pool_out_size(&p, x->s.h), rd_pool_out_size(&p, x->s.w));
        ref_pool2d(&p, x->d, x->s, y.d, y.s);
        return y;
    }
    T rx = ref_t_relu(x);
    T y;
    rd_conv_params pw = rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 0);
    if (!strncmp(name, "sep_conv", 8) || !strncmp(name, "dil_conv", 8)) {
        int kk = name[strlen(name) - 1] - '0', dil = name[0] == 'd';
        rd_conv_params dw = rd_conv_depthwise_params(C, kk, s, dil ? kk - 1 : kk / 2, dil ? 2 : 1, 0);
        T a = ref_t_conv(&rx, W(r, "%sop.1.weight", pre), C, dw);
        y = ref_t_conv(&a, W(r, "%sop.2.weight", pre), C, pw);
        ref_t_free(&a);
        snprintf(bp, sizeof bp, "%sop.3.", pre);
        bn(r, &y, bp);
        if (!dil) {
            T r2 = ref_t_relu(&y);
            rd_conv_params dw2 = rd_conv_depthwise_params(C, kk, 1, kk / 2, 1, 0);
            T b = ref_t_conv(&r2, W(r, "%sop.5.weight", pre), C, dw2);
            ref_t_free(&y);
            y = ref_t_conv(&b, W(r, "%sop.6.weight", pre), C, pw);
            ref_t_free(&b); ref_t_free(&r2);
            snprintf(bp, sizeof bp, "%sop.7.", pre);
            bn(r, &y, bp);
        }
    } else if (op == RD_OP_CONV_7X1_1X7) {
        /* DARTS' operations.py: a bare nn.Sequential, no `.op` */
        T a = ref_t_conv(&rx, W(r, "%s1.weight", pre), C, rd_conv_dense_params(1, 7, 1, s, 0, 3, 1, 0));
        y = ref_t_conv(&a, W(r, "%s2.weight", pre), C, rd_conv_dense_params(7, 1, s, 1, 3, 0, 1, 0));
        ref_t_free(&a);
        snprintf(bp, sizeof bp, "%s3.", pre);
        bn(r, &y, bp);
    } else { /* conv_1x1, conv_3x3 */
        int kk = op == RD_OP_CONV_1X1 ? 1 : 3;
        y = ref_t_conv(&rx, W(r, "%sop.1.weight", pre), C, rd_conv_dense_params(kk, kk, s, s, kk / 2, kk / 2, 1, 0));
        snprintf(bp, sizeof bp, "%sop.2.", pre);
        bn(r, &y, bp);
    }
    ref_t_free(&rx);
    return y;
}

/* DARTS' utils.drop_path: x[b] * mask[b] / keep_prob, for every op but the identity. */
static void drop_path(const ref_network *r, T *y, int cell, int k) {
    size_t per = (size_t)y->s.c * y->s.h * y->s.w;
    for (int b = 0; b < y->s.n; b++) {
        double s = rd_network_drop_path_scale(r->drop_prob, r->drop_seed, r->drop_counter, cell, k, b);
        for (size_t i = 0; i < per; i++) y->d[(size_t)b * per + i] *= s;
    }
}

/* AuxiliaryHeadCIFAR: ReLU, avg-pool 5/3 (no padding counted), conv1x1, BN, ReLU, conv2x2, BN, ReLU, linear. */
static double aux_head(const ref_network *r, const T *x, const int *labels) {
    const rd_network_config *c = r->cfg;
    T rx = ref_t_relu(x);
    rd_pool_params pp = {RD_POOL_AVG, 5, 3, 0};
    T p = ref_t_new(x->s.n, x->s.c, rd_pool_out_size(&pp, x->s.h), rd_pool_out_size(&pp, x->s.w));
    ref_pool2d(&pp, rx.d, rx.s, p.d, p.s);
    T a = ref_t_conv(&p, W(r, "auxiliary_head.features.2.weight"), 128, rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 0));
    bn(r, &a, "auxiliary_head.features.3.");
    T ra = ref_t_relu(&a);
    T b = ref_t_conv(&ra, W(r, "auxiliary_head.features.5.weight"), 768, rd_conv_dense_params(2, 2, 1, 1, 0, 0, 1, 0));
    bn(r, &b, "auxiliary_head.features.6.");
    T rb = ref_t_relu(&b);
    int n = x->s.n, k = rb.s.c * rb.s.h * rb.s.w;
    double *lg = calloc((size_t)n * c->classes, sizeof(double));
    ref_linear(rb.d, n, k, W(r, "auxiliary_head.classifier.weight"), W(r, "auxiliary_head.classifier.bias"),
               c->classes, lg);
    int correct;
    double loss = ref_cross_entropy(lg, labels, n, c->classes, &correct);
    free(lg);
    ref_t_free(&rx); ref_t_free(&p); ref_t_free(&a); ref_t_free(&ra); ref_t_free(&b); ref_t_free(&rb);
    return loss;
}

double ref_network_loss(const ref_network *r, const double *x, int n, const int *labels, double *logits,
                        double *main_loss, double *aux_loss) {
    const rd_network_config *c = r->cfg;
    int stem_c = c->stem_multiplier * c->C;
    T in = {(double *)x, {n, c->in_channels, c->in_h, c->in_w}};
    T stem = ref_t_conv(&in, W(r, "stem.0.weight"), stem_c, rd_conv_dense_params(3, 3, 1, 1, 1, 1, 1, 0));
    bn(r, &stem, "stem.1.");
    T outs[RD_MAX_LAYERS];
    int cc = c->C, red_prev = 0;
    double aux = 0;
    for (int i = 0; i < c->layers; i++) {
        int red = i == c->layers / 3 || i == 2 * c->layers / 3;
        if (red) cc *= 2;
        const rd_geno_cell *g = red ? &c->genotype.reduce : &c->genotype.normal;
        const T *s0 = i >= 2 ? &outs[i - 2] : &stem, *s1 = i >= 1 ? &outs[i - 1] : &stem;
        T st[2 + RD_GENO_MAX_NODES];
        char pre[96];
        if (red_prev) {
            snprintf(pre, sizeof pre, "cells.%d.preprocess0.", i);
            st[0] = factorized_reduce(r, s0, pre, cc);
        } else {
            snprintf(pre, sizeof pre, "cells.%d.preprocess0.", i);
            st[0] = relu_conv_bn(r, s0, pre, cc);
        }
        snprintf(pre, sizeof pre, "cells.%d.preprocess1.", i);
        st[1] = relu_conv_bn(r, s1, pre, cc);
        int ho = red ? st[1].s.h / 2 : st[1].s.h, wo = red ? st[1].s.w / 2 : st[1].s.w;
        for (int node = 0; node < g->steps; node++) {
            st[2 + node] = ref_t_new(n, cc, ho, wo);
            for (int j = 0; j < 2; j++) {
                int k = 2 * node + j, input = g->edges[k].input;
                int s = red && input < 2 ? 2 : 1;
                T y = run_op(r, g->edges[k].op, i, k, &st[input], cc, s);
                if (!y.d) continue;
                int identity = g->edges[k].op == RD_OP_SKIP_CONNECT && s == 1;
                if (r->train && r->drop_prob > 0 && !identity) drop_path(r, &y, i, k);
                ref_t_add(&st[2 + node], &y, 1.0);
                ref_t_free(&y);
            }
        }
        int m = g->n_concat;
        outs[i] = ref_t_new(n, m * cc, ho, wo);
        size_t hw = (size_t)ho * wo;
        for (int b = 0; b < n; b++)
            for (int q = 0; q < m; q++)
                memcpy(outs[i].d + ((size_t)b * m * cc + (size_t)q * cc) * hw,
                       st[g->concat[q]].d + (size_t)b * cc * hw, cc * hw * sizeof(double));
        for (int q = 0; q < 2 + g->steps; q++) ref_t_free(&st[q]);
        red_prev = red;
        if (r->train && c->auxiliary && i == 2 * c->layers / 3) aux = aux_head(r, &outs[i], labels);
    }
    T *last = &outs[c->layers - 1];
    double *pooled = calloc((size_t)n * last->s.c, sizeof(double));
    ref_global_avgpool(last->d, last->s, pooled);
    double *lg = calloc((size_t)n * c->classes, sizeof(double));
    ref_linear(pooled, n, last->s.c, W(r, "classifier.weight"), W(r, "classifier.bias"), c->classes, lg);
    int correct;
    double loss = ref_cross_entropy(lg, labels, n, c->classes, &correct);
    if (logits) memcpy(logits, lg, (size_t)n * c->classes * sizeof(double));
    if (main_loss) *main_loss = loss;
    if (aux_loss) *aux_loss = aux;
    free(lg);
    free(pooled);
    for (int i = 0; i < c->layers; i++) ref_t_free(&outs[i]);
    ref_t_free(&stem);
    if (r->train && c->auxiliary) loss += c->auxiliary_weight * aux;
    return loss;
}
