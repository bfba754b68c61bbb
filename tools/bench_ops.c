/* bench_ops: table-driven benchmark of the ops at the DARTS supernet's shapes.
 *
 * Each case has a name, a setup (allocates its tensors through the counted
 * allocator, says how many FLOPs and compulsory bytes one run does) and a run
 * (forward + backward, enqueued). Per case it prints the median time of --reps
 * runs after a warm-up (each run ends with rd_finish), GFLOP/s, the bytes a run
 * must move at least (inputs read once, outputs written once) and the effective
 * GB/s, and the peak device memory of the case (tensors + scratch).
 * To add an op family: write a setup/run pair and append rows to `cases`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "nn/edge_bench.h"
#include "ops/ops_internal.h"
#include "radars/radars.h"
#include "bench_util.h"

/* ---------------- case plumbing ---------------- */

enum { MAX_BUFS = 16 };

typedef struct bench {
    rd_ctx *ctx;
    int batch;
    /* filled by setup */
    rd_buffer *bufs[MAX_BUFS];
    int nbufs;
    double flops, bytes;
    void *state;       /* per-case data (malloc'ed, freed after the case) */
    const char *note;  /* printed after the figures */
    void (*release)(struct bench *b);  /* frees what setup allocated besides bufs (NULL: nothing) */
} bench;

typedef struct bench_case {
    const char *group;
    const char *name;
    rd_status (*setup)(bench *b, const void *arg);
    rd_status (*run)(bench *b);
    const void *arg;
} bench_case;

/* A case's state: size zeroed bytes, freed after the case. */
static rd_status new_state(bench *b, size_t size, void **out) {
    *out = b->state = calloc(1, size);
    return b->state ? RD_OK : rd_fail(rd_ctx_err(b->ctx), RD_ERR_OUT_OF_MEMORY, "bench: out of host memory");
}

static rd_status new_tensor(bench *b, int n, int c, int h, int w, float value, rd_tensor *t) {
    if (b->nbufs == MAX_BUFS) return rd_fail(rd_ctx_err(b->ctx), RD_ERR_ARG, "bench: too many buffers");
    RD_TRY(rd_tensor_alloc(b->ctx, n, c, h, w, "bench", &b->bufs[b->nbufs], t));
    b->nbufs++;
    return rd_fill(b->ctx, t, value);
}

static rd_status new_vec(bench *b, size_t len, float value, rd_vec *v) {
    rd_tensor t;
    RD_TRY(new_tensor(b, 1, 1, 1, (int)len, value, &t));
    *v = rd_tensor_as_vec(&t);
    return RD_OK;
}

/* A tensor that is a channel slice of a wider one, as the nodes of a cell are. */
static rd_status new_view(bench *b, int n, int c, int h, int w, int extra, float value, rd_tensor *t) {
    rd_tensor big;
    RD_TRY(new_tensor(b, n, c + extra, h, w, value, &big));
    *t = rd_tensor_channels(big, 0, c);
    return RD_OK;
}

/* ---------------- convolution cases ---------------- */

typedef struct conv_arg {
    int depthwise;
    int k_h, k_w, s_h, s_w, pad_h, pad_w, dil;
    int cin, cout, h, w;
    int relu;
    int no_dx;       /* the stem: the image needs no gradient */
    int shifted;     /* FactorizedReduce's second conv: pad_top = pad_left = -1, bottom = right = 0 */
    int view_out;    /* y and dy are channel slices of a concatenation */
} conv_arg;

typedef struct conv_state {
    rd_conv_params p;
    rd_tensor x, y, dy, dx;
    rd_vec w, dw;
    int no_dx;
} conv_state;

