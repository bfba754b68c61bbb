/* radars-cl: device tensors.
 *
 * A tensor is a view, NCHW float32, of device memory it does not own: a cl_mem,
 * an offset (in floats) and a batch stride (floats from one image to the next).
 * The batch stride lets channel slices and concatenations be views with no copy:
 * the 4 nodes of a cell are written side by side into the cell's output, and a
 * slice of channels [c0, c0+nc) is the same memory at offset c0*H*W.
 * Buffers (rd_buffer) own memory; rd_vec is a flat view for parameters. */
#ifndef RADARS_TENSOR_H
#define RADARS_TENSOR_H

#include "radars/device.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rd_tensor {
    cl_mem mem;
    size_t off;      /* first element, in floats */
    int n, c, h, w;
    size_t nstride;  /* floats between images; c*h*w when dense */
} rd_tensor;

/* A flat run of floats (parameters, gradients, per-channel statistics). */
typedef struct rd_vec {
    cl_mem mem;
    size_t off;      /* in floats */
    size_t len;
} rd_vec;

static inline size_t rd_tensor_numel(const rd_tensor *t) {
    return (size_t)t->n * t->c * t->h * t->w;
}
static inline size_t rd_tensor_chw(const rd_tensor *t) {
    return (size_t)t->c * t->h * t->w;
}
static inline int rd_tensor_is_dense(const rd_tensor *t) {
    return t->nstride == rd_tensor_chw(t);
}
/* Dense NCHW view at off. */
rd_tensor rd_tensor_make(cl_mem mem, size_t off, int n, int c, int h, int w);
/* Channels [c0, c0+nc) of t: same images, same batch stride. */
rd_tensor rd_tensor_channels(rd_tensor t, int c0, int nc);
/* Images [n0, n0+nn) of t. */
rd_tensor rd_tensor_images(rd_tensor t, int n0, int nn);
/* Floats spanned by the view (from off to the end of its last image). */
size_t rd_tensor_span(const rd_tensor *t);
/* The whole tensor as a flat vector (requires a dense tensor). */
rd_vec rd_tensor_as_vec(const rd_tensor *t);
rd_vec rd_vec_make(cl_mem mem, size_t off, size_t len);
rd_vec rd_vec_slice(rd_vec v, size_t off, size_t len);
int rd_tensor_same_shape(const rd_tensor *a, const rd_tensor *b);
/* "2x16x28x28" */
const char *rd_tensor_shape_str(const rd_tensor *t, char *buf, size_t len);

/* Allocates a dense tensor in its own counted buffer. */
rd_status rd_tensor_alloc(rd_ctx *ctx, int n, int c, int h, int w, const char *what,
                          rd_buffer **buf, rd_tensor *t);

/* Host <-> device copies (blocking). host is dense NCHW; strided views are handled. */
rd_status rd_tensor_write(rd_ctx *ctx, const rd_tensor *t, const float *host);
rd_status rd_tensor_read(rd_ctx *ctx, const rd_tensor *t, float *host);
rd_status rd_vec_write(rd_ctx *ctx, const rd_vec *v, const float *host);
rd_status rd_vec_read(rd_ctx *ctx, const rd_vec *v, float *host);

#ifdef __cplusplus
}
#endif
#endif
