/* Bias kernels of the fully connected layer (host side: src/ops/linear.c).
 * The products themselves are CLBlast GEMMs. y and dy are N x M with a batch
 * stride (views allowed); one work-item per output element or per bias. */

/* y[n][m] += b[m] over the 2-D range (M, N) */
__kernel void linear_bias_add(RD_T(y), RD_VC(b), const uint m_count, const uint n_count) {
    const uint m = get_global_id(0), n = get_global_id(1);
    if (m >= m_count || n >= n_count) return;
    y[y_off + n * y_ns + m] += b[b_off + m];
}

/* db[m] += sum_n dy[n][m]: a batch is small (tens to hundreds of rows), so one
 * work-item walks its column; consecutive items read consecutive floats. */
__kernel void linear_bias_grad(RD_TC(dy), RD_V(db), const uint m_count, const uint n_count) {
    const uint m = get_global_id(0);
    if (m >= m_count) return;
    float s = 0.0f;
    for (uint n = 0; n < n_count; n++) s += dy[dy_off + n * dy_ns + m];
    db[db_off + m] += s;
}