static rd_status conv_setup(bench *b, const void *arg) {
    const conv_arg *a = arg;
    conv_state *s;
    RD_TRY(new_state(b, sizeof *s, (void **)&s));
    s->p = a->depthwise ? rd_conv_depthwise_params(a->cin, a->k_h, a->s_h, a->pad_h, a->dil, a->relu)
                        : rd_conv_dense_params(a->k_h, a->k_w, a->s_h, a->s_w, a->pad_h, a->pad_w, a->dil, a->relu);
    if (a->shifted) {
        s->p.pad_top = s->p.pad_left = -1;
        s->p.pad_bottom = s->p.pad_right = 0;
    }
    s->no_dx = a->no_dx;
    int n = b->batch, oh = rd_conv_out_h(&s->p, a->h), ow = rd_conv_out_w(&s->p, a->w);
    size_t nw = rd_conv_weight_count(&s->p, a->cin, a->cout);
    RD_TRY(new_tensor(b, n, a->cin, a->h, a->w, 0.5f, &s->x));
    if (a->view_out) {
        RD_TRY(new_view(b, n, a->cout, oh, ow, 3 * a->cout, 0.0f, &s->y));
        RD_TRY(new_view(b, n, a->cout, oh, ow, 3 * a->cout, 0.01f, &s->dy));
    } else {
        RD_TRY(new_tensor(b, n, a->cout, oh, ow, 0.0f, &s->y));
        RD_TRY(new_tensor(b, n, a->cout, oh, ow, 0.01f, &s->dy));
    }
    if (!a->no_dx) RD_TRY(new_tensor(b, n, a->cin, a->h, a->w, 0.0f, &s->dx));
    RD_TRY(new_vec(b, nw, 0.01f, &s->w));
    RD_TRY(new_vec(b, nw, 0.0f, &s->dw));
    RD_TRY(rd_scratch_reserve(b->ctx, RD_SCRATCH_CONV0, rd_conv2d_scratch_bytes(b->ctx, &s->p, &s->x, &s->y)));
    double macs = (double)n * a->cout * oh * ow * (double)(a->cin / s->p.groups) * a->k_h * a->k_w;
    double fx = 4.0 * n * a->cin * a->h * a->w, fy = 4.0 * n * a->cout * oh * ow, fw = 4.0 * nw;
    /* forward: x, w in, y out; dx: dy, w (and x for the ReLU mask) in, dx out; dw: x, dy in, dw updated */
    b->flops = 2 * macs * (a->no_dx ? 2 : 3);
    b->bytes = (fx + fw + fy) + (a->no_dx ? 0 : fy + fw + (a->relu ? fx : 0) + fx) + (fx + fy + 2 * fw);
    return RD_OK;
}

static rd_status conv_run(bench *b) {
    conv_state *s = b->state;
    RD_TRY(rd_conv2d_forward(b->ctx, &s->p, &s->x, &s->w, &s->y));
    return rd_conv2d_backward(b->ctx, &s->p, &s->x, &s->w, &s->dy, s->no_dx ? NULL : &s->dx, 0, &s->dw);
}

/* Depthwise KxK, C channels at HxW, stride s, dilation d, ReLU on the input (sep/dil conv). */
#define DWC(K, S, D, C, HW) {1, K, K, S, S, (D) == 1 ? (K) / 2 : (K) - 1, (D) == 1 ? (K) / 2 : (K) - 1, D, C, C, HW, HW, 1, 0, 0, 0}
/* Pointwise cin -> cout at HxW (no ReLU: it follows a depthwise conv). */
#define PW(CI, CO, HW, RELU, VIEW) {0, 1, 1, 1, 1, 0, 0, 1, CI, CO, HW, HW, RELU, 0, 0, VIEW}
#define DENSE(KH, KW, SH, SW, PH, PW_, CI, CO, HW, RELU) {0, KH, KW, SH, SW, PH, PW_, 1, CI, CO, HW, HW, RELU, 0, 0, 0}

