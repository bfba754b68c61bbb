/* Host reference: row-wise softmax and mean cross-entropy. */
#include <math.h>

#include "ops/ref/ref.h"

void ref_softmax(const double *x, double *y, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        const double *xr = x + (size_t)r * cols;
        double *yr = y + (size_t)r * cols;
        double mx = xr[0], s = 0;
        for (int c = 1; c < cols; c++) mx = xr[c] > mx ? xr[c] : mx;
        for (int c = 0; c < cols; c++) s += exp(xr[c] - mx);
        for (int c = 0; c < cols; c++) yr[c] = exp(xr[c] - mx) / s;
    }
}

double ref_cross_entropy(const double *logits, const int *labels, int n, int k, int *correct) {
    double total = 0;
    int right = 0;
    for (int r = 0; r < n; r++) {
        const double *xr = logits + (size_t)r * k;
        int best = 0;
        for (int c = 1; c < k; c++) best = xr[c] > xr[best] ? c : best;  /* first maximum */
        double s = 0;
        for (int c = 0; c < k; c++) s += exp(xr[c] - xr[best]);
        if (labels[r] < 0 || labels[r] >= k) {
            total = NAN;
            continue;
        }
        total += log(s) + xr[best] - xr[labels[r]];
        right += best == labels[r];
    }
    if (correct) *correct = right;
    return total / n;
}
