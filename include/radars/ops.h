/* radars-cl: the operations of the DARTS search space, forward and backward.
 *
 * Conventions (all ops):
 *  - Tensors are NCHW float32 views (radars/tensor.h); any view may have a batch
 *    stride (channel slices of a concatenation). Shapes are checked; a mismatch
 *    is RD_ERR_ARG naming the op and both shapes.
 *  - Weights are flat rd_vec in PyTorch's layout (conv: OIHW; linear: [out, in]).
 *  - Backward passes ACCUMULATE into weight gradients (dw += ...): the caller
 *    zeroes the one contiguous gradient buffer once per step. Input gradients
 *    are overwritten unless dx_accumulate is set (a state read by several
 *    edges gathers their gradients).
 *  - Everything is enqueued on the context's in-order queue; nothing waits for
 *    the device unless it says so. Scalars that the device produces (loss,
 *    mixed-op weights, clip scale) stay on the device as 1-float rd_vec.
 *  - Ops that need temporary memory take it from the context's scratch
 *    (rd_scratch) and say how much in *_scratch_bytes, so a plan can reserve it.
 * Each op family lives in src/ops/<family>.c with its kernels in cl/<family>.cl,
 * its host reference in src/ops/ref/, and its test in tests/test_ops_<family>.c. */
#ifndef RADARS_OPS_H
#define RADARS_OPS_H

#include "radars/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scratch each op call needs, per slot: a plan takes the max over its ops and
 * reserves it up front (rd_scratch_reserve), so the measured peak is the planned one. */
typedef struct rd_ops_scratch_need { size_t bytes[RD_SCRATCH_SLOTS]; } rd_ops_scratch_need;
/* Two-stage reductions (sums, dot products, norms). */
void rd_reduce_scratch(rd_ctx *ctx, rd_ops_scratch_need *need);
/* Per-slot needs of the op families (src/ops/scratch.c). */
struct rd_conv_params;
struct rd_pool_params;
void rd_conv2d_scratch(rd_ctx *ctx, const struct rd_conv_params *p, const rd_tensor *x, const rd_tensor *y,
                       rd_ops_scratch_need *need);
void rd_pool2d_scratch(rd_ctx *ctx, const struct rd_pool_params *p, const rd_tensor *x, const rd_tensor *y,
                       rd_ops_scratch_need *need);
void rd_batchnorm_scratch(rd_ctx *ctx, const rd_tensor *x, rd_ops_scratch_need *need);
void rd_clip_grad_norm_scratch(rd_ctx *ctx, rd_ops_scratch_need *need);
void rd_linear_scratch(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *y, rd_ops_scratch_need *need);

/* ---------------- element-wise (elementwise.c) ---------------- */
rd_status rd_fill(rd_ctx *ctx, const rd_tensor *t, float value);
rd_status rd_vec_fill(rd_ctx *ctx, const rd_vec *v, float value);
/* y = max(x, 0); y may be x. */
rd_status rd_relu_forward(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *y);
/* dx (+)= dy * (x > 0) */
rd_status rd_relu_backward(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *dy, const rd_tensor *dx,
                           int dx_accumulate);
/* y (+)= a * x, x and y of the same shape (either may be strided). */
rd_status rd_axpy(rd_ctx *ctx, float a, const rd_tensor *x, const rd_tensor *y, int accumulate);
/* y (+)= w[0] * x with the scale read on the device (mixed-op weight). */
rd_status rd_axpy_dev(rd_ctx *ctx, const rd_vec *w, const rd_tensor *x, const rd_tensor *y, int accumulate);
/* y[b] (+)= s[b] * x[b] for each image b, s (x.n floats) on the device: drop-path's
 * per-image keep / drop scale, and its backward (dx[b] = s[b] * dy[b]). y may be x. */
rd_status rd_scale_images(rd_ctx *ctx, const rd_vec *s, const rd_tensor *x, const rd_tensor *y, int accumulate);
rd_status rd_vec_axpy(rd_ctx *ctx, float a, const rd_vec *x, const rd_vec *y);
rd_status rd_vec_scale(rd_ctx *ctx, const rd_vec *x, float a);
rd_status rd_vec_copy(rd_ctx *ctx, const rd_vec *src, const rd_vec *dst);
/* Strided zero op ("none"): y = zeros of the shape of x[:, :, ::s, ::s]. Its
 * gradient is zero, so it has no backward; rd_zero_out_size gives the shape. */
