/* Host reference: PyTorch 1.13's SGD, Adam and clip_grad_norm_ update rules, in double. */
#include <math.h>

#include "ops/ref/ref.h"

void ref_sgd_step(double *p, const double *grad, double *buf, size_t len, double lr, double momentum,
                  double weight_decay, double grad_scale) {
    for (size_t i = 0; i < len; i++) {
        double d = grad[i] * grad_scale + weight_decay * p[i];
        if (momentum != 0) d = buf[i] = momentum * buf[i] + d;
        p[i] -= lr * d;
    }
}

void ref_adam_step(double *p, const double *grad, double *m, double *v, size_t len, double lr, double beta1,
                   double beta2, double eps, double weight_decay, int step) {
    double bc1 = 1 - pow(beta1, step), bc2 = 1 - pow(beta2, step);
    for (size_t i = 0; i < len; i++) {
        double d = grad[i] + weight_decay * p[i];
        m[i] = beta1 * m[i] + (1 - beta1) * d;
        v[i] = beta2 * v[i] + (1 - beta2) * d * d;
        p[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + eps);
    }
}

double ref_clip_scale(const double *grad, size_t len, double max_norm, double *norm) {
    double s = 0;
    for (size_t i = 0; i < len; i++) s += grad[i] * grad[i];
    *norm = sqrt(s);
    double coef = max_norm / (*norm + 1e-6);
    return coef > 1 ? 1 : coef;
}
