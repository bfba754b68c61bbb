/* Tensor views and host <-> device copies. */
#include <stdio.h>

#include "runtime/runtime.h"

rd_tensor rd_tensor_make(cl_mem mem, size_t off, int n, int c, int h, int w) {
    rd_tensor t = {mem, off, n, c, h, w, (size_t)c * h * w};
    return t;
}

rd_tensor rd_tensor_channels(rd_tensor t, int c0, int nc) {
    t.off += (size_t)c0 * t.h * t.w;
    t.c = nc;
    return t;
}

rd_tensor rd_tensor_images(rd_tensor t, int n0, int nn) {
    t.off += (size_t)n0 * t.nstride;
    t.n = nn;
    return t;
}

size_t rd_tensor_span(const rd_tensor *t) {
    if (t->n == 0) return 0;
    return (size_t)(t->n - 1) * t->nstride + rd_tensor_chw(t);
}

rd_vec rd_vec_make(cl_mem mem, size_t off, size_t len) {
    rd_vec v = {mem, off, len};
    return v;
}

rd_vec rd_vec_slice(rd_vec v, size_t off, size_t len) {
    v.off += off;
    v.len = len;
    return v;
}

rd_vec rd_tensor_as_vec(const rd_tensor *t) {
    rd_vec v = {t->mem, t->off, rd_tensor_numel(t)};
    return v;
}

int rd_tensor_same_shape(const rd_tensor *a, const rd_tensor *b) {
    return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w;
}

const char *rd_tensor_shape_str(const rd_tensor *t, char *buf, size_t len) {
    snprintf(buf, len, "%dx%dx%dx%d", t->n, t->c, t->h, t->w);
    return buf;
}

rd_status rd_tensor_alloc(rd_ctx *ctx, int n, int c, int h, int w, const char *what, rd_buffer **buf,
                          rd_tensor *t) {
    size_t bytes = (size_t)n * c * h * w * sizeof(float);
    RD_TRY(rd_alloc(ctx, bytes, what, buf));
    *t = rd_tensor_make(rd_buffer_mem(*buf), 0, n, c, h, w);
    return RD_OK;
}

/* Writes bytes of host at byte offset off of mem (blocking unless blocking is 0).
 * On Oclgrind a write that does not cover the whole buffer goes through a
 * staging buffer and a copy kernel (runtime.h, driver quirks). */
static cl_int host_write(rd_ctx *ctx, cl_mem mem, size_t off, size_t bytes, const float *host, cl_bool blocking) {
    size_t size = 0;
    if (ctx->oclgrind_shadow) clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (!ctx->oclgrind_shadow || (off == 0 && bytes == size))
        return clEnqueueWriteBuffer(ctx->queue, mem, blocking, off, bytes, host, 0, NULL, NULL);
    cl_int rc;
    cl_mem staging = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &rc);
    if (rc != CL_SUCCESS) return rc;
    rc = clEnqueueWriteBuffer(ctx->queue, staging, CL_TRUE, 0, bytes, host, 0, NULL, NULL);
    cl_kernel k = rc == CL_SUCCESS ? rd_kernel(ctx, "runtime", "copy_floats") : NULL;
    if (rc == CL_SUCCESS && !k) rc = CL_BUILD_PROGRAM_FAILURE;
    if (rc == CL_SUCCESS) {
        cl_ulong doff = off / sizeof(float), len = bytes / sizeof(float);
        size_t g = rd_round_up(len, ctx->wg), l = ctx->wg;
        clSetKernelArg(k, 0, sizeof staging, &staging);
        clSetKernelArg(k, 1, sizeof mem, &mem);
        clSetKernelArg(k, 2, sizeof doff, &doff);
        clSetKernelArg(k, 3, sizeof len, &len);
        rc = clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &g, &l, 0, NULL, NULL);
    }
    if (rc == CL_SUCCESS) rc = clFinish(ctx->queue);
    /* never released before the context: Oclgrind's reuse of a released buffer is the other half of the quirk */
    if (!rd_retire(ctx, staging)) clReleaseMemObject(staging);
    return rc;
}

static rd_status copy_tensor(rd_ctx *ctx, const rd_tensor *t, float *host, int write) {
    size_t chw = rd_tensor_chw(t);
    cl_int rc = CL_SUCCESS;
    if (rd_tensor_is_dense(t)) {
        size_t bytes = rd_tensor_numel(t) * sizeof(float), off = t->off * sizeof(float);
        if (bytes == 0) return RD_OK;
        rc = write ? host_write(ctx, t->mem, off, bytes, host, CL_TRUE)
                   : clEnqueueReadBuffer(ctx->queue, t->mem, CL_TRUE, off, bytes, host, 0, NULL, NULL);
    } else {
        for (int i = 0; i < t->n && rc == CL_SUCCESS; i++) {
            size_t off = (t->off + (size_t)i * t->nstride) * sizeof(float);
            float *h = host + (size_t)i * chw;
            rc = write ? host_write(ctx, t->mem, off, chw * sizeof(float), h, CL_FALSE)
                       : clEnqueueReadBuffer(ctx->queue, t->mem, CL_FALSE, off, chw * sizeof(float), h, 0, NULL, NULL);
        }
        if (rc == CL_SUCCESS) rc = clFinish(ctx->queue);
    }
    if (rc != CL_SUCCESS) {
        char s[64];
        return rd_cl_fail(ctx, rc, "%s tensor %s", write ? "writing" : "reading", rd_tensor_shape_str(t, s, sizeof s));
    }
    return RD_OK;
}

rd_status rd_tensor_write(rd_ctx *ctx, const rd_tensor *t, const float *host) {
    return copy_tensor(ctx, t, (float *)host, 1);
}

rd_status rd_tensor_read(rd_ctx *ctx, const rd_tensor *t, float *host) {
    return copy_tensor(ctx, t, host, 0);
}

rd_status rd_vec_write(rd_ctx *ctx, const rd_vec *v, const float *host) {
    if (!v->len) return RD_OK;
    cl_int rc = host_write(ctx, v->mem, v->off * sizeof(float), v->len * sizeof(float), host, CL_TRUE);
    if (rc != CL_SUCCESS) return rd_cl_fail(ctx, rc, "writing a vector of %zu floats", v->len);
    return RD_OK;
}

rd_status rd_vec_read(rd_ctx *ctx, const rd_vec *v, float *host) {
    if (!v->len) return RD_OK;
    cl_int rc = clEnqueueReadBuffer(ctx->queue, v->mem, CL_TRUE, v->off * sizeof(float), v->len * sizeof(float),
                                    host, 0, NULL, NULL);
    if (rc != CL_SUCCESS) return rd_cl_fail(ctx, rc, "reading a vector of %zu floats", v->len);
    return RD_OK;
}
