/* Host reference: max / average pooling (padding never read, never counted)
 * and global average pooling. */
#include <math.h>

#include "ops/ref/ref.h"

void ref_pool2d(const rd_pool_params *p, const double *x, ref_shape xs, double *y, ref_shape ys) {
    for (int n = 0; n < ys.n; n++)
        for (int c = 0; c < ys.c; c++) {
            const double *xp = x + ((size_t)n * xs.c + c) * xs.h * xs.w;
            double *yp = y + ((size_t)n * ys.c + c) * ys.h * ys.w;
            for (int oy = 0; oy < ys.h; oy++)
                for (int ox = 0; ox < ys.w; ox++) {
                    int y0 = oy * p->stride - p->pad, x0 = ox * p->stride - p->pad;
                    double m = -INFINITY, s = 0;
                    int count = 0;
                    for (int iy = y0; iy < y0 + p->k; iy++)
                        for (int ix = x0; ix < x0 + p->k; ix++) {
                            if (iy < 0 || iy >= xs.h || ix < 0 || ix >= xs.w) continue;
                            double v = xp[iy * xs.w + ix];
                            if (v > m || isnan(v)) m = v;  /* first maximum in scan order; NaN wins (PyTorch) */
                            s += v;
                            count++;
                        }
                    yp[oy * ys.w + ox] = p->kind == RD_POOL_MAX ? m : s / count;
                }
        }
}

void ref_global_avgpool(const double *x, ref_shape xs, double *y) {
    size_t hw = (size_t)xs.h * xs.w;
    for (size_t plane = 0; plane < (size_t)xs.n * xs.c; plane++) {
        double s = 0;
        for (size_t i = 0; i < hw; i++) s += x[plane * hw + i];
        y[plane] = s / (double)hw;
    }
}
