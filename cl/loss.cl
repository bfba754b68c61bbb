/* Row-wise softmax and the mean cross-entropy loss (host side: src/ops/loss.c).
 * Softmax runs one work-group per row (the alphas are 14 rows of 8 or 15, the
 * logits a batch of rows of 10: rows are short, but a group per row also
 * keeps long rows fast). The loss runs as one work-group over all rows so that
 * the mean and the correct-count are summed in local memory, with no atomics
 * and no second launch. Every element is read and written by the same
 * work-item, so the outputs may alias the inputs.
 *
 * No kernel here returns early before a barrier, even where the whole group
 * would leave together (legal OpenCL): with `if (row >= rows) return;` at the
 * top of softmax_backward, never taken, POCL 3.1 wrote 6 rows past the last of
 * 14 (out of bounds; reproduced outside radars-cl). Out-of-range groups run
 * their loops zero times instead. */

/* Maximum over the work-group of v (all items call it; size = RD_WG, a power of two). */
inline float group_max(__local float *buf, float v) {
    const uint lid = get_local_id(0), n = get_local_size(0);
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = n / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] = fmax(buf[lid], buf[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* y = exp(x - max) / sum(exp(x - max)) per row; the group of a row is get_group_id(0). */
__kernel void softmax_forward(RD_VC(x), RD_V(y), const uint rows, const uint cols) {
    __local float buf[RD_WG];
    const uint row = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    const uint n_cols = row < rows ? cols : 0;  /* see the note on early returns above */
    const ulong xb = x_off + (ulong)row * cols, yb = y_off + (ulong)row * cols;
    float mx = -INFINITY;
    for (uint c = lid; c < n_cols; c += ls) mx = fmax(mx, x[xb + c]);
    mx = group_max(buf, mx);
    float s = 0.0f;
    for (uint c = lid; c < n_cols; c += ls) s += exp(x[xb + c] - mx);
    s = rd_group_sum(buf, s);
    for (uint c = lid; c < n_cols; c += ls) y[yb + c] = exp(x[xb + c] - mx) / s;
}

/* dx (+)= y * (dy - sum(dy * y)) per row. */
__kernel void softmax_backward(RD_VC(y), RD_VC(dy), RD_V(dx), const uint rows, const uint cols, const int acc) {
    __local float buf[RD_WG];
    const uint row = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    const uint n_cols = row < rows ? cols : 0;
    const ulong base = (ulong)row * cols;
    float d = 0.0f;
    for (uint c = lid; c < n_cols; c += ls) d += dy[dy_off + base + c] * y[y_off + base + c];
    d = rd_group_sum(buf, d);
    for (uint c = lid; c < n_cols; c += ls) {
        const float g = y[y_off + base + c] * (dy[dy_off + base + c] - d);
        const ulong o = dx_off + base + c;
        dx[o] = acc ? dx[o] + g : g;  /* a select: rd_store's branch on acc in this loop makes rusticl warn */
    }
}

/* Mean cross-entropy of n rows of k logits; one work-group, a work-item per row.
 * loss[0] = mean(logsumexp(row) - row[label]); correct[0] = count of rows whose
 * first maximum is at the label; dlogits = (softmax - onehot) / n. A label
 * outside [0, k) makes the loss and that row of dlogits NaN.
 * log() is taken once per work-item, after its rows: the sums of exponentials
 * of its rows are multiplied up as mantissa * 2^exponent. In the row loop,
 * rusticl/llvmpipe warned "Treating load_kernel_arg in control flow as
 * uniform": its log() reads a table through a hidden kernel argument. (frexp
 * would split the product too, but Oclgrind 21.10 aborts on its pointer.) */
__kernel void cross_entropy(RD_VC(x), __global const int *labels, const ulong labels_off, const uint n,
                            const uint k, RD_V(loss), RD_V(dl), const int want_dl, RD_V(correct),
                            const int want_correct) {
    __local float buf[RD_WG];
    const uint lid = get_local_id(0), ls = get_local_size(0);
    const float inv_n = 1.0f / (float)n;
    float shift_sum = 0.0f, sum_mant = 1.0f, right = 0.0f;  /* sum over rows of max - row[label]; prod of sums */
    int sum_exp = 0;
    for (uint r = lid; r < n; r += ls) {
        const ulong base = (ulong)r * k;
        float mx = x[x_off + base];
        uint best = 0;
        for (uint c = 1; c < k; c++) {
            const float v = x[x_off + base + c];
            if (v > mx) { mx = v; best = c; }
        }
        float s = 0.0f;
        for (uint c = 0; c < k; c++) s += exp(x[x_off + base + c] - mx);
        const int label = labels[labels_off + r];
        const int valid = label >= 0 && label < (int)k;
        /* s >= 1 (the maximum's term is 1), so the product stays a normal float:
         * split it into its exponent and a mantissa in [1, 2) by its bits. s - s
         * carries a NaN or infinite sum into the loss, which the bits would lose. */
        const uint bits = as_uint(sum_mant * s);
        sum_exp += (int)(bits >> 23) - 127;
        sum_mant = as_float((bits & 0x007fffffu) | 0x3f800000u);
        shift_sum += (valid ? mx - x[x_off + base + (uint)label] : NAN) + (s - s);
        right += (valid && best == (uint)label) ? 1.0f : 0.0f;
        const uint k_dl = want_dl ? k : 0;
        for (uint c = 0; c < k_dl; c++) {
            const float p = exp(x[x_off + base + c] - mx) / s;
            dl[dl_off + base + c] = valid ? (p - (c == (uint)label ? 1.0f : 0.0f)) * inv_n : NAN;
        }
    }
    float loss_sum = log(sum_mant) + (float)sum_exp * M_LN2_F + shift_sum;
    loss_sum = rd_group_sum(buf, loss_sum);
    right = rd_group_sum(buf, right);
    if (lid == 0) {
        loss[loss_off] = loss_sum * inv_n;
        if (want_correct) correct[correct_off] = right;
    }
}
