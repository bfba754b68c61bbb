/* Convolution kernels (host side: src/ops/conv.c): dense and depthwise, forward,
 * input gradient (dx) and weight gradient (dw, two stages: partial sums per
 * chunk of images, then conv_dw_finish; with one chunk the first stage adds into
 * dw itself, its ADD flag, and no finish runs). NCHW views with batch strides.
 *
 * Why the code looks like this: POCL's CPU device runs the work-items of a
 * group one after the other and (version 3.1) does not vectorize across them,
 * so each work-item computes a register tile itself: 8 consecutive pixels of a
 * row as one float8 (one AVX register), times several output rows or channels
 * (independent FMA chains, since one chain is bound by the FMA latency), with
 * the kernel window unrolled at compile time for the shapes DARTS uses. On GPUs
 * the same code makes adjacent work-items read adjacent 32-byte runs.
 *
 * Geometry (all kernels): x is N x CI x H x W, y is N x CO x OH x OW;
 * input row of output row oh and tap kh: oh * SH - PT + kh * DH (same for
 * columns). Negative PT / PL read a shifted input (FactorizedReduce). RELU:
 * relu(x) is what the convolution sees. Loads never leave the tensor view's
 * span [off, off + (N-1)*ns + C*H*W): lanes outside a row are loaded from
 * neighbouring valid memory (or clamped) and masked to zero. */

/* The tile constants come as -D defines from the one table of them, src/ops/conv.c's
 * CONV_TILES: VL in every build, the others in the part that uses them (see each part). */
#if !defined(VL)
#error "cl/conv.cl is built with its tile constants as -D defines (src/ops/conv.c, CONV_TILES)"
#endif
#if VL != 8
#error "VL must be 8: the vectors below are float8"
#endif
typedef float8 vec;
typedef int8 ivec;
#define LANES ((ivec)(0, 1, 2, 3, 4, 5, 6, 7))
#define ZERO ((vec)(0.0f))

#define CONV_GEOM const int N, const int CI, const int H, const int W, const int CO, const int OH, const int OW, \
    const int KH_, const int KW_, const int SH_, const int SW_, const int PT, const int PL, const int DH, \
    const int DW, const int RELU
#define CONV_GEOM_PASS N, CI, H, W, CO, OH, OW, KH_, KW_, SH_, SW_, PT, PL, DH, DW, RELU

/* Floats touched from the first lane by an 8-lane load with stride S. */
RD_INLINE int span8(const int S) { return S == 2 ? 2 * VL : (VL - 1) * S + 1; }

/* p[i + j*S] for lanes j < 8. SAFE: the caller checked that the span lies in
 * [lo, hi): one vector load. Otherwise each lane is clamped into [lo, hi). */
RD_INLINE vec ld8(__global const float *p, long i, const int S, const int SAFE, long lo, long hi) {
    if (SAFE && S == 1) return vload8(0, p + i);
    if (SAFE && S == 2) return vload16(0, p + i).even;
    float t[VL];
    for (int j = 0; j < VL; j++) t[j] = p[clamp(i + (long)j * S, lo, hi - 1)];
    return vload8(0, t);
}

/* Lanes whose column col + j*S lies in [0, len). */
RD_INLINE ivec colmask(int col, const int S, int len) {
    const ivec c = (ivec)(col) + LANES * S;
    return (c >= (ivec)(0)) & (c < (ivec)(len));
}

/* All lanes when ok, none otherwise. */
RD_INLINE ivec allmask(int ok) { return (ivec)(ok ? -1 : 0); }

/* A row load for a tile variant: EDGE masks lanes whose column col + j*S is
 * outside [0, len) to zero (padding); interior tiles skip the mask. */
RD_INLINE vec ldrow(__global const float *p, long i, int col, const int S, int len, const int EDGE, const int SAFE,
                    long lo, long hi) {
    const vec v = ld8(p, i, S, SAFE, lo, hi);
    return EDGE ? select(ZERO, v, colmask(col, S, len)) : v;
}

/* The first n (< 8 allowed) lanes at p + i, zero beyond: never reads past them. */
RD_INLINE vec ld8_tail(__global const float *p, long i, int n) {
    if (n >= VL) return vload8(0, p + i);
    float t[VL];
    for (int j = 0; j < VL; j++) t[j] = j < n ? p[i + j] : 0.0f;
    return vload8(0, t);
}

RD_INLINE void st8(__global float *p, long i, vec v, int n) {
    if (n >= VL) {
        vstore8(v, 0, p + i);
        return;
    }
    float t[VL];
    vstore8(v, 0, t);
    for (int j = 0; j < n && j < VL; j++) p[i + j] = t[j];
}

RD_INLINE float hsum8(vec v) {
    const float4 a = v.lo + v.hi;
    const float2 b = a.lo + a.hi;
    return b.x + b.y;
}

/* dx epilogue for n lanes at x[xi], dx[di]: mask by x > 0 under relu, add
 * the old dx when accumulating, store n lanes. x reads are whole vectors when
 * they stay inside its view (x_hi: the end of its span); dx reads only the n
 * lanes it stores: the others belong to other work-items, which may be writing
 * them (a race, reported by Oclgrind, even though the lanes were discarded). */
RD_INLINE void dx_store(__global const float *x, long xi, long x_hi, __global float *dx, long di, vec g, int n,
                        const int RELU, const int ACC) {
    if (RELU) g = select(ZERO, g, (xi + VL <= x_hi ? vload8(0, x + xi) : ld8_tail(x, xi, n)) > ZERO);
    if (ACC) g += ld8_tail(dx, di, n);
    st8(dx, di, g, n);
}

/* Stride-2 columns: even/odd phase vectors to 16 consecutive columns. */
RD_INLINE vec interleave_lo(vec a, vec b) { return shuffle2(a, b, (uint8)(0, 8, 1, 9, 2, 10, 3, 11)); }
RD_INLINE vec interleave_hi(vec a, vec b) { return shuffle2(a, b, (uint8)(4, 12, 5, 13, 6, 14, 7, 15)); }

/* Tile variants: interior tiles (every lane of every tap inside its row) load
 * without masks; edge tiles mask, and clamp their loads (SAFE == 0) only
 * where a vector would leave the tensor's span (first / last plane). */
#define TILE_DISPATCH(interior, safe, CALL) \
    do {                                    \
        if (interior) CALL(0, 1);           \
        else if (safe) CALL(1, 1);          \
        else CALL(1, 0);                    \
    } while (0)

/* Interior 8-column output segments of a row for the dw kernels: [*i0, *i1)
 * (multiples of VL) where the segment is full and every tap column
 * ow*S - PL + [0, ext] of it lies in [0, W). Empty: *i0 == *i1 == 0. */
RD_INLINE void segment_range(const int OW, const int W, const int PL, const int S, const int ext, int *i0, int *i1) {
    int a = -1, b = -1;
    for (int ow0 = 0; ow0 + VL <= OW; ow0 += VL) {
        const int col0 = ow0 * S - PL;
        if (col0 >= 0 && col0 + (VL - 1) * S + ext < W) {
            if (a < 0) a = ow0;
            b = ow0 + VL;
        }
    }
    *i0 = a < 0 ? 0 : a;
    *i1 = a < 0 ? 0 : b;
}

/* Output rows whose input row oh*S - PT + kh*D lies in [0, H): [*lo, *hi). */
RD_INLINE void valid_rows(const int H, const int OH, const int PT, const int S, const int off, int *lo, int *hi) {
    const int a = PT - off;                     /* oh*S >= a */
    const int b = H - 1 + PT - off;             /* oh*S <= b */
    int l = a <= 0 ? 0 : (a + S - 1) / S;
    int h = b < 0 ? 0 : b / S + 1;
    *lo = l;
    *hi = h < OH ? h : OH;
}

/* ================= depthwise (groups == C == CO): built with -DDWC_K ================= */
#if defined(DWC_K)
#if !defined(DWC_RB)
#error "the depthwise part of cl/conv.cl needs -DDWC_RB (src/ops/conv.c, CONV_TILES)"
#endif

/* Tiles whose whole-vector loads could leave the tensor's span (those that touch
 * the first or last plane of a view: two of N x C planes) take these compact
 * per-element loops instead of a third, lane-clamping copy of the unrolled tile
 * code: that copy was the larger half of the compile time of a cold start
 * (POCL compiles each kernel on first launch). out: DWC_RB rows x VL lanes. */
RD_INLINE void dwc_fwd_tile_any(__global const float *x, long plane, __global const float *wc, float *out,
                                const int H, const int W, const int PT, const float fl, const int oh0,
                                const int iw0, const int K, const int S, const int D) {
    #pragma unroll 1
    for (int e = 0; e < DWC_RB * VL; e++) {
        const int i = e / VL, j = e - i * VL;
        float s = 0.0f;
        #pragma unroll 1
        for (int kh = 0; kh < K; kh++) {
            const int ih = (oh0 + i) * S - PT + kh * D;
            if (ih < 0 || ih >= H) continue;
            #pragma unroll 1
            for (int kw = 0; kw < K; kw++) {
                const int iw = iw0 + j * S + kw * D;
                if (iw >= 0 && iw < W) s = fma(max(x[plane + (long)ih * W + iw], fl), wc[kh * K + kw], s);
            }
        }
        out[e] = s;
    }
}

/* dx at (ih, iw0 + m*S + p) for the DWC_RB x VL tile of phase p (stride 2:
 * p = 0 even columns, 1 odd; stride 1: p = 0 only), per element. */
