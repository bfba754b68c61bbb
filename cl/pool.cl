/* Pooling kernels (host side: src/ops/pool.c).
 *
 * Square windows of K, stride S, padding P. Padding is never counted (average
 * = sum / valid pixels, as PyTorch's count_include_pad=False) and never read.
 *
 * Max backward keeps no index tensor between forward and backward: it
 * recomputes each window's arg-max (first maximum in scan order) from x into a
 * byte per output (scratch), then every input pixel gathers dy from the
 * windows whose arg-max it is (OpenCL 1.2 has no float atomics: no scatter).
 *
 * Three layouts of the same passes (the host picks one per device):
 *  - items (GPUs): one work-item per output, or per input pixel for the
 *    gathers, on a 2-D range (elements of one image, images): coalesced and
 *    without divergence. Reads are clamped into the image, which for max (and
 *    its arg-max) only repeats pixels of the same window in scan order, and
 *    for average is masked. The position in the image is split with a float
 *    reciprocal and one correction step rather than an integer division. The
 *    window loops are unrolled in the kernels specialised for the DARTS
 *    windows (K = 3, 5; S = 1, 2; P = K/2); the generic ones take K, S, P.
 *  - tiles (CPUs, DARTS windows): one work-item per plane, float8; see below.
 *  - rows (CPUs, other windows): one work-item per row, scalar. */

#define POOL_GEOM const int H, const int W, const int OH, const int OW
/* reciprocals of the divisors used to split an index (see pool_divmod) */
#define POOL_SPLIT const float rcp_plane, const float rcp_row

/* q = i / d and *r = i % d for i < 2^24: a float estimate, then one correction step. */
RD_INLINE uint pool_divmod(const uint i, const uint d, const float rcp, uint *r) {
    uint q = (uint)(((float)i + 0.5f) * rcp);
    int rr = (int)(i - q * d);
    q = rr < 0 ? q - 1 : rr >= (int)d ? q + 1 : q;
    *r = i - q * d;
    return q;
}

/* First maximum in scan order; a NaN wins and propagates (PyTorch). */
#define POOL_BETTER(v, m) ((v) > (m) || isnan(v))

/* ---- items: bodies, inlined into kernels with K, S, P constant or not ---- */

