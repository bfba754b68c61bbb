/* Pooling kernels (host side: src/ops/pool.c).
 *
 * Square windows of K, stride S, padding P. Padding is never counted (average
 * = sum / valid pixels, as PyTorch's count_include_pad=False) and never read:
 * reads are clamped into the image, which for max (and its arg-max) only
 * repeats pixels of the same window in scan order, and for average is masked.
 * Clamping instead of branching keeps each work-item straight-line code, which
 * CPU compilers vectorize across work-items and GPUs run without divergence.
 *
 * Kernels run on a 2-D range: dim 0 walks one image (c*oh*ow outputs, or
 * c*h*w inputs for the gathers), dim 1 the images. The position in the image
 * is split with a float reciprocal and one correction step, not an integer
 * division (which does not vectorize). The window loops are fully unrolled in
 * the kernels specialised for the DARTS windows (K = 3, 5; S = 1, 2; P = K/2);
 * the generic kernels take K, S, P at run time.
 *
 * Max backward keeps no index tensor between forward and backward: it
 * recomputes each window's arg-max from x into a byte per output (scratch),
 * then every input pixel gathers dy from the windows whose arg-max it is
 * (OpenCL 1.2 has no float atomics, so no scatter). */

#define POOL_GEOM const int H, const int W, const int OH, const int OW
/* reciprocals of the divisors used to split an index (see pool_divmod) */
#define POOL_SPLIT const float rcp_plane, const float rcp_row

/* q = i / d and *r = i % d for i < 2^24: a float estimate, then one correction step. */
inline uint pool_divmod(const uint i, const uint d, const float rcp, uint *r) {
    uint q = (uint)(((float)i + 0.5f) * rcp);
    int rr = (int)(i - q * d);
    q = rr < 0 ? q - 1 : rr >= (int)d ? q + 1 : q;
    *r = i - q * d;
    return q;
}

/* First maximum in scan order; a NaN wins and propagates (PyTorch). */
#define POOL_BETTER(v, m) ((v) > (m) || isnan(v))

/* ---- bodies, inlined into kernels with K, S, P constant or not ---- */

inline void pool_forward_body(__global const float *x, const ulong x_off, const ulong x_ns, __global float *y,
                              const ulong y_off, const ulong y_ns, const uint C, const uint n, POOL_SPLIT, POOL_GEOM,
                              const int K, const int S, const int P, const int is_max) {
    const uint i = get_global_id(0), b = get_global_id(1);
    const uint ohw = (uint)(OH * OW);
    if (i >= C * ohw || b >= n) return;
    uint r, ox;
    const uint c = pool_divmod(i, ohw, rcp_plane, &r);
    const uint oy = pool_divmod(r, (uint)OW, rcp_row, &ox);
    const int ty = (int)oy * S - P, tx = (int)ox * S - P;
    __global const float *xp = x + x_off + b * x_ns + (ulong)c * (uint)(H * W);
    float m = -INFINITY, s = 0.0f;
    for (int ky = 0; ky < K; ky++) {
        const int iy = ty + ky, row = clamp(iy, 0, H - 1) * W;
        const int vy = iy >= 0 && iy < H;
        for (int kx = 0; kx < K; kx++) {
            const int ix = tx + kx;
            const float v = xp[row + clamp(ix, 0, W - 1)];
            if (is_max) m = POOL_BETTER(v, m) ? v : m;
            else s += (vy && ix >= 0 && ix < W) ? v : 0.0f;
        }
    }
    if (!is_max) m = s / (float)((min(ty + K, H) - max(ty, 0)) * (min(tx + K, W) - max(tx, 0)));
    y[y_off + b * y_ns + i] = m;
}