RD_INLINE void dwc_dx_tile_any(__global const float *dy, long dplane, __global const float *wc, float *out,
                               const int OH, const int OW, const int PT, const int PL, const int ih0,
                               const int iw0, const int p, const int K, const int S, const int D) {
    #pragma unroll 1
    for (int e = 0; e < DWC_RB * VL; e++) {
        const int i = e / VL, m = e - i * VL;
        float s = 0.0f;
        #pragma unroll 1
        for (int kh = 0; kh < K; kh++) {
            const int r = ih0 + i + PT - kh * D;
            if (r < 0 || r % S || r / S >= OH) continue;
            #pragma unroll 1
            for (int kw = 0; kw < K; kw++) {
                const int q = iw0 + m * S + p + PL - kw * D;
                if (q < 0 || q % S || q / S >= OW) continue;
                s = fma(dy[dplane + (long)(r / S) * OW + q / S], wc[kh * K + kw], s);
            }
        }
        out[e] = s;
    }
}

/* Input row ih0 + r of a forward tile into every output row that reads it. */
RD_INLINE void dwc_fwd_row(__global const float *x, long plane, long lo, long hi, __global const float *wc,
                           vec *acc, const int H, const int W, const float fl, const int ih0, const int r,
                           const int iw0, const int K, const int S, const int D, const int EDGE, const int SAFE) {
    const int ih = ih0 + r;
    if (ih < 0 || ih >= H) return;
    const long row = plane + (long)ih * W;
    #pragma unroll
    for (int kw = 0; kw < K; kw++) {
        const int col = iw0 + kw * D;
        const vec v = max(ldrow(x, row + col, col, S, W, EDGE, SAFE, lo, hi), (vec)(fl));
        #pragma unroll
        for (int i = 0; i < DWC_RB; i++) {
            const int t = r - i * S;   /* = kh * D */
            if (t >= 0 && t % D == 0 && t / D < K) acc[i] = fma(v, (vec)(wc[(t / D) * K + kw]), acc[i]);
        }
    }
}

/* Work-item: 8 output columns x DWC_RB output rows of one (image, channel)
 * plane; out-of-range input rows are skipped (uniform branches). */
RD_INLINE void dwc_fwd_tile(__global const float *x, long plane, long lo, long hi, __global const float *wc,
                            vec *acc, const int H, const int W, const int PT, const float fl, const int oh0,
                            const int iw0, const int K, const int S, const int D, const int EDGE, const int SAFE) {
    /* each input row vector is loaded once and used by every output row of the tile that reads it */
    const int ih0 = oh0 * S - PT, rows = (DWC_RB - 1) * S + (K - 1) * D + 1;
    /* Fully unrolled up to 140 row taps; above (kernel 7, stride 2, dilation 2: 25 rows of
     * 7 taps) LLVM refuses the full unroll of the pragma and says so at every build. */
    if (rows * K <= 140) {
        #pragma unroll
        for (int r = 0; r < rows; r++) dwc_fwd_row(x, plane, lo, hi, wc, acc, H, W, fl, ih0, r, iw0, K, S, D, EDGE, SAFE);
    } else {
        for (int r = 0; r < rows; r++) dwc_fwd_row(x, plane, lo, hi, wc, acc, H, W, fl, ih0, r, iw0, K, S, D, EDGE, SAFE);
    }
}

RD_INLINE void dwc_fwd(__global const float *x, ulong x_off, ulong x_ns, __global const float *w, ulong w_off,
                       __global float *y, ulong y_off, ulong y_ns, CONV_GEOM, const int K, const int S, const int D) {
    const int ow0 = get_global_id(0) * VL, oh0 = get_global_id(1) * DWC_RB, z = get_global_id(2);
    if (ow0 >= OW || oh0 >= OH || z >= N * CI) return;
    const int n = z / CI, c = z - n * CI;
    const long lo = x_off, hi = x_off + (long)(N - 1) * x_ns + (long)CI * H * W;
    const long plane = x_off + n * x_ns + (long)c * H * W;
    const int iw0 = ow0 * S - PL;
    const int interior = iw0 >= 0 && iw0 + (VL - 1) * S + (K - 1) * D < W;
    const int safe = plane + iw0 >= lo && plane + (long)(H - 1) * W + iw0 + (K - 1) * D + span8(S) <= hi;
    __global const float *wc = w + w_off + (long)c * K * K;
    const float fl = RELU ? 0.0f : -INFINITY;
    vec acc[DWC_RB];
    #pragma unroll
    for (int i = 0; i < DWC_RB; i++) acc[i] = ZERO;
    if (interior) {
        dwc_fwd_tile(x, plane, lo, hi, wc, acc, H, W, PT, fl, oh0, iw0, K, S, D, 0, 1);
    } else if (safe) {
        dwc_fwd_tile(x, plane, lo, hi, wc, acc, H, W, PT, fl, oh0, iw0, K, S, D, 1, 1);
    } else {
        float t[DWC_RB * VL];
        dwc_fwd_tile_any(x, plane, wc, t, H, W, PT, fl, oh0, iw0, K, S, D);
        #pragma unroll
        for (int i = 0; i < DWC_RB; i++) acc[i] = vload8(i, t);
    }
    const long ybase = y_off + n * y_ns + (long)c * OH * OW + ow0;
    #pragma unroll
    for (int i = 0; i < DWC_RB; i++)
        if (oh0 + i < OH) st8(y, ybase + (long)(oh0 + i) * OW, acc[i], OW - ow0);
}

/* dx, stride 1: dx[ih][iw] = sum dy[ih + PT - kh*D][iw + PL - kw*D] * w[kh][kw].
 * Work-item: 8 input columns x DWC_RB input rows of one plane. */
RD_INLINE void dwc_dx1_tile(__global const float *dy, long dplane, long lo, long hi, __global const float *wc,
                            vec *acc, const int OH, const int OW, const int PT, const int PL, const int iw0,
                            const int ih0, const int K, const int D, const int EDGE, const int SAFE) {
    /* dy row q0 + r feeds dx row i through tap kh = K - 1 - (r - i) / D: loaded once for all of them */
    const int q0 = ih0 + PT - (K - 1) * D;
    #pragma unroll
    for (int r = 0; r < DWC_RB + (K - 1) * D; r++) {
        const int q = q0 + r;
        if (q < 0 || q >= OH) continue;
        const long row = dplane + (long)q * OW;
        #pragma unroll
        for (int kw = 0; kw < K; kw++) {
            const int col = iw0 + PL - kw * D;
            const vec v = ldrow(dy, row + col, col, 1, OW, EDGE, SAFE, lo, hi);
            #pragma unroll
            for (int i = 0; i < DWC_RB; i++) {
                const int t = r - i;   /* = (K - 1 - kh) * D */
                if (t >= 0 && t % D == 0 && t / D < K) acc[i] = fma(v, (vec)(wc[(K - 1 - t / D) * K + kw]), acc[i]);
            }
        }
    }
}

/* dx, stride 2: 16 input columns iw0 + 2m + p as two phase vectors (p = 0, 1);
 * column iw takes tap kw only when iw + PL - kw*D is even, row ih tap kh only
 * when ih + PT - kh*D is even: uniform branches, no wasted loads. */
RD_INLINE void dwc_dx2_tile(__global const float *dy, long dplane, long lo, long hi, __global const float *wc,
                            vec *acc0, vec *acc1, const int H, const int OH, const int OW, const int PT,
                            const int PL, const int D, const int iw0, const int ih0, const int K, const int EDGE,
                            const int SAFE) {
    #pragma unroll
    for (int kh = 0; kh < K; kh++) {
        #pragma unroll
        for (int i = 0; i < DWC_RB; i++) {
            const int r = ih0 + i + PT - kh * D;
            if (ih0 + i >= H || (r & 1) || r < 0 || (r >> 1) >= OH) continue;
            const long row = dplane + (long)(r >> 1) * OW;
            #pragma unroll
            for (int kw = 0; kw < K; kw++) {
                const vec wv = (vec)(wc[kh * K + kw]);
                const int t0 = iw0 + PL - kw * D;
                if (t0 & 1) {
                    const int col = (t0 + 1) >> 1;
                    acc1[i] = fma(ldrow(dy, row + col, col, 1, OW, EDGE, SAFE, lo, hi), wv, acc1[i]);
                } else {
                    const int col = t0 >> 1;
                    acc0[i] = fma(ldrow(dy, row + col, col, 1, OW, EDGE, SAFE, lo, hi), wv, acc0[i]);
                }
            }
        }
    }
}