RD_INLINE void pool_forward_body(__global const float *x, const ulong x_off, const ulong x_ns, __global float *y,
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
RD_INLINE void pool_argmax_body(__global const float *x, const ulong x_off, const ulong x_ns, __global uchar *arg,
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
RD_INLINE void pool_backward_body(__global const float *dy, const ulong dy_off, const ulong dy_ns,
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
    rd_store(&dx[d], g, acc);
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

/* ---- CPU kernels ----
 * Tile kernels (the DARTS windows): one work-item per (channel, image) plane
 * copies the plane into a __local tile padded with a neutral value (-inf for
 * max, 0 for average, which then divides by the valid count), so that every
 * output runs the same float8 code (explicit vectors: what a CPU's SIMD unit
 * runs; compilers do not vectorize these loops reliably) with no border case.
 * 8 outputs of a row at a time; the last chunk of a row is shifted left to end
 * at the row's end (each output is computed on its own, so overlap only
 * recomputes), or, for rows narrower than 8, partial. Stride 2 reads the even
 * lanes of 16 floats. Max backward computes the arg-max into a __local tile
 * in the same work-item as the gather, so no arg-max bytes go through global
 * memory. Row kernels (any K, S, P): one work-item per row, scalar. */
#define POOL_SLACK 32  /* floats after a tile: reads of the last row's chunks run past it */

/* Tile of plane xp padded by P on every side (pitch WP = W + 2P), pad outside.
 * Returns whether the plane holds a NaN (only max pooling asks: want_nan). */
RD_INLINE int pool_fill_tile(__global const float *xp, __local float *tile, const int H, const int W, const int P,
                          const float pad, const int want_nan) {
    const int WP = W + 2 * P, HP = H + 2 * P;
    int8 nan8 = (int8)(0);
    int nan = 0;
    for (int r = 0; r < HP; r++) {
        __local float *tr = tile + r * WP;
        const int iy = r - P;
        if (iy < 0 || iy >= H) {
            for (int j = 0; j < WP; j++) tr[j] = pad;
            continue;
        }
        __global const float *xr = xp + iy * W;
        for (int j = 0; j < P; j++) tr[j] = pad;
        int j = 0;
        for (; j + 8 <= W; j += 8) {
            const float8 v = vload8(0, xr + j);
            if (want_nan) nan8 |= isnan(v);
            vstore8(v, 0, tr + P + j);
        }
        for (; j < W; j++) {
            tr[P + j] = xr[j];
            if (want_nan) nan |= isnan(xr[j]);
        }
        for (j = P + W; j < WP; j++) tr[j] = pad;
    }
    for (int j = 0; j < POOL_SLACK; j++) tile[HP * WP + j] = pad;
    return nan || any(nan8);
}

/* t[base + S * l], l < 8 (reads up to t[base + 15] for S = 2). */
RD_INLINE float8 pool_tload8(__local const float *t, const int base, const int S) {
    if (S == 1) return vload8(0, t + base);
    return shuffle2(vload8(0, t + base), vload8(0, t + base + 8), (uint8)(0, 2, 4, 6, 8, 10, 12, 14));
}

/* The first output of the chunk that covers outputs [o, o + 8) of a row of OW. */
RD_INLINE int pool_chunk(const int o, const int OW) { return OW >= 8 ? min(o, OW - 8) : 0; }

RD_INLINE void pool_store8(__global float *p, const float8 v, const int count) {
    if (count >= 8) {
        vstore8(v, 0, p);
        return;
    }
    float t[8];
    vstore8(v, 0, t);
    for (int l = 0; l < count; l++) p[l] = t[l];
}

/* Lane l of v beats m[l] by the scan rule: strictly greater, or a NaN. Planes
 * without a NaN (nan == 0: every plane of a healthy network) skip the NaN test,
 * which is the same rule there. */
RD_INLINE int8 pool_wins(const float8 v, const float8 m, const int nan) {
    return nan ? isgreater(v, m) | isnan(v) : isgreater(v, m);
}

#define POOL_MAX_WINDOW 5  /* the largest K of the tile kernels */

/* Every window of a padded tile (tile kernels' K, S, P), reduced separably: for
 * each 8-column chunk the rows of the tile are reduced over the window's
 * columns one after another, the last K row results kept in registers, and
 * each output row reduces them: about 2K operations per output instead of K^2,
 * and no intermediate in memory. The arg-max keeps, per row result, the first
 * column of its maximum and, per window, the first row of the maximum: the first
 * maximum in scan order (with a NaN: the last NaN, as a plain scan).
 * Writes y (forward; average divides by the valid count) or, for the arg-max
 * (want_k), the window position ky * K + kx of each output to at[(oy + K) *
 * TW + K + ox]. Padding (-inf) never wins: with only -inf in a window its first
 * valid pixel is kept. */
RD_INLINE void pool_windows(__local const float *tile, __global float *yp, __local uchar *at, const int TW, const int H,
                         const int W, const int OH, const int OW, const int K, const int S, const int P,
                         const int is_max, const int want_k, const int nan) {
    const int WP = W + 2 * P, HP = H + 2 * P;
    const int8 lane = (int8)(0, 1, 2, 3, 4, 5, 6, 7);
    for (int o = 0; o < OW; o += 8) {
        const int oc = pool_chunk(o, OW);
        const int8 tx = (lane + oc) * S - P;
        const int8 first_col = max(tx, (int8)0) - tx;
        const float8 cols = convert_float8(min(tx + K, (int8)W) - max(tx, (int8)0));
        float8 h[POOL_MAX_WINDOW];
        int8 hk[POOL_MAX_WINDOW];
        for (int r = 0; r < HP; r++) {
            float8 a = is_max ? (float8)(-INFINITY) : (float8)(0.0f);
            int8 k = (int8)(0);
            #pragma unroll
            for (int kx = 0; kx < K; kx++) {
                const float8 v = pool_tload8(tile + r * WP, oc * S + kx, S);
                if (is_max) {
                    const int8 better = pool_wins(v, a, nan);
                    a = select(a, v, better);
                    if (want_k) k = select(k, (int8)kx, better);
                } else {
                    a += v;
                }
            }
            #pragma unroll
            for (int j = 0; j + 1 < K; j++) {
                h[j] = h[j + 1];
                if (want_k) hk[j] = hk[j + 1];
            }
            h[K - 1] = a;
            hk[K - 1] = k;
            const int t = r - (K - 1);  /* the window's first padded row */
            if (t < 0 || t % S) continue;
            const int oy = t / S, ty = t - P;
            float8 m = h[0];
            if (want_k) {
                int8 best = (int8)((max(ty, 0) - ty) * K) + first_col;
                m = (float8)(-INFINITY);
                #pragma unroll
                for (int ky = 0; ky < K; ky++) {
                    const int8 better = pool_wins(h[ky], m, nan);
                    m = select(m, h[ky], better);
                    best = select(best, (int8)(ky * K) + hk[ky], better);
                }
                const uchar8 b8 = convert_uchar8(best);
                __local uchar *dst = at + (oy + K) * TW + K + oc;
                if (OW - oc >= 8) {
                    vstore8(b8, 0, dst);
                } else {
                    uchar tb[8];
                    vstore8(b8, 0, tb);
                    for (int l = 0; l < OW - oc; l++) dst[l] = tb[l];
                }
                continue;
            }
            #pragma unroll
            for (int ky = 1; ky < K; ky++) m = is_max ? select(m, h[ky], pool_wins(h[ky], m, nan)) : m + h[ky];
            if (!is_max) m /= (float)(min(ty + K, H) - max(ty, 0)) * cols;
            pool_store8(yp + oy * OW + oc, m, OW - oc);
        }
    }
}

RD_INLINE void pool_forward_tile_body(__global const float *x, const ulong x_off, const ulong x_ns, __global float *y,
                                   const ulong y_off, const ulong y_ns, __local float *tile, const uint C,
                                   const uint n, POOL_GEOM, const int K, const int S, const int P, const int is_max) {
    const uint c = get_global_id(0), b = get_global_id(1);
    if (c >= C || b >= n) return;
    const int nan = pool_fill_tile(x + x_off + b * x_ns + (ulong)c * (uint)(H * W), tile, H, W, P,
                                   is_max ? -INFINITY : 0.0f, is_max);
    __global float *yp = y + y_off + b * y_ns + (ulong)c * (uint)(OH * OW);
    if (nan) pool_windows(tile, yp, NULL, 0, H, W, OH, OW, K, S, P, is_max, 0, 1);
    else pool_windows(tile, yp, NULL, 0, H, W, OH, OW, K, S, P, is_max, 0, 0);
}

/* The gathers read dy and arg from tiles padded by K windows on every side
 * (dy 0, arg 255: never a window position), dy already divided by the valid
 * count for average, so every window a pixel could lie in is readable:
 *   S = 1: pixel ix of row iy lies in windows (iy + P - ky, ix + P - kx);
 *   S = 2: pixels 2t - P + r (r = 0, 1) of row iy lie in windows
 *          ((iy + P - ky) / 2, t - j) for ky of the parity of iy + P and kx = r + 2j,
 * so 8 consecutive pixels (S = 1) or 16 (S = 2, two interleaved runs of 8)
 * read 8 consecutive windows. A row is assembled in a __local row buffer and
 * then added to (or stored in) dx. Max pooling first computes the arg-max
 * tile from x (xt: x's padded tile). */
RD_INLINE void pool_backward_tile_body(__global const float *x, const ulong x_off, const ulong x_ns,
                                    __global const float *dy, const ulong dy_off, const ulong dy_ns,
                                    __global float *dx, const ulong dx_off, const ulong dx_ns, __local float *xt,
                                    __local float *dyt, __local uchar *at, __local float *rowbuf, const uint C,
                                    const uint n, const int acc, POOL_GEOM, const int K, const int S, const int P,
                                    const int is_max) {
    const uint c = get_global_id(0), b = get_global_id(1);
    if (c >= C || b >= n) return;
    const int TW = OW + 2 * K, TH = OH + 2 * K;
    __global const float *dyp = dy + dy_off + b * dy_ns + (ulong)c * (uint)(OH * OW);
    const int8 lane = (int8)(0, 1, 2, 3, 4, 5, 6, 7);
    if (is_max) {
        /* 255 around the arg-max rows (and after the tile), then the arg-max of every window */
        for (int r = 0; r < TH; r++) {
            __local uchar *ar = at + r * TW;
            if (r < K || r >= K + OH) {
                for (int j = 0; j < TW; j++) ar[j] = 255;
            } else {
                for (int j = 0; j < K; j++) ar[j] = ar[K + OW + j] = 255;
            }
        }
        for (int j = 0; j < POOL_SLACK; j++) at[TH * TW + j] = 255;
        const int nan = pool_fill_tile(x + x_off + b * x_ns + (ulong)c * (uint)(H * W), xt, H, W, P, -INFINITY, 1);
        if (nan) pool_windows(xt, NULL, at, TW, H, W, OH, OW, K, S, P, 1, 1, 1);
        else pool_windows(xt, NULL, at, TW, H, W, OH, OW, K, S, P, 1, 1, 0);
    }
    for (int r = 0; r < TH; r++) {
        const int oy = r - K;
        __local float *dr = dyt + r * TW;
        if (oy < 0 || oy >= OH) {
            for (int j = 0; j < TW; j++) dr[j] = 0.0f;
            continue;
        }
        for (int j = 0; j < K; j++) dr[j] = dr[K + OW + j] = 0.0f;
        const int ty = oy * S - P;
        const float rows = (float)(min(ty + K, H) - max(ty, 0));
        int j = 0;
        for (; j + 8 <= OW; j += 8) {
            float8 d = vload8(0, dyp + oy * OW + j);
            if (!is_max) {
                const int8 tx = (lane + j) * S - P;
                d /= rows * convert_float8(min(tx + K, (int8)W) - max(tx, (int8)0));
            }
            vstore8(d, 0, dr + K + j);
        }
        for (; j < OW; j++) {
            const int tx = j * S - P;
            dr[K + j] = is_max ? dyp[oy * OW + j] : dyp[oy * OW + j] / (rows * (float)(min(tx + K, W) - max(tx, 0)));
        }
    }
    for (int j = 0; j < POOL_SLACK; j++) dyt[TH * TW + j] = 0.0f;
    __global float *dp = dx + dx_off + b * dx_ns + (ulong)c * (uint)(H * W);
    const int off = S == 1 ? 0 : P;  /* rowbuf[ix + off] holds pixel ix */
    for (int iy = 0; iy < H; iy++) {
        if (S == 1) {
            for (int x0 = 0; x0 < W; x0 += 8) {
                float8 g = (float8)(0.0f);
                #pragma unroll
                for (int ky = 0; ky < K; ky++) {
                    const int t = (iy + P - ky + K) * TW + x0 + P + K;  /* window (iy + P - ky, x0 + P) */
                    #pragma unroll
                    for (int kx = 0; kx < K; kx++) {
                        const float8 d = vload8(0, dyt + t - kx);
                        g += is_max ? select((float8)(0.0f), d, convert_int8(vload8(0, at + t - kx)) == (int8)(ky * K + kx))
                                    : d;
                    }
                }
                vstore8(g, 0, rowbuf + x0);
            }
        } else {
            for (int t0 = 0; 2 * t0 - P < W; t0 += 8) {
                float8 g0 = (float8)(0.0f), g1 = (float8)(0.0f);
                for (int ky = (iy + P) & 1; ky < K; ky += 2) {  /* run-time start: not unrolled */
                    const int row = ((iy + P - ky) / 2 + K) * TW + t0 + K;  /* window ((iy + P - ky) / 2, t0) */
                    #pragma unroll
                    for (int j = 0; 2 * j < K; j++) {
                        const float8 d = vload8(0, dyt + row - j);
                        if (is_max) {
                            const int8 a = convert_int8(vload8(0, at + row - j));
                            g0 += select((float8)(0.0f), d, a == (int8)(ky * K + 2 * j));
                            if (2 * j + 1 < K) g1 += select((float8)(0.0f), d, a == (int8)(ky * K + 2 * j + 1));
                        } else {
                            g0 += d;
                            if (2 * j + 1 < K) g1 += d;
                        }
                    }
                }
                /* pixels 2t - P + r: rowbuf index 2t + r */
                vstore8(shuffle2(g0, g1, (uint8)(0, 8, 1, 9, 2, 10, 3, 11)), 0, rowbuf + 2 * t0);
                vstore8(shuffle2(g0, g1, (uint8)(4, 12, 5, 13, 6, 14, 7, 15)), 0, rowbuf + 2 * t0 + 8);
            }
        }
        __global float *r = dp + iy * W;
        __local const float *q = rowbuf + off;
        int j = 0;
        for (; j + 8 <= W; j += 8) {
            const float8 g = vload8(0, q + j);
            rd_store8(r + j, g, acc);
        }
        for (; j < W; j++) rd_store(&r[j], q[j], acc);
    }
}

/* Row kernels: scalar, any K, S, P. */
inline void pool_forward_rows_body(__global const float *x, const ulong x_off, const ulong x_ns, __global float *y,
                                   const ulong y_off, const ulong y_ns, const uint C, const uint n, POOL_GEOM,
                                   const int K, const int S, const int P, const int is_max) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= C * (uint)OH || b >= n) return;
    const uint c = i / (uint)OH, oy = i - c * (uint)OH;
    __global const float *xp = x + x_off + b * x_ns + (ulong)c * (uint)(H * W);
    __global float *yr = y + y_off + b * y_ns + (ulong)i * (uint)OW;
    const int ty = (int)oy * S - P, y0 = max(ty, 0), y1 = min(ty + K, H);
    for (int ox = 0; ox < OW; ox++) {
        const int tx = ox * S - P, x0 = max(tx, 0), x1 = min(tx + K, W);
        float a = is_max ? -INFINITY : 0.0f;
        for (int yy = y0; yy < y1; yy++)
            for (int ix = x0; ix < x1; ix++) {
                const float v = xp[yy * W + ix];
                a = is_max ? (POOL_BETTER(v, a) ? v : a) : a + v;
            }
        yr[ox] = is_max ? a : a / (float)((y1 - y0) * (x1 - x0));
    }
}

inline void pool_argmax_rows_body(__global const float *x, const ulong x_off, const ulong x_ns, __global uchar *arg,
                                  const uint C, const uint n, POOL_GEOM, const int K, const int S, const int P) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= C * (uint)OH || b >= n) return;
    const uint c = i / (uint)OH, oy = i - c * (uint)OH;
    __global const float *xp = x + x_off + b * x_ns + (ulong)c * (uint)(H * W);
    __global uchar *ar = arg + ((ulong)b * C * (uint)OH + i) * (uint)OW;
    const int ty = (int)oy * S - P, y0 = max(ty, 0), y1 = min(ty + K, H);
    for (int ox = 0; ox < OW; ox++) {
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

inline void pool_backward_rows_body(__global const float *dy, const ulong dy_off, const ulong dy_ns,
                                    __global const uchar *arg, __global float *dx, const ulong dx_off,
                                    const ulong dx_ns, const uint C, const uint n, const int acc, POOL_GEOM,
                                    const int K, const int S, const int P, const int is_max) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= C * (uint)H || b >= n) return;
    const uint c = i / (uint)H;
    const int iy = (int)(i - c * (uint)H);
    const uint ohw = (uint)(OH * OW);
    __global const float *dyp = dy + dy_off + b * dy_ns + (ulong)c * ohw;
    __global const uchar *ap = is_max ? arg + ((ulong)b * C + c) * ohw : arg;
    __global float *dxr = dx + dx_off + b * dx_ns + (ulong)i * (uint)W;
    const int ly = iy + P - K + 1, oy0 = ly <= 0 ? 0 : (ly + S - 1) / S, oy1 = min((iy + P) / S, OH - 1);
    for (int ix = 0; ix < W; ix++) {
        const int lx = ix + P - K + 1, ox0 = lx <= 0 ? 0 : (lx + S - 1) / S, ox1 = min((ix + P) / S, OW - 1);
        float g = 0.0f;
        for (int oy = oy0; oy <= oy1; oy++) {
            const int ty = oy * S - P, rows = min(ty + K, H) - max(ty, 0);
            for (int ox = ox0; ox <= ox1; ox++) {
                const int tx = ox * S - P, o = oy * OW + ox;
                if (is_max) g += ap[o] == (iy - ty) * K + ix - tx ? dyp[o] : 0.0f;
                else g += dyp[o] / (float)(rows * (min(tx + K, W) - max(tx, 0)));
            }
        }
        rd_store(&dxr[ix], g, acc);
    }
}