int rd_zero_out_size(int in, int stride);
rd_status rd_zero_forward(rd_ctx *ctx, int stride, const rd_tensor *x, const rd_tensor *y);
/* Channel concatenation by copy (when the parts are not already views of one
 * buffer): y = cat(xs[0..k), dim=1). Backward of concat is slicing:
 * rd_tensor_channels() views of dy, no copy. */
rd_status rd_concat_channels(rd_ctx *ctx, const rd_tensor *xs, int k, const rd_tensor *y);
/* y = x[:, c0:c0+y.c] copied (a view usually suffices; see rd_tensor_channels). */
rd_status rd_slice_channels(rd_ctx *ctx, const rd_tensor *x, int c0, const rd_tensor *y);
/* PC-DARTS' partial channel connection of one edge (partial.c): x (n, C, H, W) split into
 * its first C/K channels, whose mixed-op output is t (n, C/K, H/stride, W/stride), and the
 * rest, which bypass the ops (a 2x2 max-pool on a stride-2 edge); node (n, C, H/stride,
 * W/stride) += w[0] * channel_shuffle_K(concat(t, bypass)). Backward: dt = w[0] * its
 * share of dnode (overwritten), dx's bypass channels += theirs, dw[0] = d(loss)/d(w)
 * (overwritten; skipped when dw is NULL). Scratch: rd_pc_combine_scratch. */
rd_status rd_pc_combine_forward(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *t, const rd_vec *w, int K,
                                int stride, const rd_tensor *node);
rd_status rd_pc_combine_backward(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *t, const rd_vec *w, int K,
                                 int stride, const rd_tensor *dnode, const rd_tensor *dt, const rd_tensor *dx,
                                 const rd_vec *dw);
void rd_pc_combine_scratch(rd_ctx *ctx, rd_ops_scratch_need *need);
/* Sum of squares of v into out[0] (device), for norms and tests. */
rd_status rd_vec_sumsq(rd_ctx *ctx, const rd_vec *v, const rd_vec *out);
/* out[0] = sum(a * b) over all elements (device). */
rd_status rd_tensor_dot(rd_ctx *ctx, const rd_tensor *a, const rd_tensor *b, const rd_vec *out);

/* ---------------- GEMM through CLBlast (gemm.c) ---------------- */
/* C = alpha * op(A) op(B) + beta * C, row-major, offsets in floats. */
rd_status rd_gemm(rd_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                  cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta,
                  cl_mem c, size_t c_off, size_t ldc);
/* batch independent GEMMs with fixed strides between matrices (stride 0 = shared). */
rd_status rd_gemm_strided_batched(rd_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                                  float alpha, cl_mem a, size_t a_off, size_t lda, size_t a_stride,
                                  cl_mem b, size_t b_off, size_t ldb, size_t b_stride, float beta,
                                  cl_mem c, size_t c_off, size_t ldc, size_t c_stride, size_t batch);
/* Scratch slot 3 is reserved for GEMM temporaries. */
enum { RD_SCRATCH_GEMM = 3 };
size_t rd_gemm_scratch_bytes(rd_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k);
void rd_gemm_scratch(rd_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k, rd_ops_scratch_need *need);

/* ---------------- the device's roofline (roofline.c) ----------------
 * What the device can do, measured through OpenCL: a streaming copy of two
 * buffers of copy_bytes (read + write counted) and chains of multiply-adds
 * (2 FLOPs each). Benchmarks set each kernel against the bound that applies. */
typedef struct rd_roofline {
    double bytes_per_s;   /* achievable global-memory bandwidth */
    double flops_per_s;   /* achievable fp32 compute */
} rd_roofline;
rd_status rd_roofline_measure(rd_ctx *ctx, size_t copy_bytes, rd_roofline *out);
/* The least time a kernel that must do flops and move bytes can take: max(flops/peak, bytes/bandwidth). */
double rd_roofline_bound_s(const rd_roofline *r, double flops, double bytes);

