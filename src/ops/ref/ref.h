/* Plain-C host references of every op, in double precision, dense NCHW.
 * They define what each OpenCL op must compute: the tests compare the device
 * against them on random inputs, and differentiate them by finite differences
 * to check the device's backward passes. Simple loops, no cleverness. */
#ifndef RADARS_REF_H
#define RADARS_REF_H

#include <stddef.h>

#include "radars/ops.h"

typedef struct ref_shape { int n, c, h, w; } ref_shape;
static inline size_t ref_numel(ref_shape s) { return (size_t)s.n * s.c * s.h * s.w; }

/* element-wise */
void ref_relu(const double *x, double *y, size_t len);
/* y[b] (+)= s[b] * x[b] per image b of x (shape xs) */
void ref_scale_images(const double *s, const double *x, ref_shape xs, double *y, int accumulate);

/* convolution: y has shape (xs.n, out_c, rd_conv_out_h, rd_conv_out_w) */
void ref_conv2d(const rd_conv_params *p, const double *x, ref_shape xs, const double *w, int out_c, double *y,
                ref_shape ys);

/* pooling */
void ref_pool2d(const rd_pool_params *p, const double *x, ref_shape xs, double *y, ref_shape ys);
void ref_global_avgpool(const double *x, ref_shape xs, double *y);

/* batch-norm in training mode: batch statistics (biased variance for the
 * output, unbiased for the running update). gamma/beta may be NULL (not
 * affine); running_mean/var may be NULL (not tracked). */
void ref_batchnorm_train(const double *x, ref_shape xs, const double *gamma, const double *beta, double eps,
                         double momentum, double *running_mean, double *running_var, double *y);
void ref_batchnorm_eval(const double *x, ref_shape xs, const double *gamma, const double *beta, double eps,
                        const double *running_mean, const double *running_var, double *y);

/* linear: y[n][m] = sum_k x[n][k] w[m][k] + b[m] */
void ref_linear(const double *x, int n, int k, const double *w, const double *b, int m, double *y);
void ref_softmax(const double *x, double *y, int rows, int cols);
/* mean cross-entropy; returns the loss, writes the count of correct arg-max */
double ref_cross_entropy(const double *logits, const int *labels, int n, int k, int *correct);

/* mixed op: out = sum_k w[k] ys[k] (ys[k] == NULL: the zero op) */
void ref_mixed(const double *const *ys, int k, const double *w, size_t len, double *out);

/* PC-DARTS' partial channel connection: node (xs.n, C, H/stride, W/stride) += w *
 * shuffle_K(concat(t, bypass(x's channels C/K..C-1))), t (xs.n, C/K, ...); the bypass is
 * the identity or a 2x2 max-pool (first largest element). Backward: dt = w * its share
 * of dnode (overwritten), dx += (bypass channels), *dw = d/dw. */
void ref_pc_combine_forward(const double *x, ref_shape xs, const double *t, double w, int K, int stride, double *node);
void ref_pc_combine_backward(const double *x, ref_shape xs, const double *t, double w, int K, int stride,
                             const double *dnode, double *dt, double *dx, double *dw);

/* optimizers, PyTorch 1.13 update rules (see ops.h); buf, m, v start at zero */
void ref_sgd_step(double *p, const double *grad, double *buf, size_t len, double lr, double momentum,
                  double weight_decay, double grad_scale);
void ref_adam_step(double *p, const double *grad, double *m, double *v, size_t len, double lr, double beta1,
                   double beta2, double eps, double weight_decay, int step);
/* returns min(1, max_norm / (||grad|| + 1e-6)); writes the norm */
double ref_clip_scale(const double *grad, size_t len, double max_norm, double *norm);

#endif
