/* Pooling kernels (host side: src/ops/pool.c).
 *
 * Square windows of K, stride S, padding P. Windows are clipped to the image:
 * padding is never read and never counted (average = sum / valid pixels, as
 * PyTorch's count_include_pad=False). Kernels run on a 2-D range: dim 0 walks
 * one image (c*oh*ow outputs, or c*h*w inputs for the gathers), dim 1 the
 * images, so strided views cost one multiply per item.
 *
 * Max backward keeps no index tensor between forward and backward: it
 * recomputes each window's arg-max from x into a byte per output (scratch),
 * then every input pixel gathers dy from the windows whose arg-max it is
 * (OpenCL 1.2 has no float atomics, so no scatter). */

#define POOL_GEOM const int H, const int W, const int OH, const int OW, const int K, const int S, const int P

/* The window of output (oy, ox) clipped to the image: rows [*y0, *y1), cols [*x0, *x1). */
inline void pool_window(int oy, int ox, POOL_GEOM, int *y0, int *y1, int *x0, int *x1) {
    const int ty = oy * S - P, tx = ox * S - P;
    *y0 = max(ty, 0);
    *y1 = min(ty + K, H);
    *x0 = max(tx, 0);
    *x1 = min(tx + K, W);
}

/* First maximum in scan order; a NaN wins and propagates (PyTorch). */
#define POOL_BETTER(v, m) ((v) > (m) || isnan(v))

__kernel void pool_max_forward(RD_TC(x), RD_T(y), const uint C, const uint n, POOL_GEOM) {
    const uint i = get_global_id(0), b = get_global_id(1);
    const uint ohw = (uint)(OH * OW);
    if (i >= C * ohw || b >= n) return;
    const uint c = i / ohw, r = i - c * ohw, oy = r / (uint)OW, ox = r - oy * (uint)OW;
    int y0, y1, x0, x1;
    pool_window(oy, ox, H, W, OH, OW, K, S, P, &y0, &y1, &x0, &x1);
    __global const float *xp = x + x_off + b * x_ns + (ulong)c * (uint)(H * W);
    float m = -INFINITY;
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++) {
            const float v = xp[yy * W + xx];
            if (POOL_BETTER(v, m)) m = v;
        }
    y[y_off + b * y_ns + i] = m;
}

__kernel void pool_avg_forward(RD_TC(x), RD_T(y), const uint C, const uint n, POOL_GEOM) {
    const uint i = get_global_id(0), b = get_global_id(1);
    const uint ohw = (uint)(OH * OW);
    if (i >= C * ohw || b >= n) return;
    const uint c = i / ohw, r = i - c * ohw, oy = r / (uint)OW, ox = r - oy * (uint)OW;
    int y0, y1, x0, x1;
    pool_window(oy, ox, H, W, OH, OW, K, S, P, &y0, &y1, &x0, &x1);
    __global const float *xp = x + x_off + b * x_ns + (ulong)c * (uint)(H * W);
    float s = 0.0f;
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++) s += xp[yy * W + xx];
    y[y_off + b * y_ns + i] = s / (float)((y1 - y0) * (x1 - x0));
}

/* arg[b][c][oy][ox] = position (ky * K + kx) of the first maximum of the window. */
__kernel void pool_max_argmax(RD_TC(x), __global uchar *arg, const uint C, const uint n, POOL_GEOM) {
    const uint i = get_global_id(0), b = get_global_id(1);
    const uint ohw = (uint)(OH * OW);
    if (i >= C * ohw || b >= n) return;
    const uint c = i / ohw, r = i - c * ohw, oy = r / (uint)OW, ox = r - oy * (uint)OW;
    int y0, y1, x0, x1;
    pool_window(oy, ox, H, W, OH, OW, K, S, P, &y0, &y1, &x0, &x1);
    __global const float *xp = x + x_off + b * x_ns + (ulong)c * (uint)(H * W);
    const int ty = (int)oy * S - P, tx = (int)ox * S - P;
    float m = -INFINITY;
    int best = (y0 - ty) * K + (x0 - tx);
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++) {
            const float v = xp[yy * W + xx];
            if (POOL_BETTER(v, m)) {
                m = v;
                best = (yy - ty) * K + (xx - tx);
            }
        }
    arg[(ulong)b * C * ohw + i] = (uchar)best;
}

