/* Batch normalization kernels (host side: src/ops/batchnorm.c).
 *
 * The per-channel reductions run in two stages so that a GPU has work even
 * with few channels, with no atomics: stage 1 is a 2-D range of work-groups
 * (chunk, channel); each folds L consecutive values of its channel (in N, H, W
 * order: chunks cross image boundaries) into a partial; stage 2 merges each
 * channel's partials in one work-item. The plane kernels (CPUs, below) use the
 * same stage 2: merging in the element-wise pass instead (one launch fewer) made
 * each of a channel's N plane items repeat its merge, which took half of the
 * stack pass's samples (perf, C=16/8/16 batch 16): more than a launch costs.
 *
 * Statistics are accurate when the mean is large against the spread: a chunk
 * is read twice (the second read hits the cache), first for its mean, then for
 * the sum of squared deviations from it; chunks are merged the same way
 * (see bn_stats_finish). No E[x^2] - E[x]^2 anywhere.
 *
 * Scratch ("ws", floats): coef[5 * C] from ws_off, the partials part[2 * C * chunks]
 * from float "part" (5 * C past ws_off, except for a slice of a stack: see
 * rd_batchnorm_stack_stats, whose slices' partials lie side by side).
 * Forward coef per channel: mean, invstd * gamma, beta (y = (x - mean) * a + beta).
 * Backward coef per channel: shift, mult (xhat = (v - shift) * mult), k, A / M, B / M
 * with A = sum dy, B = sum dy * xhat, k = scale * gamma * invstd. */

/* Element e (0 <= e < N*HW) of channel c of a tensor view. */
inline ulong bn_index(const ulong off, const ulong ns, const uint HW, const uint c, const uint e) {
    const uint img = e / HW;
    return off + img * ns + (ulong)c * HW + (e - img * HW);
}

/* Stage 1 of the statistics: part[c][k] = (mean, M2) of chunk k of channel c. */
__kernel void bn_stats_partial(RD_TC(x), const uint C, const uint HW, const uint M, const uint L,
                               __global float *ws, const ulong part) {
    __local float buf[RD_WG];
    const uint k = get_group_id(0), c = get_group_id(1), lid = get_local_id(0);
    if (c >= C) return;  /* uniform over the group */
    const uint e0 = k * L, e1 = min(e0 + L, M);
    const float cnt = (float)(e1 - e0);
    float s = 0.0f;
    for (uint e = e0 + lid; e < e1; e += RD_WG) s += x[bn_index(x_off, x_ns, HW, c, e)];
    const float m0 = rd_group_sum(buf, s) / cnt;
    /* deviations from the chunk's float mean; d1 corrects for its rounding */
    float d1 = 0.0f, d2 = 0.0f;
    for (uint e = e0 + lid; e < e1; e += RD_WG) {
        const float d = x[bn_index(x_off, x_ns, HW, c, e)] - m0;
        d1 += d;
        d2 += d * d;
    }
    d1 = rd_group_sum(buf, d1);
    d2 = rd_group_sum(buf, d2);
    if (lid == 0) {
        __global float *p = ws + part + 2 * ((ulong)c * get_num_groups(0) + k);
        p[0] = m0 + d1 / cnt;
        p[1] = fmax(d2 - d1 * d1 / cnt, 0.0f);
    }
}

/* Stage 2 for channel c: merges its chunk statistics into mean and invstd; with
 * store (one work-item per channel) saves them and updates the running statistics
 * (unbiased variance). The merge is itself two-pass over the chunk means (mean from
 * small deviations against the first chunk's, then M2 = sum M2_k + n_k (mean_k -
 * mean)^2), which rounds less than folding chunks one by one (Chan et al.). */