/* arg[b][c][oy][ox] = window position (ky * K + kx) of the first maximum. */
inline void pool_argmax_body(__global const float *x, const ulong x_off, const ulong x_ns, __global uchar *arg,
                             const uint C, const uint n, POOL_SPLIT, POOL_GEOM, const int K, const int S,
                             const int P) {
    const uint i = get_global_id(0), b = get_global_id(1);
    const uint ohw = (uint)(OH * OW);
    if (i >= C * ohw || b >= n) return;
    uint r, ox;
    const uint c = pool_divmod(i, ohw, rcp_plane, &r);
    const uint oy = pool_divmod(r, (uint)OW, rcp_row, &ox);
    const int ty = (int)oy * S - P, tx = (int)ox * S - P;
    __global const float *xp = x + x_off + b * x_ns + (ulong)c * (uint)(H * W);
    float m = -INFINITY;
    int best = (clamp(ty, 0, H - 1) - ty) * K + clamp(tx, 0, W - 1) - tx;
    for (int ky = 0; ky < K; ky++) {
        const int ry = clamp(ty + ky, 0, H - 1);
        for (int kx = 0; kx < K; kx++) {
            const int rx = clamp(tx + kx, 0, W - 1);
            const float v = xp[ry * W + rx];
            const int better = POOL_BETTER(v, m);
            m = better ? v : m;
            best = better ? (ry - ty) * K + rx - tx : best;
        }
    }
    arg[(ulong)b * C * ohw + i] = (uchar)best;
}

/* dx (+)= the sum over the windows that contain this pixel of: dy where the
 * window's arg-max is this pixel (max), dy / valid pixels (average). The
 * windows containing row iy are oy = (iy + P) / S - j for j < ceil(K / S)
 * while ky = iy - (oy * S - P) < K and 0 <= oy < OH; likewise columns. */
inline void pool_backward_body(__global const float *dy, const ulong dy_off, const ulong dy_ns,
                               __global const uchar *arg, __global float *dx, const ulong dx_off, const ulong dx_ns,
                               const uint C, const uint n, const int acc, POOL_SPLIT, POOL_GEOM, const int K,
                               const int S, const int P, const int is_max) {
    const uint i = get_global_id(0), b = get_global_id(1);
    const uint hw = (uint)(H * W), ohw = (uint)(OH * OW);
    if (i >= C * hw || b >= n) return;
    uint r, ux;
    const uint c = pool_divmod(i, hw, rcp_plane, &r);
    const int iy = (int)pool_divmod(r, (uint)W, rcp_row, &ux), ix = (int)ux;
    __global const float *dyp = dy + dy_off + b * dy_ns + (ulong)c * ohw;
    __global const uchar *ap = arg + ((ulong)b * C + c) * ohw;
    const int nj = (K + S - 1) / S, oy0 = (iy + P) / S, ox0 = (ix + P) / S;
    float g = 0.0f;
    for (int jy = 0; jy < nj; jy++) {
        const int oy = oy0 - jy, ky = iy + P - oy * S;
        const int vy = ky < K && oy >= 0 && oy < OH;
        const int ry = clamp(oy, 0, OH - 1) * OW;
        const int rows = min(oy * S - P + K, H) - max(oy * S - P, 0);
        for (int jx = 0; jx < nj; jx++) {
            const int ox = ox0 - jx, kx = ix + P - ox * S;
            const int o = ry + clamp(ox, 0, OW - 1);
            int take = vy && kx < K && ox >= 0 && ox < OW;
            float d = dyp[o];
            if (is_max) {
                take = take && ap[o] == ky * K + kx;
            } else {
                d /= (float)(rows * (min(ox * S - P + K, W) - max(ox * S - P, 0)));
            }
            g += take ? d : 0.0f;
        }
    }
    const ulong d = dx_off + b * dx_ns + i;
    dx[d] = acc ? dx[d] + g : g;
}

/* ---- kernels: generic (K, S, P at run time) and specialised ---- */

#define POOL_FWD_ARGS RD_TC(x), RD_T(y), const uint C, const uint n, POOL_SPLIT, POOL_GEOM
#define POOL_FWD_PASS x, x_off, x_ns, y, y_off, y_ns, C, n, rcp_plane, rcp_row, H, W, OH, OW
#define POOL_ARG_ARGS RD_TC(x), __global uchar *arg, const uint C, const uint n, POOL_SPLIT, POOL_GEOM
#define POOL_ARG_PASS x, x_off, x_ns, arg, C, n, rcp_plane, rcp_row, H, W, OH, OW
#define POOL_BWD_ARGS RD_TC(dy), __global const uchar *arg, RD_T(dx), const uint C, const uint n, const int acc, \
                      POOL_SPLIT, POOL_GEOM
#define POOL_BWD_PASS dy, dy_off, dy_ns, arg, dx, dx_off, dx_ns, C, n, acc, rcp_plane, rcp_row, H, W, OH, OW

