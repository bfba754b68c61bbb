/* Host reference: element-wise ops. */
#include "ops/ref/ref.h"

void ref_relu(const double *x, double *y, size_t len) {
    for (size_t i = 0; i < len; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

void ref_scale_images(const double *s, const double *x, ref_shape xs, double *y, int accumulate) {
    size_t per = (size_t)xs.c * xs.h * xs.w;
    for (int b = 0; b < xs.n; b++)
        for (size_t i = 0; i < per; i++) {
            size_t o = (size_t)b * per + i;
            y[o] = (accumulate ? y[o] : 0) + s[b] * x[o];
        }
}
