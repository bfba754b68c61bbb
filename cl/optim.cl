/* Optimizer steps and gradient-norm clipping (host side: src/ops/optim.c).
 * One work-item per parameter over the single parameter buffer of a network;
 * the arithmetic follows PyTorch 1.13's float32 update order. */

/* PyTorch SGD (dampening 0, no Nesterov) after clip_grad_norm_'s in-place scaling:
 *   g = grad * scale; g = g + wd * p (when wd != 0);
 *   buf = momentum * buf + g, g = buf (when momentum != 0; buf starts at zero,
 *   which gives PyTorch's buf = g on the first step exactly); p = p - lr * g.
 * scale is read on the device (from rd_clip_grad_norm) unless has_scale is 0. */
__kernel void sgd_step(RD_V(p), RD_VC(g), RD_V(buf), RD_VC(scale), const ulong len, const float lr,
                       const float momentum, const float wd, const int has_buf, const int has_scale) {
    const ulong i = get_global_id(0);
    if (i >= len) return;
    float d = g[g_off + i];
    if (has_scale) d *= scale[scale_off];
    const float pv = p[p_off + i];
    if (wd != 0.0f) d = d + wd * pv;
    if (has_buf) {
        d = momentum * buf[buf_off + i] + d;
        buf[buf_off + i] = d;
    }
    p[p_off + i] = pv - lr * d;
}

/* PyTorch Adam (L2 weight decay, no amsgrad), with the bias corrections done on
 * the host in double as PyTorch does in Python:
 *   g = grad + wd * p; m = beta1 * m + (1 - beta1) * g; v = beta2 * v + (1 - beta2) * g * g;
 *   p = p - step_size * m / (sqrt(v) / bc2_sqrt + eps),
 * step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t). */
__kernel void adam_step(RD_V(p), RD_VC(g), RD_V(m), RD_V(v), const ulong len, const float beta1,
                        const float one_minus_beta1, const float beta2, const float one_minus_beta2, const float eps,
                        const float wd, const float step_size, const float bc2_sqrt) {
    const ulong i = get_global_id(0);
    if (i >= len) return;
    const float pv = p[p_off + i];
    float d = g[g_off + i];
    if (wd != 0.0f) d = d + wd * pv;
    const float mi = m[m_off + i] * beta1 + one_minus_beta1 * d;
    const float vi = v[v_off + i] * beta2 + one_minus_beta2 * d * d;
    m[m_off + i] = mi;
    v[v_off + i] = vi;
    const float denom = sqrt(vi) / bc2_sqrt + eps;
    p[p_off + i] = pv - step_size * (mi / denom);
}

/* Stage 2 of clip_grad_norm_: sums the partial sums of squares (stage 1 is
 * elementwise.cl's partial_sumsq), then norm = sqrt(sum) and
 * scale = min(1, max_norm / (norm + 1e-6)), written as a compare so that a NaN
 * norm gives a NaN scale, as torch.clamp does. */
__kernel void clip_finish(__global const float *partial, const uint count, const float max_norm, RD_V(scale),
                          RD_V(norm), const int want_norm) {
    __local float buf[RD_WG];
    float s = 0.0f;
    for (uint i = get_local_id(0); i < count; i += get_local_size(0)) s += partial[i];
    s = rd_group_sum(buf, s);
    if (get_local_id(0) == 0) {
        const float total = sqrt(s);
        const float coef = max_norm / (total + 1e-6f);
        scale[scale_off] = coef > 1.0f ? 1.0f : coef;
        if (want_norm) norm[norm_off] = total;
    }
}