RD_INLINE void dwc_dx(__global const float *x, ulong x_off, ulong x_ns, __global const float *w, ulong w_off,
                      __global const float *dy, ulong dy_off, ulong dy_ns, __global float *dx, ulong dx_off,
                      ulong dx_ns, CONV_GEOM, const int ACC, const int K, const int S, const int D) {
    const int iw0 = get_global_id(0) * VL * S, ih0 = get_global_id(1) * DWC_RB, z = get_global_id(2);
    if (iw0 >= W || ih0 >= H || z >= N * CI) return;
    const int n = z / CI, c = z - n * CI;
    const long lo = dy_off, hi = dy_off + (long)(N - 1) * dy_ns + (long)CI * OH * OW;
    const long dplane = dy_off + n * dy_ns + (long)c * OH * OW;
    /* dy columns read: from cmin to cmax + 7 */
    const int cmin = S == 1 ? iw0 + PL - (K - 1) * D : ((iw0 + PL - (K - 1) * D) >> 1);
    const int cmax = S == 1 ? iw0 + PL : ((iw0 + PL + 1) >> 1);
    const int interior = cmin >= 0 && cmax + VL - 1 < OW;
    const int safe = dplane + cmin >= lo && dplane + (long)(OH - 1) * OW + cmax + VL <= hi;
    __global const float *wc = w + w_off + (long)c * K * K;
    vec acc0[DWC_RB], acc1[DWC_RB];
    #pragma unroll
    for (int i = 0; i < DWC_RB; i++) acc0[i] = acc1[i] = ZERO;
    if (!interior && !safe) {
        float t[DWC_RB * VL];
        dwc_dx_tile_any(dy, dplane, wc, t, OH, OW, PT, PL, ih0, iw0, 0, K, S, D);
        #pragma unroll
        for (int i = 0; i < DWC_RB; i++) acc0[i] = vload8(i, t);
        if (S == 2) {
            dwc_dx_tile_any(dy, dplane, wc, t, OH, OW, PT, PL, ih0, iw0, 1, K, S, D);
            #pragma unroll
            for (int i = 0; i < DWC_RB; i++) acc1[i] = vload8(i, t);
        }
    } else if (S == 1) {
        if (interior) dwc_dx1_tile(dy, dplane, lo, hi, wc, acc0, OH, OW, PT, PL, iw0, ih0, K, D, 0, 1);
        else dwc_dx1_tile(dy, dplane, lo, hi, wc, acc0, OH, OW, PT, PL, iw0, ih0, K, D, 1, 1);
    } else {
        if (interior) dwc_dx2_tile(dy, dplane, lo, hi, wc, acc0, acc1, H, OH, OW, PT, PL, D, iw0, ih0, K, 0, 1);
        else dwc_dx2_tile(dy, dplane, lo, hi, wc, acc0, acc1, H, OH, OW, PT, PL, D, iw0, ih0, K, 1, 1);
    }
    const long x_hi = x_off + (long)(N - 1) * x_ns + (long)CI * H * W;
    const long xplane = x_off + n * x_ns + (long)c * H * W, dxplane = dx_off + n * dx_ns + (long)c * H * W;
    #pragma unroll
    for (int i = 0; i < DWC_RB; i++) {
        if (ih0 + i >= H) break;
        const long xr = xplane + (long)(ih0 + i) * W + iw0, dr = dxplane + (long)(ih0 + i) * W + iw0;
        if (S == 1) {
            dx_store(x, xr, x_hi, dx, dr, acc0[i], W - iw0, RELU, ACC);
        } else {
            dx_store(x, xr, x_hi, dx, dr, interleave_lo(acc0[i], acc1[i]), W - iw0, RELU, ACC);
            if (iw0 + VL < W)
                dx_store(x, xr + VL, x_hi, dx, dr + VL, interleave_hi(acc0[i], acc1[i]), W - iw0 - VL, RELU, ACC);
        }
    }
}

/* dw partial sums over one image's output rows oh_lo..oh_hi-1 (those whose
 * input row is inside x) for the 8-column stripe at ow0:
 * acc[kw] += dy[oh][ow0..] * relu?(x[ih][col..]). Edge stripes apply masks
 * computed once per stripe (dy: row end; x: padding columns). */
RD_INLINE void dwc_dw_stripe(__global const float *x, long xplane, long xlo, long xhi, __global const float *dy,
                             long dplane, long dlo, long dhi, vec *acc, const int W, const int OW, const int PT,
                             const int PL, const int D, const float fl, const int kh, const int oh_lo,
                             const int oh_hi, const int ow0, const int K, const int S, const int EDGE,
                             const int SAFE) {
    const int col0 = ow0 * S - PL;
    ivec xm[7];
    const ivec gm = colmask(ow0, 1, OW);
    #pragma unroll
    for (int kw = 0; kw < K; kw++) xm[kw] = colmask(col0 + kw * D, S, W);
    for (int oh = oh_lo; oh < oh_hi; oh++) {
        const long xrow = xplane + (long)(oh * S - PT + kh * D) * W + col0;
        vec g = ld8(dy, dplane + (long)oh * OW + ow0, 1, SAFE, dlo, dhi);
        if (EDGE) g = select(ZERO, g, gm);
        #pragma unroll
        for (int kw = 0; kw < K; kw++) {
            vec v = ld8(x, xrow + kw * D, S, SAFE, xlo, xhi);
            if (EDGE) v = select(ZERO, v, xm[kw]);
            acc[kw] = fma(g, max(v, (vec)(fl)), acc[kw]);
        }
    }
}

/* Work-item (channel c, tap row kh) over the images of chunk g:
 * partial[g][c][kh][kw] = sum over (n, oh, ow) of dy * relu?(x). */
RD_INLINE void dwc_dw(__global const float *x, ulong x_off, ulong x_ns, __global const float *dy, ulong dy_off,
                      ulong dy_ns, __global float *partial, CONV_GEOM, const int IPC, const int K, const int S,
                      const int D, const int ADD) {
    const int t = get_global_id(0), g = get_global_id(1);
    if (t >= CI * K) return;
    const int c = t / K, kh = t - c * K;
    const int n0 = g * IPC, n1 = min(N, n0 + IPC);
    const long xlo = x_off, xhi = x_off + (long)(N - 1) * x_ns + (long)CI * H * W;
    const long dlo = dy_off, dhi = dy_off + (long)(N - 1) * dy_ns + (long)CI * OH * OW;
    const float fl = RELU ? 0.0f : -INFINITY;
    vec acc[7];
    #pragma unroll
    for (int kw = 0; kw < K; kw++) acc[kw] = ZERO;
    /* column stripes [0, i0) and [i1, OW) are edges (padding, row end), [i0, i1) interior */
    int i0 = 0, i1 = 0, oh_lo = 0, oh_hi = 0;
    segment_range(OW, W, PL, S, (K - 1) * D, &i0, &i1);
    valid_rows(H, OH, PT, S, kh * D, &oh_lo, &oh_hi);
    const int last = (OW - 1) / VL * VL;
    for (int n = n0; n < n1; n++) {
        const long xplane = x_off + n * x_ns + (long)c * H * W;
        const long dplane = dy_off + n * dy_ns + (long)c * OH * OW;
        const int safe = xplane - PL >= xlo &&
                         xplane + (long)(H - 1) * W + last * S - PL + (K - 1) * D + span8(S) <= xhi &&
                         dplane + (long)(OH - 1) * OW + last + VL <= dhi;
        for (int ow0 = 0; ow0 < OW; ow0 += VL) {
#define DWC_DW_STRIPE(E, SF) \
    dwc_dw_stripe(x, xplane, xlo, xhi, dy, dplane, dlo, dhi, acc, W, OW, PT, PL, D, fl, kh, oh_lo, oh_hi, ow0, K, S, E, SF)
            TILE_DISPATCH(ow0 >= i0 && ow0 < i1, safe, DWC_DW_STRIPE);
#undef DWC_DW_STRIPE
        }
    }
    __global float *out = partial + (long)g * CI * K * K + (long)t * K;
    #pragma unroll
    for (int kw = 0; kw < K; kw++) rd_store(&out[kw], hsum8(acc[kw]), ADD);
}

#define DWC_VARIANT(TAG, K, S, D)                                                                                    \
    __kernel void dwc_fwd_##TAG(RD_TC(x), RD_VC(w), RD_T(y), CONV_GEOM) {                                           \
        dwc_fwd(x, x_off, x_ns, w, w_off, y, y_off, y_ns, CONV_GEOM_PASS, K, S, D);                                 \
    }                                                                                                                \
    __kernel void dwc_dx_##TAG(RD_TC(x), RD_VC(w), RD_TC(dy), RD_T(dx), CONV_GEOM, const int ACC) {                 \
        dwc_dx(x, x_off, x_ns, w, w_off, dy, dy_off, dy_ns, dx, dx_off, dx_ns, CONV_GEOM_PASS, ACC, K, S, D);      \
    }                                                                                                                \
    __kernel void dwc_dw_##TAG(RD_TC(x), RD_TC(dy), RD_V(partial), CONV_GEOM, const int IPC, const int ADD) {      \
        dwc_dw(x, x_off, x_ns, dy, dy_off, dy_ns, partial + partial_off, CONV_GEOM_PASS, IPC, K, S, D, ADD);        \
    }

/* Variants come from the host's table (src/ops/conv.c), one build of this file
 * per group, so a device compiles only the unrolled kernels of groups a run
 * uses: -DDWC_K=k builds the four stride x dilation variants of kernel size k. */
#define RD_CAT6_(a, b, c, d, e, f) a##b##c##d##e##f
#define RD_CAT6(a, b, c, d, e, f) RD_CAT6_(a, b, c, d, e, f)
#define RD_EXPAND_DWC(...) DWC_VARIANT(__VA_ARGS__)  /* expands the tag before ## pastes it */
RD_EXPAND_DWC(RD_CAT6(k, DWC_K, s, 1, d, 1), DWC_K, 1, 1)
RD_EXPAND_DWC(RD_CAT6(k, DWC_K, s, 1, d, 2), DWC_K, 1, 2)
RD_EXPAND_DWC(RD_CAT6(k, DWC_K, s, 2, d, 1), DWC_K, 2, 1)
RD_EXPAND_DWC(RD_CAT6(k, DWC_K, s, 2, d, 2), DWC_K, 2, 2)
#endif

/* ================= dense (groups == 1), row-tiled: built with -DROW_LIST ================= */
#if defined(ROW_LIST)
#if !defined(CONV_COB) || !defined(CONV_CIB) || !defined(CONV_CIB2)
#error "the row-tiled part of cl/conv.cl needs -DCONV_COB, -DCONV_CIB, -DCONV_CIB2 (src/ops/conv.c, CONV_TILES)"
#endif