inline float bn_channel_stats(__global const float *ws, const ulong part, const uint c, const uint chunks, const uint M,
                              const uint L, const float eps, const float momentum, const int track, const int store,
                              RD_V(save_mean), RD_V(save_invstd), RD_V(run_mean), RD_V(run_var), float *mean_out) {
    __global const float *p = ws + part + 2 * (ulong)c * chunks;
    const float ref = p[0];
    float s = 0.0f;
    for (uint k = 0; k < chunks; k++) s += (float)min(L, M - k * L) * (p[2 * k] - ref);
    const float mean = ref + s / (float)M;
    float m2 = 0.0f;
    for (uint k = 0; k < chunks; k++) {
        const float d = p[2 * k] - mean;
        m2 += p[2 * k + 1] + (float)min(L, M - k * L) * d * d;
    }
    const float var = m2 / (float)M, invstd = 1.0f / sqrt(var + eps);
    if (store) {
        save_mean[save_mean_off + c] = mean;
        save_invstd[save_invstd_off + c] = invstd;
        if (track) {
            const ulong rm = run_mean_off + c, rv = run_var_off + c;
            run_mean[rm] = (1.0f - momentum) * run_mean[rm] + momentum * mean;
            run_var[rv] = (1.0f - momentum) * run_var[rv] + momentum * (m2 / (float)(M - 1));
        }
    }
    *mean_out = mean;
    return invstd;
}

/* The forward's per-channel scale and shift: y = (x - mean) * a + bt. */
inline void bn_affine(const int affine, const float invstd, const uint c, RD_VC(gamma), RD_VC(beta), float *a,
                      float *bt) {
    *a = affine ? invstd * gamma[gamma_off + c] : invstd;
    *bt = affine ? beta[beta_off + c] : 0.0f;
}

/* Stage 2 as its own kernel (the work-group layout): one work-item per channel, writes coef. */
__kernel void bn_stats_finish(RD_V(ws), const ulong part, const uint chunks, const uint C, const uint M,
                              const uint L, const float eps, const float momentum, const int track, const int affine,
                              RD_V(save_mean), RD_V(save_invstd), RD_V(run_mean), RD_V(run_var), RD_VC(gamma),
                              RD_VC(beta)) {
    const uint c = get_global_id(0);
    if (c >= C) return;
    float mean;
    const float invstd = bn_channel_stats(ws, part, c, chunks, M, L, eps, momentum, track, 1, save_mean, save_mean_off,
                                          save_invstd, save_invstd_off, run_mean, run_mean_off, run_var, run_var_off,
                                          &mean);
    __global float *coef = ws + ws_off;
    float a, bt;
    bn_affine(affine, invstd, c, gamma, gamma_off, beta, beta_off, &a, &bt);
    coef[3 * c] = mean;
    coef[3 * c + 1] = a;
    coef[3 * c + 2] = bt;
}

/* Evaluation mode: coef from the running statistics. */
__kernel void bn_eval_coef(const uint C, const float eps, const int affine, RD_VC(run_mean), RD_VC(run_var),
                           RD_VC(gamma), RD_VC(beta), __global float *coef) {
    const uint c = get_global_id(0);
    if (c >= C) return;
    const float invstd = 1.0f / sqrt(run_var[run_var_off + c] + eps);
    float a, bt;
    bn_affine(affine, invstd, c, gamma, gamma_off, beta, beta_off, &a, &bt);
    coef[3 * c] = run_mean[run_mean_off + c];
    coef[3 * c + 1] = a;
    coef[3 * c + 2] = bt;
}

/* y = (x - mean) * a + beta; with has_acc also acc += scale * y (scale[0] on the
 * device, 1 without has_scale). y may be x. */
__kernel void bn_apply(RD_TC(x), RD_T(y), const uint HW, const uint chw, const uint n,
                       RD_VC(coef), RD_VC(scale), const int has_scale, RD_T(acc), const int has_acc) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= chw || b >= n) return;
    const uint c = i / HW;
    coef += coef_off;
    const float v = (x[x_off + b * x_ns + i] - coef[3 * c]) * coef[3 * c + 1] + coef[3 * c + 2];
    y[y_off + b * y_ns + i] = v;
    if (has_acc) {
        const float s = has_scale ? scale[scale_off] : 1.0f;
        acc[acc_off + b * acc_ns + i] += s * v;
    }
}

/* How xhat is read back in backward: mode 0 from x (shift = mean, mult =
 * invstd), 1 from y without affine (xhat = y), 2 from y with affine
 * (xhat = (y - beta) / gamma). */
