/* The runtime's own kernel (host side: src/runtime/tensor.c). Used on Oclgrind
 * only, where a host write that does not cover its whole buffer breaks the
 * uninitialised-memory check (runtime.h, driver quirks): such writes go to a
 * staging buffer as a whole, then this kernel copies them into place. */
__kernel void copy_floats(__global const float *src, __global float *dst, const ulong dst_off, const ulong len) {
    const ulong i = get_global_id(0);
    if (i < len) dst[dst_off + i] = src[i];
}