/* ---------------- convolution (conv.c): dense, depthwise, dilated, strided ---------------- */
typedef struct rd_conv_params {
    int kh, kw;
    int stride_h, stride_w;
    /* Padding per side. May be negative: pad_top = pad_left = -1 reads
     * x[:, :, 1:, 1:], which is FactorizedReduce's shifted input, with no copy. */
    int pad_top, pad_left, pad_bottom, pad_right;
    int dil_h, dil_w;
    int groups;    /* 1: dense; == in channels == out channels: depthwise */
    int relu_in;   /* ReLU fused on the input as it is read; backward masks dx by x > 0 */
} rd_conv_params;

/* Symmetric padding helpers. */
rd_conv_params rd_conv_dense_params(int kh, int kw, int stride_h, int stride_w, int pad_h, int pad_w,
                                    int dil, int relu_in);
rd_conv_params rd_conv_depthwise_params(int channels, int k, int stride, int pad, int dil, int relu_in);
int rd_conv_out_h(const rd_conv_params *p, int in_h);
int rd_conv_out_w(const rd_conv_params *p, int in_w);
/* Number of weights: out_c * (in_c / groups) * kh * kw. */
size_t rd_conv_weight_count(const rd_conv_params *p, int in_c, int out_c);
/* y = conv(relu?(x), w); y's shape must be (x.n, out_c, out_h, out_w). */
rd_status rd_conv2d_forward(rd_ctx *ctx, const rd_conv_params *p, const rd_tensor *x, const rd_vec *w,
                            const rd_tensor *y);
/* dx (+)= d/dx, dw += d/dw. dx or dw may be NULL to skip. */
rd_status rd_conv2d_backward(rd_ctx *ctx, const rd_conv_params *p, const rd_tensor *x, const rd_vec *w,
                             const rd_tensor *dy, const rd_tensor *dx, int dx_accumulate, const rd_vec *dw);
/* Scratch (any slot but RD_SCRATCH_GEMM: see conv.c) needed by forward and backward at these shapes. */
size_t rd_conv2d_scratch_bytes(rd_ctx *ctx, const rd_conv_params *p, const rd_tensor *x, const rd_tensor *y);

/* A group of 1x1 convolutions (C -> C, stride 1, no padding, no ReLU) of one shape, side by side:
 * one launch per pass where the device's 1x1 kernels allow it, else one per slice (a supernet
 * edge's ops run their 1x1 stages so). Every tensor lies in buf, n x c x h x w; slice g reads x
 * at offset host[5 g] (batch stride host[5 g + 1]), its weights at w + host[5 g + 2] (c * c
 * floats) and writes y at host[5 g + 3] (batch stride host[5 g + 4]), offsets in floats. The
 * backward reads dy where y was, adds the weight gradients into dw + host[5 g + 2] (dw NULL: not
 * wanted), and then writes dx over x (the caller needs x no more). A slice's x is read in whole
 * vectors anywhere in its span (first image to last, gaps of a view included): no y may lie there. */
typedef struct rd_pw_group {
    cl_mem buf;
    int slices, n, c, h, w;
    rd_vec tab;            /* 5 uints per slice, as floats' bits (device) */
    const uint32_t *host;  /* the same on the host: checked against the weight vectors */
} rd_pw_group;
rd_status rd_pw_group_forward(rd_ctx *ctx, const rd_pw_group *g, const rd_vec *w);
rd_status rd_pw_group_backward(rd_ctx *ctx, const rd_pw_group *g, const rd_vec *w, const rd_vec *dw);

/* ---------------- pooling (pool.c) ---------------- */
typedef enum rd_pool_kind { RD_POOL_MAX, RD_POOL_AVG } rd_pool_kind;
typedef struct rd_pool_params {
    rd_pool_kind kind;
    int k, stride, pad;  /* square window; average never counts padding */
} rd_pool_params;
int rd_pool_out_size(const rd_pool_params *p, int in);
rd_status rd_pool2d_forward(rd_ctx *ctx, const rd_pool_params *p, const rd_tensor *x, const rd_tensor *y);
/* Max pooling recomputes the arg-max from x (first maximum in scan order), so no index tensor is kept.
 * As in PyTorch, a NaN in a window wins: the output is NaN and the last NaN of the window takes dy. */