#define POOL_KERNELS(SUFFIX, KARGS, K, S, P)                                                                       \
    __kernel void pool_max_forward##SUFFIX(POOL_FWD_ARGS KARGS) { pool_forward_body(POOL_FWD_PASS, K, S, P, 1); } \
    __kernel void pool_avg_forward##SUFFIX(POOL_FWD_ARGS KARGS) { pool_forward_body(POOL_FWD_PASS, K, S, P, 0); } \
    __kernel void pool_max_argmax##SUFFIX(POOL_ARG_ARGS KARGS) { pool_argmax_body(POOL_ARG_PASS, K, S, P); }     \
    __kernel void pool_max_backward##SUFFIX(POOL_BWD_ARGS KARGS) { pool_backward_body(POOL_BWD_PASS, K, S, P, 1); } \
    __kernel void pool_avg_backward##SUFFIX(POOL_BWD_ARGS KARGS) { pool_backward_body(POOL_BWD_PASS, K, S, P, 0); }

#define POOL_RUNTIME_KSP , const int K, const int S, const int P
#define POOL_NO_ARGS
POOL_KERNELS(, POOL_RUNTIME_KSP, K, S, P)
POOL_KERNELS(_k3s1, POOL_NO_ARGS, 3, 1, 1)
POOL_KERNELS(_k3s2, POOL_NO_ARGS, 3, 2, 1)
POOL_KERNELS(_k5s1, POOL_NO_ARGS, 5, 1, 2)
POOL_KERNELS(_k5s2, POOL_NO_ARGS, 5, 2, 2)

/* ---- row kernels, for CPUs ----
 * One work-item per row (of outputs, or of inputs for the gathers), so the
 * window's rows are uniform. Along the row, the outputs whose windows lie
 * inside the image columns ("interior") are computed 8 at a time in float8
 * (explicit vectors: what a CPU's SIMD unit runs; compilers do not reliably
 * vectorize these loops themselves), the last chunk shifted left to end at
 * the interior's end (each output is computed on its own, so overlap only
 * recomputes); border outputs, and everything in the generic kernels, take
 * the scalar path. Stride 2 reads the even lanes of 16 floats. */
#define POOL_VEC 8

/* Outputs whose window columns [o * S - P, o * S - P + K) lie in [0, W): [*lo, *hi), lo <= hi <= OW. */
inline void pool_interior(const int W, const int OW, const int K, const int S, const int P, int *lo, int *hi) {
    *lo = min((P + S - 1) / S, OW);
    const int last = W - K + P;
    *hi = max(*lo, last < 0 ? 0 : min(OW, last / S + 1));
}

/* row[base + S * l], l < 8. For S = 2 the 16 floats read stay in the row: either
 * [base, base + 16) fits, or base >= 1 (true for interior chunks of K = 3, 5).
 * (float8 pairs, not float16: wider vectors than AVX2's cost on CPUs.) */
inline float8 pool_load8(__global const float *row, const int base, const int W, const int S) {
    if (S == 1) return vload8(0, row + base);
    const int from = base + 16 <= W ? base : base - 1;
    const uint8 pick = base + 16 <= W ? (uint8)(0, 2, 4, 6, 8, 10, 12, 14) : (uint8)(1, 3, 5, 7, 9, 11, 13, 15);
    return shuffle2(vload8(0, row + from), vload8(0, row + from + 8), pick);
}

/* Scalar value of output ox of a row whose window rows are [y0, y1). */
inline float pool_forward1(__global const float *xp, const int y0, const int y1, const int ox, const int W,
                           const int K, const int S, const int P, const int is_max) {
    const int tx = ox * S - P, x0 = max(tx, 0), x1 = min(tx + K, W);
    float a = is_max ? -INFINITY : 0.0f;
    for (int yy = y0; yy < y1; yy++)
        for (int ix = x0; ix < x1; ix++) {
            const float v = xp[yy * W + ix];
            a = is_max ? (POOL_BETTER(v, a) ? v : a) : a + v;
        }
    return is_max ? a : a / (float)((y1 - y0) * (x1 - x0));
}

