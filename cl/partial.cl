/* PC-DARTS' partial channel connection of one edge (Xu et al., ICLR 2020; host
 * side: src/ops/partial.c, reference: src/ops/ref/ref_partial.c).
 *
 * x (n, C, H, W) is split into its first q = C/K channels, which went through the
 * mixed op into t (n, q, Ho, Wo), and the rest, which bypass it (as they are, or
 * max-pooled 2x2 on a stride-2 edge). The two are concatenated and the channels
 * shuffled in K groups; the node gets w (the edge's normalised weight) times that:
 *   out channel o = j*K + g  <-  g == 0 ? t[j] : bypass(x[g*q + j])
 * A stride-2 bypass window takes its first largest element (row-major order). */

/* The bypass value of output pixel p (of Ho x Wo) from one input plane (H x W). */
static inline float pc_bypass(__global const float *plane, const uint p, const uint stride, const uint W,
                              const uint Wo) {
    if (stride == 1) return plane[p];
    const uint ho = p / Wo, wo = p - ho * Wo, base = 2 * ho * W + 2 * wo;
    float m = plane[base];
    m = fmax(m, plane[base + 1]);
    m = fmax(m, plane[base + W]);
    return fmax(m, plane[base + W + 1]);
}

/* node += w * shuffle(concat(t, bypass(x rest))): one work-item per node element. */
__kernel void pc_combine_forward(RD_TC(x), RD_TC(t), RD_VC(w), RD_T(node), const uint C, const uint K,
                                 const uint stride, const uint H, const uint W, const uint Ho, const uint Wo) {
    const uint i = get_global_id(0), b = get_global_id(1), hw = Ho * Wo;
    if (i >= C * hw) return;
    const uint o = i / hw, p = i - o * hw, g = o % K, j = o / K, q = C / K;
    float v;
    if (g == 0) v = t[t_off + b * t_ns + (ulong)j * hw + p];
    else v = pc_bypass(x + x_off + b * x_ns + (ulong)(g * q + j) * H * W, p, stride, W, Wo);
    node[node_off + b * node_ns + i] += w[w_off] * v;
}

/* dt = w * (the mixed op's channels of dnode): one work-item per element of dt (overwritten). */
__kernel void pc_combine_backward_t(RD_TC(dnode), RD_VC(w), RD_T(dt), const uint q, const uint K, const uint hw) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= q * hw) return;
    const uint j = i / hw, p = i - j * hw;
    dt[dt_off + b * dt_ns + i] = w[w_off] * dnode[dnode_off + b * dnode_ns + (ulong)j * K * hw + p];
}

/* dx (bypass channels) += w * the bypass's backward of dnode: one work-item per element of
 * those channels of x; on a stride-2 edge only the window's first largest element gets it
 * (the windows do not overlap, so no two work-items write one element). */
__kernel void pc_combine_backward_x(RD_TC(dnode), RD_TC(x), RD_VC(w), RD_T(dx), const uint C, const uint K,
                                    const uint stride, const uint H, const uint W, const uint Ho, const uint Wo) {
    const uint i = get_global_id(0), b = get_global_id(1), q = C / K, HW = H * W;
    if (i >= (C - q) * HW) return;
    const uint ci = q + i / HW, pix = i - (i / HW) * HW, g = ci / q, j = ci - g * q, o = j * K + g;
    __global const float *dn = dnode + dnode_off + b * dnode_ns + (ulong)o * Ho * Wo;
    float d;
    if (stride == 1) {
        d = dn[pix];
    } else {
        const uint h = pix / W, c = pix - h * W, ho = h / 2, wo = c / 2;
        if (ho >= Ho || wo >= Wo) return;
        __global const float *plane = x + x_off + b * x_ns + (ulong)ci * HW;
        const uint base = 2 * ho * W + 2 * wo, cand[4] = {base, base + 1, base + W, base + W + 1};
        uint best = cand[0];
        for (uint k = 1; k < 4; k++)
            if (plane[cand[k]] > plane[best]) best = cand[k];
        if (best != pix) return;
        d = dn[ho * Wo + wo];
    }
    dx[dx_off + b * dx_ns + (ulong)ci * HW + pix] += w[w_off] * d;
}

/* Stage 1 of d(loss)/d(w) = sum of dnode * shuffle(concat(t, bypass)): partial sums per group. */
__kernel void pc_combine_dot(RD_TC(dnode), RD_TC(x), RD_TC(t), const uint C, const uint K, const uint stride,
                             const uint H, const uint W, const uint Ho, const uint Wo, const uint n,
                             __global float *partial) {
    __local float buf[RD_WG];
    const uint hw = Ho * Wo, q = C / K;
    const ulong chw = (ulong)C * hw, total = chw * n;
    float s = 0.0f;
    for (ulong idx = get_global_id(0); idx < total; idx += get_global_size(0)) {
        const uint b = (uint)(idx / chw), i = (uint)(idx - b * chw);
        const uint o = i / hw, p = i - o * hw, g = o % K, j = o / K;
        float v;
        if (g == 0) v = t[t_off + b * t_ns + (ulong)j * hw + p];
        else v = pc_bypass(x + x_off + b * x_ns + (ulong)(g * q + j) * H * W, p, stride, W, Wo);
        s += dnode[dnode_off + b * dnode_ns + i] * v;
    }
    s = rd_group_sum(buf, s);
    if (get_local_id(0) == 0) partial[get_group_id(0)] = s;
}