rd_status rd_pool2d_backward(rd_ctx *ctx, const rd_pool_params *p, const rd_tensor *x, const rd_tensor *dy,
                             const rd_tensor *dx, int dx_accumulate);
/* Scratch slot 0 needed by rd_pool2d_backward (forward needs none): one byte per
 * output element (each window's arg-max) for max pooling, 0 for average, and 0 where
 * the device runs the CPU tile kernels (they keep the arg-max in local memory). k <= 15. */
size_t rd_pool2d_scratch_bytes(rd_ctx *ctx, const rd_pool_params *p, const rd_tensor *x, const rd_tensor *y);
/* y (N x C x 1 x 1) = mean over H, W */
rd_status rd_global_avgpool_forward(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *y);
rd_status rd_global_avgpool_backward(rd_ctx *ctx, const rd_tensor *dy, const rd_tensor *dx, int dx_accumulate);

/* ---------------- batch normalization (batchnorm.c) ---------------- */
typedef struct rd_bn_params {
    float eps;        /* 1e-5 as PyTorch */
    float momentum;   /* running = (1 - momentum) * running + momentum * batch; 0.1 as PyTorch */
} rd_bn_params;
typedef struct rd_bn_state {
    rd_vec gamma, beta;                  /* len C; .mem == NULL when not affine */
    rd_vec running_mean, running_var;    /* .mem == NULL: not tracked. Running var is unbiased. */
    rd_vec save_mean, save_invstd;       /* len C: written by forward, read by backward */
} rd_bn_state;
/* Training mode (batch statistics, biased variance; running_var gets the
 * unbiased one; needs at least 2 values per channel). y may be x (in place).
 * When accum_out is given, also accum_out += scale[0] * y (scale on the device,
 * 1 when scale is NULL): the mixed op's "BN, weight, add into the node sum" in
 * one pass. Writes s->save_mean and s->save_invstd = 1 / sqrt(var + eps). */
rd_status rd_batchnorm_forward_train(rd_ctx *ctx, const rd_bn_params *p, const rd_bn_state *s,
                                     const rd_tensor *x, const rd_tensor *y,
                                     const rd_vec *scale, const rd_tensor *accum_out);
/* Evaluation mode: running statistics; without them (PyTorch's track_running_stats=False)
 * batch statistics as in training, saved in s->save_mean/save_invstd. y may be x. */
rd_status rd_batchnorm_forward_eval(rd_ctx *ctx, const rd_bn_params *p, const rd_bn_state *s,
                                    const rd_tensor *x, const rd_tensor *y);
/* Backward of training mode. xhat comes from x (the forward input, if kept) or,
 * when x is NULL, from y: y == xhat when not affine, (y - beta) / gamma otherwise
 * (gamma must then be nonzero). Reads s->save_invstd (and s->save_mean when
 * reading x). When scale is given the upstream gradient is scale[0] * dy
 * (mixed-op weight). dx (NULL to skip) may alias dy, x or y: the last pass is
 * element-wise. dgamma/dbeta accumulate (NULL to skip; only when affine).
 * dot_out (len C, NULL to skip) is overwritten with sum over N,H,W of dy * y per
 * channel, with dy as passed (unscaled) and y the BN output: the mixed op's
 * gradient with respect to this op's weight is its channel sum. */
rd_status rd_batchnorm_backward(rd_ctx *ctx, const rd_bn_params *p, const rd_bn_state *s,
                                const rd_tensor *x, const rd_tensor *y, const rd_tensor *dy,
                                const rd_vec *scale, const rd_tensor *dx, int dx_accumulate,
                                const rd_vec *dgamma, const rd_vec *dbeta, const rd_vec *dot_out);
/* Scratch slot 2 needed by forward (train, eval) and backward at x's shape:
 * per-channel coefficients and the (channel, chunk) partials of the reductions. */
