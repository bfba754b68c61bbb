/* The device's own limits, measured through OpenCL (host side: src/ops/roofline.c):
 * a streaming copy for the bandwidth and a chain of multiply-adds for the compute
 * peak. The roofline of every benchmark is drawn from these two figures. */
__kernel void roof_copy(__global const float4 *src, __global float4 *dst, const ulong n) {
    const ulong i = get_global_id(0);
    if (i < n) dst[i] = src[i];
}

/* ROOF_CHAINS independent float8 chains of ROOF_ITERS multiply-adds per work-item:
 * enough independent work to fill the FMA pipelines whether the compiler
 * vectorizes across work-items (POCL) or not (GPUs); the sum keeps them alive. */
#define ROOF_ITERS 256
__kernel void roof_fma(__global float *out, const float a, const float b) {
    const float8 s = (float8)(0, 1, 2, 3, 4, 5, 6, 7) + get_global_id(0) * 1e-9f;
    float8 x0 = s, x1 = s + 1, x2 = s + 2, x3 = s + 3, x4 = s + 4, x5 = s + 5, x6 = s + 6, x7 = s + 7;
    for (int i = 0; i < ROOF_ITERS; i++) {
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x2 = fma(x2, a, b); x3 = fma(x3, a, b);
        x4 = fma(x4, a, b); x5 = fma(x5, a, b); x6 = fma(x6, a, b); x7 = fma(x7, a, b);
    }
    const float8 t = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
    out[get_global_id(0)] = t.s0 + t.s1 + t.s2 + t.s3 + t.s4 + t.s5 + t.s6 + t.s7;
}