inline void pool_forward_rows_body(__global const float *x, const ulong x_off, const ulong x_ns, __global float *y,
                                   const ulong y_off, const ulong y_ns, const uint C, const uint n, POOL_GEOM,
                                   const int K, const int S, const int P, const int is_max, const int vec) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= C * (uint)OH || b >= n) return;
    const uint c = i / (uint)OH, oy = i - c * (uint)OH;
    __global const float *xp = x + x_off + b * x_ns + (ulong)c * (uint)(H * W);
    __global float *yr = y + y_off + b * y_ns + (ulong)i * (uint)OW;
    const int ty = (int)oy * S - P, y0 = max(ty, 0), y1 = min(ty + K, H);
    int lo, hi;
    pool_interior(W, OW, K, S, P, &lo, &hi);
    if (!vec || hi - lo < POOL_VEC) hi = lo;  /* no vector part */
    for (int o = lo; o < hi; o += POOL_VEC) {
        const int oc = min(o, hi - POOL_VEC);
        float8 a = is_max ? (float8)(-INFINITY) : (float8)(0.0f);
        for (int yy = y0; yy < y1; yy++)
            for (int kx = 0; kx < K; kx++) {
                const float8 v = pool_load8(xp + yy * W, oc * S - P + kx, W, S);
                a = is_max ? select(a, v, isgreater(v, a) | isnan(v)) : a + v;
            }
        vstore8(is_max ? a : a / (float)((y1 - y0) * K), 0, yr + oc);
    }
    for (int ox = lo == 0 && hi > lo ? hi : 0; ox < OW; ox = ox + 1 == lo ? hi : ox + 1)
        yr[ox] = pool_forward1(xp, y0, y1, ox, W, K, S, P, is_max);
}

inline void pool_argmax_rows_body(__global const float *x, const ulong x_off, const ulong x_ns, __global uchar *arg,
                                  const uint C, const uint n, POOL_GEOM, const int K, const int S, const int P,
                                  const int vec) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= C * (uint)OH || b >= n) return;
    const uint c = i / (uint)OH, oy = i - c * (uint)OH;
    __global const float *xp = x + x_off + b * x_ns + (ulong)c * (uint)(H * W);
    __global uchar *ar = arg + ((ulong)b * C * (uint)OH + i) * (uint)OW;
    const int ty = (int)oy * S - P, y0 = max(ty, 0), y1 = min(ty + K, H);
    int lo, hi;
    pool_interior(W, OW, K, S, P, &lo, &hi);
    if (!vec || hi - lo < POOL_VEC) hi = lo;
    /* each window is visited row by row, left to right, and only a strictly
     * greater value (or a NaN) replaces the maximum: the first maximum in scan
     * order is kept; if all are -inf, the first valid pixel */
    for (int o = lo; o < hi; o += POOL_VEC) {
        const int oc = min(o, hi - POOL_VEC);
        float8 m = (float8)(-INFINITY);
        int8 best = (int8)((y0 - ty) * K);
        for (int yy = y0; yy < y1; yy++)
            for (int kx = 0; kx < K; kx++) {
                const float8 v = pool_load8(xp + yy * W, oc * S - P + kx, W, S);
                const int8 better = isgreater(v, m) | isnan(v);
                m = select(m, v, better);
                best = select(best, (int8)((yy - ty) * K + kx), better);
            }
        vstore8(convert_uchar8(best), 0, ar + oc);
    }
    for (int ox = lo == 0 && hi > lo ? hi : 0; ox < OW; ox = ox + 1 == lo ? hi : ox + 1) {
        const int tx = ox * S - P, x0 = max(tx, 0), x1 = min(tx + K, W);
        float m = -INFINITY;
        int best = (y0 - ty) * K + x0 - tx;
        for (int yy = y0; yy < y1; yy++)
            for (int ix = x0; ix < x1; ix++) {
                const float v = xp[yy * W + ix];
                const int better = POOL_BETTER(v, m);
                m = better ? v : m;
                best = better ? (yy - ty) * K + ix - tx : best;
            }
        ar[ox] = (uchar)best;
    }
}

/* Scalar gather for input pixel (iy, ix): the windows (oy, ox) that hold it. */
inline float pool_gather1(__global const float *dyp, __global const uchar *ap, const int iy, const int ix, POOL_GEOM,
                          const int K, const int S, const int P, const int is_max) {
    const int ly = iy + P - K + 1, lx = ix + P - K + 1;
    const int oy0 = ly <= 0 ? 0 : (ly + S - 1) / S, oy1 = min((iy + P) / S, OH - 1);
    const int ox0 = lx <= 0 ? 0 : (lx + S - 1) / S, ox1 = min((ix + P) / S, OW - 1);
    float g = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++) {
        const int ty = oy * S - P, rows = min(ty + K, H) - max(ty, 0);
        for (int ox = ox0; ox <= ox1; ox++) {
            const int tx = ox * S - P, o = oy * OW + ox;
            if (is_max) g += ap[o] == (iy - ty) * K + ix - tx ? dyp[o] : 0.0f;
            else g += dyp[o] / (float)(rows * (min(tx + K, W) - max(tx, 0)));
        }
    }
    return g;
}