size_t rd_batchnorm_scratch_bytes(rd_ctx *ctx, const rd_tensor *x);
/* A stack: batch norms (training mode, not affine) over the `slices` equal channel
 * slices of one tensor, all run by one launch per pass (the mixed op's final BNs,
 * each followed by "times the op's weight, add into the node sum": on a CPU device a
 * launch costs more than the work). ws (rd_batchnorm_stack_floats) holds the
 * reductions from the first call to the last. Forward: rd_batchnorm_stack_stats,
 * then rd_batchnorm_stack_forward normalises every slice in place and adds
 * scales[tab g.0] * slice g into accum_out (one slice's shape), saving each slice's
 * statistics in save_mean / save_invstd (slices * C, side by side) and updating its
 * running statistics at running[tab g.1] (mean; var at + C; running.mem NULL: not
 * tracked). Backward, from the outputs: rd_batchnorm_stack_grad_sums(stack, dy) with
 * dy the upstream gradient every slice shares (one slice's shape, unscaled), then
 * rd_batchnorm_stack_backward overwrites each slice with the gradient of its input
 * and dots[tab g.2 ...] (C floats) with the channel sums of dy * y (dots.mem NULL: none). */
typedef struct rd_bn_stack_tab {
    rd_vec dev;            /* 3 uints per slice (scale index, running offset, dot offset), as floats' bits */
    const uint32_t *host;  /* the same on the host: checked against the vectors' lengths */
} rd_bn_stack_tab;
size_t rd_batchnorm_stack_floats(rd_ctx *ctx, const rd_tensor *stack);
rd_status rd_batchnorm_stack_stats(rd_ctx *ctx, const rd_tensor *stack, const rd_vec *ws);
rd_status rd_batchnorm_stack_forward(rd_ctx *ctx, const rd_bn_params *p, const rd_tensor *stack, int slices,
                                     const rd_vec *ws, const rd_vec *save_mean, const rd_vec *save_invstd,
                                     const rd_vec *running, const rd_vec *scales, const rd_bn_stack_tab *tab,
                                     const rd_tensor *accum_out);
rd_status rd_batchnorm_stack_grad_sums(rd_ctx *ctx, const rd_tensor *stack, const rd_tensor *dy, const rd_vec *ws);
rd_status rd_batchnorm_stack_backward(rd_ctx *ctx, const rd_tensor *stack, int slices, const rd_vec *ws,
                                      const rd_vec *save_invstd, const rd_tensor *dy, const rd_vec *scales,
                                      const rd_bn_stack_tab *tab, const rd_vec *dots);

/* ---------------- linear, softmax, loss (linear.c, loss.c) ---------------- */
/* x: N x K (any tensor whose c*h*w == K), w: M x K, b: M or NULL; y: N x M (y.c == M, h == w == 1). */
rd_status rd_linear_forward(rd_ctx *ctx, const rd_tensor *x, const rd_vec *w, const rd_vec *b, const rd_tensor *y);
rd_status rd_linear_backward(rd_ctx *ctx, const rd_tensor *x, const rd_vec *w, const rd_tensor *dy,
                             const rd_tensor *dx, int dx_accumulate, const rd_vec *dw, const rd_vec *db);
/* Scratch (slot RD_SCRATCH_GEMM) used by forward and backward at these shapes. */
size_t rd_linear_scratch_bytes(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *y);
/* Row-wise softmax of a rows x cols matrix (numerically stable); y may be x. */
rd_status rd_softmax_forward(rd_ctx *ctx, const rd_vec *x, const rd_vec *y, int rows, int cols);
/* dx (+)= y * (dy - sum(dy * y)) per row. */
rd_status rd_softmax_backward(rd_ctx *ctx, const rd_vec *y, const rd_vec *dy, const rd_vec *dx, int rows,
                              int cols, int dx_accumulate);
/* Mean cross-entropy over n rows of logits (n x k) with int32 labels on the
 * device. loss[0] = mean loss; dlogits (NULL to skip) = (softmax - onehot) / n;
 * correct (NULL to skip) [0] = number of rows whose arg-max equals the label.
 * Labels outside [0, k) make loss (and that row of dlogits) NaN (check labels
 * when loading data). dlogits may be logits. */