/* Forward work-item: 8 output columns of row oh x CONV_COB output channels. */
RD_INLINE void conv_fwd_tile(__global const float *x, long xbase, long lo, long hi, __global const float *w,
                             const long *wrow, vec *acc, const int CI, const int H, const int W, const int PT,
                             const int DH, const int DW, const float fl, const int oh, const int iw0, const int KH,
                             const int KW, const int SH, const int SW, const int EDGE, const int SAFE) {
    for (int ci = 0; ci < CI; ci++) {
        const long plane = xbase + (long)ci * H * W;
        #pragma unroll
        for (int kh = 0; kh < KH; kh++) {
            const int ih = oh * SH - PT + kh * DH;
            if (ih < 0 || ih >= H) continue;
            const long row = plane + (long)ih * W;
            #pragma unroll
            for (int kw = 0; kw < KW; kw++) {
                const int col = iw0 + kw * DW;
                const vec v = max(ldrow(x, row + col, col, SW, W, EDGE, SAFE, lo, hi), (vec)(fl));
                const int k = (ci * KH + kh) * KW + kw;
                #pragma unroll
                for (int j = 0; j < CONV_COB; j++) acc[j] = fma(v, (vec)(w[wrow[j] + k]), acc[j]);
            }
        }
    }
}

RD_INLINE void conv_fwd(__global const float *x, ulong x_off, ulong x_ns, __global const float *w, ulong w_off,
                        __global float *y, ulong y_off, ulong y_ns, CONV_GEOM, const int KH, const int KW,
                        const int SH, const int SW) {
    const int ow0 = get_global_id(0) * VL, oh = get_global_id(1), z = get_global_id(2);
    const int ncb = (CO + CONV_COB - 1) / CONV_COB;
    if (ow0 >= OW || oh >= OH || z >= N * ncb) return;
    const int n = z / ncb, co0 = (z - n * ncb) * CONV_COB;
    const long lo = x_off, hi = x_off + (long)(N - 1) * x_ns + (long)CI * H * W;
    const long xbase = x_off + n * x_ns;
    const int iw0 = ow0 * SW - PL;
    const int interior = iw0 >= 0 && iw0 + (VL - 1) * SW + (KW - 1) * DW < W;
    const int safe = xbase + iw0 >= lo && xbase + (long)CI * H * W - W + iw0 + (KW - 1) * DW + span8(SW) <= hi;
    long wrow[CONV_COB];
    vec acc[CONV_COB];
    #pragma unroll
    for (int j = 0; j < CONV_COB; j++) {
        wrow[j] = w_off + (long)min(co0 + j, CO - 1) * CI * KH * KW;
        acc[j] = ZERO;
    }
    const float fl = RELU ? 0.0f : -INFINITY;
#define CONV_FWD_CALL(E, SF) \
    conv_fwd_tile(x, xbase, lo, hi, w, wrow, acc, CI, H, W, PT, DH, DW, fl, oh, iw0, KH, KW, SH, SW, E, SF)
    TILE_DISPATCH(interior, safe, CONV_FWD_CALL);
#undef CONV_FWD_CALL
    const long ybase = y_off + n * y_ns + (long)oh * OW + ow0;
    #pragma unroll
    for (int j = 0; j < CONV_COB; j++)
        if (co0 + j < CO) st8(y, ybase + (long)(co0 + j) * OH * OW, acc[j], OW - ow0);
}

/* dx work-item: 8 input columns (16 with column stride 2, as two phases) of row
 * ih x CIB input channels; row taps with SH == 2 skip odd rows (uniform). */
RD_INLINE void conv_dx_tile(__global const float *dy, long dbase, long lo, long hi, __global const float *w,
                            const long *wcol, vec *acc0, vec *acc1, const int CO, const int OH, const int OW,
                            const int PT, const int PL, const int DH, const int DW, const int ih, const int iw0,
                            const int KH, const int KW, const int SH, const int SW, const int CIB, const int EDGE,
                            const int SAFE) {
    const int kk = KH * KW;
    for (int co = 0; co < CO; co++) {
        const long plane = dbase + (long)co * OH * OW;
        const long wco = (long)co * (long)wcol[CIB] * kk;
        #pragma unroll
        for (int kh = 0; kh < KH; kh++) {
            int r = ih + PT - kh * DH;
            if (SH == 2) {
                if (r & 1) continue;
                r >>= 1;
            }
            if (r < 0 || r >= OH) continue;
            const long row = plane + (long)r * OW;
            #pragma unroll
            for (int kw = 0; kw < KW; kw++) {
                const int k = kh * KW + kw;
                const int t0 = iw0 + PL - kw * DW;
                if (SW == 1) {
                    const vec v = ldrow(dy, row + t0, t0, 1, OW, EDGE, SAFE, lo, hi);
                    #pragma unroll
                    for (int j = 0; j < CIB; j++) acc0[j] = fma(v, (vec)(w[wco + wcol[j] + k]), acc0[j]);
                } else if (t0 & 1) {
                    const int col = (t0 + 1) >> 1;
                    const vec v = ldrow(dy, row + col, col, 1, OW, EDGE, SAFE, lo, hi);
                    #pragma unroll
                    for (int j = 0; j < CIB; j++) acc1[j] = fma(v, (vec)(w[wco + wcol[j] + k]), acc1[j]);
                } else {
                    const int col = t0 >> 1;
                    const vec v = ldrow(dy, row + col, col, 1, OW, EDGE, SAFE, lo, hi);
                    #pragma unroll
                    for (int j = 0; j < CIB; j++) acc0[j] = fma(v, (vec)(w[wco + wcol[j] + k]), acc0[j]);
                }
            }
        }
    }
}

RD_INLINE void conv_dx(__global const float *x, ulong x_off, ulong x_ns, __global const float *w, ulong w_off,
                       __global const float *dy, ulong dy_off, ulong dy_ns, __global float *dx, ulong dx_off,
                       ulong dx_ns, CONV_GEOM, const int ACC, const int KH, const int KW, const int SH,
                       const int SW, const int CIB) {
    const int iw0 = get_global_id(0) * VL * SW, ih = get_global_id(1), z = get_global_id(2);
    const int ncb = (CI + CIB - 1) / CIB;
    if (iw0 >= W || ih >= H || z >= N * ncb) return;
    const int n = z / ncb, ci0 = (z - n * ncb) * CIB;
    const long lo = dy_off, hi = dy_off + (long)(N - 1) * dy_ns + (long)CO * OH * OW;
    const long dbase = dy_off + n * dy_ns;
    const int cmin = SW == 1 ? iw0 + PL - (KW - 1) * DW : ((iw0 + PL - (KW - 1) * DW) >> 1);
    const int cmax = SW == 1 ? iw0 + PL : ((iw0 + PL + 1) >> 1);
    const int interior = cmin >= 0 && cmax + VL - 1 < OW;
    const int safe = dbase + cmin >= lo && dbase + (long)CO * OH * OW - OW + cmax + VL <= hi;
    /* wcol[j]: offset of input channel ci0 + j within an output channel's weights; wcol[CIB] = CI */
    long wcol[CONV_CIB + 1];
    #pragma unroll
    for (int j = 0; j < CIB; j++) wcol[j] = w_off + (long)min(ci0 + j, CI - 1) * KH * KW;
    wcol[CIB] = CI;
    vec acc0[CONV_CIB], acc1[CONV_CIB];
    #pragma unroll
    for (int j = 0; j < CIB; j++) acc0[j] = acc1[j] = ZERO;
#define CONV_DX_CALL(E, SF) \
    conv_dx_tile(dy, dbase, lo, hi, w, wcol, acc0, acc1, CO, OH, OW, PT, PL, DH, DW, ih, iw0, KH, KW, SH, SW, CIB, E, SF)
    TILE_DISPATCH(interior, safe, CONV_DX_CALL);
#undef CONV_DX_CALL
    const long x_hi = x_off + (long)(N - 1) * x_ns + (long)CI * H * W;
    #pragma unroll
    for (int j = 0; j < CIB; j++) {
        if (ci0 + j >= CI) break;
        const long xr = x_off + n * x_ns + ((long)(ci0 + j) * H + ih) * W + iw0;
        const long dr = dx_off + n * dx_ns + ((long)(ci0 + j) * H + ih) * W + iw0;
        if (SW == 1) {
            dx_store(x, xr, x_hi, dx, dr, acc0[j], W - iw0, RELU, ACC);
        } else {
            dx_store(x, xr, x_hi, dx, dr, interleave_lo(acc0[j], acc1[j]), W - iw0, RELU, ACC);
            if (iw0 + VL < W)
                dx_store(x, xr + VL, x_hi, dx, dr + VL, interleave_hi(acc0[j], acc1[j]), W - iw0 - VL, RELU, ACC);
        }
    }
}

/* dw partial sums over one image's valid output rows for the 8-column stripe
 * at ow0, COBW output channels x the KW taps of input row kh. */
RD_INLINE void conv_dw_stripe(__global const float *x, long xplane, long xlo, long xhi, __global const float *dy,
                              long dimg, long dlo, long dhi, const long *dstep, vec *acc, const int W, const int OW,
                              const int PT, const int PL, const int DH, const int DW, const float fl, const int kh,
                              const int oh_lo, const int oh_hi, const int ow0, const int KW, const int SH,
                              const int SW, const int COBW, const int EDGE, const int SAFE) {
    const int col0 = ow0 * SW - PL;
    ivec xm[7];
    const ivec gm = colmask(ow0, 1, OW);
    #pragma unroll
    for (int kw = 0; kw < KW; kw++) xm[kw] = colmask(col0 + kw * DW, SW, W);
    for (int oh = oh_lo; oh < oh_hi; oh++) {
        const long xrow = xplane + (long)(oh * SH - PT + kh * DH) * W + col0, drow = dimg + (long)oh * OW + ow0;
        vec g[8];
        #pragma unroll
        for (int j = 0; j < COBW; j++) {
            g[j] = ld8(dy, drow + dstep[j], 1, SAFE, dlo, dhi);
            if (EDGE) g[j] = select(ZERO, g[j], gm);
        }
        #pragma unroll
        for (int kw = 0; kw < KW; kw++) {
            vec v = ld8(x, xrow + kw * DW, SW, SAFE, xlo, xhi);
            if (EDGE) v = select(ZERO, v, xm[kw]);
            v = max(v, (vec)(fl));
            #pragma unroll
            for (int j = 0; j < COBW; j++) acc[j * KW + kw] = fma(g[j], v, acc[j * KW + kw]);
        }
    }
}