/* The window (dy and arg value) at o of an output row, weighted for the gather:
 * dy if the window's arg-max is position want (max), dy / valid pixels (average;
 * tx = the windows' first columns). */
inline float8 pool_weight8(__global const float *dr, __global const uchar *ar, const int o, const int want,
                           const int8 tx, const float rows, const int W, const int K, const int is_max) {
    const float8 d = vload8(0, dr + o);
    if (is_max) return select((float8)(0.0f), d, convert_int8(vload8(0, ar + o)) == (int8)want);
    return d / (rows * convert_float8(min(tx + K, (int8)W) - max(tx, (int8)0)));
}

/* Input row iy. Vector chunks cover the inputs whose windows all exist:
 * S = 1: input ix lies in windows ix + P - kx (kx < K): 8 consecutive inputs
 *        read 8 consecutive windows per kx.
 * S = 2: inputs 2t - P + r (r = 0, 1; t in a chunk of 8) lie in windows t - j
 *        with kx = r + 2j < K: 16 consecutive inputs from 8 windows per j.
 * A chunk shifted left to end at the range's end leaves its first lanes (done
 * by the previous chunk) as they are, so dx_accumulate adds once. */
inline void pool_backward_rows_body(__global const float *dy, const ulong dy_off, const ulong dy_ns,
                                    __global const uchar *arg, __global float *dx, const ulong dx_off,
                                    const ulong dx_ns, const uint C, const uint n, const int acc, POOL_GEOM,
                                    const int K, const int S, const int P, const int is_max, const int vec) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= C * (uint)H || b >= n) return;
    const uint c = i / (uint)H;
    const int iy = (int)(i - c * (uint)H);
    const uint ohw = (uint)(OH * OW);
    __global const float *dyp = dy + dy_off + b * dy_ns + (ulong)c * ohw;
    __global const uchar *ap = is_max ? arg + ((ulong)b * C + c) * ohw : arg;
    __global float *dxr = dx + dx_off + b * dx_ns + (ulong)i * (uint)W;
    const int ly = iy + P - K + 1, oy0 = ly <= 0 ? 0 : (ly + S - 1) / S, oy1 = min((iy + P) / S, OH - 1);
    const int8 lane = (int8)(0, 1, 2, 3, 4, 5, 6, 7);
    /* chunk starts t in [tlo, thi - 8]; inputs [lo, hi) */
    int tlo, thi;
    if (S == 1) {
        tlo = max(K - 1 - P, 0);
        thi = min(W, OW - P);
    } else {
        tlo = max((K - 1) / 2, (P + 1) / 2);
        thi = min(OW, (W + P) / 2);
    }
    if (!vec || S > 2 || thi - tlo < POOL_VEC) thi = tlo;
    for (int t = tlo; t < thi; t += POOL_VEC) {
        const int tc = min(t, thi - POOL_VEC);
        if (S == 1) {
            float8 g = (float8)(0.0f);
            for (int oy = oy0; oy <= oy1; oy++) {
                const int ky = iy + P - oy * S, ty = oy * S - P;
                const float rows = (float)(min(ty + K, H) - max(ty, 0));
                for (int kx = 0; kx < K; kx++) {
                    const int o = tc + P - kx;  /* the window of lane 0 */
                    g += pool_weight8(dyp + oy * OW, ap + oy * OW, o, ky * K + kx, lane + (o - P), rows, W, K, is_max);
                }
            }
            const float8 cur = vload8(0, dxr + tc);
            vstore8(select(acc ? cur + g : g, cur, lane < (int8)(t - tc)), 0, dxr + tc);
        } else {
            float8 g0 = (float8)(0.0f), g1 = (float8)(0.0f);
            for (int oy = oy0; oy <= oy1; oy++) {
                const int ky = iy + P - oy * S, ty = oy * S - P;
                const float rows = (float)(min(ty + K, H) - max(ty, 0));
                for (int j = 0; 2 * j < K; j++) {
                    const int o = tc - j;
                    const int8 tx = 2 * lane + (2 * o - P);
                    g0 += pool_weight8(dyp + oy * OW, ap + oy * OW, o, ky * K + 2 * j, tx, rows, W, K, is_max);
                    if (2 * j + 1 < K)
                        g1 += pool_weight8(dyp + oy * OW, ap + oy * OW, o, ky * K + 2 * j + 1, tx, rows, W, K,
                                           is_max);
                }
            }
            /* interleave: inputs 2t - P + r of lanes t, as two runs of 8 */
            const float8 lo8 = shuffle2(g0, g1, (uint8)(0, 8, 1, 9, 2, 10, 3, 11)),
                         hi8 = shuffle2(g0, g1, (uint8)(4, 12, 5, 13, 6, 14, 7, 15));
            __global float *d = dxr + 2 * tc - P;
            const float8 cur0 = vload8(0, d), cur1 = vload8(0, d + 8);
            const int done = 2 * (t - tc);
            vstore8(select(acc ? cur0 + lo8 : lo8, cur0, lane < (int8)done), 0, d);
            vstore8(select(acc ? cur1 + hi8 : hi8, cur1, lane + 8 < (int8)done), 0, d + 8);
        }
    }
    const int lo = S == 1 ? tlo : 2 * tlo - P, hi = S == 1 ? thi : 2 * thi - P;
    for (int ix = lo == 0 && hi > lo ? hi : 0; ix < W; ix = ix + 1 == lo ? hi : ix + 1) {
        const float g = pool_gather1(dyp, ap, iy, ix, H, W, OH, OW, K, S, P, is_max);
        dxr[ix] = acc ? dxr[ix] + g : g;
    }
}