inline void bn_xhat_map(const int mode, const uint c, __global const float *save_mean, const ulong save_mean_off,
                        __global const float *save_invstd, const ulong save_invstd_off, __global const float *gamma,
                        const ulong gamma_off, __global const float *beta, const ulong beta_off, float *shift,
                        float *mult) {
    if (mode == 0) {
        *shift = save_mean[save_mean_off + c];
        *mult = save_invstd[save_invstd_off + c];
    } else if (mode == 1) {
        *shift = 0.0f;
        *mult = 1.0f;
    } else {
        *shift = beta[beta_off + c];
        *mult = 1.0f / gamma[gamma_off + c];
    }
}

/* Stage 1 of backward: part[c][k] = (sum dy, sum dy * xhat) over chunk k of channel c. */
__kernel void bn_grad_partial(RD_TC(v), RD_TC(dy), const uint dyC, const uint C, const uint HW, const uint M,
                              const uint L, const int mode, RD_VC(save_mean), RD_VC(save_invstd), RD_VC(gamma),
                              RD_VC(beta), __global float *ws, const ulong part) {
    __local float buf[RD_WG];
    const uint k = get_group_id(0), c = get_group_id(1), lid = get_local_id(0);
    if (c >= C) return;  /* uniform over the group */
    float shift, mult;
    bn_xhat_map(mode, c, save_mean, save_mean_off, save_invstd, save_invstd_off, gamma, gamma_off, beta, beta_off,
                &shift, &mult);
    const uint e0 = k * L, e1 = min(e0 + L, M);
    float sa = 0.0f, sb = 0.0f;
    for (uint e = e0 + lid; e < e1; e += RD_WG) {
        const float g = dy[bn_index(dy_off, dy_ns, HW, c % dyC, e)];
        sa += g;
        sb += g * (v[bn_index(v_off, v_ns, HW, c, e)] - shift);
    }
    sa = rd_group_sum(buf, sa);
    sb = rd_group_sum(buf, sb);
    if (lid == 0) {
        __global float *p = ws + part + 2 * ((ulong)c * get_num_groups(0) + k);
        p[0] = sa;
        p[1] = sb * mult;
    }
}

/* Stage 2 of backward for channel c: A, B from its chunk partials; with store (one
 * work-item per channel) dgamma += s B, dbeta += s A, dot = sum dy * y = gamma B + beta A;
 * q: the coefficients of the element-wise pass (see the top of this file). */
inline void bn_grad_coef(__global const float *ws, const ulong part, const uint c, const uint chunks, const uint M,
                         const int mode, const int affine, RD_VC(save_mean), RD_VC(save_invstd), RD_VC(gamma),
                         RD_VC(beta), RD_VC(scale), const int has_scale, const int store, RD_V(dgamma),
                         const int has_dgamma, RD_V(dbeta), const int has_dbeta, RD_V(dot), const int has_dot,
                         float *q) {
    __global const float *p = ws + part + 2 * (ulong)c * chunks;
    float A = 0.0f, B = 0.0f;
    for (uint k = 0; k < chunks; k++) {
        A += p[2 * k];
        B += p[2 * k + 1];
    }
    float shift, mult;
    bn_xhat_map(mode, c, save_mean, save_mean_off, save_invstd, save_invstd_off, gamma, gamma_off, beta, beta_off,
                &shift, &mult);
    const float s = has_scale ? scale[scale_off] : 1.0f;
    const float g = affine ? gamma[gamma_off + c] : 1.0f, bt = affine ? beta[beta_off + c] : 0.0f;
    if (store) {
        if (has_dgamma) dgamma[dgamma_off + c] += s * B;
        if (has_dbeta) dbeta[dbeta_off + c] += s * A;
        if (has_dot) dot[dot_off + c] = g * B + bt * A;
    }
    q[0] = shift;
    q[1] = mult;
    q[2] = s * g * save_invstd[save_invstd_off + c];
    q[3] = A / (float)M;
    q[4] = B / (float)M;
}