/* Work-item (block of COBW output channels, input channel ci, tap row kh) over
 * the images of chunk g, all KW taps of the row at once. */
RD_INLINE void conv_dw(__global const float *x, ulong x_off, ulong x_ns, __global const float *dy, ulong dy_off,
                       ulong dy_ns, __global float *partial, CONV_GEOM, const int IPC, const int KH, const int KW,
                       const int SH, const int SW, const int COBW, const int ADD) {
    const int t = get_global_id(0), g = get_global_id(1);
    const int ncb = (CO + COBW - 1) / COBW;
    if (t >= ncb * CI * KH) return;
    const int cb = t / (CI * KH), r = t - cb * CI * KH, ci = r / KH, kh = r - ci * KH;
    const int co0 = cb * COBW;
    const int n0 = g * IPC, n1 = min(N, n0 + IPC);
    const long xlo = x_off, xhi = x_off + (long)(N - 1) * x_ns + (long)CI * H * W;
    const long dlo = dy_off, dhi = dy_off + (long)(N - 1) * dy_ns + (long)CO * OH * OW;
    const float fl = RELU ? 0.0f : -INFINITY;
    long dstep[8];
    #pragma unroll
    for (int j = 0; j < COBW; j++) dstep[j] = (long)min(co0 + j, CO - 1) * OH * OW;
    vec acc[16];
    #pragma unroll
    for (int j = 0; j < COBW * KW; j++) acc[j] = ZERO;
    int i0 = 0, i1 = 0, oh_lo = 0, oh_hi = 0;
    segment_range(OW, W, PL, SW, (KW - 1) * DW, &i0, &i1);
    valid_rows(H, OH, PT, SH, kh * DH, &oh_lo, &oh_hi);
    const int last = (OW - 1) / VL * VL;
    for (int n = n0; n < n1; n++) {
        const long xplane = x_off + n * x_ns + (long)ci * H * W, dimg = dy_off + n * dy_ns;
        const int safe = xplane - PL >= xlo &&
                         xplane + (long)(H - 1) * W + last * SW - PL + (KW - 1) * DW + span8(SW) <= xhi &&
                         dimg + dstep[COBW - 1] + (long)(OH - 1) * OW + last + VL <= dhi;
        for (int ow0 = 0; ow0 < OW; ow0 += VL) {
#define CONV_DW_STRIPE(E, SF)                                                                                        \
    conv_dw_stripe(x, xplane, xlo, xhi, dy, dimg, dlo, dhi, dstep, acc, W, OW, PT, PL, DH, DW, fl, kh, oh_lo, oh_hi, \
                   ow0, KW, SH, SW, COBW, E, SF)
            TILE_DISPATCH(ow0 >= i0 && ow0 < i1, safe, CONV_DW_STRIPE);
#undef CONV_DW_STRIPE
        }
    }
    __global float *out = partial + (long)g * CO * CI * KH * KW;
    #pragma unroll
    for (int j = 0; j < COBW; j++) {
        if (co0 + j >= CO) break;
        #pragma unroll
        for (int kw = 0; kw < KW; kw++)
            rd_store(&out[(((long)(co0 + j) * CI + ci) * KH + kh) * KW + kw], hsum8(acc[j * KW + kw]), ADD);
    }
}

#define CONV_VARIANT(TAG, KH, KW, SH, SW, COBW)                                                                     \
    __kernel void conv_fwd_##TAG(RD_TC(x), RD_VC(w), RD_T(y), CONV_GEOM) {                                          \
        conv_fwd(x, x_off, x_ns, w, w_off, y, y_off, y_ns, CONV_GEOM_PASS, KH, KW, SH, SW);                         \
    }                                                                                                                \
    __kernel void conv_dx_##TAG(RD_TC(x), RD_VC(w), RD_TC(dy), RD_T(dx), CONV_GEOM, const int ACC) {                \
        conv_dx(x, x_off, x_ns, w, w_off, dy, dy_off, dy_ns, dx, dx_off, dx_ns, CONV_GEOM_PASS, ACC, KH, KW, SH, SW, \
                (SW) == 2 ? CONV_CIB2 : CONV_CIB);                                                                   \
    }                                                                                                                \
    __kernel void conv_dw_##TAG(RD_TC(x), RD_TC(dy), RD_V(partial), CONV_GEOM, const int IPC, const int ADD) {     \
        conv_dw(x, x_off, x_ns, dy, dy_off, dy_ns, partial + partial_off, CONV_GEOM_PASS, IPC, KH, KW, SH, SW, COBW, \
                ADD);                                                                                                \
    }

/* -DROW_LIST=V(KH,KW,SH,SW,COBW)V(...)...: the host's table of row variants.
 * dw tile: COBW * KW accumulators + COBW dy vectors + 1 must fit 16 AVX registers */
#define RD_CAT8_(a, b, c, d, e, f, g, h) a##b##c##d##e##f##g##h
#define RD_CAT8(a, b, c, d, e, f, g, h) RD_CAT8_(a, b, c, d, e, f, g, h)
#define RD_EXPAND_CONV(...) CONV_VARIANT(__VA_ARGS__)
#define V(KH, KW, SH, SW, COBW) RD_EXPAND_CONV(RD_CAT8(k, KH, x, KW, s, SH, _, SW), KH, KW, SH, SW, COBW)
ROW_LIST
#undef V
#endif

/* The base program (no variant defines): pointwise, generic, dw finish, local-memory kernels. */
#if !defined(DWC_K) && !defined(ROW_LIST)
#if !defined(PW_COB) || !defined(PW_PB) || !defined(PW_DW_COB) || !defined(PW_DW_CIB) || !defined(GEMM_TS) || \
    !defined(DWL_TS)
#error "the base part of cl/conv.cl needs -DPW_COB, -DPW_PB, -DPW_DW_COB, -DPW_DW_CIB, -DGEMM_TS, -DDWL_TS"
#endif

/* ================= dense 1x1, stride 1, no padding: flat pixels ================= */

/* Work-item: PW_PB runs of 8 pixels x PW_COB output channels of image n; P = H*W.
 * Each weight loaded is used for PW_PB vectors (the loads, not the FMAs, bound one run). */
RD_INLINE void pw_fwd_tile(__global const float *x, long xbase, long lo, long hi, __global const float *w,
                        const long *wrow, vec *acc, const int CI, const long P, const float fl, const int SAFE) {
    for (int ci = 0; ci < CI; ci++) {
        vec v[PW_PB];
#pragma unroll
        for (int b = 0; b < PW_PB; b++) v[b] = max(ld8(x, xbase + ci * P + b * VL, 1, SAFE, lo, hi), (vec)(fl));
#pragma unroll
        for (int j = 0; j < PW_COB; j++) {
            const vec wj = (vec)(w[wrow[j] + ci]);
#pragma unroll
            for (int b = 0; b < PW_PB; b++) acc[j * PW_PB + b] = fma(v[b], wj, acc[j * PW_PB + b]);
        }
    }
}

/* Work-item (p0, cb, n) of a 1x1 forward: y = w * relu?(x) at its pixels and channels. */
RD_INLINE void pw_fwd_item(__global const float *x, const long x_off, const long x_ns, __global const float *w,
                           const long w_off, __global float *y, const long y_off, const long y_ns, CONV_GEOM,
                           const int p0, const int cb, const int n) {
    const int P = H * W;
    if (p0 >= P || cb * PW_COB >= CO || n >= N) return;
    const int co0 = cb * PW_COB;
    const long lo = x_off, hi = x_off + (long)(N - 1) * x_ns + (long)CI * P;
    const long xbase = x_off + n * x_ns + p0;
    const int safe = xbase + (long)(CI - 1) * P + VL * PW_PB <= hi;
    long wrow[PW_COB];
    vec acc[PW_COB * PW_PB];
#pragma unroll
    for (int j = 0; j < PW_COB; j++) wrow[j] = w_off + (long)min(co0 + j, CO - 1) * CI;
#pragma unroll
    for (int j = 0; j < PW_COB * PW_PB; j++) acc[j] = ZERO;
    const float fl = RELU ? 0.0f : -INFINITY;
    if (safe) pw_fwd_tile(x, xbase, lo, hi, w, wrow, acc, CI, P, fl, 1);
    else pw_fwd_tile(x, xbase, lo, hi, w, wrow, acc, CI, P, fl, 0);
    const long ybase = y_off + n * y_ns + p0;
#pragma unroll
    for (int j = 0; j < PW_COB; j++)
#pragma unroll
        for (int b = 0; b < PW_PB; b++)
            if (co0 + j < CO && p0 + b * VL < P)
                st8(y, ybase + (long)(co0 + j) * P + b * VL, acc[j * PW_PB + b], P - p0 - b * VL);
}

/* The grid's second dimension may hold fewer items than channel blocks (tune.conv_pw_walk):
 * each item then runs the blocks cb, cb + size, ... over the same pixels, which stay in its
 * core's L1 (src/ops/conv.c, pw_block_items). */
#define PW_BLOCKS(cb, count) for (int cb = get_global_id(1); cb * PW_COB < (count); cb += get_global_size(1))

__kernel void pw_fwd(RD_TC(x), RD_VC(w), RD_T(y), CONV_GEOM) {
    PW_BLOCKS(cb, CO)
    pw_fwd_item(x, x_off, x_ns, w, w_off, y, y_off, y_ns, CONV_GEOM_PASS, get_global_id(0) * (VL * PW_PB), cb,
                get_global_id(2));
}