rd_status rd_cross_entropy(rd_ctx *ctx, const rd_vec *logits, cl_mem labels, size_t labels_off, int n, int k,
                           const rd_vec *loss, const rd_vec *dlogits, const rd_vec *correct);

/* ---------------- mixed op (mixed.c) ---------------- */
/* out (+)= sum_k w[k] * ys[k], w on the device (softmax of the edge's alphas).
 * ys[k].mem == NULL is the zero op: it adds nothing and needs no tensor. out must
 * not overlap any ys entry. */
rd_status rd_mixed_forward(rd_ctx *ctx, const rd_tensor *ys, int k, const rd_vec *w, const rd_tensor *out,
                           int accumulate);
/* dys[k] (+)= w[k] * dout (dys or dys[k].mem == NULL to skip); dw[k] = sum(dout * ys[k])
 * (written; 0 where ys[k].mem == NULL; dw == NULL to skip). A dys entry may be its ys
 * entry but must not overlap dout. */
rd_status rd_mixed_backward(rd_ctx *ctx, const rd_tensor *ys, int k, const rd_vec *w, const rd_tensor *dout,
                            const rd_tensor *dys, int dys_accumulate, const rd_vec *dw);
/* Scratch (slot 2, the reduction slot) used by rd_mixed_backward with k entries. */
size_t rd_mixed_scratch_bytes(rd_ctx *ctx, int k);

/* ---------------- optimizers (optim.c) ---------------- */
typedef struct rd_sgd_params { float momentum, weight_decay; } rd_sgd_params;
typedef struct rd_adam_params { float beta1, beta2, eps, weight_decay; } rd_adam_params;
/* PyTorch semantics: g = grad * gscale + wd * p; buf = momentum * buf + g; p -= lr * buf.
 * grad_scale (NULL = 1) is a device float, e.g. from rd_clip_grad_norm. The momentum
 * buffer starts at zero (NULL when momentum == 0); grad is left unscaled. */
rd_status rd_sgd_step(rd_ctx *ctx, const rd_sgd_params *p, float lr, const rd_vec *param, const rd_vec *grad,
                      const rd_vec *momentum_buf, const rd_vec *grad_scale);
/* PyTorch Adam with L2 weight decay (g = grad + wd * p); step counts from 1; m, v start at zero. */
rd_status rd_adam_step(rd_ctx *ctx, const rd_adam_params *p, float lr, int step, const rd_vec *param,
                       const rd_vec *grad, const rd_vec *m, const rd_vec *v);
/* norm_out[0] = ||grad||_2, scale_out[0] = min(1, max_norm / (norm + 1e-6)) (PyTorch clip_grad_norm_).
 * norm_out may be NULL; a NaN norm gives a NaN scale, as in PyTorch. */
rd_status rd_clip_grad_norm(rd_ctx *ctx, const rd_vec *grad, float max_norm, const rd_vec *scale_out,
                            const rd_vec *norm_out);
/* Scratch (slot 2, the reduction slot) used by rd_clip_grad_norm. */
size_t rd_clip_grad_norm_scratch_bytes(rd_ctx *ctx);
/* lr_min + (lr_max - lr_min) * (1 + cos(pi * epoch / epochs)) / 2 */
double rd_cosine_lr(double lr_max, double lr_min, int epoch, int epochs);

/* ---------------- self-check (selfcheck.c) ---------------- */
/* Runs each op family once on small random inputs against its host reference;
 * one line per check to log (NULL: quiet). *failures of *checks differ. */
rd_status rd_selfcheck(rd_ctx *ctx, FILE *log, int *failures, int *checks);

/* Builds (or loads from a cache) every kernel program the ops may launch, every
 * variant included, several at once, with progress to progress (NULL: quiet).
 * Commands call it up front so a first run compiles in one visible batch. */
rd_status rd_build_all_programs(rd_ctx *ctx, FILE *progress);

#ifdef __cplusplus
}
#endif
#endif