static const conv_arg
    /* sep_conv / dil_conv depthwise parts at the three resolutions; stride 2 into the next */
    dw3_28 = DWC(3, 1, 1, 16, 28), dw5_28 = DWC(5, 1, 1, 16, 28), dw7_28 = DWC(7, 1, 1, 16, 28),
    dw3d2_28 = DWC(3, 1, 2, 16, 28), dw5d2_28 = DWC(5, 1, 2, 16, 28), dw7d2_28 = DWC(7, 1, 2, 16, 28),
    dw3_14 = DWC(3, 1, 1, 32, 14), dw5_14 = DWC(5, 1, 1, 32, 14), dw3d2_14 = DWC(3, 1, 2, 32, 14),
    dw3_7 = DWC(3, 1, 1, 64, 7), dw5_7 = DWC(5, 1, 1, 64, 7), dw5d2_7 = DWC(5, 1, 2, 64, 7),
    dw3s2_28 = DWC(3, 2, 1, 32, 28), dw5s2_28 = DWC(5, 2, 1, 32, 28), dw7s2_28 = DWC(7, 2, 1, 32, 28),
    dw3d2s2_28 = DWC(3, 2, 2, 32, 28), dw5d2s2_28 = DWC(5, 2, 2, 32, 28), dw3s2_14 = DWC(3, 2, 1, 64, 14),
    dw5d2s2_14 = DWC(5, 2, 2, 64, 14),
    /* pointwise inside sep/dil convs, written into concatenated cell outputs */
    pw16_28 = PW(16, 16, 28, 0, 0), pw32_14 = PW(32, 32, 14, 0, 0), pw64_7 = PW(64, 64, 7, 0, 0),
    pw16_28v = PW(16, 16, 28, 0, 1),
    /* preprocess ReLU-Conv1x1 */
    pre48_16 = PW(48, 16, 28, 1, 0), pre64_16 = PW(64, 16, 28, 1, 0), pre64_32 = PW(64, 32, 28, 1, 0),
    pre128_32 = PW(128, 32, 14, 1, 0), pre128_64 = PW(128, 64, 14, 1, 0), pre256_64 = PW(256, 64, 7, 1, 0),
    /* FactorizedReduce halves: 1x1 stride 2 on x and on x[:, :, 1:, 1:] */
    fr64_a = {0, 1, 1, 2, 2, 0, 0, 1, 64, 16, 28, 28, 1, 0, 0, 0},
    fr64_b = {0, 1, 1, 2, 2, 0, 0, 1, 64, 16, 28, 28, 1, 0, 1, 0},
    fr128_b = {0, 1, 1, 2, 2, 0, 0, 1, 128, 32, 14, 14, 1, 0, 1, 0},
    /* conv_3x3 and conv_7x1_1x7 of the large op set */
    c3_28 = DENSE(3, 3, 1, 1, 1, 1, 16, 16, 28, 1), c3_14 = DENSE(3, 3, 1, 1, 1, 1, 32, 32, 14, 1),
    c3_7 = DENSE(3, 3, 1, 1, 1, 1, 64, 64, 7, 1), c3s2_28 = DENSE(3, 3, 2, 2, 1, 1, 32, 32, 28, 1),
    c17_28 = DENSE(1, 7, 1, 1, 0, 3, 16, 16, 28, 1), c71_28 = DENSE(7, 1, 1, 1, 3, 0, 16, 16, 28, 0),
    c17s2_28 = DENSE(1, 7, 1, 2, 0, 3, 32, 32, 28, 1), c71s2_28 = DENSE(7, 1, 2, 1, 3, 0, 32, 32, 28, 0),
    c17_7 = DENSE(1, 7, 1, 1, 0, 3, 64, 64, 7, 1), c71_7 = DENSE(7, 1, 1, 1, 3, 0, 64, 64, 7, 0),
    /* stem: 3x3 Cin -> 3C = 48 (Fashion-MNIST 1 channel, CIFAR-10 3 channels at 32x32) */
    stem1 = {0, 3, 3, 1, 1, 1, 1, 1, 1, 48, 28, 28, 0, 1, 0, 0},
    stem3 = {0, 3, 3, 1, 1, 1, 1, 1, 3, 48, 32, 32, 0, 1, 0, 0};

/* ---------------- GEMM cases ---------------- */

typedef struct gemm_arg {
    int m, n, k;
    int trans_b;
    int per_image;   /* pointwise conv as one GEMM per image of the batch: Y_i = W X_i */
    int batched;     /* ... as one CLBlast strided-batched call */
} gemm_arg;

typedef struct gemm_state {
    rd_vec a, bm, c;
    gemm_arg g;
    int count;
} gemm_state;

static rd_status gemm_setup(bench *b, const void *arg) {
    const gemm_arg *g = arg;
    gemm_state *s;
    RD_TRY(new_state(b, sizeof *s, (void **)&s));
    s->g = *g;
    s->count = g->per_image || g->batched ? b->batch : 1;
    RD_TRY(new_vec(b, (size_t)g->m * g->k, 0.01f, &s->a));
    RD_TRY(new_vec(b, (size_t)g->k * g->n * s->count, 0.5f, &s->bm));
    RD_TRY(new_vec(b, (size_t)g->m * g->n * s->count, 0.0f, &s->c));
    RD_TRY(rd_scratch_reserve(b->ctx, RD_SCRATCH_GEMM,
                              rd_gemm_scratch_bytes(b->ctx, 0, g->trans_b, g->m, g->n, g->k)));
    b->flops = 2.0 * g->m * g->n * g->k * s->count;
    b->bytes = 4.0 * ((double)g->m * g->k + ((double)g->k * g->n + (double)g->m * g->n) * s->count);
    if (g->batched) b->note = "CLBlast strided batched: may allocate uncounted temporaries";
    return RD_OK;
}