/* A group of 1x1 convolutions of one shape (rd_pw_group, radars/ops.h): every tensor in buf;
 * slice s = z / N (of G) has 5 uints at tab[5 s]: x's offset and batch stride, its weights'
 * offset in w, y's offset and batch stride (dy's in backward, where dx replaces x). */
#define PW_GROUP_ROW(s) (tab + tab_off + 5 * (s))

__kernel void pw_fwd_group(__global float *buf, RD_VC(w), __global const uint *tab, const ulong tab_off,
                           const int G, CONV_GEOM) {
    const int z = get_global_id(2);
    if (z >= N * G) return;   /* the grid is rounded up to whole work-groups */
    __global const uint *r = PW_GROUP_ROW(z / N);
    PW_BLOCKS(cb, CO)
    pw_fwd_item(buf, r[0], r[1], w, w_off + r[2], buf, r[3], r[4], CONV_GEOM_PASS, get_global_id(0) * (VL * PW_PB),
                cb, z % N);
}

RD_INLINE void pw_dx_tile(__global const float *dy, long dbase, long lo, long hi, __global const float *w,
                       const long *wcol, vec *acc, const int CO, const int CI, const long P, const int SAFE) {
    for (int co = 0; co < CO; co++) {
        vec v[PW_PB];
#pragma unroll
        for (int b = 0; b < PW_PB; b++) v[b] = ld8(dy, dbase + co * P + b * VL, 1, SAFE, lo, hi);
#pragma unroll
        for (int j = 0; j < PW_COB; j++) {
            const vec wj = (vec)(w[wcol[j] + (long)co * CI]);
#pragma unroll
            for (int b = 0; b < PW_PB; b++) acc[j * PW_PB + b] = fma(v[b], wj, acc[j * PW_PB + b]);
        }
    }
}

/* Work-item (p0, cb, n) of a 1x1 input gradient: dx (+)= w^T dy, masked by x > 0 under relu. */
RD_INLINE void pw_dx_item(__global const float *x, const long x_off, const long x_ns, __global const float *w,
                          const long w_off, __global const float *dy, const long dy_off, const long dy_ns,
                          __global float *dx, const long dx_off, const long dx_ns, CONV_GEOM, const int ACC,
                          const int p0, const int cb, const int n) {
    const int P = H * W;
    if (p0 >= P || cb * PW_COB >= CI || n >= N) return;
    const int ci0 = cb * PW_COB;
    const long lo = dy_off, hi = dy_off + (long)(N - 1) * dy_ns + (long)CO * P;
    const long dbase = dy_off + n * dy_ns + p0;
    const int safe = dbase + (long)(CO - 1) * P + VL * PW_PB <= hi;
    long wcol[PW_COB];
    vec acc[PW_COB * PW_PB];
#pragma unroll
    for (int j = 0; j < PW_COB; j++) wcol[j] = w_off + min(ci0 + j, CI - 1);
#pragma unroll
    for (int j = 0; j < PW_COB * PW_PB; j++) acc[j] = ZERO;
    if (safe) pw_dx_tile(dy, dbase, lo, hi, w, wcol, acc, CO, CI, P, 1);
    else pw_dx_tile(dy, dbase, lo, hi, w, wcol, acc, CO, CI, P, 0);
    const long x_hi = x_off + (long)(N - 1) * x_ns + (long)CI * H * W;
#pragma unroll
    for (int j = 0; j < PW_COB; j++) {
        if (ci0 + j >= CI) break;
#pragma unroll
        for (int b = 0; b < PW_PB; b++) {
            const int q = p0 + b * VL;
            if (q < P)
                dx_store(x, x_off + n * x_ns + (long)(ci0 + j) * P + q, x_hi, dx,
                         dx_off + n * dx_ns + (long)(ci0 + j) * P + q, acc[j * PW_PB + b], P - q, RELU, ACC);
        }
    }
}

__kernel void pw_dx(RD_TC(x), RD_VC(w), RD_TC(dy), RD_T(dx), CONV_GEOM, const int ACC) {
    PW_BLOCKS(cb, CI)
    pw_dx_item(x, x_off, x_ns, w, w_off, dy, dy_off, dy_ns, dx, dx_off, dx_ns, CONV_GEOM_PASS, ACC,
               get_global_id(0) * (VL * PW_PB), cb, get_global_id(2));
}

/* dx written over x (the group's backward runs after its weight gradients, which read x;
 * RELU is 0, so x is not read here). */
__kernel void pw_dx_group(__global float *buf, RD_VC(w), __global const uint *tab, const ulong tab_off, const int G,
                          CONV_GEOM) {
    const int z = get_global_id(2);
    if (z >= N * G) return;
    __global const uint *r = PW_GROUP_ROW(z / N);
    PW_BLOCKS(cb, CI)
    pw_dx_item(buf, r[0], r[1], w, w_off + r[2], buf, r[3], r[4], buf, r[0], r[1], CONV_GEOM_PASS, 0,
               get_global_id(0) * (VL * PW_PB), cb, z % N);
}

/* dw partial sums: work-item (block of PW_DW_COB output x PW_DW_CIB input
 * channels) over the images of chunk g; dy lanes past the plane are masked. */
RD_INLINE void pw_dw_seg(__global const float *x, long xb, long xlo, long xhi, __global const float *dy, long db,
                         long dlo, long dhi, const int *co_of, const int *ci_of, vec *acc, const int P, const float fl,
                         const int p0, const int TAIL, const int SAFE) {
    const ivec m = colmask(p0, 1, P);
    vec g[PW_DW_COB], v[PW_DW_CIB];
#pragma unroll
    for (int j = 0; j < PW_DW_COB; j++) {
        g[j] = ld8(dy, db + (long)co_of[j] * P + p0, 1, SAFE, dlo, dhi);
        if (TAIL) g[j] = select(ZERO, g[j], m);
    }
#pragma unroll
    for (int i = 0; i < PW_DW_CIB; i++) v[i] = max(ld8(x, xb + (long)ci_of[i] * P + p0, 1, SAFE, xlo, xhi), (vec)(fl));
#pragma unroll
    for (int j = 0; j < PW_DW_COB; j++)
#pragma unroll
        for (int i = 0; i < PW_DW_CIB; i++) acc[j * PW_DW_CIB + i] = fma(g[j], v[i], acc[j * PW_DW_CIB + i]);
}

/* One image: full 8-pixel segments unmasked, the tail segment (dy lanes past the plane) masked. */
RD_INLINE void pw_dw_img(__global const float *x, long xb, long xlo, long xhi, __global const float *dy, long db,
                         long dlo, long dhi, const int *co_of, const int *ci_of, vec *acc, const int P, const float fl,
                         const int SAFE) {
    int p0 = 0;
    for (; p0 + VL <= P; p0 += VL) pw_dw_seg(x, xb, xlo, xhi, dy, db, dlo, dhi, co_of, ci_of, acc, P, fl, p0, 0, 1);
    if (p0 < P) pw_dw_seg(x, xb, xlo, xhi, dy, db, dlo, dhi, co_of, ci_of, acc, P, fl, p0, 1, SAFE);
}

/* Work-item t (a block of output x input channels) of a 1x1 weight gradient over images
 * [n0, n1): out[co][ci] (+)= sum dy * relu?(x). */
RD_INLINE void pw_dw_item(__global const float *x, const long x_off, const long x_ns, __global const float *dy,
                          const long dy_off, const long dy_ns, __global float *out, CONV_GEOM, const int t,
                          const int n0, const int n1, const int ADD) {
    const int ncb = (CO + PW_DW_COB - 1) / PW_DW_COB, nib = (CI + PW_DW_CIB - 1) / PW_DW_CIB;
    if (t >= ncb * nib) return;
    const int cb = t / nib, ib = t - cb * nib, co0 = cb * PW_DW_COB, ci0 = ib * PW_DW_CIB;
    const int P = H * W;
    const long xlo = x_off, xhi = x_off + (long)(N - 1) * x_ns + (long)CI * P;
    const long dlo = dy_off, dhi = dy_off + (long)(N - 1) * dy_ns + (long)CO * P;
    const float fl = RELU ? 0.0f : -INFINITY;
    int co_of[PW_DW_COB], ci_of[PW_DW_CIB];
#pragma unroll
    for (int j = 0; j < PW_DW_COB; j++) co_of[j] = min(co0 + j, CO - 1);
#pragma unroll
    for (int i = 0; i < PW_DW_CIB; i++) ci_of[i] = min(ci0 + i, CI - 1);
    vec acc[PW_DW_COB * PW_DW_CIB];
#pragma unroll
    for (int j = 0; j < PW_DW_COB * PW_DW_CIB; j++) acc[j] = ZERO;
    for (int n = n0; n < n1; n++) {
        const long xb = x_off + n * x_ns, db = dy_off + n * dy_ns;
        const int safe = xb + (long)CI * P + VL <= xhi && db + (long)CO * P + VL <= dhi;
        if (safe) pw_dw_img(x, xb, xlo, xhi, dy, db, dlo, dhi, co_of, ci_of, acc, P, fl, 1);
        else pw_dw_img(x, xb, xlo, xhi, dy, db, dlo, dhi, co_of, ci_of, acc, P, fl, 0);
    }
#pragma unroll
    for (int j = 0; j < PW_DW_COB; j++)
#pragma unroll
        for (int i = 0; i < PW_DW_CIB; i++)
            if (co0 + j < CO && ci0 + i < CI)
                rd_store(&out[(long)(co0 + j) * CI + ci0 + i], hsum8(acc[j * PW_DW_CIB + i]), ADD);
}