/* Stage 2 of backward as its own kernel (the work-group layout, or no dx): writes coef. */
__kernel void bn_grad_finish(RD_V(ws), const ulong part, const uint chunks, const uint C, const uint M,
                             const int mode, const int affine, RD_VC(save_mean), RD_VC(save_invstd), RD_VC(gamma),
                             RD_VC(beta), RD_VC(scale), const int has_scale, RD_V(dgamma), const int has_dgamma,
                             RD_V(dbeta), const int has_dbeta, RD_V(dot), const int has_dot) {
    const uint c = get_global_id(0);
    if (c >= C) return;
    float q[5];
    bn_grad_coef(ws, part, c, chunks, M, mode, affine, save_mean, save_mean_off, save_invstd, save_invstd_off, gamma,
                 gamma_off, beta, beta_off, scale, scale_off, has_scale, 1, dgamma, dgamma_off, has_dgamma, dbeta,
                 dbeta_off, has_dbeta, dot, dot_off, has_dot, q);
    __global float *coef = ws + ws_off + 5 * (ulong)c;
    for (int i = 0; i < 5; i++) coef[i] = q[i];
}

/* dx (+)= k * (dy - A/M - xhat * B/M): element-wise, so dx may alias dy or v. */
__kernel void bn_grad_input(RD_TC(v), RD_TC(dy), RD_T(dx), const uint HW, const uint chw, const uint n,
                            RD_VC(coef), const int acc) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= chw || b >= n) return;
    __global const float *q = coef + coef_off + 5 * (i / HW);
    const float xhat = (v[v_off + b * v_ns + i] - q[0]) * q[1];
    const float g = q[2] * (dy[dy_off + b * dy_ns + i] - q[3] - xhat * q[4]);
    const ulong d = dx_off + b * dx_ns + i;
    rd_store(&dx[d], g, acc);
}

/* ---- plane kernels, for CPUs ----
 * One work-item per (channel, image) plane of HW contiguous floats, read in
 * float8 (what a CPU's SIMD unit runs): no index division, no barriers. The
 * partials are then one per plane (chunks = N, L = HW) and the same stage-2
 * kernels merge them. */

RD_INLINE float bn_hsum8(const float8 v) {
    const float4 a = v.lo + v.hi;
    const float2 b = a.lo + a.hi;
    return b.x + b.y;
}

/* (mean, M2) of the HW floats at p into p2[0], p2[1]: two passes, as bn_stats_partial. */
RD_INLINE void bn_plane_stats(__global const float *p, const uint HW, __global float *p2) {
    /* two chains per sum: one chain of float8 adds waits on each add's latency */
    float8 s8 = (float8)(0.0f), t8 = (float8)(0.0f);
    uint j = 0;
    for (; j + 16 <= HW; j += 16) {
        s8 += vload8(0, p + j);
        t8 += vload8(0, p + j + 8);
    }
    if (j + 8 <= HW) {
        s8 += vload8(0, p + j);
        j += 8;
    }
    float s = bn_hsum8(s8 + t8);
    for (; j < HW; j++) s += p[j];
    const float cnt = (float)HW, m0 = s / cnt;
    float8 a8 = (float8)(0.0f), q8 = (float8)(0.0f), a8b = (float8)(0.0f), q8b = (float8)(0.0f);
    for (j = 0; j + 16 <= HW; j += 16) {
        const float8 d = vload8(0, p + j) - m0, e = vload8(0, p + j + 8) - m0;
        a8 += d;
        q8 += d * d;
        a8b += e;
        q8b += e * e;
    }
    if (j + 8 <= HW) {
        const float8 d = vload8(0, p + j) - m0;
        a8 += d;
        q8 += d * d;
        j += 8;
    }
    float d1 = bn_hsum8(a8 + a8b), d2 = bn_hsum8(q8 + q8b);
    for (; j < HW; j++) {
        const float d = p[j] - m0;
        d1 += d;
        d2 += d * d;
    }
    p2[0] = m0 + d1 / cnt;
    p2[1] = fmax(d2 - d1 * d1 / cnt, 0.0f);
}

