/* Host reference: 2-D convolution (dense, grouped/depthwise, strided, dilated,
 * padded with possibly negative padding, ReLU fused on the input). */
#include "ops/ref/ref.h"

void ref_conv2d(const rd_conv_params *p, const double *x, ref_shape xs, const double *w, int out_c, double *y,
                ref_shape ys) {
    int groups = p->groups > 0 ? p->groups : 1;
    int cin_g = xs.c / groups, cout_g = out_c / groups;
    for (int n = 0; n < ys.n; n++)
        for (int co = 0; co < out_c; co++) {
            int g = co / cout_g;
            for (int oh = 0; oh < ys.h; oh++)
                for (int ow = 0; ow < ys.w; ow++) {
                    double s = 0;
                    for (int cig = 0; cig < cin_g; cig++) {
                        int ci = g * cin_g + cig;
                        for (int kh = 0; kh < p->kh; kh++) {
                            int ih = oh * p->stride_h - p->pad_top + kh * p->dil_h;
                            if (ih < 0 || ih >= xs.h) continue;
                            for (int kw = 0; kw < p->kw; kw++) {
                                int iw = ow * p->stride_w - p->pad_left + kw * p->dil_w;
                                if (iw < 0 || iw >= xs.w) continue;
                                double v = x[(((size_t)n * xs.c + ci) * xs.h + ih) * xs.w + iw];
                                if (p->relu_in && v < 0) v = 0;
                                s += v * w[(((size_t)co * cin_g + cig) * p->kh + kh) * p->kw + kw];
                            }
                        }
                    }
                    y[(((size_t)n * out_c + co) * ys.h + oh) * ys.w + ow] = s;
                }
        }
}
