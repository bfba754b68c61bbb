/* Prepended to every radars-cl program. The host defines, per device:
 *   RD_WG        preferred 1-D work-group size (reductions size their local arrays with it)
 *   RD_FP64      1 when the device has double precision
 *   RD_GPU       1 on GPUs (where local-memory tiling pays), 0 on CPUs
 *   RD_LOCAL_MEM bytes of dedicated local memory (0 when local memory is global memory) */
#ifndef RD_WG
#define RD_WG 64
#endif

/* POCL keeps large helpers out of line, which turns their compile-time
 * arguments (kernel size, stride, SAFE) into run-time branches and their
 * private arrays into stack memory: force inlining. */
#if defined(__clang__)
#define RD_INLINE static inline __attribute__((always_inline))
#else
#define RD_INLINE static inline
#endif

/* A tensor argument: buffer, offset of the first element, batch stride (all in floats). */
#define RD_T(name) __global float *name, const ulong name##_off, const ulong name##_ns
#define RD_TC(name) __global const float *name, const ulong name##_off, const ulong name##_ns
/* A vector argument: buffer and offset. */
#define RD_V(name) __global float *name, const ulong name##_off
#define RD_VC(name) __global const float *name, const ulong name##_off

/* Sum over the work-group of v (all items must call it; size = RD_WG). */
inline float rd_group_sum(__local float *buf, float v) {
    const uint lid = get_local_id(0), n = get_local_size(0);
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = n / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] += buf[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* *p = v, or *p += v when acc: a branch, not a select, so nothing reads *p when
 * it is being overwritten (it may be uninitialised: Oclgrind reports such reads). */
inline void rd_store(__global float *p, const float v, const int acc) {
    if (acc) *p += v;
    else *p = v;
}
inline void rd_store8(__global float *p, const float8 v, const int acc) {
    if (acc) vstore8(vload8(0, p) + v, 0, p);
    else vstore8(v, 0, p);
}