__kernel void bn_stats_planes(RD_TC(x), const uint C, const uint n, const uint HW, __global float *ws,
                              const ulong part) {
    const uint c = get_global_id(0), b = get_global_id(1);
    if (c >= C || b >= n) return;
    bn_plane_stats(x + x_off + b * x_ns + (ulong)c * HW, HW, ws + part + 2 * ((ulong)c * n + b));
}

/* y = (x - mean) * a + bt over plane (c, b), with acc += s * y when has_acc. */
RD_INLINE void bn_apply_plane(RD_TC(x), RD_T(y), RD_T(acc), const int has_acc, const uint c, const uint b, const uint HW,
                           const float mean, const float a, const float bt, const float s) {
    __global const float *xp = x + x_off + b * x_ns + (ulong)c * HW;
    __global float *yp = y + y_off + b * y_ns + (ulong)c * HW;
    uint j = 0;
    if (has_acc) {
        __global float *ap = acc + acc_off + b * acc_ns + (ulong)c * HW;
        for (; j + 8 <= HW; j += 8) {
            const float8 v = (vload8(0, xp + j) - mean) * a + bt;
            vstore8(v, 0, yp + j);
            vstore8(vload8(0, ap + j) + s * v, 0, ap + j);
        }
        for (; j < HW; j++) {
            const float v = (xp[j] - mean) * a + bt;
            yp[j] = v;
            ap[j] += s * v;
        }
    } else {
        for (; j + 8 <= HW; j += 8) vstore8((vload8(0, xp + j) - mean) * a + bt, 0, yp + j);
        for (; j < HW; j++) yp[j] = (xp[j] - mean) * a + bt;
    }
}

/* Evaluation mode (coef from bn_eval_coef). */
__kernel void bn_apply_planes(RD_TC(x), RD_T(y), const uint C, const uint n, const uint HW,
                              RD_VC(coef), RD_VC(scale), const int has_scale, RD_T(acc), const int has_acc) {
    const uint c = get_global_id(0), b = get_global_id(1);
    if (c >= C || b >= n) return;
    const float s = has_scale ? scale[scale_off] : 1.0f;
    coef += coef_off;
    bn_apply_plane(x, x_off, x_ns, y, y_off, y_ns, acc, acc_off, acc_ns, has_acc, c, b, HW, coef[3 * c],
                   coef[3 * c + 1], coef[3 * c + 2], s);
}

/* (sum g, mult * sum g * (v - shift)) of one plane of HW floats into p2[0], p2[1]. */
RD_INLINE void bn_plane_grad(__global const float *vp, __global const float *gp, const uint HW, const float shift,
                             const float mult, __global float *p2) {
    float8 a8 = (float8)(0.0f), b8 = (float8)(0.0f), a8b = (float8)(0.0f), b8b = (float8)(0.0f);
    uint j = 0;
    for (; j + 16 <= HW; j += 16) {  /* two chains per sum, as in bn_plane_stats */
        const float8 g = vload8(0, gp + j), h = vload8(0, gp + j + 8);
        a8 += g;
        b8 += g * (vload8(0, vp + j) - shift);
        a8b += h;
        b8b += h * (vload8(0, vp + j + 8) - shift);
    }
    if (j + 8 <= HW) {
        const float8 g = vload8(0, gp + j);
        a8 += g;
        b8 += g * (vload8(0, vp + j) - shift);
        j += 8;
    }
    float sa = bn_hsum8(a8 + a8b), sb = bn_hsum8(b8 + b8b);
    for (; j < HW; j++) {
        sa += gp[j];
        sb += gp[j] * (vp[j] - shift);
    }
    p2[0] = sa;
    p2[1] = sb * mult;
}

