/* Host reference: element-wise ops. */
#include "ops/ref/ref.h"

void ref_relu(const double *x, double *y, size_t len) {
    for (size_t i = 0; i < len; i++) y[i] = x[i] > 0 ? x[i] : 0;
}
