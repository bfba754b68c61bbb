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

/* PC-DARTS' edge normalisation: the weight of each edge into a node is the softmax of
 * the betas over the node's incoming edges (node i: edges i(i+3)/2 .. +i+1 of its cell
 * type). betas, weights: [2][edges]. One work-item per (cell type, node). */
__kernel void edge_softmax(RD_VC(betas), RD_V(weights), const uint steps, const uint edges) {
    const uint r = get_global_id(0);
    if (r >= 2 * steps) return;
    const uint t = r / steps, node = r - t * steps, first = t * edges + node * (node + 3) / 2, count = node + 2;
    float m = -INFINITY;
    for (uint e = 0; e < count; e++) m = fmax(m, betas[betas_off + first + e]);
    float s = 0.0f;
    for (uint e = 0; e < count; e++) s += exp(betas[betas_off + first + e] - m);
    for (uint e = 0; e < count; e++) weights[weights_off + first + e] = exp(betas[betas_off + first + e] - m) / s;
}

/* d(loss)/d(betas) from per-cell partial sums of d(loss)/d(edge weight), partials
 * [n_cells][edges] (cell c has type bit c of reduce_bits), through the softmax. */
__kernel void edge_softmax_grad(__global const float *partials, RD_VC(weights), RD_V(grad), const uint steps,
                                const uint edges, const uint n_cells, const ulong reduce_bits) {
    const uint r = get_global_id(0);
    if (r >= 2 * steps) return;
    const uint t = r / steps, node = r - t * steps, first = node * (node + 3) / 2, count = node + 2;
    float g[16];
    float dot = 0.0f;
    for (uint e = 0; e < count && e < 16; e++) {
        float s = 0.0f;
        for (uint c = 0; c < n_cells; c++)
            if (((reduce_bits >> c) & 1UL) == t) s += partials[(ulong)c * edges + first + e];
        g[e] = s;
        dot += weights[weights_off + t * edges + first + e] * s;
    }
    for (uint e = 0; e < count && e < 16; e++) {
        const float we = weights[weights_off + t * edges + first + e];
        grad[grad_off + t * edges + first + e] = we * (g[e] - dot);
    }
}