__kernel void bn_grad_planes(RD_TC(v), RD_TC(dy), const uint dyC, const uint C, const uint n, const uint HW,
                             const int mode, RD_VC(save_mean), RD_VC(save_invstd), RD_VC(gamma), RD_VC(beta),
                             __global float *ws, const ulong part) {
    const uint c = get_global_id(0), b = get_global_id(1);
    if (c >= C || b >= n) return;
    float shift, mult;
    bn_xhat_map(mode, c, save_mean, save_mean_off, save_invstd, save_invstd_off, gamma, gamma_off, beta, beta_off,
                &shift, &mult);
    bn_plane_grad(v + v_off + b * v_ns + (ulong)c * HW, dy + dy_off + b * dy_ns + (ulong)(c % dyC) * HW, HW, shift,
                  mult, ws + part + 2 * ((ulong)c * n + b));
}

/* dx (+)= k * (dy - A/M - xhat * B/M) over one plane, from the coefficients q[0..5)
 * (bn_grad_coef). Element-wise, so dx may alias dy or v. */
RD_INLINE void bn_grad_input_plane(__global const float *vp, __global const float *gp, __global float *dp,
                                   const uint HW, const float shift, const float mult, const float k, const float ma,
                                   const float mb, const int acc) {
    uint j = 0;
    for (; j + 8 <= HW; j += 8) {
        const float8 xhat = (vload8(0, vp + j) - shift) * mult;
        const float8 g = k * (vload8(0, gp + j) - ma - xhat * mb);
        rd_store8(dp + j, g, acc);
    }
    for (; j < HW; j++) {
        const float g = k * (gp[j] - ma - (vp[j] - shift) * mult * mb);
        rd_store(&dp[j], g, acc);
    }
}

__kernel void bn_grad_input_planes(RD_TC(v), RD_TC(dy), RD_T(dx), const uint C, const uint n, const uint HW,
                                   RD_VC(coef), const int acc) {
    const uint c = get_global_id(0), b = get_global_id(1);
    if (c >= C || b >= n) return;
    __global const float *q = coef + coef_off + 5 * (ulong)c;
    bn_grad_input_plane(v + v_off + b * v_ns + (ulong)c * HW, dy + dy_off + b * dy_ns + (ulong)c * HW,
                        dx + dx_off + b * dx_ns + (ulong)c * HW, HW, q[0], q[1], q[2], q[3], q[4], acc);
}

/* ---- channel kernels, for CPUs with channels to spare ----
 * One work-item per channel runs a whole training batch norm, forward or backward:
 * its planes' partials (as the plane kernels, into the same ws), their merge (as
 * the finish kernels) and the element-wise pass, in one launch instead of three (a
 * launch costs POCL about 9 us inside a search step). The partials are read back
 * by the work-item that wrote them; the planes' second read comes from its cache. */
__kernel void bn_train_channels(RD_TC(x), RD_T(y), const uint C, const uint n, const uint HW, __global float *ws,
                                const ulong part, const float eps, const float momentum, const int track,
                                const int affine, RD_V(save_mean), RD_V(save_invstd), RD_V(run_mean),
                                RD_V(run_var), RD_VC(gamma), RD_VC(beta), RD_VC(scale), const int has_scale,
                                RD_T(acc), const int has_acc) {
    const uint c = get_global_id(0);
    if (c >= C) return;
    for (uint b = 0; b < n; b++)
        bn_plane_stats(x + x_off + b * x_ns + (ulong)c * HW, HW, ws + part + 2 * ((ulong)c * n + b));
    float mean;
    const float invstd = bn_channel_stats(ws, part, c, n, n * HW, HW, eps, momentum, track, 1, save_mean, save_mean_off,
                                          save_invstd, save_invstd_off, run_mean, run_mean_off, run_var, run_var_off,
                                          &mean);
    float a, bt;
    bn_affine(affine, invstd, c, gamma, gamma_off, beta, beta_off, &a, &bt);
    const float s = has_scale ? scale[scale_off] : 1.0f;
    for (uint b = 0; b < n; b++)
        bn_apply_plane(x, x_off, x_ns, y, y_off, y_ns, acc, acc_off, acc_ns, has_acc, c, b, HW, mean, a, bt, s);
}