static rd_status gemm_run(bench *b) {
    gemm_state *s = b->state;
    const gemm_arg *g = &s->g;
    size_t ldb = g->trans_b ? g->k : g->n, bstride = (size_t)g->k * g->n, cstride = (size_t)g->m * g->n;
    if (g->batched)
        return rd_gemm_strided_batched(b->ctx, 0, g->trans_b, g->m, g->n, g->k, 1.0f, s->a.mem, 0, g->k, 0, s->bm.mem,
                                       0, ldb, bstride, 0.0f, s->c.mem, 0, g->n, cstride, (size_t)s->count);
    for (int i = 0; i < s->count; i++)
        RD_TRY(rd_gemm(b->ctx, 0, g->trans_b, g->m, g->n, g->k, 1.0f, s->a.mem, 0, g->k, s->bm.mem, i * bstride, ldb,
                       0.0f, s->c.mem, i * cstride, g->n));
    return RD_OK;
}

/* pointwise conv forward alone (no ReLU), to set against the GEMM forms above */
static rd_status pw_fwd_run(bench *b) {
    conv_state *s = b->state;
    return rd_conv2d_forward(b->ctx, &s->p, &s->x, &s->w, &s->y);
}

static rd_status pw_fwd_setup(bench *b, const void *arg) {
    RD_TRY(conv_setup(b, arg));
    const conv_arg *a = arg;
    double p = (double)a->h * a->w;
    b->flops = 2.0 * b->batch * a->cout * a->cin * p;
    b->bytes = 4.0 * (b->batch * p * (a->cin + a->cout) + (double)a->cin * a->cout);
    return RD_OK;
}

static const gemm_arg g_big = {1024, 1024, 1024, 0, 0, 0},
                      g_pw16 = {16, 784, 16, 0, 0, 0}, g_pw32 = {32, 196, 32, 0, 0, 0},
                      g_pw64 = {64, 49, 64, 0, 0, 0}, g_pre256 = {64, 49, 256, 0, 0, 0},
                      g_dw16 = {16, 16, 784, 1, 0, 0}, g_dw64 = {64, 256, 49, 1, 0, 0},
                      g_im2col3 = {16, 784, 144, 0, 0, 0},
                      g_pw16_img = {16, 784, 16, 0, 1, 0}, g_pw16_bat = {16, 784, 16, 0, 0, 1},
                      g_pw64_img = {64, 49, 64, 0, 1, 0}, g_pw64_bat = {64, 49, 64, 0, 0, 1},
                      g_pre256_img = {64, 49, 256, 0, 1, 0};
static const conv_arg pwf16 = PW(16, 16, 28, 0, 0), pwf64 = PW(64, 64, 7, 0, 0), pwf256 = PW(256, 64, 7, 0, 0);


/* ---------------- one whole mixed op (all candidates of an edge) ----------------
 * The supernet's own candidate-op code (src/nn/candidate_ops.c): every op of the
 * set forward into the node sum (BN, times its softmax weight, accumulated), then
 * every op backward into dx with weight gradients and the alpha partial sums. */

typedef struct mixed_arg {
    const char *ops;   /* op set: "darts" or "large" */
    int C, hw, stride;
} mixed_arg;

static void mixed_release(bench *b) {
    if (b->state) rd_edge_bench_free(b->ctx, b->state);
}

static rd_status mixed_setup(bench *b, const void *arg) {
    const mixed_arg *a = arg;
    rd_edge_bench *e;
    RD_TRY(new_state(b, sizeof *e, (void **)&e));
    b->release = mixed_release;
    RD_TRY(rd_edge_bench_setup(b->ctx, a->ops, a->C, a->hw, a->stride, b->batch, e));
    b->flops = e->flops;
    b->bytes = e->bytes;
    b->note = "all candidates";
    return RD_OK;
}

static rd_status mixed_run(bench *b) { return rd_edge_bench_run(b->ctx, b->state); }

static const mixed_arg m_darts16 = {"darts", 16, 28, 1}, m_darts32 = {"darts", 32, 14, 1},
                       m_darts64 = {"darts", 64, 7, 1}, m_darts32s2 = {"darts", 32, 28, 2},
                       m_large16 = {"large", 16, 28, 1}, m_large32s2 = {"large", 32, 28, 2};

/* ---------------- pooling and batch-norm cases ----------------
 * As the supernet runs them: a pool forward, then its backward accumulating into dx (max pooling
 * recomputes its arg-max from x: no index tensor is kept, so x is read again); a training batch
 * norm in place on the op's output that also adds scale * y into the node sum, then its backward
 * from y into dx (with the alpha's dot). Compulsory bytes: each tensor read once, each written
 * once, accumulators read and written; FLOPs: the window's K^2 per output and pass (pools), ~10 per
 * element (batch norm), only for the GFLOP/s column: these cases are memory-bound. */

typedef struct pool_arg {
    rd_pool_kind kind;
    int k, stride, c, hw;
} pool_arg;