/* The outputs whose windows contain input row iy: [*o0, *o1] (empty when o0 > o1). */
inline void pool_covering(int iy, const int K, const int S, const int P, const int O, int *o0, int *o1) {
    const int lo = iy + P - K + 1;
    *o0 = lo <= 0 ? 0 : (lo + S - 1) / S;
    *o1 = min((iy + P) / S, O - 1);
}

/* dx (+)= sum of dy over the windows whose arg-max is this pixel. */
__kernel void pool_max_backward(RD_TC(dy), __global const uchar *arg, RD_T(dx), const uint C, const uint n,
                                const int acc, POOL_GEOM) {
    const uint i = get_global_id(0), b = get_global_id(1);
    const uint hw = (uint)(H * W), ohw = (uint)(OH * OW);
    if (i >= C * hw || b >= n) return;
    const uint c = i / hw, r = i - c * hw;
    const int iy = (int)(r / (uint)W), ix = (int)r - iy * W;
    int oy0, oy1, ox0, ox1;
    pool_covering(iy, K, S, P, OH, &oy0, &oy1);
    pool_covering(ix, K, S, P, OW, &ox0, &ox1);
    __global const float *dyp = dy + dy_off + b * dy_ns + (ulong)c * ohw;
    __global const uchar *ap = arg + ((ulong)b * C + c) * ohw;
    float g = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++) {
        const int ky = iy - (oy * S - P);
        for (int ox = ox0; ox <= ox1; ox++) {
            const int o = oy * OW + ox;
            if (ap[o] == ky * K + ix - (ox * S - P)) g += dyp[o];
        }
    }
    const ulong d = dx_off + b * dx_ns + i;
    dx[d] = acc ? dx[d] + g : g;
}

/* dx (+)= sum over the windows containing this pixel of dy / (valid pixels of the window). */
__kernel void pool_avg_backward(RD_TC(dy), RD_T(dx), const uint C, const uint n, const int acc, POOL_GEOM) {
    const uint i = get_global_id(0), b = get_global_id(1);
    const uint hw = (uint)(H * W), ohw = (uint)(OH * OW);
    if (i >= C * hw || b >= n) return;
    const uint c = i / hw, r = i - c * hw;
    const int iy = (int)(r / (uint)W), ix = (int)r - iy * W;
    int oy0, oy1, ox0, ox1;
    pool_covering(iy, K, S, P, OH, &oy0, &oy1);
    pool_covering(ix, K, S, P, OW, &ox0, &ox1);
    __global const float *dyp = dy + dy_off + b * dy_ns + (ulong)c * ohw;
    float g = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++) {
        const int ty = oy * S - P, rows = min(ty + K, H) - max(ty, 0);
        for (int ox = ox0; ox <= ox1; ox++) {
            const int tx = ox * S - P, cols = min(tx + K, W) - max(tx, 0);
            g += dyp[oy * OW + ox] / (float)(rows * cols);
        }
    }
    const ulong d = dx_off + b * dx_ns + i;
    dx[d] = acc ? dx[d] + g : g;
}

/* y[b][c] = mean of the plane x[b][c]: one work-item per plane (planes are small: 7x7 or 8x8). */
__kernel void global_avgpool_forward(RD_TC(x), RD_T(y), const uint C, const uint n, const uint hw) {
    const uint c = get_global_id(0), b = get_global_id(1);
    if (c >= C || b >= n) return;
    __global const float *xp = x + x_off + b * x_ns + (ulong)c * hw;
    float s = 0.0f;
    for (uint i = 0; i < hw; i++) s += xp[i];
    y[y_off + b * y_ns + c] = s / (float)hw;
}

__kernel void global_avgpool_backward(RD_TC(dy), RD_T(dx), const uint C, const uint n, const uint hw,
                                      const int acc) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= C * hw || b >= n) return;
    const float g = dy[dy_off + b * dy_ns + i / hw] / (float)hw;
    const ulong d = dx_off + b * dx_ns + i;
    dx[d] = acc ? dx[d] + g : g;
}
