/* Element-wise kernels and reductions (host side: src/ops/elementwise.c).
 * Tensor kernels run on a 2-D range: dim 0 walks one image (c*h*w floats),
 * dim 1 the images, so batch strides cost one multiply per item. */

__kernel void fill(RD_T(t), const uint chw, const uint n, const float value) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= chw || b >= n) return;
    t[t_off + b * t_ns + i] = value;
}

__kernel void relu_forward(RD_TC(x), RD_T(y), const uint chw, const uint n) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= chw || b >= n) return;
    y[y_off + b * y_ns + i] = fmax(x[x_off + b * x_ns + i], 0.0f);
}

__kernel void relu_backward(RD_TC(x), RD_TC(dy), RD_T(dx), const uint chw, const uint n, const int acc) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= chw || b >= n) return;
    const float g = x[x_off + b * x_ns + i] > 0.0f ? dy[dy_off + b * dy_ns + i] : 0.0f;
    const ulong o = dx_off + b * dx_ns + i;
    rd_store(&dx[o], g, acc);
}

__kernel void axpy(const float a, RD_TC(x), RD_T(y), const uint chw, const uint n, const int acc) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= chw || b >= n) return;
    const ulong o = y_off + b * y_ns + i;
    const float v = a * x[x_off + b * x_ns + i];
    rd_store(&y[o], v, acc);
}

__kernel void axpy_dev(RD_VC(w), RD_TC(x), RD_T(y), const uint chw, const uint n, const int acc) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= chw || b >= n) return;
    rd_store(&y[y_off + b * y_ns + i], w[w_off] * x[x_off + b * x_ns + i], acc);
}

/* drop-path: one scale per image */
__kernel void scale_images(RD_VC(s), RD_TC(x), RD_T(y), const uint chw, const uint n, const int acc) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= chw || b >= n) return;
    const ulong o = y_off + b * y_ns + i;
    const float v = s[s_off + b] * x[x_off + b * x_ns + i];
    rd_store(&y[o], v, acc);
}

/* copy with channel offset: y[:, c0:c0+xc] = x  or, with dir = 1, y = x[:, c0:c0+yc] */
__kernel void copy_tensor(RD_TC(x), RD_T(y), const uint chw, const uint n) {
    const uint i = get_global_id(0), b = get_global_id(1);
    if (i >= chw || b >= n) return;
    y[y_off + b * y_ns + i] = x[x_off + b * x_ns + i];
}

__kernel void vec_axpy(const float a, RD_VC(x), RD_V(y), const ulong len) {
    const ulong i = get_global_id(0);
    if (i < len) y[y_off + i] += a * x[x_off + i];
}

__kernel void vec_scale(RD_V(x), const float a, const ulong len) {
    const ulong i = get_global_id(0);
    if (i < len) x[x_off + i] *= a;
}

__kernel void vec_fill(RD_V(x), const float v, const ulong len) {
    const ulong i = get_global_id(0);
    if (i < len) x[x_off + i] = v;
}

__kernel void vec_copy(RD_VC(x), RD_V(y), const ulong len) {
    const ulong i = get_global_id(0);
    if (i < len) y[y_off + i] = x[x_off + i];
}

/* Stage 1 of a sum: each group folds its share of the input into partial[group].
 * mode 0: sum(a*a) over a vector; mode 1: sum(a*b) over two tensors. */
__kernel void partial_sumsq(RD_VC(a), const ulong len, __global float *partial) {
    __local float buf[RD_WG];
    float s = 0.0f;
#if RD_GPU
    for (ulong i = get_global_id(0); i < len; i += get_global_size(0)) {
        const float v = a[a_off + i];
        s += v * v;
    }
#else
    /* CPU: each work-item streams through its own run, four sums at a time (POCL: 0.3 ms
     * instead of 3.7 ms for 2M floats, which clip_grad_norm sums every step) */
    const ulong items = get_global_size(0), per = (len + items - 1) / items;
    const ulong lo = get_global_id(0) * per, hi = min(lo + per, len);
    float s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    ulong i = lo;
    for (; i + 4 <= hi; i += 4) {
        const float v0 = a[a_off + i], v1 = a[a_off + i + 1], v2 = a[a_off + i + 2], v3 = a[a_off + i + 3];
        s += v0 * v0;
        s1 += v1 * v1;
        s2 += v2 * v2;
        s3 += v3 * v3;
    }
    for (; i < hi; i++) s += a[a_off + i] * a[a_off + i];
    s = (s + s1) + (s2 + s3);
#endif
    s = rd_group_sum(buf, s);
    if (get_local_id(0) == 0) partial[get_group_id(0)] = s;
}

__kernel void partial_dot(RD_TC(a), RD_TC(b), const uint chw, const uint n, __global float *partial) {
    __local float buf[RD_WG];
    float s = 0.0f;
    const ulong total = (ulong)chw * n;
#if RD_GPU
    for (ulong i = get_global_id(0); i < total; i += get_global_size(0)) {
        const ulong img = i / chw, j = i - img * chw;
        s += a[a_off + img * a_ns + j] * b[b_off + img * b_ns + j];
    }
#else
    /* CPU: each work-item streams its own run, one division per image it touches
     * (the grid-stride loop above divides per element: 5x slower on POCL) */
    const ulong items = get_global_size(0), per = (total + items - 1) / items;
    ulong i = get_global_id(0) * per;
    const ulong end = min(i + per, total);
    float s1 = 0.0f;
    while (i < end) {
        const ulong img = i / chw, stop = min(end, (img + 1) * chw);
        __global const float *pa = a + a_off + img * a_ns - img * chw, *pb = b + b_off + img * b_ns - img * chw;
        for (; i + 2 <= stop; i += 2) {
            s += pa[i] * pb[i];
            s1 += pa[i + 1] * pb[i + 1];
        }
        for (; i < stop; i++) s += pa[i] * pb[i];
    }
    s += s1;
#endif
    s = rd_group_sum(buf, s);
    if (get_local_id(0) == 0) partial[get_group_id(0)] = s;
}

/* Stage 2: one group sums the partials into out[0]. */
__kernel void finish_sum(__global const float *partial, const uint count, RD_V(out)) {
    __local float buf[RD_WG];
    float s = 0.0f;
    for (uint i = get_local_id(0); i < count; i += get_local_size(0)) s += partial[i];
    s = rd_group_sum(buf, s);
    if (get_local_id(0) == 0) out[out_off] = s;
}
