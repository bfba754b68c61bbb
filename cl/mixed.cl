/* The DARTS mixed op, out = sum_j w[j] * ys[j] (host side: src/ops/mixed.c).
 *
 * OpenCL 1.2 cannot pass an array of buffers, so a kernel takes a chunk of up
 * to MIX_SLOTS tensors as separate arguments (buffer, offset, batch stride:
 * 24 bytes each, well inside the 1024 bytes of arguments every device takes).
 * Slot J of a chunk is entry row0 + J of the op; bit J of `present` says the
 * slot holds a tensor (an absent entry is the zero op, or a gradient nobody
 * wants). The slot loops test k and present, which are the same for every
 * work-item, so the branches do not diverge.
 *
 * The forward and the input gradients are one launch per chunk; the k weight
 * gradients sum(dout * ys[j]) are one launch per chunk of a two-stage
 * reduction: every work-group sums its share of all the chunk's products into
 * partial[j][group], then one group per j adds up its row. No atomics, so
 * results do not depend on scheduling. Each kernel comes in two walks over the
 * elements, chosen by the host per device: one element (or column) per
 * work-item with all slots in registers for GPUs (_elems, _cols), and runs of
 * elements per work-item, slot after slot over the run, for CPUs (_runs). Two
 * kernels, not a branch on an argument: rusticl/llvmpipe warned about the
 * arguments read inside such a branch ("load_kernel_arg in control flow"). */

#define MIX_SLOTS 16
#define MIX_FOR_SLOTS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define MIX_IN_ARG(J) , __global const float *y##J, const ulong y##J##_off, const ulong y##J##_ns
#define MIX_OUT_ARG(J) , __global float *d##J, const ulong d##J##_off, const ulong d##J##_ns
#define MIX_ON(J) ((J) < k && ((present >> (J)) & 1u))

/* CPU walk: work-item number g of G takes elements [g * per, (g + 1) * per) of
 * the n * chw, image by image; the body sees the image b and its columns
 * [j0, j1). A core streams through its run, and loops over a run of one
 * tensor vectorize. */
#define MIX_RUNS_BEGIN                                                                              \
    const ulong items_ = get_global_size(0) * get_global_size(1), total_ = (ulong)chw * n;          \
    const ulong per_ = (total_ + items_ - 1) / items_;                                              \
    const ulong lo_ = (get_global_id(1) * get_global_size(0) + get_global_id(0)) * per_;           \
    const ulong hi_ = min(lo_ + per_, total_);                                                      \
    for (ulong at_ = lo_; at_ < hi_;) {                                                             \
        const ulong b = at_ / chw;                                                                  \
        const uint j0 = (uint)(at_ - b * chw), j1 = (uint)min((ulong)chw, j0 + (hi_ - at_));
#define MIX_RUNS_END \
    at_ += j1 - j0;  \
    }

/* out (+)= sum_J w[row0 + J] * yJ. GPU walk (contiguous == 0): the 2-D range
 * (chw, n), one element per work-item, all slots summed in a register. CPU walk:
 * runs (MIX_RUNS_BEGIN) of a few hundred elements, slot after slot into out's
 * run, which stays in the L1 cache. */
#define MIX_FWD_TERM(J) if (MIX_ON(J)) s += w[w_off + row0 + J] * y##J[y##J##_off + b * y##J##_ns + i];
#define MIX_FWD_RUN(J)                                                         \
    if (MIX_ON(J)) {                                                           \
        const float wj = w[w_off + row0 + J];                                  \
        __global const float *yj = y##J + y##J##_off + b * y##J##_ns;          \
        for (uint j = j0; j < j1; j++) o[j] += wj * yj[j];                     \
    }
__kernel void mixed_forward_runs(RD_VC(w), RD_T(out), const uint chw, const uint n, const uint k, const uint row0,
                                 const uint present, const int acc MIX_FOR_SLOTS(MIX_IN_ARG)) {
    MIX_RUNS_BEGIN
    __global float *o = out + out_off + b * out_ns;
    if (!acc)
        for (uint j = j0; j < j1; j++) o[j] = 0.0f;
    MIX_FOR_SLOTS(MIX_FWD_RUN)
    MIX_RUNS_END
}
__kernel void mixed_forward_elems(RD_VC(w), RD_T(out), const uint chw, const uint n, const uint k, const uint row0,
                                  const uint present, const int acc MIX_FOR_SLOTS(MIX_IN_ARG)) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= chw || b >= n) return;
    float s = 0.0f;
    MIX_FOR_SLOTS(MIX_FWD_TERM)
    const ulong o = out_off + b * out_ns + i;
    rd_store(&out[o], s, acc);
}

/* dJ (+)= w[row0 + J] * dout, in the same two walks as the forward. The CPU
 * walk re-reads dout's run from the L1 cache for every slot, so a dJ must not
 * overlap dout. */
#define MIX_BWD_TERM(J)                                            \
    if (MIX_ON(J)) {                                               \
        const ulong o = d##J##_off + b * d##J##_ns + i;            \
        const float v = w[w_off + row0 + J] * g;                   \
        rd_store(&d##J[o], v, acc);                           \
    }
#define MIX_BWD_RUN(J)                                                         \
    if (MIX_ON(J)) {                                                           \
        const float wj = w[w_off + row0 + J];                                  \
        __global float *dj = d##J + d##J##_off + b * d##J##_ns;                \
        if (acc)                                                               \
            for (uint j = j0; j < j1; j++) dj[j] += wj * g[j];                 \
        else                                                                   \
            for (uint j = j0; j < j1; j++) dj[j] = wj * g[j];                  \
    }
__kernel void mixed_backward_inputs_runs(RD_VC(w), RD_TC(dout), const uint chw, const uint n, const uint k,
                                         const uint row0, const uint present, const int acc MIX_FOR_SLOTS(MIX_OUT_ARG)) {
    MIX_RUNS_BEGIN
    __global const float *g = dout + dout_off + b * dout_ns;
    MIX_FOR_SLOTS(MIX_BWD_RUN)
    MIX_RUNS_END
}
__kernel void mixed_backward_inputs_elems(RD_VC(w), RD_TC(dout), const uint chw, const uint n, const uint k,
                                          const uint row0, const uint present, const int acc MIX_FOR_SLOTS(MIX_OUT_ARG)) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= chw || b >= n) return;
    const float g = dout[dout_off + b * dout_ns + i];
    MIX_FOR_SLOTS(MIX_BWD_TERM)
}