#define POOL_RFWD_ARGS RD_TC(x), RD_T(y), const uint C, const uint n, POOL_GEOM, const int K, const int S, const int P
#define POOL_RFWD_PASS x, x_off, x_ns, y, y_off, y_ns, C, n, H, W, OH, OW, K, S, P
#define POOL_RARG_ARGS RD_TC(x), __global uchar *arg, const uint C, const uint n, POOL_GEOM, const int K, \
                       const int S, const int P
#define POOL_RARG_PASS x, x_off, x_ns, arg, C, n, H, W, OH, OW, K, S, P
#define POOL_RBWD_ARGS RD_TC(dy), __global const uchar *arg, RD_T(dx), const uint C, const uint n, const int acc, \
                       POOL_GEOM, const int K, const int S, const int P
#define POOL_RBWD_PASS dy, dy_off, dy_ns, arg, dx, dx_off, dx_ns, C, n, acc, H, W, OH, OW, K, S, P

__kernel void pool_max_forward_rows(POOL_RFWD_ARGS) { pool_forward_rows_body(POOL_RFWD_PASS, 1); }
__kernel void pool_avg_forward_rows(POOL_RFWD_ARGS) { pool_forward_rows_body(POOL_RFWD_PASS, 0); }
__kernel void pool_max_argmax_rows(POOL_RARG_ARGS) { pool_argmax_rows_body(POOL_RARG_PASS); }
__kernel void pool_max_backward_rows(POOL_RBWD_ARGS) { pool_backward_rows_body(POOL_RBWD_PASS, 1); }
__kernel void pool_avg_backward_rows(POOL_RBWD_ARGS) { pool_backward_rows_body(POOL_RBWD_PASS, 0); }

