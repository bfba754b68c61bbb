/* Host reference: fully connected layer. */
#include "ops/ref/ref.h"

void ref_linear(const double *x, int n, int k, const double *w, const double *b, int m, double *y) {
    for (int i = 0; i < n; i++)
        for (int o = 0; o < m; o++) {
            double s = b ? b[o] : 0;
            for (int j = 0; j < k; j++) s += x[(size_t)i * k + j] * w[(size_t)o * k + j];
            y[(size_t)i * m + o] = s;
        }
}
