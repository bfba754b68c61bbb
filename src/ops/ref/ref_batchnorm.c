/* Host reference: batch normalization, PyTorch semantics (two-pass statistics in double). */
#include <math.h>

#include "ops/ref/ref.h"

void ref_batchnorm_train(const double *x, ref_shape xs, const double *gamma, const double *beta, double eps,
                         double momentum, double *running_mean, double *running_var, double *y) {
    size_t hw = (size_t)xs.h * xs.w, m = (size_t)xs.n * hw;
    for (int c = 0; c < xs.c; c++) {
        double mean = 0, var = 0;
        for (int n = 0; n < xs.n; n++)
            for (size_t i = 0; i < hw; i++) mean += x[((size_t)n * xs.c + c) * hw + i];
        mean /= (double)m;
        for (int n = 0; n < xs.n; n++)
            for (size_t i = 0; i < hw; i++) {
                double d = x[((size_t)n * xs.c + c) * hw + i] - mean;
                var += d * d;
            }
        double biased = var / (double)m, unbiased = m > 1 ? var / (double)(m - 1) : NAN;
        double invstd = 1.0 / sqrt(biased + eps);
        double g = gamma ? gamma[c] : 1, b = beta ? beta[c] : 0;
        for (int n = 0; n < xs.n; n++)
            for (size_t i = 0; i < hw; i++) {
                size_t o = ((size_t)n * xs.c + c) * hw + i;
                y[o] = (x[o] - mean) * invstd * g + b;
            }
        if (running_mean) running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean;
        if (running_var) running_var[c] = (1 - momentum) * running_var[c] + momentum * unbiased;
    }
}

void ref_batchnorm_eval(const double *x, ref_shape xs, const double *gamma, const double *beta, double eps,
                        const double *running_mean, const double *running_var, double *y) {
    size_t hw = (size_t)xs.h * xs.w;
    for (int n = 0; n < xs.n; n++)
        for (int c = 0; c < xs.c; c++) {
            double invstd = 1.0 / sqrt(running_var[c] + eps);
            double g = gamma ? gamma[c] : 1, b = beta ? beta[c] : 0;
            for (size_t i = 0; i < hw; i++) {
                size_t o = ((size_t)n * xs.c + c) * hw + i;
                y[o] = (x[o] - running_mean[c]) * invstd * g + b;
            }
        }
}