__kernel void pw_dw(RD_TC(x), RD_TC(dy), RD_V(partial), CONV_GEOM, const int IPC, const int ADD) {
    const int g = get_global_id(1), n0 = g * IPC;
    pw_dw_item(x, x_off, x_ns, dy, dy_off, dy_ns, partial + partial_off + (long)g * CO * CI, CONV_GEOM_PASS,
               get_global_id(0), n0, min(N, n0 + IPC), ADD);
}

/* Work-item (t, slice): all of the slice's images, added into its weights' gradient. */
__kernel void pw_dw_group(__global const float *buf, RD_V(dw), __global const uint *tab, const ulong tab_off,
                          const int G, CONV_GEOM) {
    if (get_global_id(1) >= G) return;
    __global const uint *r = PW_GROUP_ROW(get_global_id(1));
    pw_dw_item(buf, r[0], r[1], buf, r[3], r[4], dw + dw_off + r[2], CONV_GEOM_PASS, get_global_id(0), 0, N, 1);
}

/* ================= generic (any kernel, stride, dilation; groups 1 or C): one item per element ================= */

__kernel void conv_fwd_gen(RD_TC(x), RD_VC(w), RD_T(y), CONV_GEOM, const int GROUPS) {
    const int p = get_global_id(0), co = get_global_id(1), n = get_global_id(2);
    if (p >= OH * OW || co >= CO || n >= N) return;
    const int oh = p / OW, ow = p - oh * OW;
    const int cig = CI / GROUPS, ci0 = co / (CO / GROUPS) * cig;
    float s = 0.0f;
    for (int c = 0; c < cig; c++) {
        const long plane = x_off + n * x_ns + (long)(ci0 + c) * H * W;
        for (int kh = 0; kh < KH_; kh++) {
            const int ih = oh * SH_ - PT + kh * DH;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < KW_; kw++) {
                const int iw = ow * SW_ - PL + kw * DW;
                if (iw < 0 || iw >= W) continue;
                float v = x[plane + (long)ih * W + iw];
                if (RELU) v = fmax(v, 0.0f);
                s = fma(v, w[w_off + (((long)co * cig + c) * KH_ + kh) * KW_ + kw], s);
            }
        }
    }
    y[y_off + n * y_ns + (long)co * OH * OW + p] = s;
}

__kernel void conv_dx_gen(RD_TC(x), RD_VC(w), RD_TC(dy), RD_T(dx), CONV_GEOM, const int ACC, const int GROUPS) {
    const int p = get_global_id(0), ci = get_global_id(1), n = get_global_id(2);
    if (p >= H * W || ci >= CI || n >= N) return;
    const int ih = p / W, iw = p - ih * W;
    const int cig = CI / GROUPS, cog = CO / GROUPS, g = ci / cig, c = ci - g * cig;
    float s = 0.0f;
    for (int co = g * cog; co < (g + 1) * cog; co++) {
        const long plane = dy_off + n * dy_ns + (long)co * OH * OW;
        for (int kh = 0; kh < KH_; kh++) {
            const int r = ih + PT - kh * DH;
            if (r < 0 || r % SH_) continue;
            const int oh = r / SH_;
            if (oh >= OH) continue;
            for (int kw = 0; kw < KW_; kw++) {
                const int t = iw + PL - kw * DW;
                if (t < 0 || t % SW_) continue;
                const int ow = t / SW_;
                if (ow >= OW) continue;
                s = fma(dy[plane + (long)oh * OW + ow], w[w_off + (((long)co * cig + c) * KH_ + kh) * KW_ + kw], s);
            }
        }
    }
    const long xi = x_off + n * x_ns + (long)ci * H * W + p, di = dx_off + n * dx_ns + (long)ci * H * W + p;
    if (RELU && !(x[xi] > 0.0f)) s = 0.0f;
    rd_store(&dx[di], s, ACC);
}

/* work-item: one weight (co, c, kh, kw) over the images of chunk g */
__kernel void conv_dw_gen(RD_TC(x), RD_TC(dy), RD_V(partial), CONV_GEOM, const int IPC, const int GROUPS,
                          const int ADD) {
    const int t = get_global_id(0), g = get_global_id(1);
    const int cig = CI / GROUPS, count = CO * cig * KH_ * KW_;
    if (t >= count) return;
    const int kw = t % KW_, kh = t / KW_ % KH_, c = t / (KW_ * KH_) % cig, co = t / (KW_ * KH_ * cig);
    const int ci = co / (CO / GROUPS) * cig + c;
    const int n0 = g * IPC, n1 = min(N, n0 + IPC);
    float s = 0.0f;
    for (int n = n0; n < n1; n++) {
        const long xp = x_off + n * x_ns + (long)ci * H * W, dp = dy_off + n * dy_ns + (long)co * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            const int ih = oh * SH_ - PT + kh * DH;
            if (ih < 0 || ih >= H) continue;
            for (int ow = 0; ow < OW; ow++) {
                const int iw = ow * SW_ - PL + kw * DW;
                if (iw < 0 || iw >= W) continue;
                float v = x[xp + (long)ih * W + iw];
                if (RELU) v = fmax(v, 0.0f);
                s = fma(dy[dp + (long)oh * OW + ow], v, s);
            }
        }
    }
    rd_store(&partial[partial_off + (long)g * count + t], s, ADD);
}

/* Stage 2 of every dw: dw[i] += sum over chunks of partial[g][i]. */
__kernel void conv_dw_finish(__global const float *partial, const int count, const int chunks, RD_V(dw)) {
    const int i = get_global_id(0);
    if (i >= count) return;
    float s = 0.0f;
    for (int g = 0; g < chunks; g++) s += partial[(long)g * count + i];
    dw[dw_off + i] += s;
}

/* ================= dense convolutions through local memory (GPUs; tune.conv_pw / conv_row = local) =====
 * Implicit GEMM, in GEMM_TS x GEMM_TS tiles (any kernel size, stride, dilation, padding; groups 1):
 *   forward  Y (CO x P)       = W (CO x CI*KK)  * im2col(relu?(X)) (CI*KK x P)
 *   dx       dX (CI x H*W)    = W^T per tap      * the dy gathered back (CO*KK x H*W), ReLU mask at the store
 *   dw       dW (CO x CI*KK)  = dY (CO x P)      * im2col(relu?(X))^T, per chunk of images
 * KK = KH*KW, P = OH*OW. A work-group stages a GEMM_TS-deep slice of both operands in local
 * memory (the image operand read along the pixels: adjacent items, adjacent addresses, coalesced
 * for stride 1), then each item takes one output from them. Every item reaches every barrier
 * (those past an edge load zeros). */

/* im2col(relu?(X))[k][p] of image base xb: k = (ci, ky, kx), p = (oh, ow); 0 in the padding. */
RD_INLINE float im2col_at(__global const float *x, long xb, int k, int p, CONV_GEOM) {
    const int KK = KH_ * KW_, ci = k / KK, t = k - ci * KK, ky = t / KW_, kx = t - ky * KW_;
    const int oh = p / OW, ow = p - oh * OW;
    const int iy = oh * SH_ - PT + ky * DH, ix = ow * SW_ - PL + kx * DW;
    if (iy < 0 || iy >= H || ix < 0 || ix >= W) return 0.0f;
    const float v = x[xb + ((long)ci * H + iy) * W + ix];
    return RELU ? max(v, 0.0f) : v;
}

__kernel __attribute__((reqd_work_group_size(GEMM_TS, GEMM_TS, 1)))
void conv_fwd_local(RD_TC(x), RD_VC(w), RD_T(y), CONV_GEOM) {
    __local float xs[GEMM_TS][GEMM_TS + 1], ws[GEMM_TS][GEMM_TS + 1];
    const int lp = get_local_id(0), lr = get_local_id(1);
    const int p = get_global_id(0), co = get_global_id(1), n = get_global_id(2);
    const int P = OH * OW, K = CI * KH_ * KW_, row0 = get_group_id(1) * GEMM_TS;
    const long xb = x_off + (long)n * x_ns;
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += GEMM_TS) {
        xs[lr][lp] = k0 + lr < K && p < P ? im2col_at(x, xb, k0 + lr, p, CONV_GEOM_PASS) : 0.0f;
        ws[lr][lp] = k0 + lp < K && row0 + lr < CO ? w[w_off + (long)(row0 + lr) * K + k0 + lp] : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
        for (int k = 0; k < GEMM_TS; k++) acc = fma(ws[lr][k], xs[k][lp], acc);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (p < P && co < CO) y[y_off + (long)n * y_ns + (long)co * P + p] = acc;
}

/* dX[ci][iy][ix] = sum over (co, ky, kx) of W[co][ci][ky][kx] * dY[co][oy][ox], where
 * oy * SH = iy + PT - ky * DH (and ox likewise) has a whole solution inside the output. */