typedef struct pool_state {
    rd_pool_params p;
    rd_tensor x, y, dy, dx;
} pool_state;

static rd_status pool_setup(bench *b, const void *arg) {
    const pool_arg *a = arg;
    pool_state *s;
    RD_TRY(new_state(b, sizeof *s, (void **)&s));
    s->p = (rd_pool_params){a->kind, a->k, a->stride, a->k / 2};
    int n = b->batch, o = rd_pool_out_size(&s->p, a->hw);
    RD_TRY(new_tensor(b, n, a->c, a->hw, a->hw, 0.5f, &s->x));
    RD_TRY(bench_random_tensor(b->ctx, &s->x, 7));
    RD_TRY(new_tensor(b, n, a->c, o, o, 0.0f, &s->y));
    RD_TRY(new_tensor(b, n, a->c, o, o, 0.01f, &s->dy));
    RD_TRY(new_tensor(b, n, a->c, a->hw, a->hw, 0.0f, &s->dx));
    RD_TRY(rd_scratch_reserve(b->ctx, RD_SCRATCH_CONV0, rd_pool2d_scratch_bytes(b->ctx, &s->p, &s->x, &s->y)));
    double fx = 4.0 * n * a->c * a->hw * a->hw, fy = 4.0 * n * a->c * o * o;
    b->flops = 2.0 * (fy / 4) * a->k * a->k;
    b->bytes = (fx + fy) + (fy + 2 * fx + (a->kind == RD_POOL_MAX ? fx : 0));
    return RD_OK;
}

static rd_status pool_run(bench *b) {
    pool_state *s = b->state;
    RD_TRY(rd_pool2d_forward(b->ctx, &s->p, &s->x, &s->y));
    return rd_pool2d_backward(b->ctx, &s->p, &s->x, &s->dy, &s->dx, 1);
}

static const pool_arg pl_max3_28 = {RD_POOL_MAX, 3, 1, 16, 28}, pl_avg3_28 = {RD_POOL_AVG, 3, 1, 16, 28},
                      pl_max5_28 = {RD_POOL_MAX, 5, 1, 16, 28}, pl_max3_14 = {RD_POOL_MAX, 3, 1, 32, 14},
                      pl_max3_7 = {RD_POOL_MAX, 3, 1, 64, 7}, pl_avg3_7 = {RD_POOL_AVG, 3, 1, 64, 7},
                      pl_max3s2 = {RD_POOL_MAX, 3, 2, 32, 28}, pl_avg3s2 = {RD_POOL_AVG, 3, 2, 32, 28};

typedef struct bn_arg {
    int c, hw;
} bn_arg;

typedef struct bn_state {
    rd_bn_params p;
    rd_bn_state s;
    rd_tensor y, node, dy, dx;
    rd_vec w, dot;
} bn_state;

static rd_status bn_setup(bench *b, const void *arg) {
    const bn_arg *a = arg;
    bn_state *s;
    RD_TRY(new_state(b, sizeof *s, (void **)&s));
    s->p = (rd_bn_params){1e-5f, 0.1f};
    int n = b->batch;
    size_t c = (size_t)a->c;
    RD_TRY(new_tensor(b, n, a->c, a->hw, a->hw, 0.0f, &s->y));
    RD_TRY(bench_random_tensor(b->ctx, &s->y, 3));
    RD_TRY(new_tensor(b, n, a->c, a->hw, a->hw, 0.0f, &s->node));
    RD_TRY(new_tensor(b, n, a->c, a->hw, a->hw, 0.0f, &s->dy));
    RD_TRY(bench_random_tensor(b->ctx, &s->dy, 5));
    RD_TRY(new_tensor(b, n, a->c, a->hw, a->hw, 0.0f, &s->dx));
    RD_TRY(new_vec(b, 1, 0.3f, &s->w));
    RD_TRY(new_vec(b, c, 0.0f, &s->dot));
    RD_TRY(new_vec(b, c, 0.0f, &s->s.running_mean));
    RD_TRY(new_vec(b, c, 1.0f, &s->s.running_var));
    RD_TRY(new_vec(b, c, 0.0f, &s->s.save_mean));
    RD_TRY(new_vec(b, c, 1.0f, &s->s.save_invstd));
    RD_TRY(rd_scratch_reserve(b->ctx, RD_SCRATCH_REDUCE, rd_batchnorm_scratch_bytes(b->ctx, &s->y)));
    double f = 4.0 * n * a->c * a->hw * a->hw;
    b->flops = 10.0 * f / 4;
    /* forward: y read and written in place (each run normalises the last run's output again: the
     * same work), the node sum read and written; backward: y, dy in, dx out */
    b->bytes = 4 * f + 3 * f;
    return RD_OK;
}

