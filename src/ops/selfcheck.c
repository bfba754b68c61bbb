/* The op self-check of `radars selfcheck`: each op family once, on small random
 * inputs, on the chosen device, against its host reference. A quick way to see
 * that a new device (driver, compiler) computes what the tests proved on ours. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops_internal.h"
#include "ops/ref/ref.h"

typedef struct sc {
    rd_ctx *ctx;
    FILE *log;
    int failures, checks;
    rd_buffer *bufs[64];
    int nbufs;
    uint64_t rng;
} sc;

static double rnd(sc *s) {
    s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(s->rng >> 11) / 9007199254740992.0 * 2 - 1;
}

static rd_status dev(sc *s, double *host, size_t n, rd_vec *out) {
    if (s->nbufs == 64) return rd_fail(&s->ctx->err, RD_ERR_ARG, "selfcheck: too many buffers");
    RD_TRY(rd_alloc(s->ctx, n * sizeof(float), "selfcheck", &s->bufs[s->nbufs]));
    *out = rd_vec_make(rd_buffer_mem(s->bufs[s->nbufs++]), 0, n);
    float *f = malloc(n * sizeof *f + 4);
    if (!f) return rd_fail(&s->ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < n; i++) f[i] = (float)(host ? host[i] : 0), host ? host[i] = f[i] : 0;
    rd_status st = rd_vec_write(s->ctx, out, f);
    free(f);
    return st;
}

static rd_status random_vec(sc *s, double *host, size_t n, rd_vec *out) {
    for (size_t i = 0; i < n; i++) host[i] = rnd(s);
    return dev(s, host, n, out);
}

static rd_status compare(sc *s, const char *what, const rd_vec *got_v, const double *want, size_t n) {
    float *got = malloc(n * sizeof *got + 4);
    if (!got) return rd_fail(&s->ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status st = rd_vec_read(s->ctx, got_v, got);
    if (st != RD_OK) {
        free(got);
        return st;
    }
    double scale = 1e-6, worst = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(got[i] - want[i]) / scale);
    free(got);
    int ok = worst <= 1e-4;
    s->checks++;
    s->failures += !ok;
    if (s->log) fprintf(s->log, "  %-34s %s (largest error %.1e of the output's scale)\n", what, ok ? "ok" : "FAILED", worst);
    return RD_OK;
}

/* The device's values of v as doubles (the starting point of an accumulating op). */
static rd_status read_back(sc *s, const rd_vec *v, double *out, size_t n) {
    float *f = malloc(n * sizeof *f + 4);
    if (!f) return rd_fail(&s->ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status st = rd_vec_read(s->ctx, v, f);
    for (size_t i = 0; st == RD_OK && i < n; i++) out[i] = f[i];
    free(f);
    return st;
}

static rd_tensor as_tensor(const rd_vec *v, int n, int c, int h, int w) { return rd_tensor_make(v->mem, v->off, n, c, h, w); }

static rd_status check_conv(sc *s, const char *what, rd_conv_params p, ref_shape xs, int out_c) {
    size_t nx = ref_numel(xs), nw = rd_conv_weight_count(&p, xs.c, out_c);
    ref_shape ys = {xs.n, out_c, rd_conv_out_h(&p, xs.h), rd_conv_out_w(&p, xs.w)};
    double *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *y = malloc(ref_numel(ys) * sizeof *y);
    double *rx = malloc(nx * sizeof *rx);
    rd_vec vx, vw, vy;
    rd_status st = random_vec(s, x, nx, &vx);
    if (st == RD_OK) st = random_vec(s, w, nw, &vw);
    if (st == RD_OK) st = dev(s, NULL, ref_numel(ys), &vy);
    if (st == RD_OK) {
        rd_tensor tx = as_tensor(&vx, xs.n, xs.c, xs.h, xs.w), ty = as_tensor(&vy, ys.n, ys.c, ys.h, ys.w);
        st = rd_conv2d_forward(s->ctx, &p, &tx, &vw, &ty);
    }
    if (st == RD_OK) {
        rd_conv_params q = p;
        if (p.relu_in) ref_relu(x, rx, nx);
        else memcpy(rx, x, nx * sizeof *rx);
        q.relu_in = 0;
        ref_conv2d(&q, rx, xs, w, out_c, y, ys);
        st = compare(s, what, &vy, y, ref_numel(ys));
    }
    free(x); free(w); free(y); free(rx);
    return st;
}

static rd_status check_pool(sc *s, const char *what, rd_pool_params p, ref_shape xs) {
    size_t nx = ref_numel(xs);
    ref_shape ys = {xs.n, xs.c, rd_pool_out_size(&p, xs.h), rd_pool_out_size(&p, xs.w)};
    double *x = malloc(nx * sizeof *x), *y = malloc(ref_numel(ys) * sizeof *y);
    rd_vec vx, vy;
    rd_status st = random_vec(s, x, nx, &vx);
    if (st == RD_OK) st = dev(s, NULL, ref_numel(ys), &vy);
    if (st == RD_OK) {
        rd_tensor tx = as_tensor(&vx, xs.n, xs.c, xs.h, xs.w), ty = as_tensor(&vy, ys.n, ys.c, ys.h, ys.w);
        st = rd_pool2d_forward(s->ctx, &p, &tx, &ty);
    }
    if (st == RD_OK) {
        ref_pool2d(&p, x, xs, y, ys);
        st = compare(s, what, &vy, y, ref_numel(ys));
    }
    free(x); free(y);
    return st;
}

static rd_status check_rest(sc *s) {
    ref_shape xs = {3, 5, 7, 9};
    size_t nx = ref_numel(xs);
    double *x = malloc(nx * sizeof *x), *y = malloc(nx * sizeof *y), g[5], b[5];
    rd_vec vx, vy, vg, vb, vm, vi;
    rd_status st = random_vec(s, x, nx, &vx);
    for (int i = 0; i < 5; i++) g[i] = 1 + 0.5 * rnd(s), b[i] = rnd(s);
    if (st == RD_OK) st = dev(s, g, 5, &vg);
    if (st == RD_OK) st = dev(s, b, 5, &vb);
    if (st == RD_OK) st = dev(s, NULL, 5, &vm);
    if (st == RD_OK) st = dev(s, NULL, 5, &vi);
    if (st == RD_OK) st = dev(s, NULL, nx, &vy);
    if (st == RD_OK) {
        rd_bn_params p = {1e-5f, 0.1f};
        rd_bn_state bs;
        memset(&bs, 0, sizeof bs);
        bs.gamma = vg;
        bs.beta = vb;
        bs.save_mean = vm;
        bs.save_invstd = vi;
        rd_tensor tx = as_tensor(&vx, 3, 5, 7, 9), ty = as_tensor(&vy, 3, 5, 7, 9);
        st = rd_batchnorm_forward_train(s->ctx, &p, &bs, &tx, &ty, NULL, NULL);
    }
    if (st == RD_OK) {
        ref_batchnorm_train(x, xs, g, b, 1e-5, 0.1, NULL, NULL, y);
        st = compare(s, "batch-norm (training, affine)", &vy, y, nx);
    }
    /* linear 4x33 -> 4x10, softmax, cross-entropy */
    double lx[4 * 33], lw[10 * 33], lb[10], ly[40], sm[40];
    rd_vec vlx, vlw, vlb, vly, vsm, vloss;
    if (st == RD_OK) st = random_vec(s, lx, 4 * 33, &vlx);
    if (st == RD_OK) st = random_vec(s, lw, 10 * 33, &vlw);
    if (st == RD_OK) st = random_vec(s, lb, 10, &vlb);
    if (st == RD_OK) st = dev(s, NULL, 40, &vly);
    if (st == RD_OK) st = dev(s, NULL, 40, &vsm);
    if (st == RD_OK) st = dev(s, NULL, 1, &vloss);
    if (st == RD_OK) {
        rd_tensor tx = as_tensor(&vlx, 4, 33, 1, 1), ty = as_tensor(&vly, 4, 10, 1, 1);
        st = rd_linear_forward(s->ctx, &tx, &vlw, &vlb, &ty);
    }
    if (st == RD_OK) {
        ref_linear(lx, 4, 33, lw, lb, 10, ly);
        st = compare(s, "linear (GEMM through CLBlast)", &vly, ly, 40);
    }
    if (st == RD_OK) st = rd_softmax_forward(s->ctx, &vly, &vsm, 4, 10);
    if (st == RD_OK) {
        ref_softmax(ly, sm, 4, 10);
        st = compare(s, "softmax", &vsm, sm, 40);
    }
    int labels[4] = {3, 0, 9, 5}, correct;
    rd_buffer *lbuf = NULL;
    if (st == RD_OK) st = rd_alloc(s->ctx, sizeof labels, "selfcheck labels", &lbuf);
    if (st == RD_OK && clEnqueueWriteBuffer(s->ctx->queue, rd_buffer_mem(lbuf), CL_TRUE, 0, sizeof labels, labels, 0,
                                            NULL, NULL) != CL_SUCCESS)
        st = rd_fail(&s->ctx->err, RD_ERR_CL, "selfcheck: writing labels");
    if (st == RD_OK) st = rd_cross_entropy(s->ctx, &vly, rd_buffer_mem(lbuf), 0, 4, 10, &vloss, NULL, NULL);
    if (st == RD_OK) {
        double loss = ref_cross_entropy(ly, labels, 4, 10, &correct);
        st = compare(s, "cross-entropy", &vloss, &loss, 1);
    }
    rd_free(s->ctx, lbuf);
    /* mixed op of 3 inputs */
    double m[3][60], w[3] = {0.2, 0.5, 0.3}, out[60];
    rd_vec vm3[3], vw3, vout;
    rd_tensor ys[3];
    for (int k = 0; k < 3 && st == RD_OK; k++) {
        st = random_vec(s, m[k], 60, &vm3[k]);
        ys[k] = as_tensor(&vm3[k], 2, 3, 2, 5);
    }
    if (st == RD_OK) st = dev(s, w, 3, &vw3);
    if (st == RD_OK) st = dev(s, NULL, 60, &vout);
    if (st == RD_OK) {
        rd_tensor to = as_tensor(&vout, 2, 3, 2, 5);
        st = rd_mixed_forward(s->ctx, ys, 3, &vw3, &to, 0);
    }
    if (st == RD_OK) {
        const double *yp[3] = {m[0], m[1], m[2]};
        ref_mixed(yp, 3, w, 60, out);
        st = compare(s, "mixed op (3 candidates)", &vout, out, 60);
    }
    /* per-image scale (the evaluation network's drop-path), accumulated into y */
    double scales[3];
    rd_vec vs;
    if (st == RD_OK) st = random_vec(s, scales, 3, &vs);
    if (st == RD_OK) st = read_back(s, &vy, y, nx);
    if (st == RD_OK) {
        rd_tensor tx = as_tensor(&vx, 3, 5, 7, 9), ty = as_tensor(&vy, 3, 5, 7, 9);
        st = rd_scale_images(s->ctx, &vs, &tx, &ty, 1);
    }
    if (st == RD_OK) {
        ref_scale_images(scales, x, xs, y, 1);
        st = compare(s, "per-image scale (drop-path)", &vy, y, nx);
    }
    free(x);
    free(y);
    return st;
}

rd_status rd_selfcheck(rd_ctx *ctx, FILE *log, int *failures, int *checks) {
    sc s;
    memset(&s, 0, sizeof s);
    s.ctx = ctx;
    s.log = log;
    s.rng = 12345;
    ref_shape x = {2, 6, 9, 9};
    rd_status st = check_conv(&s, "conv 3x3 (dense, ReLU fused)", rd_conv_dense_params(3, 3, 1, 1, 1, 1, 1, 1), x, 5);
    if (st == RD_OK) st = check_conv(&s, "conv 1x1 (pointwise)", rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 0), x, 7);
    if (st == RD_OK) st = check_conv(&s, "conv 1x7 stride (1, 2)", rd_conv_dense_params(1, 7, 1, 2, 0, 3, 1, 1), x, 4);
    if (st == RD_OK) {
        rd_conv_params fr = rd_conv_dense_params(1, 1, 2, 2, 0, 0, 1, 1);
        fr.pad_top = fr.pad_left = -1;
        ref_shape even = {2, 6, 8, 8};
        st = check_conv(&s, "conv 1x1 stride 2 (shifted input)", fr, even, 3);
    }
    if (st == RD_OK) st = check_conv(&s, "depthwise 5x5 dilation 2 stride 2", rd_conv_depthwise_params(6, 5, 2, 4, 2, 1), x, 6);
    if (st == RD_OK) st = check_conv(&s, "depthwise 3x3", rd_conv_depthwise_params(6, 3, 1, 1, 1, 1), x, 6);
    if (st == RD_OK) st = check_pool(&s, "max pool 3x3 stride 2", (rd_pool_params){RD_POOL_MAX, 3, 2, 1}, x);
    if (st == RD_OK) st = check_pool(&s, "average pool 5x5 (padding not counted)", (rd_pool_params){RD_POOL_AVG, 5, 1, 2}, x);
    if (st == RD_OK) st = check_rest(&s);
    if (st == RD_OK) st = rd_finish(ctx);
    for (int i = 0; i < s.nbufs; i++) rd_free(ctx, s.bufs[i]);
    *failures = s.failures;
    *checks = s.checks;
    return st;
}