#define POOL_TFWD_ARGS RD_TC(x), RD_T(y), __local float *tile, const uint C, const uint n, POOL_GEOM
#define POOL_TFWD_PASS x, x_off, x_ns, y, y_off, y_ns, tile, C, n, H, W, OH, OW
#define POOL_TBWD_ARGS RD_TC(x), RD_TC(dy), RD_T(dx), __local float *xt, __local float *dyt, __local uchar *at, \
                       __local float *rowbuf, const uint C, const uint n, const int acc, POOL_GEOM
#define POOL_TBWD_PASS x, x_off, x_ns, dy, dy_off, dy_ns, dx, dx_off, dx_ns, xt, dyt, at, rowbuf, C, n, acc, H, W, OH, OW

#define POOL_TILE_KERNELS(SUFFIX, K, S, P)                                                                        \
    __kernel void pool_max_forward_tile##SUFFIX(POOL_TFWD_ARGS) { pool_forward_tile_body(POOL_TFWD_PASS, K, S, P, 1); } \
    __kernel void pool_avg_forward_tile##SUFFIX(POOL_TFWD_ARGS) { pool_forward_tile_body(POOL_TFWD_PASS, K, S, P, 0); } \
    __kernel void pool_max_backward_tile##SUFFIX(POOL_TBWD_ARGS) {                                                \
        pool_backward_tile_body(POOL_TBWD_PASS, K, S, P, 1);                                                      \
    }                                                                                                             \
    __kernel void pool_avg_backward_tile##SUFFIX(POOL_TBWD_ARGS) {                                                \
        pool_backward_tile_body(POOL_TBWD_PASS, K, S, P, 0);                                                      \
    }

POOL_TILE_KERNELS(_k3s1, 3, 1, 1)
POOL_TILE_KERNELS(_k3s2, 3, 2, 1)
POOL_TILE_KERNELS(_k5s1, 5, 1, 2)
POOL_TILE_KERNELS(_k5s2, 5, 2, 2)

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
    rd_store(&dx[d], g, acc);
}