static rd_status bn_run(bench *b) {
    bn_state *s = b->state;
    RD_TRY(rd_batchnorm_forward_train(b->ctx, &s->p, &s->s, &s->y, &s->y, &s->w, &s->node));
    return rd_batchnorm_backward(b->ctx, &s->p, &s->s, NULL, &s->y, &s->dy, &s->w, &s->dx, 0, NULL, NULL, &s->dot);
}

static const bn_arg bn16 = {16, 28}, bn32 = {32, 14}, bn64 = {64, 7};

/* ---------------- the table ---------------- */

#define CONV(name, arg) {"conv", name, conv_setup, conv_run, &arg}
#define GEMM(name, arg) {"gemm", name, gemm_setup, gemm_run, &arg}
#define MIXED(name, arg) {"mixed", name, mixed_setup, mixed_run, &arg}
#define POOL(name, arg) {"pool", name, pool_setup, pool_run, &arg}
#define BN(name, arg) {"bn", name, bn_setup, bn_run, &arg}

static const bench_case cases[] = {
    CONV("dw3x3 s1 C16 28x28 relu", dw3_28),
    CONV("dw5x5 s1 C16 28x28 relu", dw5_28),
    CONV("dw7x7 s1 C16 28x28 relu", dw7_28),
    CONV("dw3x3 dil2 s1 C16 28x28", dw3d2_28),
    CONV("dw5x5 dil2 s1 C16 28x28", dw5d2_28),
    CONV("dw7x7 dil2 s1 C16 28x28", dw7d2_28),
    CONV("dw3x3 s1 C32 14x14", dw3_14),
    CONV("dw5x5 s1 C32 14x14", dw5_14),
    CONV("dw3x3 dil2 s1 C32 14x14", dw3d2_14),
    CONV("dw3x3 s1 C64 7x7", dw3_7),
    CONV("dw5x5 s1 C64 7x7", dw5_7),
    CONV("dw5x5 dil2 s1 C64 7x7", dw5d2_7),
    CONV("dw3x3 s2 C32 28->14", dw3s2_28),
    CONV("dw5x5 s2 C32 28->14", dw5s2_28),
    CONV("dw7x7 s2 C32 28->14", dw7s2_28),
    CONV("dw3x3 dil2 s2 C32 28->14", dw3d2s2_28),
    CONV("dw5x5 dil2 s2 C32 28->14", dw5d2s2_28),
    CONV("dw3x3 s2 C64 14->7", dw3s2_14),
    CONV("dw5x5 dil2 s2 C64 14->7", dw5d2s2_14),
    CONV("pw 16->16 28x28", pw16_28),
    CONV("pw 16->16 28x28 into concat", pw16_28v),
    CONV("pw 32->32 14x14", pw32_14),
    CONV("pw 64->64 7x7", pw64_7),
    CONV("pre relu 1x1 48->16 28x28", pre48_16),
    CONV("pre relu 1x1 64->16 28x28", pre64_16),
    CONV("pre relu 1x1 64->32 28x28", pre64_32),
    CONV("pre relu 1x1 128->32 14x14", pre128_32),
    CONV("pre relu 1x1 128->64 14x14", pre128_64),
    CONV("pre relu 1x1 256->64 7x7", pre256_64),
    CONV("FR 1x1 s2 64->16 28->14", fr64_a),
    CONV("FR 1x1 s2 shifted 64->16", fr64_b),
    CONV("FR 1x1 s2 shifted 128->32", fr128_b),
    CONV("conv3x3 16 28x28 relu", c3_28),
    CONV("conv3x3 32 14x14 relu", c3_14),
    CONV("conv3x3 64 7x7 relu", c3_7),
    CONV("conv3x3 s2 32 28->14 relu", c3s2_28),
    CONV("conv1x7 16 28x28 relu", c17_28),
    CONV("conv7x1 16 28x28", c71_28),
    CONV("conv1x7 s(1,2) 32 28x28 relu", c17s2_28),
    CONV("conv7x1 s(2,1) 32 28x14", c71s2_28),
    CONV("conv1x7 64 7x7 relu", c17_7),
    CONV("conv7x1 64 7x7", c71_7),
    CONV("stem 3x3 1->48 28x28 (no dx)", stem1),
    CONV("stem 3x3 3->48 32x32 (no dx)", stem3),
    GEMM("sgemm 1024^3", g_big),
    GEMM("sgemm pw 16x784x16", g_pw16),
    GEMM("sgemm pw 32x196x32", g_pw32),
    GEMM("sgemm pw 64x49x64", g_pw64),
    GEMM("sgemm pre 64x49x256", g_pre256),
    GEMM("sgemm dW 16x16x784 (B^T)", g_dw16),
    GEMM("sgemm dW 64x256x49 (B^T)", g_dw64),
    GEMM("sgemm im2col 3x3 16x784x144", g_im2col3),
    {"alt", "pw fwd 16->16 28x28: pw kernel", pw_fwd_setup, pw_fwd_run, &pwf16},
    GEMM("pw fwd 16->16 28x28: sgemm/image", g_pw16_img),
    GEMM("pw fwd 16->16 28x28: strided batched", g_pw16_bat),
    {"alt", "pw fwd 64->64 7x7: pw kernel", pw_fwd_setup, pw_fwd_run, &pwf64},
    GEMM("pw fwd 64->64 7x7: sgemm/image", g_pw64_img),
    GEMM("pw fwd 64->64 7x7: strided batched", g_pw64_bat),
    {"alt", "pw fwd 256->64 7x7: pw kernel", pw_fwd_setup, pw_fwd_run, &pwf256},
    GEMM("pw fwd 256->64 7x7: sgemm/image", g_pre256_img),
    POOL("max 3x3 s1 C16 28x28", pl_max3_28),
    POOL("avg 3x3 s1 C16 28x28", pl_avg3_28),
    POOL("max 5x5 s1 C16 28x28", pl_max5_28),
    POOL("max 3x3 s1 C32 14x14", pl_max3_14),
    POOL("max 3x3 s1 C64 7x7", pl_max3_7),
    POOL("avg 3x3 s1 C64 7x7", pl_avg3_7),
    POOL("max 3x3 s2 C32 28->14", pl_max3s2),
    POOL("avg 3x3 s2 C32 28->14", pl_avg3s2),
    BN("train, + node sum, backward C16 28x28", bn16),
    BN("train, + node sum, backward C32 14x14", bn32),
    BN("train, + node sum, backward C64 7x7", bn64),
    MIXED("darts (8 ops) C16 28x28", m_darts16),
    MIXED("darts (8 ops) C32 14x14", m_darts32),
    MIXED("darts (8 ops) C64 7x7", m_darts64),
    MIXED("darts (8 ops) s2 C32 28->14", m_darts32s2),
    MIXED("large (15 ops) C16 28x28", m_large16),
    MIXED("large (15 ops) s2 C32 28->14", m_large32s2),
};