__kernel void bn_backward_channels(RD_TC(v), RD_TC(dy), RD_T(dx), const int has_dx, const int acc, const uint C,
                                   const uint n, const uint HW, const int mode, const int affine, RD_VC(save_mean),
                                   RD_VC(save_invstd), RD_VC(gamma), RD_VC(beta), RD_VC(scale), const int has_scale,
                                   RD_V(dgamma), const int has_dgamma, RD_V(dbeta), const int has_dbeta, RD_V(dot),
                                   const int has_dot, __global float *ws, const ulong part) {
    const uint c = get_global_id(0);
    if (c >= C) return;
    float shift, mult;
    bn_xhat_map(mode, c, save_mean, save_mean_off, save_invstd, save_invstd_off, gamma, gamma_off, beta, beta_off,
                &shift, &mult);
    for (uint b = 0; b < n; b++)
        bn_plane_grad(v + v_off + b * v_ns + (ulong)c * HW, dy + dy_off + b * dy_ns + (ulong)c * HW, HW, shift, mult,
                      ws + part + 2 * ((ulong)c * n + b));
    float q[5];
    bn_grad_coef(ws, part, c, n, n * HW, mode, affine, save_mean, save_mean_off, save_invstd, save_invstd_off, gamma,
                 gamma_off, beta, beta_off, scale, scale_off, has_scale, 1, dgamma, dgamma_off, has_dgamma, dbeta,
                 dbeta_off, has_dbeta, dot, dot_off, has_dot, q);
    if (!has_dx) return;
    for (uint b = 0; b < n; b++)
        bn_grad_input_plane(v + v_off + b * v_ns + (ulong)c * HW, dy + dy_off + b * dy_ns + (ulong)c * HW,
                            dx + dx_off + b * dx_ns + (ulong)c * HW, HW, q[0], q[1], q[2], q[3], q[4], acc);
}

/* ---- a stack's slices, two launches (plane layout): the mixed op's final BNs ----
 * x: the stack, G slices of C channels, normalised in place. A finish kernel over
 * (channel, slice) merges each slice's channel once and writes its coefficients to
 * ws at coef; then work-item (c, b) of the element-wise kernel runs channel c of every
 * slice on image b. tab[3 g .. 3 g + 2] (uints): slice g's scale index in scale,
 * running statistics' offset in run (mean; var at + C), dot's offset in dot. The
 * slices' save_mean / save_invstd lie side by side (G * C). BN_STACK_MAX (the private
 * arrays' length) comes from src/ops/batchnorm.c as a -D define. */
#if !defined(BN_STACK_MAX)
#error "cl/batchnorm.cl is built with -DBN_STACK_MAX (src/ops/batchnorm.c)"
#endif

/* coef[2 (g C + c) ..]: slice g's channel c's mean and invstd; saves them, updates run. */
__kernel void bn_stack_finish(__global float *ws, const ulong coef, const ulong part, const uint C, const uint G,
                              const uint n, const uint HW, const float eps, const float momentum, const int track,
                              RD_V(save_mean), RD_V(save_invstd), RD_V(run), __global const uint *tab,
                              const ulong tab_off) {
    const uint c = get_global_id(0), g = get_global_id(1);
    if (c >= C || g >= G) return;
    const ulong r = run_off + tab[tab_off + 3 * g + 1];
    float mean;
    const float invstd = bn_channel_stats(ws, part + 2 * (ulong)g * C * n, c, n, n * HW, HW, eps, momentum, track, 1,
                                          save_mean, save_mean_off + g * C, save_invstd, save_invstd_off + g * C,
                                          run, r, run, r + C, &mean);
    __global float *q = ws + coef + 2 * ((ulong)g * C + c);
    q[0] = mean;
    q[1] = invstd;
}

