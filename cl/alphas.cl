/* Architecture weights (host side: src/nn/alphas.c).
 * alphas, mask, weights: [rows][K] with rows = 2 cell types x 14 edges. */

/* weights = softmax of alphas over the active ops of each row (mask 1), 0 elsewhere */
__kernel void masked_softmax(__global const float *alphas, __global const float *mask, __global float *weights,
                             const uint rows, const uint K) {
    const uint r = get_global_id(0);
    if (r >= rows) return;
    const uint o = r * K;
    float m = -INFINITY;
    for (uint k = 0; k < K; k++)
        if (mask[o + k] != 0.0f) m = fmax(m, alphas[o + k]);
    float s = 0.0f;
    for (uint k = 0; k < K; k++) {
        const float e = mask[o + k] != 0.0f ? exp(alphas[o + k] - m) : 0.0f;
        weights[o + k] = e;
        s += e;
    }
    const float inv = s > 0.0f ? 1.0f / s : 0.0f;
    for (uint k = 0; k < K; k++) weights[o + k] *= inv;
}

/* d(loss)/d(alpha) from the partial sums of d(loss)/d(weight):
 * g[t][e][k] = sum over cells of type t and channels of partials[cell][e][k][c],
 * then the softmax Jacobian over the active ops. One work-item per (t, e). */
__kernel void alpha_grad(__global const float *partials, __global const float *weights,
                         __global const float *mask, __global float *grad, const uint K, const uint cmax,
                         const uint n_cells, const ulong reduce_bits, const uint edges) {
    const uint r = get_global_id(0);
    if (r >= 2 * edges) return;
    const uint t = r / edges, e = r - t * edges, o = r * K;
    float g[16];
    float dot = 0.0f;
    for (uint k = 0; k < K && k < 16; k++) {
        float s = 0.0f;
        for (uint c = 0; c < n_cells; c++) {
            if (((reduce_bits >> c) & 1UL) != t) continue;
            __global const float *p = partials + (((ulong)c * edges + e) * K + k) * cmax;
            for (uint i = 0; i < cmax; i++) s += p[i];
        }
        g[k] = s;
        dot += weights[o + k] * s;
    }
    for (uint k = 0; k < K && k < 16; k++)
        grad[o + k] = mask[o + k] != 0.0f ? weights[o + k] * (g[k] - dot) : 0.0f;
}