__kernel __attribute__((reqd_work_group_size(GEMM_TS, GEMM_TS, 1)))
void conv_dx_local(RD_TC(x), RD_VC(w), RD_TC(dy), RD_T(dx), CONV_GEOM, const int ACC) {
    __local float ds[GEMM_TS][GEMM_TS + 1], ws[GEMM_TS][GEMM_TS + 1];
    const int lp = get_local_id(0), lr = get_local_id(1);
    const int ip = get_global_id(0), ci = get_global_id(1), n = get_global_id(2);
    const int P = H * W, KK = KH_ * KW_, K = CO * KK, row0 = get_group_id(1) * GEMM_TS;
    const int iy = ip / W, ix = ip - iy * W;
    const long db = dy_off + (long)n * dy_ns;
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += GEMM_TS) {
        float v = 0.0f;
        const int k = k0 + lr;
        if (k < K && ip < P) {
            const int co = k / KK, t = k - co * KK, ky = t / KW_, kx = t - ky * KW_;
            const int ty = iy + PT - ky * DH, tx = ix + PL - kx * DW;
            if (ty >= 0 && tx >= 0 && ty % SH_ == 0 && tx % SW_ == 0 && ty / SH_ < OH && tx / SW_ < OW)
                v = dy[db + ((long)co * OH + ty / SH_) * OW + tx / SW_];
        }
        ds[lr][lp] = v;
        /* ws[i][j] = W[co][row0 + i][tap] for k0 + j = (co, tap): W transposed per tap */
        const int kw = k0 + lp;
        ws[lr][lp] = kw < K && row0 + lr < CI ? w[w_off + ((long)(kw / KK) * CI + row0 + lr) * KK + kw % KK] : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
        for (int j = 0; j < GEMM_TS; j++) acc = fma(ws[lr][j], ds[j][lp], acc);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (ip < P && ci < CI) {
        const long xi = x_off + (long)n * x_ns + (long)ci * P + ip;
        if (RELU && !(x[xi] > 0.0f)) acc = 0.0f;
        rd_store(dx + dx_off + (long)n * dx_ns + (long)ci * P + ip, acc, ACC);
    }
}

/* dW[co][k] over the images of chunk g into partial[g][co][k] (k = (ci, ky, kx)), as the tiled
 * kernels' partial sums: conv_dw_finish adds the chunks. The reduction runs over the pixels
 * GEMM_TS at a time: the group stages dY[co][p..] and im2col[k][p..], both read along p. */
__kernel __attribute__((reqd_work_group_size(GEMM_TS, GEMM_TS, 1)))
void conv_dw_local(RD_TC(x), RD_TC(dy), RD_V(partial), CONV_GEOM, const int IPC, const int ADD) {
    __local float gs[GEMM_TS][GEMM_TS + 1], xs[GEMM_TS][GEMM_TS + 1];
    const int lc = get_local_id(0), lr = get_local_id(1);
    const int k = get_global_id(0), co = get_global_id(1), g = get_global_id(2);
    const int P = OH * OW, K = CI * KH_ * KW_;
    const int col0 = get_group_id(0) * GEMM_TS, row0 = get_group_id(1) * GEMM_TS;
    const int n0 = g * IPC, n1 = min(N, n0 + IPC);
    float acc = 0.0f;
    for (int n = n0; n < n1; n++) {
        const long xb = x_off + (long)n * x_ns, db = dy_off + (long)n * dy_ns;
        for (int p0 = 0; p0 < P; p0 += GEMM_TS) {
            const int p = p0 + lc;
            gs[lr][lc] = row0 + lr < CO && p < P ? dy[db + (long)(row0 + lr) * P + p] : 0.0f;
            xs[lr][lc] = col0 + lr < K && p < P ? im2col_at(x, xb, col0 + lr, p, CONV_GEOM_PASS) : 0.0f;
            barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
            for (int t = 0; t < GEMM_TS; t++) acc = fma(gs[lr][t], xs[lc][t], acc);
            barrier(CLK_LOCAL_MEM_FENCE);
        }
    }
    if (k < K && co < CO) rd_store(&partial[partial_off + (long)g * CO * K + (long)co * K + k], acc, ADD);
}

/* ================= depthwise through local memory (GPUs; tune.conv_dwc = local) =================
 * A work-group takes a DWL_TS x DWL_TS tile of one plane (image n, channel c): it stages the
 * input patch the tile reads (forward) or the dy patch its dx gathers from (dx) in local
 * memory, each element read from global memory once and along the rows (coalesced), then every
 * item sums its window from there. Any kernel size, stride and dilation whose patch fits
 * DWL_MAX x DWL_MAX (7x7, stride 2, dilation 2: 43 x 43). */
#define DWL_MAX 43
RD_INLINE int floor_div(const int a, const int b) { return (a >= 0 ? a : a - b + 1) / b; }

__kernel __attribute__((reqd_work_group_size(DWL_TS, DWL_TS, 1)))
void dwc_fwd_local(RD_TC(x), RD_VC(w), RD_T(y), CONV_GEOM) {
    __local float patch[DWL_MAX * DWL_MAX];
    const int lx = get_local_id(0), ly = get_local_id(1), plane = get_global_id(2);
    const int n = plane / CI, c = plane % CI;
    const int ox = get_global_id(0), oy = get_global_id(1);
    const int ix0 = get_group_id(0) * DWL_TS * SW_ - PL, iy0 = get_group_id(1) * DWL_TS * SH_ - PT;
    const int pw = (DWL_TS - 1) * SW_ + (KW_ - 1) * DW + 1, ph = (DWL_TS - 1) * SH_ + (KH_ - 1) * DH + 1;
    const long xb = x_off + (long)n * x_ns + (long)c * H * W;
    for (int i = ly * DWL_TS + lx; i < pw * ph; i += DWL_TS * DWL_TS) {
        const int r = iy0 + i / pw, q = ix0 + i % pw;
        float v = 0.0f;
        if (n < N && r >= 0 && r < H && q >= 0 && q < W) {
            v = x[xb + (long)r * W + q];
            if (RELU) v = max(v, 0.0f);
        }
        patch[i] = v;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (ox >= OW || oy >= OH || n >= N) return;
    const long wb = w_off + (long)c * KH_ * KW_;
    float acc = 0.0f;
    for (int ky = 0; ky < KH_; ky++)
        for (int kx = 0; kx < KW_; kx++)
            acc = fma(w[wb + ky * KW_ + kx], patch[(ly * SH_ + ky * DH) * pw + lx * SW_ + kx * DW], acc);
    y[y_off + (long)n * y_ns + (long)c * OH * OW + (long)oy * OW + ox] = acc;
}

/* dx[iy][ix] = sum over taps (ky, kx) with iy + PT - ky*DH = oy*SH (ox likewise) of w * dy[oy][ox]. */
__kernel __attribute__((reqd_work_group_size(DWL_TS, DWL_TS, 1)))
void dwc_dx_local(RD_TC(x), RD_VC(w), RD_TC(dy), RD_T(dx), CONV_GEOM, const int ACC) {
    __local float patch[DWL_MAX * DWL_MAX];
    const int lx = get_local_id(0), ly = get_local_id(1), plane = get_global_id(2);
    const int n = plane / CI, c = plane % CI;
    const int ix = get_global_id(0), iy = get_global_id(1);
    const int tx0 = get_group_id(0) * DWL_TS, ty0 = get_group_id(1) * DWL_TS;
    /* the dy rows / columns any item of the tile gathers from */
    const int oy0 = floor_div(ty0 + PT - (KH_ - 1) * DH, SH_), ox0 = floor_div(tx0 + PL - (KW_ - 1) * DW, SW_);
    const int ph = floor_div(ty0 + DWL_TS - 1 + PT, SH_) - oy0 + 1, pw = floor_div(tx0 + DWL_TS - 1 + PL, SW_) - ox0 + 1;
    const long db = dy_off + (long)n * dy_ns + (long)c * OH * OW;
    for (int i = ly * DWL_TS + lx; i < pw * ph; i += DWL_TS * DWL_TS) {
        const int r = oy0 + i / pw, q = ox0 + i % pw;
        patch[i] = n < N && r >= 0 && r < OH && q >= 0 && q < OW ? dy[db + (long)r * OW + q] : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (ix >= W || iy >= H || n >= N) return;
    const long wb = w_off + (long)c * KH_ * KW_;
    float acc = 0.0f;
    for (int ky = 0; ky < KH_; ky++) {
        const int ty = iy + PT - ky * DH;
        if (ty - floor_div(ty, SH_) * SH_) continue;  /* no output row takes this tap */
        const int row = floor_div(ty, SH_) - oy0;
        for (int kx = 0; kx < KW_; kx++) {
            const int tx = ix + PL - kx * DW;
            if (tx - floor_div(tx, SW_) * SW_) continue;
            acc = fma(w[wb + ky * KW_ + kx], patch[row * pw + floor_div(tx, SW_) - ox0], acc);
        }
    }
    const long xi = x_off + (long)n * x_ns + (long)c * H * W + (long)iy * W + ix;
    if (RELU && !(x[xi] > 0.0f)) acc = 0.0f;
    rd_store(dx + dx_off + (long)n * dx_ns + (long)c * H * W + (long)iy * W + ix, acc, ACC);
}

/* dw of the depthwise convolution (tune.conv_dwc = local): a work-group per (channel, tap) and
 * chunk of images; its items walk the output pixels (adjacent items, adjacent pixels: coalesced)
 * and their sum goes through local memory into partial[g][c][kh][kw], as the tiled kernels'. */
__kernel void dwc_dw_local(RD_TC(x), RD_TC(dy), RD_V(partial), CONV_GEOM, const int IPC, const int ADD) {
    __local float buf[RD_WG];
    const int lid = get_local_id(0), wi = get_global_id(1), g = get_global_id(2);
    const int KK = KH_ * KW_, c = wi / KK, tap = wi % KK, ky = tap / KW_, kx = tap % KW_;
    const int n0 = g * IPC, n1 = min(N, n0 + IPC), P = OH * OW;
    float s = 0.0f;
    for (int n = n0; n < n1; n++) {
        const long xb = x_off + (long)n * x_ns + (long)c * H * W, db = dy_off + (long)n * dy_ns + (long)c * P;
        for (int p = lid; p < P; p += get_local_size(0)) {
            const int iy = (p / OW) * SH_ - PT + ky * DH, ix = (p % OW) * SW_ - PL + kx * DW;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                float v = x[xb + (long)iy * W + ix];
                if (RELU) v = max(v, 0.0f);
                s = fma(dy[db + p], v, s);
            }
        }
    }
    s = rd_group_sum(buf, s);
    if (lid == 0) rd_store(&partial[partial_off + (long)g * CI * KK + wi], s, ADD);
}
#endif