/* x = (x - mean) * invstd for every slice, acc += sum over the slices of scale * x. */
__kernel void bn_stack_apply_planes(RD_T(x), const uint C, const uint G, const uint n, const uint HW,
                                    __global const float *ws, const ulong coef, RD_VC(scale),
                                    __global const uint *tab, const ulong tab_off, RD_T(acc)) {
    const uint c = get_global_id(0), b = get_global_id(1);
    if (c >= C || b >= n || G > BN_STACK_MAX) return;
    float mean[BN_STACK_MAX], a[BN_STACK_MAX], s[BN_STACK_MAX];
    for (uint g = 0; g < G; g++) {
        __global const float *q = ws + coef + 2 * ((ulong)g * C + c);
        mean[g] = q[0];
        a[g] = q[1];
        s[g] = scale[scale_off + tab[tab_off + 3 * g]];
    }
    __global float *ap = acc + acc_off + b * acc_ns + (ulong)c * HW;
    __global float *xp = x + x_off + b * x_ns + (ulong)c * HW;
    const ulong gs = (ulong)C * HW;  /* from one slice's plane to the next's */
    uint j = 0;
    for (; j + 8 <= HW; j += 8) {
        float8 sum = vload8(0, ap + j);
        for (uint g = 0; g < G; g++) {
            const float8 v = (vload8(0, xp + g * gs + j) - mean[g]) * a[g];
            vstore8(v, 0, xp + g * gs + j);
            sum += s[g] * v;
        }
        vstore8(sum, 0, ap + j);
    }
    for (; j < HW; j++) {
        float sum = ap[j];
        for (uint g = 0; g < G; g++) {
            const float v = (xp[g * gs + j] - mean[g]) * a[g];
            xp[g * gs + j] = v;
            sum += s[g] * v;
        }
        ap[j] = sum;
    }
}

/* Backward stage 2 of slice g's channel c (no affine, xhat = y): coef[3 (g C + c) ..] = k, A/M,
 * B/M; writes its dot. */
__kernel void bn_stack_grad_finish(__global float *ws, const ulong coef, const ulong part, const uint C,
                                   const uint G, const uint n, const uint HW, RD_VC(save_invstd), RD_VC(scale),
                                   RD_V(dot), const int has_dot, __global const uint *tab, const ulong tab_off) {
    const uint c = get_global_id(0), g = get_global_id(1);
    if (c >= C || g >= G) return;
    float q[5];
    bn_grad_coef(ws, part + 2 * (ulong)g * C * n, c, n, n * HW, 1, 0, save_invstd, 0, save_invstd,
                 save_invstd_off + g * C, save_invstd, 0, save_invstd, 0, scale, scale_off + tab[tab_off + 3 * g], 1,
                 1, dot, 0, 0, dot, 0, 0, dot, dot_off + tab[tab_off + 3 * g + 2], has_dot, q);
    __global float *k = ws + coef + 3 * ((ulong)g * C + c);
    k[0] = q[2];
    k[1] = q[3];
    k[2] = q[4];
}

/* Backward of every slice from its output y (no affine): y becomes d(its input) in place,
 * from dy (C channels, every slice's upstream gradient, unscaled) and bn_stack_grad_finish's
 * coefficients. */
__kernel void bn_stack_grad_input_planes(RD_T(y), RD_TC(dy), const uint C, const uint G, const uint n,
                                         const uint HW, __global const float *ws, const ulong coef) {
    const uint c = get_global_id(0), b = get_global_id(1);
    if (c >= C || b >= n || G > BN_STACK_MAX) return;
    float k[BN_STACK_MAX], ma[BN_STACK_MAX], mb[BN_STACK_MAX];
    for (uint g = 0; g < G; g++) {
        __global const float *q = ws + coef + 3 * ((ulong)g * C + c);
        k[g] = q[0];
        ma[g] = q[1];
        mb[g] = q[2];
    }
    __global const float *gp = dy + dy_off + b * dy_ns + (ulong)c * HW;
    __global float *yp = y + y_off + b * y_ns + (ulong)c * HW;
    const ulong gs = (ulong)C * HW;
    uint j = 0;
    for (; j + 8 <= HW; j += 8) {
        const float8 d = vload8(0, gp + j);
        for (uint g = 0; g < G; g++) {
            __global float *p = yp + g * gs + j;
            vstore8(k[g] * (d - ma[g] - vload8(0, p) * mb[g]), 0, p);
        }
    }
    for (; j < HW; j++)
        for (uint g = 0; g < G; g++) yp[g * gs + j] = k[g] * (gp[j] - ma[g] - yp[g * gs + j] * mb[g]);
}