#define POOL_RFWD_ARGS RD_TC(x), RD_T(y), const uint C, const uint n, POOL_GEOM
#define POOL_RFWD_PASS x, x_off, x_ns, y, y_off, y_ns, C, n, H, W, OH, OW
#define POOL_RARG_ARGS RD_TC(x), __global uchar *arg, const uint C, const uint n, POOL_GEOM
#define POOL_RARG_PASS x, x_off, x_ns, arg, C, n, H, W, OH, OW
#define POOL_RBWD_ARGS RD_TC(dy), __global const uchar *arg, RD_T(dx), const uint C, const uint n, const int acc, \
                       POOL_GEOM
#define POOL_RBWD_PASS dy, dy_off, dy_ns, arg, dx, dx_off, dx_ns, C, n, acc, H, W, OH, OW

#define POOL_ROW_KERNELS(SUFFIX, KARGS, K, S, P, VEC)                                                           \
    __kernel void pool_max_forward_rows##SUFFIX(POOL_RFWD_ARGS KARGS) {                                    \
        pool_forward_rows_body(POOL_RFWD_PASS, K, S, P, 1, VEC);                                           \
    }                                                                                                      \
    __kernel void pool_avg_forward_rows##SUFFIX(POOL_RFWD_ARGS KARGS) {                                    \
        pool_forward_rows_body(POOL_RFWD_PASS, K, S, P, 0, VEC);                                           \
    }                                                                                                      \
    __kernel void pool_max_argmax_rows##SUFFIX(POOL_RARG_ARGS KARGS) {                                     \
        pool_argmax_rows_body(POOL_RARG_PASS, K, S, P, VEC);                                               \
    }                                                                                                      \
    __kernel void pool_max_backward_rows##SUFFIX(POOL_RBWD_ARGS KARGS) {                                   \
        pool_backward_rows_body(POOL_RBWD_PASS, K, S, P, 1, VEC);                                          \
    }                                                                                                      \
    __kernel void pool_avg_backward_rows##SUFFIX(POOL_RBWD_ARGS KARGS) {                                   \
        pool_backward_rows_body(POOL_RBWD_PASS, K, S, P, 0, VEC);                                          \
    }

/* vectors only where K, S, P are the constants that pool_load8's bounds argument assumes */
POOL_ROW_KERNELS(, POOL_RUNTIME_KSP, K, S, P, 0)
POOL_ROW_KERNELS(_k3s1, POOL_NO_ARGS, 3, 1, 1, 1)
POOL_ROW_KERNELS(_k3s2, POOL_NO_ARGS, 3, 2, 1, 1)
POOL_ROW_KERNELS(_k5s1, POOL_NO_ARGS, 5, 1, 2, 1)
POOL_ROW_KERNELS(_k5s2, POOL_NO_ARGS, 5, 2, 2, 1)

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