/* Stage 1 of the weight gradients: partial[(row0 + J) * groups + group] = this
 * group's share of sum(dout * yJ); an absent slot writes 0. Two walks over the
 * elements, both with indices image * stride + column and no division per element:
 *  - coalesced (GPUs): the 2-D range is (column groups x RD_WG, image groups);
 *    a work-group walks its images and, in each, its blocks of columns, one
 *    column per work-item, so neighbouring work-items read neighbouring floats;
 *  - contiguous (CPUs): each work-item takes its own run of the n * chw
 *    elements (MIX_RUNS_BEGIN) and sums slot after slot over it, four products
 *    at a time (k = 8 at 64x16x28x28 on POCL: 1.1 to 2 ms; 7 ms with the
 *    coalesced walk, 2.8 ms with all slots per element).
 * Local memory holds one row of RD_WG floats per slot and all slots are
 * reduced in one tree, so every barrier is unconditional. */
#define MIX_ACC_DECL(J) float a##J = 0.0f;
#define MIX_DOT_TERM(J) if (MIX_ON(J)) a##J += g * y##J[y##J##_off + b * y##J##_ns + j];
/* CPU: slot after slot over the run (dout's run stays in the L1 cache), four sums at a time */
#define MIX_DOT_RUN(J)                                                         \
    if (MIX_ON(J)) {                                                           \
        __global const float *yj = y##J + y##J##_off + b * y##J##_ns;          \
        float4 s4 = (float4)(0.0f);                                            \
        float s1 = 0.0f;                                                       \
        uint j = j0;                                                           \
        for (; j + 4 <= j1; j += 4) s4 += vload4(0, g + j) * vload4(0, yj + j); \
        for (; j < j1; j++) s1 += g[j] * yj[j];                                \
        a##J += ((s4.x + s4.y) + (s4.z + s4.w)) + s1;                          \
    }
#define MIX_ACC_STORE(J) if ((J) < k) buf[(J) * RD_WG + lid] = a##J;
/* The group tree over every slot's row, then this group's partial of each. */
#define MIX_DOTS_END                                                                                  \
    MIX_FOR_SLOTS(MIX_ACC_STORE)                                                                      \
    barrier(CLK_LOCAL_MEM_FENCE);                                                                     \
    for (uint s = ls / 2; s > 0; s >>= 1) {                                                           \
        if (lid < s)                                                                                  \
            for (uint J = 0; J < k; J++) buf[J * RD_WG + lid] += buf[J * RD_WG + lid + s];            \
        barrier(CLK_LOCAL_MEM_FENCE);                                                                 \
    }                                                                                                 \
    const uint groups = col_groups * get_num_groups(1), group = get_group_id(1) * col_groups + col_group; \
    for (uint J = lid; J < k; J += ls) partial[(ulong)(row0 + J) * groups + group] = buf[J * RD_WG];
#define MIX_DOTS_BEGIN                                                   \
    __local float buf[MIX_SLOTS * RD_WG];                                \
    const uint lid = get_local_id(0), ls = get_local_size(0);            \
    const uint col_group = get_group_id(0), col_groups = get_num_groups(0); \
    MIX_FOR_SLOTS(MIX_ACC_DECL)
__kernel void mixed_partial_dots_runs(RD_TC(dout), const uint chw, const uint n, const uint k, const uint row0,
                                      const uint present, __global float *partial MIX_FOR_SLOTS(MIX_IN_ARG)) {
    MIX_DOTS_BEGIN
    MIX_RUNS_BEGIN
    __global const float *g = dout + dout_off + b * dout_ns;
    MIX_FOR_SLOTS(MIX_DOT_RUN)
    MIX_RUNS_END
    MIX_DOTS_END
}
__kernel void mixed_partial_dots_cols(RD_TC(dout), const uint chw, const uint n, const uint k, const uint row0,
                                      const uint present, __global float *partial MIX_FOR_SLOTS(MIX_IN_ARG)) {
    MIX_DOTS_BEGIN
    for (ulong b = get_global_id(1); b < n; b += get_global_size(1)) {
        for (uint jb = col_group * ls; jb < chw; jb += col_groups * ls) {
            const uint j = jb + lid;
            if (j < chw) {
                const float g = dout[dout_off + b * dout_ns + j];
                MIX_FOR_SLOTS(MIX_DOT_TERM)
            }
        }
    }
    MIX_DOTS_END
}

/* Stage 2: group r sums row r of partial (count floats) into out[r], for r < rows. */
__kernel void mixed_finish_dots(__global const float *partial, const uint count, const uint rows, RD_V(out)) {
    __local float buf[RD_WG];
    const uint row = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    const uint c_end = row < rows ? count : 0;  /* no early return before the barriers */
    float s = 0.0f;
    for (uint c = lid; c < c_end; c += ls) s += partial[(ulong)row * count + c];
    s = rd_group_sum(buf, s);
    if (lid == 0 && row < rows) out[out_off + row] = s;
}