/* ---------------- driver ---------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench_ops [--device SEL] [--batch N] [--reps R] [--filter TEXT] [--generic] [--tuning K=V ...] [--list]\n"
            "  Times forward+backward of each op case at the DARTS supernet's shapes: median wall time of\n"
            "  R runs after a warm-up (rd_finish after each), process CPU time per run (all threads; a\n"
            "  steadier figure when other programs share the cores), GFLOP/s, compulsory bytes, GB/s and\n"
            "  the case's peak device memory (tensors + scratch). The device's roofline (copy bandwidth,\n"
            "  multiply-add peak) is measured first; each case shows the bound that applies (fp or mem)\n"
            "  and roof%%: the least time the roofline allows over the time measured.\n"
            "  --filter TEXT keeps cases whose group or name contains TEXT; --generic forces the generic\n"
            "  (one work-item per element) convolution kernels; --tuning 'conv_row=local wg=128' sets kernel\n"
            "  parameters over the device's tuning (radars tune's names); --list prints the cases.\n"
            "  RADARS_PROFILE=1 adds each case's per-kernel device time over its timed runs.\n"
            "  defaults: batch 64, reps 10, device as rd_select_device ($RADARS_DEVICE, else first GPU).\n");
}

static void release_case(bench *b) {
    if (b->state && b->release) b->release(b);
    for (int i = 0; i < b->nbufs; i++) rd_free(b->ctx, b->bufs[i]);
    b->nbufs = 0;
    free(b->state);
    b->state = NULL;
    rd_scratch_release(b->ctx);
}

int main(int argc, char **argv) {
    rd_ctx_options opt = {0};
    int batch = 64, reps = 10, list = 0;
    const char *filter = NULL, *tuning = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--device") && more) {
            opt.device = argv[++i];
        } else if (!strcmp(a, "--batch") && more) {
            batch = atoi(argv[++i]);
        } else if (!strcmp(a, "--reps") && more) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(a, "--filter") && more) {
            filter = argv[++i];
        } else if (!strcmp(a, "--tuning") && more) {
            tuning = argv[++i];
        } else if (!strcmp(a, "--generic")) {
            rd_conv_set_mode(RD_CONV_GENERIC);
        } else if (!strcmp(a, "--list")) {
            list = 1;
        } else {
            fprintf(stderr, "bench_ops: unknown or incomplete argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (batch < 1 || reps < 1) {
        fprintf(stderr, "bench_ops: --batch and --reps must be >= 1\n");
        return 2;
    }
    size_t ncases = sizeof cases / sizeof *cases;
    if (list) {
        for (size_t i = 0; i < ncases; i++) printf("%-5s %s\n", cases[i].group, cases[i].name);
        return 0;
    }
    rd_err err = {0};
    rd_ctx *ctx = NULL;
    if (rd_ctx_create(&opt, &ctx, &err) != RD_OK) {
        fprintf(stderr, "bench_ops: %s\n", err.msg);
        return 1;
    }
    const rd_device_info *dev = rd_ctx_device(ctx);
    char note[1400];
    if (bench_tuning(ctx, "bench_ops", tuning, note, sizeof note)) {
        rd_ctx_free(ctx);
        return 2;
    }
    rd_roofline roof;
    if (rd_roofline_measure(ctx, (size_t)128 << 20, &roof) != RD_OK) {
        fprintf(stderr, "bench_ops: measuring the roofline: %s\n", rd_ctx_error(ctx));
        rd_ctx_free(ctx);
        return 1;
    }
    printf("device: %s (%s), batch %d, median of %d reps\n%s\n", dev->name, dev->platform_name, batch, reps, note);
    printf("roofline: %.1f GB/s (copy of 2 x 128 MiB), %.1f GFLOP/s (fp32 multiply-add chains); ridge %.1f FLOP/byte\n",
           roof.bytes_per_s * 1e-9, roof.flops_per_s * 1e-9, roof.flops_per_s / roof.bytes_per_s);
    printf("%-5s %-38s %9s %9s %8s %9s %7s %9s %5s %6s\n", "group", "case", "ms", "cpu ms", "GFLOP/s", "MB moved",
           "GB/s", "peak MiB", "bound", "roof%");
    double *times = malloc((size_t)reps * sizeof *times);
    int failed = 0;
    for (size_t i = 0; i < ncases; i++) {
        const bench_case *c = &cases[i];
        if (filter && !strstr(c->name, filter) && !strstr(c->group, filter)) continue;
        bench b = {ctx, batch, {0}, 0, 0, 0, NULL, NULL, NULL};
        rd_mem_reset_peak(ctx);
        rd_status s = c->setup(&b, c->arg);
        if (s == RD_OK) s = c->run(&b);   /* warm-up: builds kernels, grows scratch */
        if (s == RD_OK) s = rd_finish(ctx);
        if (rd_profile_enabled(ctx)) rd_profile_reset(ctx);
        double c0 = bench_cpu();
        for (int r = 0; r < reps && s == RD_OK; r++) {
            double t0 = bench_now();
            s = c->run(&b);
            if (s == RD_OK) s = rd_finish(ctx);
            times[r] = bench_now() - t0;
        }
        if (s != RD_OK) {
            printf("%-5s %-38s failed: %s\n", c->group, c->name, rd_ctx_error(ctx));
            failed = 1;
        } else {
            double cpu = (bench_cpu() - c0) / reps;
            double t = bench_median(times, (size_t)reps);
            rd_mem_stats ms = rd_mem_get_stats(ctx);
            /* the bound that applies: compute when the case's FLOPs take longer at peak than its bytes at
             * full bandwidth, else memory; roof% = that least time over the time measured */
            double bound = rd_roofline_bound_s(&roof, b.flops, b.bytes);
            int fp = b.flops / roof.flops_per_s > b.bytes / roof.bytes_per_s;
            printf("%-5s %-38s %9.3f %9.3f %8.2f %9.2f %7.2f %9.2f %5s %5.1f%%%s%s\n", c->group, c->name, t * 1e3,
                   cpu * 1e3, b.flops / t * 1e-9, b.bytes * 1e-6, b.bytes / t * 1e-9,
                   (double)ms.peak / (1024.0 * 1024.0), fp ? "fp" : "mem", 100 * bound / t, b.note ? "  " : "",
                   b.note ? b.note : "");
            /* RADARS_PROFILE=1: each kernel's device time over the case's timed runs */
            if (rd_profile_enabled(ctx)) s = rd_profile_print(ctx, stdout);
        }
        fflush(stdout);
        release_case(&b);
    }
    free(times);
    rd_ctx_free(ctx);
    return failed;
}
